"""Content-addressed caches that survive ``kill -9``.

``KVCache`` is a SQLite table key → JSON (WAL mode, one transaction per put, safe for several
processes); ``BlobStore`` keeps content-addressed files (PNG images) written atomically. A value
is only ever put after everything it points to is on disk, so a crash leaves either a complete
entry or none. Failed or empty outputs are never put.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from facebench.hashing import sha256_bytes
from facebench.images import atomic_write_bytes


class KVCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as c:
            c.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, t REAL)")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Any | None:
        row = self._conn().execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except json.JSONDecodeError:  # a garbled row is treated as missing and recomputed
            return None

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        out: dict[str, Any] = {}
        conn = self._conn()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = "SELECT key, value FROM kv WHERE key IN (%s)" % ",".join("?" * len(chunk))
            for k, v in conn.execute(q, chunk):
                try:
                    out[k] = json.loads(v)
                except json.JSONDecodeError:
                    pass
        return out

    def put(self, key: str, value: Any) -> None:
        self.put_many({key: value})

    def put_many(self, items: dict[str, Any]) -> None:
        if not items:
            return
        now = time.time()
        rows = [(k, json.dumps(v, ensure_ascii=False), now) for k, v in items.items()]
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR REPLACE INTO kv (key, value, t) VALUES (?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def delete(self, key: str) -> None:
        self._conn().execute("DELETE FROM kv WHERE key=?", (key,))

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM kv").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class BlobStore:
    """Files named by the sha256 of their bytes: ``root/ab/abcdef....png``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path_for(self, digest: str, suffix: str = ".png") -> Path:
        return self.root / digest[:2] / f"{digest}{suffix}"

    def put(self, data: bytes, suffix: str = ".png") -> str:
        digest = sha256_bytes(data)
        path = self.path_for(digest, suffix)
        if not path.exists() or not self.valid(digest, suffix):  # a damaged blob is replaced
            atomic_write_bytes(path, data)
        return digest

    def valid(self, digest: str, suffix: str = ".png") -> bool:
        """A blob is valid only if present and its bytes still hash to its name."""
        path = self.path_for(digest, suffix)
        try:
            return sha256_bytes(path.read_bytes()) == digest
        except OSError:
            return False
