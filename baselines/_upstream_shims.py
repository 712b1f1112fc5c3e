"""Shims a plugin applies *at call time* so unmodified upstream research code runs where its authors
never ran it (a CPU, a machine without flash-attn). Each one is narrow, undone when the call ends
(except the flash-attn placeholder, which only fills a missing import), and recorded in the
adapter's ``info()`` so results say it was used. Nothing here edits an upstream checkout.

- ``flash_attn_placeholder()``: VILA's and VILA-U's replaced ``modeling_llama.py`` (copied into
  transformers by their ``environment_setup.sh``) import flash-attn at module level and hard-code
  ``LlamaFlashAttention2`` (VILA-U's copy also holds its image-generation loop, so it cannot be left
  out); flash-attn has no CPU build. Where it is not installed, the placeholder stands in for it with
  a plain PyTorch reference of the five functions those files call (``flash_attn_func``,
  ``flash_attn_varlen_func``, ``bert_padding.{index_first_axis, pad_input, unpad_input}``, with
  flash-attn 2.1+'s bottom-right-aligned causal mask), computed in float32 from the same inputs;
  any other flash-attn function raises a clear error when called.
- ``tensor_cuda_goes_to(device)``: upstream code that hard-codes ``tensor.cuda()`` (VILA-U's
  ``generate_content``) gets ``tensor.to(device)`` instead while the call runs.
- ``default_device(device)``: upstream scripts that make every new tensor a CUDA tensor
  (``torch.set_default_tensor_type('torch.cuda.FloatTensor')``, TokenFlow's t2i script) get the same,
  for the adapter's device and only while the call runs.
- ``python310_dataclass_defaults(prefix)``: code written for Python 3.10 that uses a dataclass
  instance as another dataclass's field default (VILA-U's rqtransformer config), which Python 3.11+
  rejects at import; while such a package is imported, its own dataclasses are made hashable by
  identity, which is exactly what 3.10 allowed (the default instance is shared, as it was there).
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
    """A module whose public attributes are the reference functions below where one exists, else a
    function that raises: imports succeed, calls of unsupported kernels fail clearly."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _REFERENCE:
            return _REFERENCE[name]

        def _missing(*_a: Any, **_k: Any) -> Any:
            raise RuntimeError(f"{self.__name__}.{name} was called, but flash-attn is not installed (facebench "
                               "placed an import placeholder so code that only imports it can run); install "
                               "flash-attn on a CUDA machine or use the eager attention path")

        return _missing


def flash_attn_placeholder() -> bool:
    """Register the placeholder (import stand-in + PyTorch reference functions) when flash-attn is
    not installed. Returns True when it is in use (now or from an earlier call), False when the
    real flash-attn is importable."""
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


def _attend(q, k, v, softmax_scale: float | None, causal: bool):
    """One sequence: q (Sq, H, D), k/v (Sk, Hk, D) → (Sq, H, D); float32 maths, grouped KV heads
    repeated, causal mask aligned to the bottom-right (query i sees keys j <= i + Sk - Sq)."""
    import torch

    sq, h, d = q.shape
    sk, hk = k.shape[0], k.shape[1]
    if h != hk:
        k = k.repeat_interleave(h // hk, dim=1)
        v = v.repeat_interleave(h // hk, dim=1)
    qf, kf, vf = (x.float().transpose(0, 1) for x in (q, k, v))  # (H, S, D)
    scores = qf @ kf.transpose(-1, -2) * (softmax_scale if softmax_scale is not None else d ** -0.5)
    if causal:
        i = torch.arange(sq, device=q.device)[:, None]
        j = torch.arange(sk, device=q.device)[None, :]
        scores = scores.masked_fill(j > i + (sk - sq), float("-inf"))
    out = torch.softmax(scores, dim=-1) @ vf
    return out.transpose(0, 1).to(q.dtype)


def _check_options(dropout_p: float, kw: dict[str, Any]) -> None:
    if dropout_p:
        raise NotImplementedError("flash-attn reference: dropout is not supported (inference only)")
    if tuple(kw.get("window_size", (-1, -1))) != (-1, -1) or kw.get("alibi_slopes") is not None \
            or kw.get("return_attn_probs"):
        raise NotImplementedError("flash-attn reference: window_size, alibi_slopes, return_attn_probs unsupported")


def _flash_attn_func(q, k, v, dropout_p: float = 0.0, softmax_scale: float | None = None, causal: bool = False,
                     **kw: Any):
    """q (B, Sq, H, D), k/v (B, Sk, Hk, D) → (B, Sq, H, D)."""
    import torch

    _check_options(dropout_p, kw)
    return torch.stack([_attend(q[b], k[b], v[b], softmax_scale, causal) for b in range(q.shape[0])])


def _flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q: int, max_seqlen_k: int,
                            dropout_p: float = 0.0, softmax_scale: float | None = None, causal: bool = False,
                            **kw: Any):
    """Packed sequences: q (Tq, H, D), k/v (Tk, Hk, D), sequence b at cu_seqlens[b]:cu_seqlens[b+1]."""
    import torch

    _check_options(dropout_p, kw)
    cq, ck = cu_seqlens_q.tolist(), cu_seqlens_k.tolist()
    return torch.cat([_attend(q[cq[b]:cq[b + 1]], k[ck[b]:ck[b + 1]], v[ck[b]:ck[b + 1]], softmax_scale, causal)
                      for b in range(len(cq) - 1)])


def _index_first_axis(x, indices):
    return x[indices]


def _unpad_input(hidden_states, attention_mask):
    """(B, S, ...) + mask (B, S) → (kept rows, their flat indices, cu_seqlens int32, max length), the
    four values flash-attn 2.5's ``bert_padding.unpad_input`` returns."""
    import torch

    seqlens = attention_mask.sum(dim=-1, dtype=torch.int32)
    indices = torch.nonzero(attention_mask.flatten(), as_tuple=False).flatten()
    cu = torch.nn.functional.pad(torch.cumsum(seqlens, dim=0, dtype=torch.int32), (1, 0))
    flat = hidden_states.reshape(-1, *hidden_states.shape[2:])
    return flat[indices], indices, cu, int(seqlens.max().item())


def _pad_input(hidden_states, indices, batch: int, seqlen: int):
    import torch

    out = torch.zeros(batch * seqlen, *hidden_states.shape[1:], dtype=hidden_states.dtype,
                      device=hidden_states.device)
    out[indices] = hidden_states
    return out.reshape(batch, seqlen, *hidden_states.shape[1:])


_REFERENCE: dict[str, Any] = {
    "flash_attn_func": _flash_attn_func,
    "flash_attn_varlen_func": _flash_attn_varlen_func,
    "index_first_axis": _index_first_axis,
    "unpad_input": _unpad_input,
    "pad_input": _pad_input,
}


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


@contextmanager
def python310_dataclass_defaults(module_prefix: str) -> Iterator[bool]:
    """While the block runs (wrap the first import of the package), dataclasses defined in modules
    under ``module_prefix`` get ``object.__hash__`` when ``@dataclass`` left them unhashable, so
    Python 3.11+'s "mutable default" check accepts an instance of one as a field default. Yields
    whether the shim was needed (False on Python < 3.11)."""
    if sys.version_info < (3, 11):
        yield False
        return
    import dataclasses

    original = dataclasses.dataclass

    def dataclass(cls=None, /, **kwargs):
        def wrap(c):
            out = original(c, **kwargs)
            if str(getattr(out, "__module__", "")).startswith(module_prefix) and out.__hash__ is None:
                out.__hash__ = object.__hash__
            return out

        return wrap if cls is None else wrap(cls)

    with patched(dataclasses, "dataclass", dataclass):
        yield True


@contextmanager
def default_device(device: str) -> Iterator[None]:
    """New tensors are created on ``device`` while the block runs (``torch.device`` as a context)."""
    import torch

    with torch.device(device):
        yield
