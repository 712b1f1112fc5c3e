"""What every VQAScore scorer shares: the question, the answer, image padding, the interface.

VQAScore (Lin et al., ECCV 2024) = P("Yes" | image, question) with the question
``Does this figure show "{text}"? Please answer yes or no.``
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

QUESTION_TEMPLATE = 'Does this figure show "{}"? Please answer yes or no.'
ANSWER = "Yes"
# LLaVA-1.5's system message; the CLIP-FlanT5 ("t5_chat") and t2v_metrics LLaVA prompts start with it.
SYSTEM_MSG = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
IMAGE_TOKEN = "<image>"


class ScorerError(Exception):
    """A scorer could not be built (missing weights, key, dependency). Message = reason; fix."""


class Scorer:
    """Scores (image, question) pairs. ``score`` returns one probability per pair, or None for a
    pair that failed (an API error) — never a stand-in number."""

    kind: str = "scorer"

    def fingerprint(self) -> dict[str, Any]:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        return self.fingerprint()

    def score(self, images: list, questions: list[str]) -> list[float | None]:
        raise NotImplementedError


def expand2square(image, background: tuple[int, int, int]):
    """Pad to a square, image centred, with ``background`` (LLaVA/CLIP-FlanT5 'pad' aspect mode)."""
    from PIL import Image

    w, h = image.size
    if w == h:
        return image
    side = max(w, h)
    out = Image.new(image.mode, (side, side), background)
    out.paste(image, ((side - w) // 2, (side - h) // 2))
    return out


def mean_colour(image_mean) -> tuple[int, int, int]:
    """The processor's normalisation mean as a 0-255 RGB colour (what the reference code pads with)."""
    return tuple(int(x * 255) for x in image_mean)  # type: ignore[return-value]


def local_fingerprint(path_or_id: str | None) -> str | None:
    """For a local model folder: a hash of its config files and weight-file sizes/mtimes, so a
    changed checkpoint behind the same path misses the score cache. None for hub ids."""
    if not path_or_id or not os.path.isdir(path_or_id):
        return None
    h = hashlib.sha256()
    root = Path(path_or_id)
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel = str(p.relative_to(root))
        if p.suffix in (".json", ".txt", ".model", ".jinja"):
            h.update(rel.encode() + b"\0" + p.read_bytes())
        elif p.suffix in (".safetensors", ".bin", ".pt", ".pth"):
            st = p.stat()
            h.update(json.dumps([rel, st.st_size, st.st_mtime_ns]).encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' load reports (e.g. the projector keys a T5 does not know) while loading."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(old)


NON_WEIGHT_PATTERNS = ["*.json", "*.jinja", "*.model", "*.txt", "*.tiktoken", "*.py"]
SKIP_PATTERNS = ["*.msgpack", "*.h5", "*.ot", "flax_model*", "tf_model*", "training_args.bin", "trainer_state.json",
                 "optimizer*", "scheduler*", "rng_state*"]


def _weight_patterns(repo_id: str, revision: str | None) -> list[str]:
    """Prefer safetensors; fall back to PyTorch .bin (CLIP-FlanT5 and older LLaVA checkpoints)."""
    try:
        from huggingface_hub import HfApi

        files = HfApi().list_repo_files(repo_id, revision=revision)
    except Exception:
        return ["*.safetensors", "*.bin"]
    if any(f.endswith(".safetensors") for f in files):
        return ["*.safetensors"]
    return ["*.bin"]


def hub_or_local(path_or_id: str, what: str, fix: str, weights: bool = True, revision: str | None = None) -> str:
    """A local folder for ``path_or_id``: the folder itself, or the hub snapshot (configs,
    tokenizer files and — if ``weights`` — one weight format), downloaded when online and read
    from the HF cache only when offline. Raises ScorerError with the fix otherwise."""
    if os.path.isdir(path_or_id):
        return path_or_id
    is_offline = cache_only = True
    try:
        from huggingface_hub import snapshot_download

        from facebench.metrics.features.clip import _hub_cache_only, reachable
        from facebench.metrics.features.weights import offline

        is_offline = offline()
        cache_only = is_offline or not reachable("huggingface.co")
        with _hub_cache_only(cache_only):
            allow = list(NON_WEIGHT_PATTERNS)
            if weights:
                allow += ["*.safetensors", "*.bin"] if cache_only else _weight_patterns(path_or_id, revision)
            return snapshot_download(path_or_id, revision=revision, allow_patterns=allow,
                                     ignore_patterns=SKIP_PATTERNS, local_files_only=cache_only)
    except Exception as e:
        if not cache_only:
            state = f"{type(e).__name__}: {e}"
        elif is_offline:
            state = "the run is offline and it is not in the HF cache"
        else:
            state = "huggingface.co is unreachable and it is not in the HF cache"
        raise ScorerError(f"{what} '{path_or_id}' is not available ({state}); fix: {fix}") from None


def torch_dtype(name: str | None, device: str, gpu_default: str):
    """``auto``/None → float32 on CPU, ``gpu_default`` on accelerators (the reference code's dtype)."""
    import torch

    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name in (None, "", "auto"):
        return torch.float32 if str(device).startswith("cpu") else table[gpu_default]
    if str(name) not in table:
        raise ScorerError(f"dtype must be auto|float32|bfloat16|float16, got {name!r}")
    return table[str(name)]
