"""Knowing what is in a dataset's files without rehashing them every run.

``file_sha256`` keeps a stamp per file (size, mtime, inode → sha256) in the facebench cache: an
unchanged file costs one ``stat``; a changed, replaced or swapped file (swaps keep their mtimes but
change inode and usually size) is hashed again. ``content_fingerprint`` turns a split's samples
into a hash of their image *contents*, so a results file's dataset hash changes whenever an image
does; ``verify_manifest`` checks files against hashes a dataset publishes (the mini set's manifest).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterable, Mapping

from facebench.hashing import canonical_json, sha256_file, sha256_text

_memo: dict[tuple[str, int, int, int], str] = {}
_lock = threading.Lock()
_stamps = None


def _stamp_db():
    global _stamps
    from facebench.cache import KVCache
    from facebench.paths import cache_root

    path = cache_root() / "filestamps.sqlite"
    if _stamps is None or _stamps.path != path:
        _stamps = KVCache(path)
    return _stamps


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, reusing the stored hash while (size, mtime, inode) are unchanged."""
    p = os.path.abspath(path)
    st = os.stat(p)
    key = (p, st.st_size, st.st_mtime_ns, st.st_ino)
    with _lock:
        if key in _memo:
            return _memo[key]
    db = _stamp_db()
    rec = db.get(p)
    if isinstance(rec, list) and len(rec) == 4 and tuple(rec[:3]) == key[1:]:
        sha = str(rec[3])
    else:
        sha = sha256_file(p)
        db.put(p, [st.st_size, st.st_mtime_ns, st.st_ino, sha])
    with _lock:
        _memo[key] = sha
    return sha


def content_fingerprint(base: str, pairs: Iterable[tuple[str, Path | None]]) -> str:
    """A split's fingerprint from its declared fingerprint ``base`` and (doc_id, image) contents."""
    items = [[doc, file_sha256(img) if img is not None else None] for doc, img in pairs]
    return sha256_text(canonical_json([base, items]))[:16]


def verify_manifest(root: Path, expected: Mapping[str, str]) -> list[str]:
    """Relative paths under ``root`` whose bytes do not hash to ``expected`` (missing ones too)."""
    bad = []
    for rel, sha in sorted(expected.items()):
        try:
            if file_sha256(root / rel) != sha:
                bad.append(rel)
        except OSError:
            bad.append(rel)
    return bad
