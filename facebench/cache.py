"""Content-addressed caches that survive ``kill -9`` and never return a damaged value.

``KVCache`` is a SQLite table key → JSON (WAL mode, one transaction per put, safe for several
processes). Every row carries ``sha256(key, value)``, checked on read: a value that does not match
its checksum (a flipped digit, a row copied under another key) is logged, deleted and reported as
missing, so the caller recomputes it — never uses it. ``BlobStore`` keeps content-addressed files
(PNG images) written atomically, named by their own hash. A value is only ever put after
everything it points to is on disk, so a crash leaves either a complete entry or none.

A database that is not readable as SQLite (truncated, overwritten) is moved aside and rebuilt
with a warning — it is a cache, the runs it served are not lost; a database that cannot be opened
or written for a reason a rebuild cannot fix (permissions, a full disk) is one ``CacheError`` line
naming the file and the fix.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from facebench.errors import FacebenchError
from facebench.hashing import sha256_bytes, sha256_text
from facebench.images import atomic_write_bytes

log = logging.getLogger("facebench")

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, t REAL, sha TEXT)"


class CacheError(FacebenchError):
    """A cache file that cannot be used (one line: the file and the fix)."""


def row_checksum(key: str, value_json: str) -> str:
    """What a row must hash to: binds the value to its key, so a value moved under another key fails too."""
    return sha256_text(key + "\0" + value_json)


def _fix_for(path: Path, err: BaseException) -> str | None:
    """A one-line explanation for errors a rebuild cannot fix; None when rebuilding is the fix."""
    msg = str(err).lower()
    if "disk is full" in msg or "no space" in msg or getattr(err, "errno", None) == 28:
        return (f"the disk holding the cache {path} is full; fix: free space there or point FACEBENCH_CACHE_DIR "
                "at another disk (finished items are kept)")
    if "readonly" in msg or "read-only" in msg or "unable to open" in msg or "permission" in msg \
            or "access permission" in msg or "disk i/o error" in msg:
        return (f"cannot open or write the cache database {path} ({err}); fix: check its permissions "
                f"(chmod u+rw {path} and its folder) or set FACEBENCH_CACHE_DIR to a writable folder")
    return None


def _is_damaged(err: BaseException) -> bool:
    msg = str(err).lower()
    return isinstance(err, sqlite3.DatabaseError) and not isinstance(err, sqlite3.OperationalError) or any(
        s in msg for s in ("not a database", "malformed", "file is encrypted", "database corrupt"))


class KVCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CacheError(f"cannot create the cache folder {self.path.parent} ({e.strerror}); fix: set "
                             "FACEBENCH_CACHE_DIR to a writable folder") from None
        self._local = threading.local()
        self._guard(self._init_schema)

    # -- connection and error handling -----------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        # Switching a new database to WAL takes an exclusive lock, and SQLite does not call the busy
        # handler for it: two processes opening a fresh cache at once can see "database is locked".
        for attempt in range(200):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e).lower() or attempt == 199:
                    conn.close()
                    raise
                time.sleep(0.05)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _init_schema(self) -> None:
        conn = self._conn()
        conn.execute(_SCHEMA)
        cols = {r[1] for r in conn.execute("PRAGMA table_info(kv)")}
        if "sha" not in cols:  # a cache written before checksums: its rows fail the check and are redone
            conn.execute("ALTER TABLE kv ADD COLUMN sha TEXT")

    def _move_aside(self, err: BaseException) -> None:
        self.close()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{os.getpid()}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                try:
                    os.replace(src, Path(str(aside) + suffix))
                except OSError:
                    pass
        log.warning("cache database %s is damaged (%s): moved to %s and rebuilt empty; the items it held "
                    "are recomputed", self.path, err, aside)

    def _guard(self, fn, *args: Any) -> Any:
        """Run ``fn``; a damaged database is moved aside and ``fn`` retried once on a fresh one."""
        try:
            return fn(*args)
        except (sqlite3.DatabaseError, OSError) as e:
            fix = _fix_for(self.path, e)
            if fix:
                raise CacheError(fix) from None
            if not _is_damaged(e):
                raise CacheError(f"cache database {self.path} failed ({e}); fix: re-run, or delete {self.path} "
                                 "to rebuild it") from None
            self._move_aside(e)
            try:
                self._init_schema()
                return fn(*args)
            except (sqlite3.DatabaseError, OSError) as e2:
                raise CacheError(_fix_for(self.path, e2) or f"cache database {self.path} failed again after a "
                                 f"rebuild ({e2}); fix: delete it and its -wal/-shm files") from None

    # -- reading (checksummed) ---------------------------------------------------------------------
    def _verified(self, key: str, value: str, sha: str | None) -> Any | None:
        if sha != row_checksum(key, value):
            log.warning("cache %s: entry %s… fails its checksum (damaged or written by an older facebench): "
                        "recomputing it", self.path.name, key[:12])
            self._discard(key)
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            self._discard(key)
            return None

    def _discard(self, key: str) -> None:
        try:
            self._conn().execute("DELETE FROM kv WHERE key=?", (key,))
        except sqlite3.Error:
            pass  # best effort: the row is ignored either way

    def get(self, key: str) -> Any | None:
        def q() -> Any:
            row = self._conn().execute("SELECT value, sha FROM kv WHERE key=?", (key,)).fetchone()
            return None if row is None else self._verified(key, row[0], row[1])

        return self._guard(q)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)

        def q() -> dict[str, Any]:
            out: dict[str, Any] = {}
            conn = self._conn()
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                sql = "SELECT key, value, sha FROM kv WHERE key IN (%s)" % ",".join("?" * len(chunk))
                for k, v, sha in conn.execute(sql, chunk).fetchall():
                    val = self._verified(k, v, sha)
                    if val is not None:
                        out[k] = val
            return out

        return self._guard(q)

    # -- writing ---------------------------------------------------------------------------------------
    def put(self, key: str, value: Any) -> None:
        self.put_many({key: value})

    def put_many(self, items: dict[str, Any]) -> None:
        if not items:
            return
        now = time.time()
        rows = []
        for k, v in items.items():
            text = json.dumps(v, ensure_ascii=False)
            rows.append((k, text, now, row_checksum(k, text)))

        def w() -> None:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO kv (key, value, t, sha) VALUES (?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a failed COMMIT may already have rolled back
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise

        self._guard(w)

    def delete(self, key: str) -> None:
        self._guard(lambda: self._conn().execute("DELETE FROM kv WHERE key=?", (key,)))

    def __len__(self) -> int:
        return self._guard(lambda: self._conn().execute("SELECT COUNT(*) FROM kv").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass
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
