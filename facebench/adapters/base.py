"""The adapter contract (see docs/design.md): batched lists in, lists out; requests carry everything
that changes an output, and ``fingerprint()`` identifies the weights and settings, so
(fingerprint, request) is a complete cache key."""
from __future__ import annotations

import ast
import difflib
import inspect
from typing import TYPE_CHECKING, Any, ClassVar

from facebench.errors import FacebenchError
from facebench.hashing import canonical_json, sha256_text
from facebench.types import ChatRequest, GenRequest

if TYPE_CHECKING:
    from facebench.envs.spec import EnvSpec


class ItemError:
    """Returned in place of one item's output when that item failed (e.g. its worker crashed):
    the predictor records ``str(err)`` as the item's error and never caches it."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ItemError({self.message!r})"


class ModelAdapter:
    """Base class for model adapters. Subclasses set ``name``/``capabilities`` and implement
    ``generate_images`` and/or ``answer``; the constructor takes ``**model_args`` + ``device``.

    Class attributes used by ``facebench ls models`` (all optional):
      ``default_checkpoint`` – hub id or path used when ``pretrained`` is not given;
      ``requires`` – importable module names the adapter needs (checked without importing torch);
      ``paper_model`` – the row name in baselines/reported (e.g. "UniF²ace");
      ``description`` – one line;
      ``environment`` – the ``EnvSpec`` the family runs in (None: in-process, on facebench's own
      stack); such a model runs in a worker process inside that environment (facebench.envs).

    Unknown ``model_args`` keys are refused before the adapter is built (a typo would otherwise
    be ignored *and* change the cache key): the keys a class accepts are ``accepted_args()`` —
    its constructor's named parameters, ``default_args`` keys, ``speed_only_args`` and
    ``extra_model_args``, merged over the class hierarchy.
    """

    name: ClassVar[str] = "adapter"
    capabilities: ClassVar[frozenset[str]] = frozenset()
    default_checkpoint: ClassVar[str | None] = None
    requires: ClassVar[tuple[str, ...]] = ()
    paper_model: ClassVar[str | None] = None
    description: ClassVar[str] = ""
    environment: ClassVar[EnvSpec | None] = None

    #: model_args a class reads (``self.model_args.get(...)``) that are not named parameters of
    #: its constructor nor ``default_args`` keys; merged over the class hierarchy. A "*" entry
    #: accepts any key (for a plugin that forwards everything to another library).
    extra_model_args: ClassVar[tuple[str, ...]] = ()

    def __new__(cls, *args: Any, **model_args: Any):
        cls.check_model_args({k: v for k, v in model_args.items() if k != "device"})
        return super().__new__(cls)

    @classmethod
    def accepted_args(cls) -> frozenset[str] | None:
        """Every ``model_args`` key this adapter understands (None: any key, see ``extra_model_args``)."""
        keys: set[str] = set()
        for klass in cls.__mro__:
            own = vars(klass)
            keys.update(own.get("default_args") or {})
            keys.update(own.get("extra_model_args") or ())
            keys.update(own.get("speed_only_args") or ())
            init = own.get("__init__")
            if init is not None and klass is not object:
                for p in inspect.signature(init).parameters.values():
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "device"):
                        keys.add(p.name)
        env = getattr(cls, "environment", None)  # an environment hands its files to the model as model_args
        keys.update(f.model_arg for f in (getattr(env, "files", None) or ()) if getattr(f, "model_arg", None))
        if "*" in keys:
            return None
        return frozenset(keys)

    @classmethod
    def check_model_args(cls, model_args: dict[str, Any]) -> None:
        """Raise a one-line FacebenchError naming unknown keys and listing the known ones."""
        known = cls.accepted_args()
        if known is None:
            return
        unknown = sorted(str(k) for k in model_args if k not in known)
        if not unknown:
            return
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        listed = ", ".join(sorted(known)) or "none"
        raise FacebenchError(f"model '{cls.name}' does not take --model_args {', '.join(repr(k) for k in unknown)}"
                             f"{hint}; it accepts: {listed}")

    def __init__(self, device: str = "cpu", **model_args: Any):
        self.device = device
        self.model_args = dict(model_args)

    # -- identity -------------------------------------------------------------------------------
    #: model_args that change speed, never outputs (batch size, concurrency, ...): kept out of
    #: the fingerprint, so changing them reuses the cache
    speed_only_args: ClassVar[tuple[str, ...]] = ("batch_size",)

    def fingerprint(self) -> str:
        """name + args + weights revision + the adapter's code (a source hash unless it comes from a
        released package) (+ ``fingerprint_extra``). Device is deliberately excluded (the same
        weights give the same outputs up to numerics)."""
        args = {k: _portable_arg(v) for k, v in self.model_args.items() if k not in self.speed_only_args}
        from facebench.adapters.code_identity import code_identity

        payload = {"name": self.name, "args": args, "weights": self.weights_revision(),
                   "code": code_identity(type(self)), **self.fingerprint_extra()}
        return f"{self.name}-{sha256_text(canonical_json(payload))[:16]}"

    def fingerprint_extra(self) -> dict[str, Any]:
        """More identity for the fingerprint (e.g. a research-code revision)."""
        return {}

    def weights_revision(self) -> str:
        return ""

    def info(self) -> dict[str, Any]:
        """Facts recorded in results.json (e.g. which backend/embedding was used)."""
        return {}

    # -- capabilities ---------------------------------------------------------------------------
    def generate_images(self, reqs: list[GenRequest]) -> list[list[Any]]:
        """Return, per request, ``req.n`` PIL images of size (req.width, req.height)."""
        raise FacebenchError(f"model '{self.name}' cannot generate images")

    def answer(self, reqs: list[ChatRequest]) -> list[str]:
        """Return one text answer per request (image + chat messages)."""
        raise FacebenchError(f"model '{self.name}' cannot answer questions about images")

    def close(self) -> None:
        """Free accelerator memory between tasks."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _portable_arg(value: Any) -> Any:
    """A path inside facebench's cache (a file an environment fetched and hash-checked) is named
    relative to the cache, so the fingerprint does not depend on where the cache lives."""
    if isinstance(value, str) and value.startswith("/"):
        from facebench.paths import cache_root

        root = str(cache_root())
        if value == root or value.startswith(root.rstrip("/") + "/"):
            return "$FACEBENCH_CACHE" + value[len(root.rstrip("/")):]
    return value


def _parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_model_args(text: str | None) -> dict[str, Any]:
    """lm-eval style ``k=v,k2=v2`` → dict, values parsed as Python literals where possible.
    Commas inside brackets or quotes are kept (``size=(512,512)``)."""
    if not text:
        return {}
    out: dict[str, Any] = {}
    depth, quote, cur, parts = 0, "", [], []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if cur:
        parts.append("".join(cur))
    for part in parts:
        if not part.strip():
            continue
        if "=" not in part:
            raise FacebenchError(f"bad argument '{part}': expected key=value (e.g. pretrained=PATH,dtype=float16)")
        k, v = part.split("=", 1)
        if not k.strip():
            raise FacebenchError(f"bad argument '{part.strip()}': empty key before '=' (expected key=value)")
        out[k.strip()] = _parse_value(v.strip())
    return out
