"""Which judge to use, resolved from four layers, and recorded with where each setting came from.

Precedence (first that sets a value wins):

1. CLI flags (``ctx.judge``): ``judge``, ``judge_model``, ``judge_base_url``, ``judge_concurrency``,
   ``judge_max_calls``, ``judge_max_tokens``, ``judge_timeout`` (and ``judge_config``: a file path);
2. the judge config file (YAML or JSON) named by ``judge_config``, with the same keys;
3. the task YAML metric args: ``judge``, ``model``, ``base_url``, ``api_key_env``, ``template``
   (plus ``concurrency``, ``timeout``, ``max_retries``, ``retry_base_delay``, ``reply_max_tokens``);
4. environment fallbacks: ``FACEBENCH_JUDGE``, ``FACEBENCH_JUDGE_MODEL``, ``FACEBENCH_JUDGE_BASE_URL``
   (then ``OPENAI_BASE_URL``), ``FACEBENCH_JUDGE_CONCURRENCY``, ``FACEBENCH_JUDGE_MAX_CALLS``,
   ``FACEBENCH_JUDGE_MAX_TOKENS``, ``FACEBENCH_JUDGE_TIMEOUT``; the key from ``OPENAI_API_KEY`` or the
   variable named by ``api_key_env``.

A judge identity (model, base URL, key variable) only applies to the backend it was written for:
when a higher layer switches the backend (``--judge embedding`` on a GPT-4o task), the task's
``model: gpt-4o...`` is dropped rather than sent to another backend. Nothing is switched silently:
``sources`` records which layer gave each setting, and it goes into results.

``judge_max_tokens`` is the per-run *token budget* (prompt + completion tokens over all judge calls),
like ``judge_max_calls``; the length of one review is ``reply_max_tokens`` (default 512).
The API key itself is never stored on this object — only the name of its environment variable.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from facebench.errors import TaskConfigError

BACKENDS = ("openai", "embedding", "llama-cpp")
_ALIASES = {
    "openai": "openai", "gpt": "openai", "openai-compatible": "openai", "api": "openai",
    "embedding": "embedding", "embed": "embedding", "minilm": "embedding",
    "llama-cpp": "llama-cpp", "llama_cpp": "llama-cpp", "llamacpp": "llama-cpp", "llama.cpp": "llama-cpp",
}
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
EMBEDDING_MODEL = "all-MiniLM-L6-v2"
LLAMA_CPP_MODEL = "gemma-3-270m-q4_k_m"

# CLI / config-file keys this module reads (the CLI fills the first eight).
CLI_KEYS = ("judge", "judge_model", "judge_base_url", "judge_concurrency", "judge_config",
            "judge_max_calls", "judge_max_tokens", "judge_timeout")
CONFIG_ONLY_KEYS = ("judge_api_key_env", "judge_template", "judge_max_retries", "judge_retry_base_delay",
                    "judge_reply_max_tokens", "judge_price_in", "judge_price_out")

# setting name → (CLI/config key, task-arg key, env vars)
_FIELDS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "backend": ("judge", "judge", ("FACEBENCH_JUDGE",)),
    "model": ("judge_model", "model", ("FACEBENCH_JUDGE_MODEL",)),
    "base_url": ("judge_base_url", "base_url", ("FACEBENCH_JUDGE_BASE_URL", "OPENAI_BASE_URL")),
    "api_key_env": ("judge_api_key_env", "api_key_env", ("FACEBENCH_JUDGE_API_KEY_ENV",)),
    "template": ("judge_template", "template", ()),
    "concurrency": ("judge_concurrency", "concurrency", ("FACEBENCH_JUDGE_CONCURRENCY",)),
    "max_calls": ("judge_max_calls", "max_calls", ("FACEBENCH_JUDGE_MAX_CALLS",)),
    "max_tokens": ("judge_max_tokens", "max_tokens", ("FACEBENCH_JUDGE_MAX_TOKENS",)),
    "timeout": ("judge_timeout", "timeout", ("FACEBENCH_JUDGE_TIMEOUT",)),
    "max_retries": ("judge_max_retries", "max_retries", ()),
    "retry_base_delay": ("judge_retry_base_delay", "retry_base_delay", ()),
    "reply_max_tokens": ("judge_reply_max_tokens", "reply_max_tokens", ()),
    "price_in": ("judge_price_in", None, ()),
    "price_out": ("judge_price_out", None, ()),
}
_IDENTITY = ("model", "base_url", "api_key_env")
_INT = ("concurrency", "max_calls", "max_tokens", "max_retries", "reply_max_tokens")
_FLOAT = ("timeout", "retry_base_delay", "price_in", "price_out")


@dataclass
class JudgeSettings:
    backend: str = "openai"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = DEFAULT_API_KEY_ENV
    template: str = "conv"
    concurrency: int = 8
    max_calls: int | None = None
    max_tokens: int | None = None
    timeout: float = 60.0
    max_retries: int = 6
    retry_base_delay: float = 1.0
    reply_max_tokens: int = 512
    price_in: float | None = None
    price_out: float | None = None
    config_file: str | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def api_key(self) -> str | None:
        """The key, read from the environment at call time (never stored or recorded)."""
        key = os.environ.get(self.api_key_env)
        return key.strip() if key and key.strip() else None

    @property
    def is_local(self) -> bool:
        """A loopback server (llama.cpp, vLLM, Ollama, the test stub): no key needed, no charge."""
        if not self.base_url:
            return False
        host = (urlparse(self.base_url).hostname or "").lower()
        return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")

    @property
    def identity(self) -> str:
        """``backend:model``, the judge's name in ``variant`` and the leaderboard."""
        return f"{self.backend}:{self.model or '?'}"

    def describe(self) -> dict[str, Any]:
        """What results.json records (no key, only the name of its variable)."""
        return {
            "backend": self.backend, "model": self.model, "base_url": self.base_url,
            "api_key_env": self.api_key_env if self.backend == "openai" else None,
            "template": self.template, "concurrency": self.concurrency, "max_calls": self.max_calls,
            "max_tokens_budget": self.max_tokens, "timeout_s": self.timeout, "max_retries": self.max_retries,
            "reply_max_tokens": self.reply_max_tokens, "temperature": 0.0, "config_file": self.config_file,
            "sources": dict(self.sources),
        }


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a judge config (YAML or JSON mapping). Unprefixed keys (``model``) mean ``judge_model``."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise TaskConfigError(f"cannot read judge config {p}: {e.strerror or e}") from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # yaml.YAMLError / json.JSONDecodeError: one clear line for the user
        raise TaskConfigError(f"judge config {p} is not valid {p.suffix.lstrip('.') or 'YAML'}: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TaskConfigError(f"judge config {p} must be a mapping of judge_* keys")
    if "api_key" in data or "judge_api_key" in data:
        raise TaskConfigError(f"judge config {p} holds an API key: keep keys in the environment "
                              "(set judge_api_key_env to the variable's name)")
    out: dict[str, Any] = {}
    for k, v in data.items():
        k = str(k)
        key = k if k.startswith("judge") else f"judge_{k}"
        out[key] = v
    known = set(CLI_KEYS) | set(CONFIG_ONLY_KEYS)
    unknown = sorted(set(out) - known)
    if unknown:
        raise TaskConfigError(f"judge config {p}: unknown keys {unknown}; known: {sorted(known - {'judge_config'})}")
    return out


def normalize_backend(name: str) -> str:
    b = _ALIASES.get(str(name).strip().lower())
    if b is None:
        raise TaskConfigError(f"unknown judge backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return b


def _coerce(name: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        if name in _INT:
            return int(value)
        if name in _FLOAT:
            return float(value)
    except (TypeError, ValueError):
        raise TaskConfigError(f"judge setting {name} must be a number, got {value!r}") from None
    if name == "backend":
        return normalize_backend(value)
    return str(value)


def resolve_settings(cli: Mapping[str, Any] | None, task_args: Mapping[str, Any] | None,
                     env: Mapping[str, str] | None = None, default_template: str = "conv") -> JudgeSettings:
    """Merge CLI > config file > task args > environment into one ``JudgeSettings``."""
    cli = {k: v for k, v in (cli or {}).items() if v is not None}
    task_args = dict(task_args or {})
    env = os.environ if env is None else env
    config_path = cli.get("judge_config") or env.get("FACEBENCH_JUDGE_CONFIG")
    config = load_config_file(config_path) if config_path else {}

    layers: list[tuple[str, dict[str, Any]]] = []
    for layer_name, raw in (("cli", cli), ("config", config)):
        layers.append((layer_name, {f: _coerce(f, raw.get(k)) for f, (k, _, _) in _FIELDS.items()}))
    layers.append(("task", {f: _coerce(f, task_args.get(t)) if t else None for f, (_, t, _) in _FIELDS.items()}))
    env_vals: dict[str, Any] = {}
    for f, (_, _, names) in _FIELDS.items():
        env_vals[f] = next((_coerce(f, env[n]) for n in names if env.get(n)), None)
    layers.append(("env", env_vals))

    s = JudgeSettings(template=default_template, config_file=str(config_path) if config_path else None)
    backend, src = next(((lay["backend"], name) for name, lay in layers if lay["backend"]), ("openai", "default"))
    s.backend, s.sources["backend"] = backend, src
    for f in _FIELDS:
        if f == "backend":
            continue
        for name, lay in layers:
            v = lay.get(f)
            if v is None:
                continue
            if f in _IDENTITY and not _identity_applies(name, lay, backend):
                continue
            setattr(s, f, v)
            s.sources[f] = name
            break
        else:
            s.sources[f] = "default"
    if s.backend == "embedding" and s.sources.get("model") in ("default", None):
        s.model = EMBEDDING_MODEL
    if s.backend == "llama-cpp" and s.sources.get("model") in ("default", None):
        s.model = LLAMA_CPP_MODEL
    if s.concurrency < 1:
        raise TaskConfigError(f"judge concurrency must be ≥ 1, got {s.concurrency}")
    return s


def _identity_applies(layer: str, values: dict[str, Any], backend: str) -> bool:
    """A model/URL/key name belongs to the backend of its own layer (or, unset there, to openai
    for env/task values: those describe API judges)."""
    if layer in ("cli", "config"):
        own = values.get("backend")
        return own is None or own == backend
    own = values.get("backend") or "openai"
    return own == backend
