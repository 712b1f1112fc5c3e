"""Canonical hashing: every cache key and fingerprint in facebench goes through here."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# Bump when the meaning of cached entries changes; old entries are then simply not found.
CACHE_SCHEMA_VERSION = 1


def _default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot hash object of type {type(obj).__name__}")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal values hash equal."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def content_key(*parts: Any) -> str:
    """sha256 over the canonical JSON of ``parts`` plus the cache schema version."""
    return sha256_text(canonical_json([CACHE_SCHEMA_VERSION, *parts]))
