"""Running models whose inference code only exists in a research repository (Show-o, JanusFlow,
VILA-U, TokenFlow, OmniFlow, LlamaGen, and UniF²ace once its code is released).

Such code is rarely pip-installable and often uses generic top-level package names (``models``,
``training``), so a plugin imports it either from the environment (``pip install -e <repo>``) or
from a folder the user names with ``--model_args code_path=/path/to/repo``. When it is absent the
error says exactly what to clone or install; nothing is downloaded.

``ResearchAdapter`` turns a family's two small drivers — ``_generate_one(prompt, seed, params)``
and ``_answer_one(image, messages, params)`` — into the batched adapter contract. Images are made
one at a time, each under its own seed, because research samplers draw from one global RNG (or
one generator per call): that way batch size and request order can never change an output.
"""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from facebench.adapters.pretrained import PretrainedAdapter
from facebench.errors import FacebenchError
from facebench.types import ChatRequest, GenRequest


class ResearchCodeMissing(FacebenchError):
    """The research repository a model needs is not importable (message says what to install)."""


def _add_paths(paths: list[Path]) -> None:
    for p in reversed(paths):
        s = str(p)
        if s not in sys.path:
            sys.path.insert(0, s)


def import_research(module: str, *, family: str, install: str, code_path: str | Path | None = None,
                    subdirs: tuple[str, ...] = ("",)) -> ModuleType:
    """Import ``module`` from the environment or from ``code_path`` (+ ``subdirs`` on sys.path).

    A missing ``module`` raises ``ResearchCodeMissing`` naming ``install``; a module that is found
    but fails on one of *its* imports raises ``FacebenchError`` naming the missing dependency (the
    repo's own requirements), so the two situations are never confused."""
    if code_path is not None:
        root = Path(str(code_path)).expanduser()
        if not root.is_dir():
            raise ResearchCodeMissing(f"{family}: code_path '{root}' is not a folder; {install}")
        _add_paths([root / s if s else root for s in subdirs])
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            where = f" (looked in code_path={code_path} and the environment)" if code_path else ""
            raise ResearchCodeMissing(f"{family} research code not found: cannot import '{module}'{where}; "
                                      f"{install}") from None
        raise FacebenchError(f"{family} research code was found but needs '{missing}': install the repository's "
                             f"requirements (e.g. pip install -r <repo>/requirements.txt)") from None


def code_revision(code_path: str | Path | None, module: ModuleType | str | None = None) -> str:
    """Identify the research code that runs: the git commit of its checkout (+ '-dirty'), else a
    hash of the module's file. ``module`` may be a module name: it is located without being
    imported (top-level package only), so the answer is the same before and after loading."""
    import importlib.util

    from facebench.hashing import sha256_file

    def git(root: Path) -> str:
        try:
            head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            return f"git:{head[:12]}{'-dirty' if dirty else ''}" if head else ""
        except (OSError, subprocess.SubprocessError):
            return ""

    if code_path is not None:
        rev = git(Path(str(code_path)).expanduser())
        if rev:
            return rev
    f: str | None = None
    if isinstance(module, ModuleType):
        f = getattr(module, "__file__", None)
    elif isinstance(module, str) and module:
        top = module.split(".")[0]
        if code_path is not None:
            root = Path(str(code_path)).expanduser()
            cands = [root / top / "__init__.py", root / f"{top}.py"]
            f = next((str(c) for c in cands if c.is_file()), None)
        else:
            try:
                spec = importlib.util.find_spec(top)
            except (ImportError, ValueError):
                spec = None
            f = spec.origin if spec is not None and spec.origin not in (None, "built-in", "frozen") else None
            if f and not {"site-packages", "dist-packages"} & set(Path(f).parts):  # an editable checkout
                rev = git(Path(f).parent)
                if rev:
                    return rev
    if f and Path(f).is_file():
        return "file:" + sha256_file(f)[:12]
    return ""


class AttrDict(dict):
    """Nested dict with attribute access (``cfg.model.showo.num_vq_tokens``) and ``.get``, the two
    ways research code reads its OmegaConf configs; used so facebench need not depend on omegaconf."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for k, v in list(self.items()):
            if isinstance(v, dict) and not isinstance(v, AttrDict):
                self[k] = AttrDict(v)

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


class ResearchAdapter(PretrainedAdapter):
    """Base for research-code families. Subclasses set the class attributes below and implement
    ``_load``, and ``_generate_one`` and/or ``_answer_one``."""

    family: ClassVar[str] = ""
    repo_url: ClassVar[str] = ""
    #: how to get the code (shown in errors), e.g. "git clone URL and pass code_path=/path/to/repo"
    install_hint: ClassVar[str] = ""
    #: the module whose import proves the code is there (also listed in ``requires``)
    probe_module: ClassVar[str] = ""
    #: folders under code_path to put on sys.path ("" = the root)
    code_subdirs: ClassVar[tuple[str, ...]] = ("",)
    #: defaults for model_args (the paper's inference settings); user args win
    default_args: ClassVar[dict[str, Any]] = {}
    #: whether a checkpoint must be given (no public default)
    needs_pretrained: ClassVar[bool] = False
    #: dtype the reference inference script uses on GPU (``dtype=auto``); CPU always uses float32
    reference_dtype: ClassVar[str] = "auto"

    default_batch_size: ClassVar[int] = 1
    speed_only_args: ClassVar[tuple[str, ...]] = ("batch_size", "code_path", "weights_hash")
    extra_model_args: ClassVar[tuple[str, ...]] = ("dtype",)

    def __init__(self, device: str = "cpu", **model_args: Any):
        super().__init__(device=device, **model_args)
        self.code_path = self.model_args.get("code_path")
        self._loaded = False
        self._code_rev = ""

    # -- research code ---------------------------------------------------------------------------
    def install_message(self) -> str:
        hint = self.install_hint or (f"git clone {self.repo_url} and pass --model_args code_path=/path/to/repo"
                                     if self.repo_url else "install the model's research code")
        return hint

    def research_module(self, name: str) -> ModuleType:
        return import_research(name, family=self.family or self.name, install=self.install_message(),
                               code_path=self.code_path, subdirs=self.code_subdirs)

    # -- identity -------------------------------------------------------------------------------
    def fingerprint_extra(self) -> dict[str, Any]:
        return {"code": self._code_id()}

    def _code_id(self) -> str:
        """Same value before and after loading (the module is located, never imported here)."""
        if not self._code_rev:
            self._code_rev = code_revision(self.code_path, self.probe_module or None)
        return self._code_rev

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": "research", "family": self.family, "pretrained": self.pretrained,
                               "weights": self.weights_revision(), "code": self._code_id() or None,
                               "settings": {k: v for k, v in self.model_args.items() if k in self.default_args}}
        if self._loaded:
            out["device"] = self._device
            out["dtype"] = str(self._dtype).replace("torch.", "")
        return out

    # -- lifecycle ------------------------------------------------------------------------------
    def load(self) -> None:
        if self._loaded:
            return
        from facebench.adapters.hf_vlm import resolve_device, resolve_dtype

        if self.probe_module:
            self.research_module(self.probe_module)
        self._device = resolve_device(self.device)
        dtype = self.model_args.get("dtype")
        if dtype in (None, "auto"):
            dtype = self.reference_dtype if self._device.startswith("cuda") else "float32"
        self._dtype = resolve_dtype(dtype, self._device)
        self._load()
        self._loaded = True

    def _load(self) -> None:
        raise NotImplementedError  # abstract: load weights through the research code

    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        raise FacebenchError(f"model '{self.name}' cannot generate images")

    def _answer_one(self, image, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        raise FacebenchError(f"model '{self.name}' cannot answer questions about images")

    def close(self) -> None:
        from facebench.adapters.hf_vlm import free_torch_memory

        for attr in list(vars(self)):
            if attr.startswith("_m_"):  # subclasses keep their loaded objects in _m_* attributes
                setattr(self, attr, None)
        self._loaded = False
        free_torch_memory()

    # -- contract -------------------------------------------------------------------------------
    def param(self, params: dict[str, Any], key: str, default: Any = None) -> Any:
        """A request's params win over model_args, which win over the family default."""
        if key in params:
            return params[key]
        return self.model_args.get(key, default)

    def generate_images(self, reqs: list[GenRequest]) -> list[list[Any]]:
        from PIL import Image

        if "generate" not in self.capabilities:
            return super().generate_images(reqs)
        if not reqs:
            return []
        self.load()
        out: list[list[Any]] = []
        for r in reqs:
            imgs = []
            for seed in r.seeds():
                img = self._generate_one(r.prompt, int(seed), dict(r.params))
                img = img.convert("RGB")
                want = (r.width, r.height)
                imgs.append(img if img.size == want else img.resize(want, Image.LANCZOS))
            out.append(imgs)
        return out

    def answer(self, reqs: list[ChatRequest]) -> list[str]:
        if "understand" not in self.capabilities:
            return super().answer(reqs)
        if not reqs:
            return []
        self.load()
        out = []
        for r in reqs:
            image = r.load_image() if r.image is not None else None
            text = self._answer_one(image, [dict(m) for m in r.messages], dict(r.params))
            out.append((text or "").strip())
        return out


def seeded(seed: int, device: str = "cpu"):
    """Seed every RNG a research sampler may touch (torch CPU/CUDA, numpy, random) and return a
    CPU ``torch.Generator`` for code that accepts one."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator(device=device).manual_seed(seed)


def to_pil(obj: Any, value_range: tuple[float, float] | None = None):
    """A research output (PIL; HWC or CHW array/tensor) → PIL RGB. ``value_range`` (lo, hi) maps
    floats linearly to 0..255; without it uint8 is taken as is and floats are guessed from their
    range ([-1, 1], [0, 1] or [0, 255]) — drivers that know their range pass it."""
    import numpy as np
    from PIL import Image

    if isinstance(obj, Image.Image):
        return obj.convert("RGB")
    if hasattr(obj, "detach"):
        obj = obj.detach().float().cpu().numpy()
    arr = np.asarray(obj)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)
    if value_range is not None:
        lo, hi = value_range
        arr = np.clip((arr.astype(np.float32) - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
        if arr.min() < -1e-3:  # [-1, 1] range
            arr = (arr + 1.0) / 2.0 * 255.0
        elif arr.max() <= 1.0 + 1e-6:  # [0, 1] range
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = arr[..., 0]
    return Image.fromarray(arr).convert("RGB")
