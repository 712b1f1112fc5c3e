"""``hf-vlm``: any transformers image-text-to-text model with a chat template (LLaVA-1.5
``llava-hf/*``, Qwen2-VL, InternVL ``*-hf``, Janus, ...), batched with left padding, greedy by
default.

The module also holds the small helpers the other local-weights backends share (device/dtype
resolution, weights revision, chat-message conversion), so they resolve options the same way.

model_args (``--model_args k=v,...``):
  pretrained          hub id or local folder (default: the class's ``default_checkpoint``)
  revision            hub revision (branch, tag or commit); recorded in the fingerprint
  dtype               auto | float32 | float16 | bfloat16 (auto: bfloat16 on CUDA, float32 on CPU)
  attn_implementation transformers attention backend (sdpa, eager, flash_attention_2, ...)
  batch_size          requests per forward pass (default 8); never changes outputs beyond numerics
  max_new_tokens      default answer length (a request's ``params`` win; default 256)
  system_prompt       optional system message put before every conversation
  model_class         transformers class name (default AutoModelForImageTextToText)
  processor_kwargs    dict passed to AutoProcessor.from_pretrained (e.g. {'max_pixels': 802816})
  trust_remote_code   false by default
  device_map          passed to from_pretrained (e.g. auto for multi-GPU sharding)
  weights_hash        full (default: sha256 of local weight files, cached by size+mtime) | fast
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, ClassVar

from facebench.adapters.base import ModelAdapter  # noqa: F401  (re-exported for plugins)
from facebench.adapters.pretrained import PretrainedAdapter
from facebench.errors import FacebenchError, MissingDependencyError
from facebench.types import ChatRequest

# ------------------------------------------------------------------------------------ shared helpers


def require(module: str, extra: str = "hf", what: str | None = None):
    """Import an optional heavy dependency or fail with the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(module, extra, what) from None


def resolve_device(device: str | None) -> str:
    """``auto`` → cuda if available, else mps, else cpu."""
    device = (device or "cpu").strip()
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


_DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "half": "float16",
           "bfloat16": "bfloat16", "bf16": "bfloat16"}


def resolve_dtype(dtype: str | None, device: str):
    """``auto`` → bfloat16 on CUDA (float16 where bf16 is unsupported), float32 elsewhere."""
    import torch

    name = str(dtype or "auto").lower()
    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if name not in _DTYPES:
        raise FacebenchError(f"unknown dtype '{dtype}': use one of auto, float32, float16, bfloat16")
    return getattr(torch, _DTYPES[name])


def _hash_store():
    from facebench.cache import KVCache
    from facebench.paths import cache_root

    return KVCache(cache_root() / "weights_hashes.sqlite")


def _file_digest(path: Path, mode: str, store) -> str:
    """sha256 of a file, remembered per (path, size, mtime) so a 15 GB checkpoint is hashed once.
    ``fast`` mode hashes only name+size+mtime for files over 64 MB (weights rewritten in place
    with the same size and mtime would then go unnoticed: say so when you use it)."""
    from facebench.hashing import sha256_file, sha256_text

    st = path.stat()
    if mode == "fast" and st.st_size > (64 << 20):
        return sha256_text(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    key = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    hit = store.get(key) if store is not None else None
    if hit:
        return hit
    digest = sha256_file(path)
    if store is not None:
        store.put(key, digest)
    return digest


def weights_revision(pretrained: str | os.PathLike | None, revision: str | None = None, mode: str = "full",
                     index_files: tuple[str, ...] = ("config.json", "model_index.json")) -> tuple[str, bool]:
    """(revision string, resolved?) for a local folder/file or a hub id.

    Local: ``local:<sha256 over every file's digest>``. Hub: the commit of the cached snapshot
    (``hub:<id>@<commit>``); if nothing is cached yet the requested revision is returned with
    ``resolved=False`` so the caller can look again after loading."""
    from facebench.hashing import canonical_json, sha256_text

    if pretrained is None:
        return "", True
    path = Path(str(pretrained)).expanduser()
    if path.exists():
        store = _hash_store()
        if path.is_file():
            files = [path]
        else:
            files = sorted(p for p in path.rglob("*") if p.is_file() and ".cache" not in p.parts)
        base = path if path.is_dir() else path.parent
        digests = {str(p.relative_to(base)): _file_digest(p, mode, store) for p in files}
        return "local:" + sha256_text(canonical_json(digests))[:16], True
    repo = str(pretrained)
    try:
        from huggingface_hub import try_to_load_from_cache

        for name in index_files:
            hit = try_to_load_from_cache(repo, name, revision=revision)
            if isinstance(hit, str):
                parts = Path(hit).parts
                if "snapshots" in parts:
                    return f"hub:{repo}@{parts[parts.index('snapshots') + 1]}", True
    except Exception:  # noqa: BLE001 - an unusual cache layout only costs a cache miss
        pass
    return f"hub:{repo}@{revision or 'unresolved'}", False


def to_hf_messages(req: ChatRequest, with_image: bool, system_prompt: str | None = None,
                   media: str = "image") -> list[dict[str, Any]]:
    """facebench text messages → transformers multimodal chat messages; the image (or, with
    ``media="video"``, the video) is attached once, before the text of the first user turn (as
    every model card's example does)."""
    out: list[dict[str, Any]] = []
    if system_prompt and not any(m["role"] == "system" for m in req.messages):
        out.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    attached = not with_image
    for m in req.messages:
        content: list[dict[str, Any]] = []
        if not attached and m["role"] == "user":
            content.append({"type": media})
            attached = True
        content.append({"type": "text", "text": m["content"]})
        out.append({"role": m["role"], "content": content})
    if not attached:
        raise FacebenchError(f"request {req.doc_id} has an image but no user message to attach it to")
    return out


def free_torch_memory() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


# ---------------------------------------------------------------------------------------- the adapter


class HFVLMAdapter(PretrainedAdapter):
    """Understanding through ``AutoProcessor`` + ``AutoModelForImageTextToText`` and the model's
    own chat template; generation-only parameters are rejected, not ignored."""

    name: ClassVar[str] = "hf-vlm"
    capabilities: ClassVar[frozenset[str]] = frozenset({"understand"})
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")
    description: ClassVar[str] = "any transformers image-text-to-text model with a chat template (batched, greedy)"
    extra_model_args: ClassVar[tuple[str, ...]] = ("dtype", "attn_implementation", "max_new_tokens", "system_prompt",
                                                   "model_class", "processor_kwargs", "trust_remote_code")

    #: False for families whose processor takes no video (the instance then lacks "video")
    video_input: ClassVar[bool] = True

    def __init__(self, device: str = "cpu", **model_args: Any):
        super().__init__(device=device, **model_args)
        if self.video_input:  # video through the processor's ``videos=`` (Qwen2-VL, LLaVA-OneVision, ...)
            self.capabilities = frozenset(type(self).capabilities | {"video"})
        args = self.model_args
        self.max_new_tokens = int(args.get("max_new_tokens", 256))
        self.system_prompt = args.get("system_prompt")
        self._model = None
        self._processor = None

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": self.name, "pretrained": self.pretrained, "weights": self.weights_revision()}
        if self._model is not None:
            out.update(model_class=type(self._model).__name__, dtype=str(self._model.dtype).replace("torch.", ""),
                       device=str(self._device))
        return out

    # -- loading --------------------------------------------------------------------------------
    def _load_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"dtype": self._dtype}
        for key in ("revision", "attn_implementation", "device_map"):
            if self.model_args.get(key) is not None:
                kw[key] = self.model_args[key]
        if as_bool(self.model_args.get("trust_remote_code", False)):
            kw["trust_remote_code"] = True
        return kw

    def _model_class(self):
        transformers = require("transformers", "hf", self.name)
        cls_name = self.model_args.get("model_class") or "AutoModelForImageTextToText"
        cls = getattr(transformers, str(cls_name), None)
        if cls is None:
            raise FacebenchError(f"transformers has no class '{cls_name}' (installed {transformers.__version__})")
        return cls

    def load(self) -> None:
        """Load processor and weights (called on first use; cheap if already loaded)."""
        if self._model is not None:
            return
        require("torch", "hf", self.name)
        transformers = require("transformers", "hf", self.name)
        self._device = resolve_device(self.device)
        self._dtype = resolve_dtype(self.model_args.get("dtype"), self._device)
        pkw = dict(self.model_args.get("processor_kwargs") or {})
        if self.model_args.get("revision"):
            pkw["revision"] = self.model_args["revision"]
        if as_bool(self.model_args.get("trust_remote_code", False)):
            pkw["trust_remote_code"] = True
        try:
            self._processor = transformers.AutoProcessor.from_pretrained(self.pretrained, **pkw)
            model = self._model_class().from_pretrained(self.pretrained, **self._load_kwargs())
        except (OSError, ValueError) as e:  # not found / offline / malformed repo id
            from facebench.network import load_fix

            raise FacebenchError(f"cannot load '{self.pretrained}' for {self.name}: {str(e).splitlines()[0]}; "
                                 f"fix: {load_fix(self.pretrained)}") from None
        if self.model_args.get("device_map") is None:
            model = model.to(self._device)
        self._model = model.eval()
        tok = getattr(self._processor, "tokenizer", None)
        if tok is not None:
            tok.padding_side = "left"  # decoder-only generation: pad on the left so prompts end together
            if tok.pad_token is None and tok.eos_token is not None:
                tok.pad_token = tok.eos_token

    # -- understanding --------------------------------------------------------------------------
    def _prompt(self, req: ChatRequest) -> str:
        video = req.video is not None
        msgs = to_hf_messages(req, with_image=req.image is not None or video, system_prompt=self.system_prompt,
                              media="video" if video else "image")
        return self._processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)

    def _gen_kwargs(self, params: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {"max_new_tokens": int(params.get("max_new_tokens", self.max_new_tokens))}
        temperature = float(params.get("temperature", 0.0) or 0.0)
        if temperature > 0:
            kw.update(do_sample=True, temperature=temperature)
            if params.get("top_p") is not None:
                kw["top_p"] = float(params["top_p"])
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.get("num_beams"):
            kw["num_beams"] = int(params["num_beams"])
        tok = getattr(self._processor, "tokenizer", None)
        if tok is not None and tok.pad_token_id is not None:
            kw["pad_token_id"] = tok.pad_token_id
        return kw

    def _run_batch(self, reqs: list[ChatRequest], prompts: list[str], gen_kwargs: dict[str, Any]) -> list[str]:
        import torch

        images = [r.load_image() for r in reqs if r.image is not None and r.video is None]
        proc_kw: dict[str, Any] = {"text": prompts, "return_tensors": "pt", "padding": True}
        if images:
            proc_kw["images"] = images
        if any(r.video is not None for r in reqs):
            from facebench.adapters.hf_video import video_inputs

            proc_kw.update(video_inputs(self._processor, [r for r in reqs if r.video is not None], self.name))
        inputs = self._processor(**proc_kw)
        inputs = inputs.to(self._model.device)
        for k, v in inputs.items():  # pixel values follow the weights' dtype, ids stay integer
            if torch.is_floating_point(v):
                inputs[k] = v.to(self._model.dtype)
        config = copy.deepcopy(self._model.generation_config)
        config.update(**gen_kwargs)
        with torch.inference_mode():
            out = self._model.generate(**inputs, generation_config=config)
        new = out[:, inputs["input_ids"].shape[1]:]
        texts = self._processor.batch_decode(new, skip_special_tokens=True)
        return [t.strip() for t in texts]

    def answer(self, reqs: list[ChatRequest]) -> list[str]:
        import torch

        if not reqs:
            return []
        self.load()
        prompts = [self._prompt(r) for r in reqs]
        out: list[str | None] = [None] * len(reqs)
        # Group by everything that must be shared inside one generate() call.
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(reqs):
            kw = self._gen_kwargs(r.params)
            media = "video" if r.video is not None else "image" if r.image is not None else "text"
            groups.setdefault((media, repr(sorted(kw.items()))), []).append(i)
        for (_, _), idx in groups.items():
            kw = self._gen_kwargs(reqs[idx[0]].params)
            if kw.get("do_sample"):
                # HF generate has no per-row generator: sampled answers run one by one, each seeded
                # from its own request, so batch size cannot change them.
                for i in idx:
                    torch.manual_seed(int(reqs[i].params.get("seed", 0)))
                    out[i] = self._run_batch([reqs[i]], [prompts[i]], kw)[0]
                continue
            idx = sorted(idx, key=lambda i: len(prompts[i]))  # similar lengths together: less padding
            for s in range(0, len(idx), self.batch_size):
                chunk = idx[s : s + self.batch_size]
                texts = self._run_batch([reqs[i] for i in chunk], [prompts[i] for i in chunk], kw)
                for i, t in zip(chunk, texts):
                    out[i] = t
        return [o if o is not None else "" for o in out]

    def close(self) -> None:
        self._model = None
        self._processor = None
        free_torch_memory()
