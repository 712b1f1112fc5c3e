"""``diffusers``: any diffusers text-to-image pipeline (SD3, SDXL, Flux.1-dev, SD 1.x, ...).

Every image gets its own ``torch.Generator`` seeded with ``req.seed + k`` (diffusers draws each
latent from its own generator when given a list), on the CPU so the same seed gives the same
starting noise on any device. Batches only group images that share size and call parameters; batch
size then changes outputs by float noise only (≤ one uint8 level on a few pixels; docs/reference.md §4).

model_args (``--model_args k=v,...``):
  pretrained            hub id or local folder (default: the class's ``default_checkpoint``)
  revision, variant     hub revision; weight variant (e.g. fp16)
  dtype                 auto | float32 | float16 | bfloat16 (auto: bfloat16 on CUDA, float32 on CPU)
  num_inference_steps   denoising steps (default: the pipeline's own default)
  guidance_scale        CFG scale (Flux: the distilled guidance value) (default: the pipeline's)
  negative_prompt       optional negative prompt
  max_sequence_length   T5 token budget for SD3/Flux (default: the pipeline's)
  resolution            generate at this size (int or (w, h)) and resize to the requested size;
                        default: generate at the requested size
  batch_size            images per pipeline call (default 4)
  cpu_offload           true → enable_model_cpu_offload() (GPUs with little memory)
  call_kwargs           dict of extra keyword arguments for the pipeline call
  weights_hash          full | fast (see hf_vlm.weights_revision)
A request's ``params`` may override num_inference_steps, guidance_scale, negative_prompt.
"""
from __future__ import annotations

import warnings
from typing import Any, ClassVar

from facebench.adapters.pretrained import PretrainedAdapter
from facebench.adapters.hf_vlm import (
    as_bool,
    free_torch_memory,
    require,
    resolve_device,
    resolve_dtype,
)
from facebench.errors import FacebenchError
from facebench.types import GenRequest

_CALL_KEYS = ("num_inference_steps", "guidance_scale", "negative_prompt", "max_sequence_length")


def _size(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value), int(value)
    if isinstance(value, str):
        value = value.lower().replace("x", ",").strip("()[] ").split(",")
    w, h = (int(v) for v in value)
    return w, h


class DiffusersAdapter(PretrainedAdapter):
    name: ClassVar[str] = "diffusers"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate"})
    requires: ClassVar[tuple[str, ...]] = ("torch", "diffusers", "transformers")
    description: ClassVar[str] = "any diffusers text-to-image pipeline (per-sample seeded generators)"
    default_batch_size: ClassVar[int] = 4
    weights_index_files: ClassVar[tuple[str, ...] | None] = ("model_index.json",)
    speed_only_args: ClassVar[tuple[str, ...]] = ("batch_size", "cpu_offload", "weights_hash")
    extra_model_args: ClassVar[tuple[str, ...]] = ("variant", "dtype", "resolution", "call_kwargs", *_CALL_KEYS)

    def __init__(self, device: str = "cpu", **model_args: Any):
        super().__init__(device=device, **model_args)
        self.resolution = _size(self.model_args.get("resolution"))
        self._pipe = None

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": self.name, "pretrained": self.pretrained, "weights": self.weights_revision()}
        for k in _CALL_KEYS:
            if k in self.model_args:
                out[k] = self.model_args[k]
        if self.resolution:
            out["native_size"] = list(self.resolution)
        if self._pipe is not None:
            out.update(pipeline=type(self._pipe).__name__, scheduler=type(self._pipe.scheduler).__name__,
                       dtype=str(self._dtype).replace("torch.", ""), device=self._device)
        return out

    # -- loading --------------------------------------------------------------------------------
    def load(self) -> None:
        if self._pipe is not None:
            return
        require("torch", "hf", self.name)
        diffusers = require("diffusers", "hf", self.name)
        self._device = resolve_device(self.device)
        self._dtype = resolve_dtype(self.model_args.get("dtype"), self._device)
        kw: dict[str, Any] = {"torch_dtype": self._dtype}
        for key in ("revision", "variant"):
            if self.model_args.get(key):
                kw[key] = self.model_args[key]
        try:
            # newer diffusers renamed torch_dtype → dtype (with a FutureWarning); older ones only know torch_dtype
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipe = diffusers.DiffusionPipeline.from_pretrained(self.pretrained, **kw)
        except (OSError, ValueError) as e:  # not found / offline / malformed repo id
            from facebench.network import load_fix

            raise FacebenchError(f"cannot load '{self.pretrained}' for {self.name}: {str(e).splitlines()[0]}; "
                                 f"fix: {load_fix(self.pretrained)}") from None
        if as_bool(self.model_args.get("cpu_offload", False)):
            pipe.enable_model_cpu_offload()
        else:
            pipe = pipe.to(self._device)
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe

    # -- generation -----------------------------------------------------------------------------
    def _call_args(self, req: GenRequest) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        for key in _CALL_KEYS:
            value = req.params.get(key, self.model_args.get(key))
            if value is not None:
                kw[key] = value
        kw.update(self.model_args.get("call_kwargs") or {})
        w, h = self.resolution or (req.width, req.height)
        kw.update(width=int(w), height=int(h))
        return kw

    def generate_images(self, reqs: list[GenRequest]) -> list[list[Any]]:
        import torch
        from PIL import Image

        if not reqs:
            return []
        self.load()
        out: list[list[Any]] = [[None] * r.n for r in reqs]
        groups: dict[str, tuple[dict[str, Any], list[tuple[int, int, int]]]] = {}
        for i, r in enumerate(reqs):
            kw = self._call_args(r)
            entry = groups.setdefault(repr(sorted(kw.items())), (kw, []))
            entry[1].extend((i, k, s) for k, s in enumerate(r.seeds()))
        for kw, rows in groups.values():
            for s in range(0, len(rows), self.batch_size):
                chunk = rows[s : s + self.batch_size]
                gens = [torch.Generator(device="cpu").manual_seed(int(seed)) for _, _, seed in chunk]
                call = dict(kw)
                if isinstance(call.get("negative_prompt"), str):
                    call["negative_prompt"] = [call["negative_prompt"]] * len(chunk)
                with torch.inference_mode():
                    result = self._pipe(prompt=[reqs[i].prompt for i, _, _ in chunk], generator=gens,
                                        num_images_per_prompt=1, output_type="pil", **call)
                for (i, k, _), img in zip(chunk, result.images):
                    img = img.convert("RGB")
                    want = (reqs[i].width, reqs[i].height)
                    out[i][k] = img if img.size == want else img.resize(want, Image.LANCZOS)
        return out

    def close(self) -> None:
        self._pipe = None
        free_torch_memory()
