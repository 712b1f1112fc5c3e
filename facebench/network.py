"""Knowing once per run whether the model hub can be reached, so an offline machine fails fast.

Without this, ``from_pretrained`` on an uncached hub id retries the network for minutes (150 s seen
for Qwen2-VL) before failing, and every metric that may download weights tries again. One TCP
connect (2 s) decides; when it fails, ``HF_HUB_OFFLINE=1`` is set for the process, so transformers,
diffusers, huggingface_hub and facebench's own weight lookups use local files only, and each load
that needs a download fails at once with its fix. Setting ``HF_HUB_OFFLINE=1`` (or
``FACEBENCH_OFFLINE=1``) yourself skips the probe."""
from __future__ import annotations

import logging
import os
import socket
from functools import lru_cache
from urllib.parse import urlparse

log = logging.getLogger("facebench")
PROBE_TIMEOUT_S = 2.0
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "FACEBENCH_OFFLINE")


def declared_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARS)


@lru_cache(maxsize=4)
def reachable(host: str, port: int = 443, timeout: float = PROBE_TIMEOUT_S) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_host() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)


def ensure_offline_mode_if_unreachable() -> bool:
    """True when the run is offline (declared, or the hub is unreachable: then declared here)."""
    if declared_offline():
        return True
    host, port = hub_host()
    if reachable(host, port):
        return False
    os.environ["HF_HUB_OFFLINE"] = "1"
    log.warning("no network to %s: running offline (HF_HUB_OFFLINE=1), so models and weights come from local "
                "caches and folders only; set HF_HUB_OFFLINE=1 yourself to skip this check", host)
    return True


def load_fix(name_or_path: str) -> str:
    """The fix for a checkpoint that could not be loaded."""
    if os.path.exists(name_or_path):
        return f"check that {name_or_path} holds a complete checkpoint (config, weights, processor files)"
    return (f"download it while online (`hf download {name_or_path}`), then run with HF_HUB_OFFLINE=1; or pass "
            "--model_args pretrained=/local/folder")
