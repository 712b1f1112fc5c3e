"""Keep API keys out of everything facebench logs, caches or writes.

A judge or API server may echo the ``Authorization`` header back (in a reply, an error body or a
response header); without care the key would land in ``judge.sqlite``, ``samples_*.jsonl``,
``results.json``, the HTML report, stdout or the logs — files people share. ``redact`` replaces:

- the *values* of the environment variables that hold keys: every variable a judge, adapter or
  scorer was told to read (``register_key_env``, called where ``api_key_env`` is resolved), the
  well-known ones (``OPENAI_API_KEY``, ``DEEPSEEK_API_KEY``, ...), and any variable whose name ends
  in ``API_KEY``/``_TOKEN``/``_SECRET``/``_PASSWORD`` — values shorter than ``MIN_SECRET_LEN``
  characters are left alone (they would redact ordinary words);
- anything shaped like a secret: ``Bearer <token>`` and OpenAI-style ``sk-...`` keys.

It is applied at the source (the judge client, the ``openai-api`` adapter and the OpenAI VQAScore
scorer redact replies and error texts *before* truncating or returning them — a key cut in half
by a truncation could no longer be found), by a logging filter the CLI and ``facebench.evaluate``
install on every handler, and as a safety net in ``atomic_write_text`` (every JSON/JSONL/HTML/CSV/
Markdown file facebench writes goes through it). A key that a server transforms (base64,
reversed, split) cannot be recognised; only exact values and the two shapes above are.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET_LEN = 8
WELL_KNOWN_KEY_ENVS = ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY",
                       "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_SECRET_NAME = re.compile(r"(?:API_?KEY|_TOKEN|_SECRET|_PASSWORD)$", re.I)
# "Bearer <token>" (an Authorization header value) and OpenAI-style keys (sk-..., sk-proj-...)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{12,}")
_SK = re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}")

_registered: set[str] = set()
_values: set[str] = set()
_lock = threading.Lock()


def register_key_env(name: str | None) -> None:
    """Remember that the variable ``name`` holds a key (its value is redacted from now on)."""
    if name:
        with _lock:
            _registered.add(str(name))


def register_secret(value: str | None) -> None:
    """Remember a key *value* handed to a client directly (not through a known variable)."""
    if value and len(value.strip()) >= MIN_SECRET_LEN:
        with _lock:
            _values.add(value.strip())


def key_env_names() -> list[str]:
    """Every variable whose value is treated as a secret (registered, well known, or by name)."""
    with _lock:
        names = set(_registered)
    names.update(WELL_KNOWN_KEY_ENVS)
    names.update(n for n in os.environ if _SECRET_NAME.search(n))
    return sorted(names)


def secret_values() -> list[str]:
    """Current values of the key variables, longest first (so a key containing another is whole)."""
    with _lock:
        vals = set(_values)
    for n in key_env_names():
        v = os.environ.get(n)
        if v is None:
            continue
        for cand in (v, v.strip()):
            if len(cand) >= MIN_SECRET_LEN:
                vals.add(cand)
    return sorted(vals, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every known key value and every secret-shaped token replaced."""
    if not isinstance(text, str) or not text:
        return text
    for v in secret_values():
        if v in text:
            text = text.replace(v, REDACTED)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if "sk-" in text:
        text = _SK.sub(f"sk-{REDACTED}", text)
    return text


def redact_obj(obj: Any) -> Any:
    """``redact`` applied to every string inside dicts, lists and tuples (keys included)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_obj(k): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback text) with ``redact`` before any handler
    formats it. Installed on handlers (a logger's own filters do not see its children's records)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: leave it to the handler
            return True
        clean = redact(msg)
        if clean != msg or record.args:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add the redacting filter to every handler of ``logger`` (default: the root logger) and to
    logging's last-resort handler. Idempotent; call it after logging is configured."""
    lg = logger or logging.getLogger()
    handlers = list(lg.handlers)
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for h in handlers:
        if _FILTER not in h.filters:
            h.addFilter(_FILTER)
