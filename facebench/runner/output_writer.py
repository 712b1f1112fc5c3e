"""Turn model outputs into cache records, off the model's critical path.

For each finished batch: check the outputs, PNG-encode + hash + store every image (``BlobStore.put``
writes atomically and fsyncs), and only then commit the batch's records (``KVCache.put_many``), so
a committed record always points at durable blobs — the crash-safety rule of facebench/cache.py.

``background=True`` runs this for generated images on a writer thread (facebench/pngwrite.py,
hashing and file writes release the GIL) so the next model call starts at once. A bounded back-log
gives back-pressure: ``submit`` blocks while ``max_backlog`` handed-over batches are not yet
committed, so memory stays bounded and a ``kill -9`` loses at most the batch in the model plus
``max_backlog`` batches (recomputed on resume; nothing committed is ever lost or half-written).
Text answers need no such help: they are committed in ``submit`` itself, before the next model
call (a kill loses at most the batch in the model). Commits are grouped: the writer commits everything
ready whenever it has caught up (or every ``commit_items`` records), one transaction for the whole
back-log when it is behind and one per batch when it keeps up — deliberately no timer, which would
only widen what a kill loses. ``background=False`` does the same work inline, one transaction per
batch: the serial design, kept as the benchmark's comparison (same code, run in place).

An exception in the writer (disk full, unwritable cache) stops it: the records it finished are
committed, the rest are simply not cached, and the error is raised in the caller's thread at the
next ``submit`` or at ``close``.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from facebench.adapters.base import ItemError
from facebench.cache import BlobStore, KVCache
from facebench.types import GenRequest

log = logging.getLogger("facebench")

def image_output_problem(req: GenRequest, out: Any) -> str | None:
    """What is wrong with one request's images under the adapter contract (None: nothing)."""
    if not isinstance(out, list) or len(out) != req.n:
        return f"expected {req.n} images, got {len(out) if isinstance(out, list) else type(out).__name__}"
    for img in out:
        if not hasattr(img, "save") or getattr(img, "size", None) != (req.width, req.height):
            return f"image of size {getattr(img, 'size', None)}, expected {(req.width, req.height)}"
    return None


def encode_output_png(image: Any) -> bytes:
    """PNG bytes of a generated image: facebench/pngwrite.py (GIL released, zlib level 1 + Z_RLE:
    ~5x faster than Pillow's default level 6 for a file of the same size). PNG is lossless at every
    setting. Blob digests of *new* images depend on the encoder; cached records keep pointing at
    their old blobs, which stay valid (a blob is checked by hashing its bytes against its name,
    never against a re-encoding), so a resumed run mixes both without harm."""
    from facebench.pngwrite import encode_png

    return encode_png(image)


_STOP = object()


def default_writer_threads() -> int:
    """PNG encoder threads: one per CPU we may use (1..4). They run only while outputs wait, and
    the model's own host thread mostly blocks in a device sync meanwhile; on the last batch, when
    nothing else runs, every core shortens the final drain."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 2
    return max(1, min(4, n))


class OutputWriter:
    def __init__(self, cache: KVCache, blobs: BlobStore, stats: Any, records: dict[str, dict[str, Any]], *,
                 background: bool = True, threads: int | None = None, max_backlog: int = 2,
                 commit_items: int = 256, encode: Callable[[Any], bytes] = encode_output_png):
        self.cache = cache
        self.blobs = blobs
        self.stats = stats
        self.records = records
        self.background = background
        self.encode = encode
        self.commit_items = max(1, int(commit_items))
        self.wait_seconds = 0.0  # caller blocked by back-pressure
        self.busy_seconds = 0.0  # encoding + storing + committing
        self.commits = 0
        self.error: BaseException | None = None
        threads = default_writer_threads() if threads is None else max(1, int(threads))
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="facebench-encode") if threads > 1 else None
        self._slots = threading.Semaphore(max(1, int(max_backlog)))
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._loop, name="facebench-writer", daemon=True)
            self._thread.start()

    # -- caller side ------------------------------------------------------------------------------
    def submit(self, batch: list[Any], outs: list[Any], seconds_per_item: float) -> None:
        """Hand over one finished batch (``outs[i]`` answers ``batch[i]``)."""
        self._raise_if_failed()
        if not self.background or not any(isinstance(it.request, GenRequest) for it in batch):
            # answers are committed here, before the next model call: one small SQLite transaction
            # (well under a millisecond), and a kill loses at most the batch in the model, as before
            t = time.perf_counter()
            try:
                self._commit(self._handle(batch, outs, seconds_per_item))
            finally:
                self.busy_seconds += time.perf_counter() - t
            return
        t = time.perf_counter()
        while not self._slots.acquire(timeout=0.05):
            self._raise_if_failed()
            if self._thread is None or not self._thread.is_alive():
                raise RuntimeError("facebench's output writer stopped unexpectedly")
        self.wait_seconds += time.perf_counter() - t
        self._queue.put((batch, outs, seconds_per_item))

    def close(self, raise_error: bool = True) -> None:
        """Finish and commit everything handed over; then raise the writer's error, if any."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self.error is not None:
            if raise_error:
                self._raise_if_failed()
            log.error("output writer failed: %s", self.error)

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    # -- writer side ------------------------------------------------------------------------------
    def _loop(self) -> None:
        pending: dict[str, Any] = {}
        held = 0  # batches handed over whose records are not committed yet (their back-log slots)
        try:
            while True:
                job = self._queue.get()
                if job is _STOP:
                    break
                held += 1
                if self.error is None:
                    t = time.perf_counter()
                    try:
                        pending.update(self._handle(*job))
                    except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                        self._fail(e)
                    self.busy_seconds += time.perf_counter() - t
                if self._queue.empty() or len(pending) >= self.commit_items or self.error is not None:
                    pending = self._commit_safely(pending)
                    for _ in range(held):
                        self._slots.release()
                    held = 0
            self._commit_safely(pending)
        finally:
            for _ in range(held):
                self._slots.release()
            self.cache.close()  # this thread's SQLite connection

    def _fail(self, e: BaseException) -> None:
        if self.error is None:
            e.add_note("(raised in facebench's output writer: the items it had not finished are not cached; "
                       "everything committed before is kept and a rerun resumes from it)")
            self.error = e

    def _commit_safely(self, pending: dict[str, Any]) -> dict[str, Any]:
        if pending:
            t = time.perf_counter()
            try:
                self._commit(pending)
            except BaseException as e:  # noqa: BLE001
                self._fail(e)
            self.busy_seconds += time.perf_counter() - t
        return {}

    def _commit(self, new: dict[str, Any]) -> None:
        if new:
            self.cache.put_many(new)  # blobs are durable already: the record commits the item
            self.commits += 1

    def _handle(self, batch: list[Any], outs: list[Any], seconds_per_item: float) -> dict[str, Any]:
        """Records for one batch (failed items too, in ``self.records``); returns those to commit."""
        gen = [(it, out) for it, out in zip(batch, outs) if isinstance(it.request, GenRequest)]
        digests = self._store_images(gen) if gen else {}
        new: dict[str, Any] = {}
        for it, out in zip(batch, outs):
            if isinstance(it.request, GenRequest):
                rec = digests.get(it.key) or self._gen_error(it, out)
            else:
                rec = self._text_record(it, out)
            rec["time"] = seconds_per_item
            self.records[it.key] = {**rec, "cached": False}
            if not rec.get("error"):
                new[it.key] = rec
        return new

    def _store_images(self, gen: list[tuple[Any, Any]]) -> dict[str, dict[str, Any]]:
        ok = [(it, out) for it, out in gen if image_output_problem(it.request, out) is None]
        flat = [img for _, out in ok for img in out]
        if self._pool is not None and len(flat) > 1:
            digests = list(self._pool.map(self._store_one, flat))
        else:
            digests = [self._store_one(img) for img in flat]
        recs, k = {}, 0
        for it, out in ok:
            recs[it.key] = {"images": digests[k : k + len(out)], "seeds": it.request.seeds()}
            k += len(out)
            self.stats.computed += 1
        return recs

    def _store_one(self, img: Any) -> str:
        rgb = img if getattr(img, "mode", None) == "RGB" else img.convert("RGB")
        return self.blobs.put(self.encode(rgb))


    def _gen_error(self, it: Any, out: Any) -> dict[str, Any]:
        reason = str(out) if isinstance(out, ItemError) else image_output_problem(it.request, out)
        msg = f"{it.item_id}: {reason}"
        self.stats.failed += 1
        self.stats.errors.append(msg)
        return {"images": [], "error": msg}

    def _text_record(self, it: Any, out: Any) -> dict[str, Any]:
        if not isinstance(out, str):  # a failed item (ItemError, e.g. its worker crashed) or a broken adapter
            msg = f"{it.item_id}: " + (str(out) if isinstance(out, ItemError) else
                                       f"the adapter returned {type(out).__name__}, not a string")
            self.stats.failed += 1
            self.stats.errors.append(msg)
            return {"output": "", "error": msg}
        self.stats.computed += 1
        if not out.strip():
            self.stats.empty += 1  # an empty answer is an answer: kept, cached, scored as wrong
        return {"output": out}
