"""open_clip models: one loader shared by FD-CLIP (image features for a Fréchet distance) and
CLIPScore, plus the FD-CLIP feature extractor.

``model`` is any open_clip name (``ViT-B-32``, ``ViT-L-14``, …), ``hf-hub:org/repo`` or
``local-dir:/path`` (a folder with ``open_clip_config.json`` + weights). Weights for a named
model come from, in order: the metric arg ``weights=PATH``; ``pretrained`` when it is a file;
the environment variable ``FACEBENCH_CLIP_CHECKPOINT_<MODEL>`` (model name upper-cased,
non-alphanumerics → ``_``, e.g. ``FACEBENCH_CLIP_CHECKPOINT_VIT_B_32``); for FD-CLIP also
``FACEBENCH_CLIP_CHECKPOINT``; last open_clip's own download of the ``pretrained`` tag (HF hub
cache, ``openai`` → ``timm/vit_*_clip_*.openai``). Offline (``HF_HUB_OFFLINE=1``) only the hub
cache is consulted. ``pretrained`` also names the tag whose preprocessing and activation apply to a
local file: OpenAI weights need QuickGELU, switched on from the tag's config (so keep
``pretrained=openai`` for a local copy of OpenAI's weights, and set it to the right tag otherwise).

FD-CLIP features follow clean-fid's ``clip_vit_b_32`` recipe: un-normalised ``encode_image``
output after the model's own preprocessing (bicubic resize of the short side, centre crop,
CLIP mean/std).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facebench.metrics.features.base import FeatureExtractor
from facebench.metrics.features.weights import WeightsUnavailable, file_sha256, offline

log = logging.getLogger(__name__)


def model_env_var(model: str) -> str:
    return "FACEBENCH_CLIP_CHECKPOINT_" + re.sub(r"[^A-Za-z0-9]+", "_", model).strip("_").upper()


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _hub_cache_only(enabled: bool):
    """Make huggingface_hub answer from its cache only (no retries against a dead network)."""
    if not enabled:
        yield
        return
    from huggingface_hub import constants

    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old


@dataclass
class LoadedCLIP:
    model: Any
    preprocess: Any
    tokenizer: Any
    checkpoint: str | None
    weights_sha256: str | None
    model_name: str
    pretrained: str | None

    @property
    def context_length(self) -> int:
        return int(getattr(self.tokenizer, "context_length", 77) or 77)


def load_open_clip(
    model: str,
    pretrained: str | None = None,
    weights: str | os.PathLike | None = None,
    device: str = "cpu",
    extra_env: tuple[str, ...] = (),
    arg_hint: str = "clipscore.weights=PATH",
) -> LoadedCLIP:
    """Load an open_clip model + preprocess + tokenizer, or raise ``WeightsUnavailable``."""
    try:
        import open_clip
        from open_clip.pretrained import download_pretrained, get_pretrained_cfg, list_pretrained_tags_by_model
    except ImportError:
        from facebench.errors import MissingDependencyError

        raise MissingDependencyError("open-clip-torch", "metrics", "CLIP metrics") from None

    env_vars = (model_env_var(model), *extra_env)
    fix = f"pass --metric_args {arg_hint} (an open_clip checkpoint file) or export {env_vars[0]}=PATH"
    kwargs: dict[str, Any] = {"device": device}

    if model.startswith("local-dir:"):
        folder = Path(model[len("local-dir:") :])
        if not (folder / "open_clip_config.json").is_file():
            raise WeightsUnavailable(f"open_clip folder {folder} has no open_clip_config.json", fix)
        checkpoint = open_clip.factory._find_checkpoint_in_dir(folder)
        if checkpoint is None:
            raise WeightsUnavailable(f"open_clip folder {folder} holds no weights", fix)
        clip_model, _, preprocess = open_clip.create_model_and_transforms(model, **kwargs)
    elif model.startswith("hf-hub:"):
        cache_only = offline() or not reachable("huggingface.co")
        try:
            with _hub_cache_only(cache_only):
                clip_model, _, preprocess = open_clip.create_model_and_transforms(model, **kwargs)
        except Exception as e:
            raise WeightsUnavailable(f"open_clip {model} not available ({type(e).__name__}: {e})", fix) from None
        checkpoint = None
    else:
        name = model.replace("/", "-")
        if name not in open_clip.list_models():
            raise WeightsUnavailable(f"unknown open_clip model {model!r}", "use a name from open_clip.list_models(), "
                                     "hf-hub:org/repo or local-dir:/path")
        tag_cfg = get_pretrained_cfg(name, pretrained) if pretrained and not os.path.isfile(pretrained) else {}
        checkpoint = None
        if weights:
            checkpoint = str(weights)
        elif pretrained and os.path.isfile(pretrained):
            checkpoint = pretrained
        else:
            for var in env_vars:
                if os.environ.get(var):
                    checkpoint = os.environ[var]
                    break
        if checkpoint is not None and not os.path.isfile(checkpoint):
            raise WeightsUnavailable(f"CLIP checkpoint not found at {checkpoint}", fix)
        if checkpoint is None:
            if not tag_cfg:
                tags = ", ".join(list_pretrained_tags_by_model(name)) or "none"
                raise WeightsUnavailable(f"open_clip has no pretrained tag {pretrained!r} for {name} (tags: {tags})",
                                         fix)
            url_host = re.sub(r"^https?://([^/]+)/.*$", r"\1", tag_cfg.get("url", ""))
            host = "huggingface.co" if tag_cfg.get("hf_hub") else url_host
            cache_only = offline() or not reachable(host)
            try:
                with _hub_cache_only(cache_only):
                    if cache_only and not tag_cfg.get("hf_hub"):
                        raise FileNotFoundError("offline and the tag has no hub entry to look up in the cache")
                    checkpoint = download_pretrained(tag_cfg)
            except Exception as e:
                if not cache_only:
                    state = f"download failed ({type(e).__name__})"
                else:
                    state = "the run is offline" if offline() else f"{host} is unreachable"
                raise WeightsUnavailable(
                    f"open_clip weights {name}/{pretrained} not in the local cache and {state}",
                    f"download {_tag_sources(tag_cfg)} (or run once online) and {fix}",
                ) from None
        if tag_cfg:  # preprocessing and activation of the tag, even when weights come from a file
            kwargs.update(
                force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)) and not name.endswith("quickgelu"),
                image_mean=tag_cfg.get("mean"), image_std=tag_cfg.get("std"),
                image_interpolation=tag_cfg.get("interpolation"), image_resize_mode=tag_cfg.get("resize_mode"),
            )
            kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            clip_model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=checkpoint, **kwargs)
        except Exception as e:
            raise WeightsUnavailable(f"could not load CLIP checkpoint {checkpoint} as {name} ({type(e).__name__}: {e})",
                                     fix) from None
    clip_model.eval()
    if model.startswith(("local-dir:", "hf-hub:")):
        pretrained = None  # open_clip ignores the tag for schema models: record that honestly
    tokenizer = open_clip.get_tokenizer(model)
    sha = file_sha256(checkpoint) if checkpoint and os.path.isfile(checkpoint) else None
    return LoadedCLIP(clip_model, preprocess, tokenizer, str(checkpoint) if checkpoint else None, sha, model,
                      pretrained)


def _tag_sources(tag_cfg: dict) -> str:
    """Human-readable download locations of an open_clip pretrained tag."""
    out = []
    hub = tag_cfg.get("hf_hub")
    if hub:
        repo, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub.rstrip("/"), "")
        if hub.endswith("/"):
            out.append(f"open_clip_model.safetensors from https://huggingface.co/{repo}")
        else:
            out.append(f"https://huggingface.co/{repo}/resolve/main/{filename}")
    if tag_cfg.get("url") and not out:  # the hub copy is the format open_clip loads as a plain file
        out.append(tag_cfg["url"])
    return " or ".join(out) or "the checkpoint"


def token_count(tokenizer: Any, text: str) -> int:
    """Tokens the text needs including start/end tokens, before any truncation."""
    if hasattr(tokenizer, "sot_token_id") and hasattr(tokenizer, "encode"):  # open_clip SimpleTokenizer
        return len(tokenizer.encode(text)) + 2
    inner = getattr(tokenizer, "tokenizer", None)  # open_clip HFTokenizer wraps a transformers tokenizer
    if inner is not None:
        return len(inner(text)["input_ids"])
    return -1


class CLIPExtractor(FeatureExtractor):
    """Image embeddings for FD-CLIP (un-normalised, as clean-fid)."""

    name = "clip"

    def __init__(self, model: str = "ViT-B-32", pretrained: str | None = "openai",
                 weights: str | os.PathLike | None = None, device: str = "cpu", arg_hint: str = "fid.weights=PATH"):
        self.clip = load_open_clip(model, pretrained, weights, device, extra_env=("FACEBENCH_CLIP_CHECKPOINT",),
                                   arg_hint=arg_hint)
        self.device = device
        self.mode = f"{model}/{pretrained or 'local'}"
        self.weights_sha256 = self.clip.weights_sha256
        size = getattr(self.clip.model.visual, "image_size", None)
        self.input_size = tuple(size) if isinstance(size, (tuple, list)) else ((size, size) if size else None)
        self.dim = int(getattr(self.clip.model.visual, "output_dim", 0) or 0)

    def preprocess(self, image) -> Any:
        return self.clip.preprocess(image)

    def forward(self, batch: list[Any]) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = torch.stack(batch).to(self.device)
            return self.clip.model.encode_image(x).float().cpu().numpy()
