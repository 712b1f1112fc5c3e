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

Size limits (config file / task args / env): ``max_prompt_chars`` (the whole text sent for one
review, default 60,000), ``max_reference_chars`` (the reference caption/answer, default 20,000, the
same limit the planner puts on prompts) and ``max_reply_chars`` (a review, default 20,000: a
512-token review is ~2,000 characters). Over-long items fail with a reason, without a call.

Every value is checked when settings are resolved (``check_judge_options`` runs the same checks
before a run starts, so a bad flag is a usage error, not a metric quietly skipped): counts and
limits are integers (concurrency ≥ 1, budgets ≥ 0), times are finite and positive, the backend is
known (with a did-you-mean), a config file never holds a key, and ``api_key_env`` is a variable
*name*.

``judge_max_tokens`` is the per-run *token budget* (prompt + completion tokens over all judge calls),
like ``judge_max_calls``; the length of one review is ``reply_max_tokens`` (default 512).
The API key itself is never stored on this object — only the name of its environment variable.
"""
from __future__ import annotations

import difflib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from facebench.errors import TaskConfigError
from facebench.redact import register_key_env

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
                    "judge_reply_max_tokens", "judge_price_in", "judge_price_out", "judge_max_prompt_chars",
                    "judge_max_reference_chars", "judge_max_reply_chars")

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
    "max_prompt_chars": ("judge_max_prompt_chars", "max_prompt_chars", ("FACEBENCH_JUDGE_MAX_PROMPT_CHARS",)),
    "max_reference_chars": ("judge_max_reference_chars", "max_reference_chars",
                            ("FACEBENCH_JUDGE_MAX_REFERENCE_CHARS",)),
    "max_reply_chars": ("judge_max_reply_chars", "max_reply_chars", ("FACEBENCH_JUDGE_MAX_REPLY_CHARS",)),
}
_IDENTITY = ("model", "base_url", "api_key_env")
_INT = ("concurrency", "max_calls", "max_tokens", "max_retries", "reply_max_tokens", "max_prompt_chars",
        "max_reference_chars", "max_reply_chars")
_FLOAT = ("timeout", "retry_base_delay", "price_in", "price_out")
# lowest allowed value of each number (None: no setting may be below it other than by being unset)
_MIN = {"concurrency": 1, "max_calls": 0, "max_tokens": 0, "max_retries": 0, "reply_max_tokens": 1,
        "max_prompt_chars": 1, "max_reference_chars": 1, "max_reply_chars": 1, "retry_base_delay": 0.0,
        "price_in": 0.0, "price_out": 0.0}
_POSITIVE = ("timeout",)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    max_prompt_chars: int | None = 60_000
    max_reference_chars: int | None = 20_000
    max_reply_chars: int | None = 20_000
    config_file: str | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def api_key(self) -> str | None:
        """The key, read from the environment at call time (never stored or recorded; its value
        is redacted from everything facebench logs or writes)."""
        register_key_env(self.api_key_env)
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
            "max_prompt_chars": self.max_prompt_chars, "max_reference_chars": self.max_reference_chars,
            "max_reply_chars": self.max_reply_chars,
            "sources": dict(self.sources),
        }


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a judge config (YAML or JSON mapping). Unprefixed keys (``model``) mean ``judge_model``."""
    p = Path(path).expanduser()
    try:
        if not p.is_file():
            raise TaskConfigError(f"judge config {p} is not a regular file")
        if p.stat().st_size > 1_000_000:
            raise TaskConfigError(f"judge config {p} is over 1 MB: not a judge config")
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise TaskConfigError(f"cannot read judge config {p}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise TaskConfigError(f"judge config {p} is not UTF-8 text") from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except json.JSONDecodeError as e:
        raise TaskConfigError(f"judge config {p} is not valid JSON: {e.msg} (line {e.lineno})") from None
    except Exception as e:  # yaml.YAMLError: one clear line, without echoing the file's text
        problem = getattr(e, "problem", None) or type(e).__name__
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise TaskConfigError(f"judge config {p} is not valid YAML: {problem}{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TaskConfigError(f"judge config {p} must be a mapping of judge_* keys")
    secretish = [str(k) for k in data if str(k).lower().replace("-", "_").endswith("api_key")
                 or str(k).lower() in ("key", "token", "secret", "password")]
    if secretish:
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
        close = difflib.get_close_matches(str(name).strip().lower(), list(_ALIASES), n=1, cutoff=0.5)
        hint = f" (did you mean '{_ALIASES[close[0]]}'?)" if close else ""
        raise TaskConfigError(f"unknown judge backend {name!r}{hint}; choose one of {', '.join(BACKENDS)}")
    return b


def _coerce(name: str, value: Any, where: str | None = None) -> Any:
    """``value`` as the type of setting ``name``, checked; ``where`` names its source in errors
    (e.g. ``--judge_concurrency``), default "judge setting <name>"."""
    if value is None or value == "":
        return None
    label = where or f"judge setting {name}"
    if isinstance(value, bool) and (name in _INT or name in _FLOAT):
        raise TaskConfigError(f"{label} must be a number, got {value!r}")
    try:
        if name in _INT:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            out: Any = int(value)
        elif name in _FLOAT:
            out = float(value)
        else:
            out = None
    except (TypeError, ValueError, OverflowError):
        kind = "a whole number" if name in _INT else "a number"
        raise TaskConfigError(f"{label} must be {kind}, got {value!r}") from None
    if out is not None:
        if isinstance(out, float) and not math.isfinite(out):
            raise TaskConfigError(f"{label} must be a finite number, got {value!r}")
        if name in _POSITIVE and out <= 0:
            raise TaskConfigError(f"{label} must be > 0, got {value!r}")
        lo = _MIN.get(name)
        if lo is not None and out < lo:
            raise TaskConfigError(f"{label} must be ≥ {lo}, got {value!r}")
        return out
    if name == "backend":
        return normalize_backend(value)
    if name == "api_key_env" and not _ENV_NAME.match(str(value)):
        raise TaskConfigError(f"{label} must be the NAME of an environment variable (e.g. "
                              f"OPENAI_API_KEY), not {'a key' if len(str(value)) > 20 else repr(value)}")
    return str(value)


def check_judge_options(cli: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> JudgeSettings:
    """Validate the run's judge options (CLI flags or ``RunConfig.judge``, the config file they
    name, and the FACEBENCH_JUDGE_* environment) before any work starts; raises TaskConfigError
    (exit 2, one line). The CLI calls it; the Python API entry should too."""
    return resolve_settings(cli, {}, env=env)


def resolve_settings(cli: Mapping[str, Any] | None, task_args: Mapping[str, Any] | None,
                     env: Mapping[str, str] | None = None, default_template: str = "conv") -> JudgeSettings:
    """Merge CLI > config file > task args > environment into one ``JudgeSettings``."""
    cli = {k: v for k, v in (cli or {}).items() if v is not None}
    task_args = dict(task_args or {})
    env = os.environ if env is None else env
    config_path = cli.get("judge_config") or env.get("FACEBENCH_JUDGE_CONFIG")
    config = load_config_file(config_path) if config_path else {}

    layers: list[tuple[str, dict[str, Any]]] = []
    layers.append(("cli", {f: _coerce(f, cli.get(k), f"--{k}") for f, (k, _, _) in _FIELDS.items()}))
    layers.append(("config", {f: _coerce(f, config.get(k), f"{k} in judge config {config_path}")
                              for f, (k, _, _) in _FIELDS.items()}))
    layers.append(("task", {f: _coerce(f, task_args.get(t), f"judge arg {t} of the task") if t else None
                            for f, (_, t, _) in _FIELDS.items()}))
    env_vals: dict[str, Any] = {}
    for f, (_, _, names) in _FIELDS.items():
        env_vals[f] = next((_coerce(f, env[n], f"${n}") for n in names if env.get(n)), None)
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
    register_key_env(s.api_key_env)
    return s


def _identity_applies(layer: str, values: dict[str, Any], backend: str) -> bool:
    """A model/URL/key name belongs to the backend of its own layer (or, unset there, to openai
    for env/task values: those describe API judges)."""
    if layer in ("cli", "config"):
        own = values.get("backend")
        return own is None or own == backend
    own = values.get("backend") or "openai"
    return own == backend
