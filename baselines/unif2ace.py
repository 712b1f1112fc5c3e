"""UniF²ace (arXiv 2503.08120): bring your own code and checkpoint — nothing public runs it.

No code and no weights of UniF²ace are public: its repository (github.com/tulvgengenr/UniF2ace,
checked at 1c2fbaf, 2025-10-25) holds a README, a licence and figures only. The paper describes a
1.8B model on the Show-o design (Phi-1.5, discrete image tokens, D3Diff training) with token- and
sequence-level mixture-of-experts whose experts add CLIP and face-encoder (identity) embeddings —
layers that Show-o's code does not have, so this plugin does not assume Show-o's classes, config or
prompt layout, and it claims no inference settings (the paper's are unknown).

What it runs is code you give it:

- ``code_path=<folder>`` put on ``sys.path``;
- ``entry=<module>:<function>`` in it, called once as
  ``function(pretrained=<checkpoint>, device=<"cpu"|"cuda:N">, dtype=<torch.dtype>, **settings)``
  where ``settings`` are all other ``--model_args`` (recorded in results as this model's settings);
  it returns an object with ``generate(prompt: str, seed: int, params: dict) -> PIL.Image`` and/or
  ``answer(image: PIL.Image, messages: list[dict], params: dict) -> str``;
- ``pretrained=<checkpoint>`` (no default);
- ``requirements=<pip requirements file>`` (optional): the environment that code needs;
  ``environment_for(model_args)`` turns it into this model's ``EnvSpec`` (exact ``name==version``
  pins are required, so the environment is reproducible).

Seeds: ``generate`` is called once per image with ``seed + k`` after facebench seeds the global
RNGs with it, so batch size cannot change an image. The code's git commit (or a hash of the entry
module) is part of every cache key.
"""
from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, code_revision, seeded
from facebench.envs.spec import EnvSpec
from facebench.errors import FacebenchError

UNIF2ACE_REPO = "https://github.com/tulvgengenr/UniF2ace"
NOT_PUBLIC = ("UniF²ace's code and weights are not public (its repository holds only a README): give "
              "code_path=<your code folder> entry=<module>:<function> pretrained=<your checkpoint> "
              "[requirements=<pinned requirements file>]")
_OWN_ARGS = ("code_path", "entry", "pretrained", "requirements", "batch_size", "weights_hash", "dtype", "revision")


def read_requirements(path: str | Path) -> tuple[str, ...]:
    """Pinned requirement lines of a pip requirements file; an unpinned line is an error (the
    environment must be reproducible)."""
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise FacebenchError(f"unif2ace: requirements file '{p}' does not exist")
    reqs = []
    for raw in p.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+\s*==\s*[^\s;]+(\s*;.*)?", line):
            raise FacebenchError(f"unif2ace: requirement '{line}' in {p} is not pinned: write name==version")
        reqs.append(line)
    return tuple(reqs)


class UniF2aceAdapter(ResearchAdapter):
    name: ClassVar[str] = "unif2ace"
    family: ClassVar[str] = "UniF²ace"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    default_checkpoint: ClassVar[str | None] = None
    needs_pretrained: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("torch",)
    paper_model: ClassVar[str | None] = "UniF²ace"
    description: ClassVar[str] = ("UniF²ace — code and weights not public: bring your own "
                                  "(code_path=, entry=module:function, pretrained=)")
    repo_url: ClassVar[str] = ""  # the public repository holds no code
    # the bring-your-own path: entry, requirements, and any setting the user's own loader takes
    extra_model_args: ClassVar[tuple[str, ...]] = ("*",)
    install_hint: ClassVar[str] = NOT_PUBLIC
    environment: ClassVar[EnvSpec | None] = EnvSpec(
        name="unif2ace", upstream=None,
        notes="No public code or weights (" + UNIF2ACE_REPO + " holds only a README). The environment is the "
              "user's: pass requirements=<pinned requirements file>; see environment_for().")
    default_args: ClassVar[dict[str, Any]] = {}

    def __init__(self, device: str = "cpu", **model_args: Any):
        if model_args.get("pretrained") is None:
            raise FacebenchError(f"model 'unif2ace' needs --model_args pretrained=<your checkpoint>: {NOT_PUBLIC}")
        super().__init__(device=device, **model_args)
        self._entry = str(self.model_args.get("entry") or "")
        self._m_impl: Any = None

    @classmethod
    def environment_for(cls, model_args: dict[str, Any]) -> EnvSpec | None:
        """The user's environment: ``requirements=<file>`` pins, or None (run in facebench's own)."""
        req = model_args.get("requirements")
        if not req:
            return None
        return EnvSpec(name="unif2ace-user", requirements=read_requirements(req), upstream=None,
                       notes=f"user-given requirements: {Path(str(req)).expanduser()}")

    # -- identity -------------------------------------------------------------------------------
    def _entry_module(self) -> str:
        module, sep, func = self._entry.partition(":")
        if not (module and sep and func):
            raise FacebenchError(f"unif2ace needs --model_args entry=<module>:<function> (got '{self._entry}'): "
                                 f"{NOT_PUBLIC}")
        return module

    def _code_id(self) -> str:
        if not self._code_rev and self._entry:
            self._code_rev = code_revision(self.code_path, self._entry.partition(":")[0])
        return self._code_rev

    def fingerprint_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"code": self._code_id(), "entry": self._entry}
        if self.model_args.get("requirements"):
            from facebench.hashing import sha256_file

            extra["requirements"] = sha256_file(str(Path(str(self.model_args["requirements"])).expanduser()))[:12]
        return extra

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_args.items() if k not in _OWN_ARGS}

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["settings"] = self.settings()
        out["entry"] = self._entry or None
        return out

    # -- loading --------------------------------------------------------------------------------
    def load(self) -> None:
        if self._loaded:
            return
        if not self.code_path:
            raise FacebenchError(f"unif2ace needs --model_args code_path=<your code folder>: {NOT_PUBLIC}")
        self.probe_module = self._entry_module()  # type: ignore[misc]  # per instance: the user's module
        super().load()

    def _load(self) -> None:
        module: ModuleType = self.research_module(self._entry_module())
        func = getattr(module, self._entry.partition(":")[2], None)
        if not callable(func):
            raise FacebenchError(f"unif2ace: '{self._entry}' is not a function in {module.__file__}")
        self._m_impl = func(pretrained=self.pretrained, device=self._device, dtype=self._dtype, **self.settings())

    def _method(self, name: str):
        fn = getattr(self._m_impl, name, None)
        if not callable(fn):
            raise FacebenchError(f"unif2ace: the object '{self._entry}' returned has no {name}() method")
        return fn

    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        seeded(seed)
        return self._method("generate")(prompt, seed, params)

    def _answer_one(self, image, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        seeded(int(params.get("seed", 0)))
        return str(self._method("answer")(image, messages, params))
