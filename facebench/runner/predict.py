"""The predict phase: look every request up in the content-addressed cache, call the model only
for what is missing (in batches), and persist each finished batch.

The model never waits for facebench: while it runs batch i+1, a writer thread encodes, stores and
commits the images of batch i (facebench/runner/output_writer.py), and prefetch threads decode the
input images of the next batch (facebench/runner/prefetch.py); answers are committed before the
next call (one small transaction). A ``kill -9`` loses at most the batch in the model (plus, for
generation, the writer's bounded back-log); everything committed is reused on resume.
``serial=True`` runs the same code without overlap (the pre-overlap design, kept for comparison).

``batch_size="auto"`` (as lm-eval's ``--batch_size auto``): start at ``max_batch_size`` and halve on
out-of-memory, retrying the same items, until a batch fits; the size that ran is recorded in the
stats. The idea of classifying an exception as out-of-memory follows accelerate's
``should_reduce_batch_size`` (src/accelerate/utils/memory.py).
"""
from __future__ import annotations

import gc
import logging
import math
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from facebench.adapters.base import ItemError, ModelAdapter
from facebench.cache import BlobStore, KVCache
from facebench.errors import FacebenchError
from facebench.progress import progress
from facebench.runner.output_writer import (
    OutputWriter,
    default_writer_threads,
    encode_output_png,
    image_output_problem,
)
from facebench.runner.plan import WorkItem
from facebench.runner.prefetch import InputPrefetcher
from facebench.types import GenRequest

log = logging.getLogger("facebench")

DEFAULT_MAX_BATCH_SIZE = 64  # lm-eval's default ceiling for --batch_size auto


@dataclass
class PredictStats:
    items: int = 0
    cached: int = 0
    computed: int = 0
    failed: int = 0
    empty: int = 0  # empty answers: kept and scored as wrong, never dropped
    model_calls: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0  # wall time inside the adapter: busy fraction = model_seconds / seconds
    batch_size: int | None = None  # largest batch that ran (with "auto": the size found to fit)
    batch_size_auto: bool = False
    oom_retries: int = 0  # auto: batches retried at half size after an out-of-memory error
    wait_seconds: float = 0.0  # model idle because the writer was behind or an input was not decoded
    writer_seconds: float = 0.0  # output handling (PNG, hashing, blobs, commits), overlapped unless serial
    commits: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "errors"}
        out["model_busy"] = round(self.model_seconds / self.seconds, 4) if self.seconds > 0 and self.model_calls else None
        return out | {"errors": self.errors[:20]}


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA/MPS/CPU out-of-memory, without importing torch: ``MemoryError``,
    ``torch.cuda.OutOfMemoryError`` (or any class of that name) and RuntimeErrors saying so."""
    if isinstance(exc, MemoryError):
        return True
    if any(c.__name__ == "OutOfMemoryError" for c in type(exc).__mro__):
        return True
    msg = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


def _free_accelerator_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort
        pass


class Predictor:
    """``batch_size``: an int, or "auto" (largest that fits, up to ``max_batch_size``).
    ``serial``: no overlap (writer inline, no prefetch). ``writer_threads``: PNG encoders (default:
    one per CPU, 1..4). ``max_backlog``: finished batches the writer may hold uncommitted.
    ``encode``: image → PNG bytes (default facebench/pngwrite.py; the benchmark passes Pillow's
    level 6 to show the design before)."""

    def __init__(self, adapter: ModelAdapter, cache: KVCache, blobs: BlobStore, batch_size: int | str = 8,
                 use_cache: bool = True, *, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE, serial: bool = False,
                 writer_threads: int | None = None, max_backlog: int = 2, commit_items: int = 256,
                 encode: Callable[[Any], bytes] = encode_output_png):
        self.adapter = adapter
        self.cache = cache
        self.blobs = blobs
        self.auto = isinstance(batch_size, str) and batch_size.strip().lower() == "auto"
        if self.auto:
            self.batch_size = max(1, int(max_batch_size))
        else:
            try:
                self.batch_size = max(1, int(batch_size))
            except (TypeError, ValueError):
                raise FacebenchError(f"--batch_size must be a positive number or 'auto', got {batch_size!r}") from None
        self.use_cache = use_cache
        self.serial = serial
        self.writer_threads = writer_threads
        self.max_backlog = max_backlog
        self.commit_items = commit_items
        self.encode = encode

    def _valid_hit(self, rec: Any, item: WorkItem) -> bool:
        if not isinstance(rec, dict):
            return False
        if isinstance(item.request, GenRequest):
            digests = rec.get("images")
            return (isinstance(digests, list) and len(digests) == item.request.n
                    and all(self.blobs.valid(d) for d in digests))
        return isinstance(rec.get("output"), str)  # an empty answer is an answer (scored as wrong)

    def run(self, items: list[WorkItem], desc: str) -> tuple[dict[str, dict[str, Any]], PredictStats]:
        stats = PredictStats(items=len(items), batch_size_auto=self.auto)
        t0 = time.perf_counter()
        records: dict[str, dict[str, Any]] = {}
        if self.use_cache:
            hits = self.cache.get_many(it.key for it in items)
            found = [(it, hits[it.key]) for it in items if it.key in hits]
            # a generation hit re-hashes its blobs (a damaged blob is recomputed): on a cached rerun of
            # thousands of images that hashing is the whole cost, so it runs on every CPU (hashlib and
            # file reads release the GIL)
            threads = self.writer_threads or default_writer_threads()
            if threads > 1 and sum(isinstance(it.request, GenRequest) for it, _ in found) > 8:
                with ThreadPoolExecutor(threads, thread_name_prefix="facebench-verify") as pool:
                    valid = list(pool.map(lambda pair: self._valid_hit(pair[1], pair[0]), found))
            else:
                valid = [self._valid_hit(rec, it) for it, rec in found]
            for (it, rec), ok in zip(found, valid):
                if ok:
                    records[it.key] = {**rec, "cached": True}
        todo = [it for it in items if it.key not in records]
        # identical requests inside one run (e.g. fid/vqa/clip sharing prompts) are computed once
        unique: dict[str, WorkItem] = {}
        for it in todo:
            unique.setdefault(it.key, it)
        stats.cached = len(items) - len(todo)
        if unique:
            self._predict(list(unique.values()), records, stats, desc)
        stats.seconds = time.perf_counter() - t0
        return records, stats

    def _predict(self, todo: list[WorkItem], records: dict[str, dict[str, Any]], stats: PredictStats,
                 desc: str) -> None:
        writer = OutputWriter(self.cache, self.blobs, stats, records, background=not self.serial,
                              threads=1 if self.serial else self.writer_threads, max_backlog=self.max_backlog,
                              commit_items=self.commit_items, encode=self.encode)
        prefetch = InputPrefetcher(enabled=not self.serial)
        bs = self.batch_size
        pos = 0

        def steps() -> Iterator[int]:
            while pos < len(todo):
                yield pos

        try:
            prefetch.want(todo[:bs])
            for _ in progress(steps(), math.ceil(len(todo) / bs), desc):
                batch = todo[pos : pos + bs]
                prefetch.want(todo[pos + bs : pos + 2 * bs])  # decoded while the model runs this batch
                reqs = prefetch.take(batch)
                prefetch.model_started()
                try:
                    result = self._call(batch, reqs, stats)
                finally:
                    prefetch.model_returned()
                if result is None:  # out of memory under "auto": the same items, half as many at once
                    bs = len(batch) // 2
                    stats.oom_retries += 1
                    stats.batch_size = None  # the size recorded is the largest that ran since
                    log.info("%s: out of memory with a batch of %d, retrying with %d", desc, len(batch), bs)
                    _free_accelerator_memory()
                    prefetch.want(todo[pos : pos + bs])
                    continue
                outs, seconds = result
                if pos == 0:
                    check_first_batch(self.adapter.name, batch, outs)
                pos += len(batch)
                stats.batch_size = max(stats.batch_size or 0, len(batch))
                writer.submit(batch, outs, seconds / len(batch))
        except BaseException:
            prefetch.close()
            writer.close(raise_error=False)  # commit what finished; the original error wins
            raise
        finally:
            stats.wait_seconds = writer.wait_seconds + prefetch.wait_seconds
        prefetch.close()
        try:
            writer.close()
        finally:
            stats.commits = writer.commits
            stats.writer_seconds = writer.busy_seconds

    def _call(self, batch: list[WorkItem], reqs: list[Any], stats: PredictStats) -> tuple[list[Any], float] | None:
        """One model call → (outputs, seconds); None when "auto" should retry a smaller batch."""
        t = time.perf_counter()
        stats.model_calls += 1
        try:
            if isinstance(reqs[0], GenRequest):
                outs = self.adapter.generate_images(reqs)  # type: ignore[arg-type]
            else:
                outs = self.adapter.answer(reqs)  # type: ignore[arg-type]
        except Exception as e:
            stats.model_seconds += time.perf_counter() - t
            if not is_out_of_memory(e):
                raise
            first = (str(e).strip().splitlines() or [""])[0][:200]
            if not self.auto:
                raise FacebenchError(f"model '{self.adapter.name}' ran out of memory with a batch of {len(batch)} "
                                     f"({type(e).__name__}: {first}); pass a smaller --batch_size, "
                                     "or --batch_size auto to find the largest that fits") from e
            if len(batch) <= 1:
                raise FacebenchError(f"model '{self.adapter.name}' runs out of memory even with a batch of 1 "
                                     f"({type(e).__name__}: {first}); use a smaller model, dtype or resolution") from e
            return None
        seconds = time.perf_counter() - t
        stats.model_seconds += seconds
        if not isinstance(outs, list) or len(outs) != len(batch):
            raise FacebenchError(f"model '{self.adapter.name}' returned {len(outs) if isinstance(outs, list) else type(outs).__name__} "
                                 f"outputs for {len(batch)} requests")
        return outs, seconds


GEN_CONTRACT = ("generate_images must return, for each request, a list of request.n PIL images of "
                "request.width x request.height (or an ItemError for an item that failed)")
ANSWER_CONTRACT = "answer must return one string per request (or an ItemError for an item that failed)"


def contract_problem(item: WorkItem, out: Any) -> str | None:
    """What is wrong with one output under the adapter contract (None: it follows it)."""
    if isinstance(out, ItemError):
        return None  # a failure the adapter reports is within the contract
    if isinstance(item.request, GenRequest):
        return image_output_problem(item.request, out)
    return None if isinstance(out, str) else f"got {type(out).__name__}, not a string"


def check_first_batch(model: str, batch: list[WorkItem], outs: list[Any]) -> None:
    """The adapter's first batch is checked against the contract: when *every* output breaks it,
    the adapter is broken (e.g. one image where a list of images is due), and the run stops with
    one line naming the contract, instead of failing every item and scoring nothing."""
    problems = [contract_problem(it, out) for it, out in zip(batch, outs)]
    if problems and all(p is not None for p in problems):
        contract = GEN_CONTRACT if isinstance(batch[0].request, GenRequest) else ANSWER_CONTRACT
        raise FacebenchError(f"model '{model}' does not follow the adapter contract: {contract}; "
                             f"first item {batch[0].item_id}: {problems[0]}")


def materialize_images(blobs: BlobStore, digests: list[str], dest_dir: Path, doc_id: str) -> list[Path]:
    """Place a request's images as ``dest_dir/<doc_id>_<k>.png`` (hard link when possible)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, d in enumerate(digests):
        dst = dest_dir / f"{doc_id}_{k}.png"
        src = blobs.path_for(d)
        if not (dst.exists() and dst.stat().st_size == src.stat().st_size):
            tmp = dst.with_name(f".{dst.name}.tmp")
            try:
                if tmp.exists():
                    tmp.unlink()
                try:
                    os.link(src, tmp)
                except OSError:  # another filesystem: copy
                    shutil.copyfile(src, tmp)
                os.replace(tmp, dst)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        paths.append(dst)
    return paths
