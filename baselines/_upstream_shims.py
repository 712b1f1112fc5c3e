"""Shims a plugin applies *at call time* so unmodified upstream research code runs where its authors
never ran it (a CPU, a machine without flash-attn). Each one is narrow, undone when the call ends
(except the flash-attn placeholder, which only fills a missing import), and recorded in the
adapter's ``info()`` so results say it was used. Nothing here edits an upstream checkout.

- ``flash_attn_placeholder()``: VILA's and VILA-U's replaced ``modeling_llama.py`` (copied into
  transformers by their ``environment_setup.sh``) import flash-attn at module level although their
  eager attention path never calls it; flash-attn has no CPU build. The placeholder makes the import
  succeed and raises a clear error if a flash kernel is ever *called*.
- ``tensor_cuda_goes_to(device)``: upstream code that hard-codes ``tensor.cuda()`` (VILA-U's
  ``generate_content``) gets ``tensor.to(device)`` instead while the call runs.
- ``patched(obj, name, value)``: replace one attribute for the duration of a call.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FLASH_ATTN_SUBMODULES = ("flash_attn_interface", "bert_padding", "flash_attn_triton")


class _MissingKernels(types.ModuleType):
    """A module whose every public attribute is a function that raises: imports succeed, calls fail."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def _missing(*_a: Any, **_k: Any) -> Any:
            raise RuntimeError(f"{self.__name__}.{name} was called, but flash-attn is not installed (facebench "
                               "placed an import placeholder so code that only imports it can run); install "
                               "flash-attn on a CUDA machine or use the eager attention path")

        return _missing


def flash_attn_placeholder() -> bool:
    """Register the placeholder when flash-attn is not installed. Returns True when it is in use
    (now or from an earlier call), False when the real flash-attn is importable."""
    mod = sys.modules.get("flash_attn")
    if isinstance(mod, _MissingKernels):
        return True
    if mod is not None or importlib.util.find_spec("flash_attn") is not None:
        return False
    root = _MissingKernels("flash_attn")
    # a spec, so importlib.util.find_spec("flash_attn") answers without raising; transformers then
    # asks importlib.metadata for its version, finds none, and reports flash-attn as unavailable
    root.__spec__ = importlib.machinery.ModuleSpec("flash_attn", None, is_package=True)
    root.__path__ = []
    sys.modules["flash_attn"] = root
    for sub in FLASH_ATTN_SUBMODULES:
        m = _MissingKernels(f"flash_attn.{sub}")
        m.__spec__ = importlib.machinery.ModuleSpec(f"flash_attn.{sub}", None)
        sys.modules[f"flash_attn.{sub}"] = m
        setattr(root, sub, m)
    return True


@contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    """``setattr(obj, name, value)`` for the duration of the block, restored afterwards."""
    missing = object()
    old = obj.__dict__.get(name, missing) if isinstance(obj, type) else getattr(obj, name, missing)
    setattr(obj, name, value)
    try:
        yield
    finally:
        if old is missing:
            delattr(obj, name)
        else:
            setattr(obj, name, old)


def is_cuda(device: str) -> bool:
    return str(device).startswith("cuda")


@contextmanager
def tensor_cuda_goes_to(device: str) -> Iterator[None]:
    """While the block runs, ``Tensor.cuda()`` moves to ``device`` instead (a no-op on CUDA devices,
    where upstream's own call is kept)."""
    if is_cuda(device):
        yield
        return
    import torch

    def _to_device(self, *_a: Any, **_k: Any):
        return self.to(device)

    with patched(torch.Tensor, "cuda", _to_device):
        yield
