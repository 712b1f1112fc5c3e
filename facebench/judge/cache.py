"""The judge's own cache: one SQLite row per answered review, written the moment it arrives.

Key = (backend, judge model, base URL, template hash, inputs) through ``content_key`` — never the
API key. Only reviews that parsed are stored, so a rerun re-asks exactly the missing and failed
items, and a crash mid-run loses nothing that was already answered.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from facebench.cache import KVCache
from facebench.hashing import content_key
from facebench.paths import cache_root
from facebench.redact import redact

CACHE_FILE = "judge.sqlite"


def normalize_base_url(base_url: str | None) -> str:
    """``None`` means the official OpenAI endpoint; trailing slashes do not make a new judge."""
    return (base_url or "https://api.openai.com/v1").rstrip("/")


class JudgeCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else cache_root() / CACHE_FILE
        self._kv = KVCache(self.path)

    @staticmethod
    def key(backend: str, model: str | None, base_url: str | None, template_hash: str, inputs: Any) -> str:
        return content_key("judge", backend, model or "", normalize_base_url(base_url), template_hash, inputs)

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self._kv.get_many(keys).items() if isinstance(v, dict) and v.get("review")}

    def put(self, key: str, review: str, scores: list[float], model_returned: str | None,
            usage: dict[str, int] | None = None) -> None:
        """Store one *parsed* review (callers never store failures). Review and model name are
        redacted again here: the cache file is one people copy between machines."""
        self._kv.put(key, {"review": redact(review), "scores": list(scores),
                           "model": redact(model_returned) if model_returned else model_returned,
                           "usage": usage or {}, "t": time.time()})

    def __len__(self) -> int:
        return len(self._kv)

    def close(self) -> None:
        self._kv.close()
