"""The predict phase: look every request up in the content-addressed cache, call the model only
for what is missing (in batches), and persist each finished batch before the next starts, so a
``kill -9`` loses at most the batch in flight."""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facebench.adapters.base import ItemError, ModelAdapter
from facebench.cache import BlobStore, KVCache
from facebench.errors import FacebenchError
from facebench.images import png_bytes
from facebench.progress import progress
from facebench.runner.plan import WorkItem
from facebench.types import GenRequest

log = logging.getLogger("facebench")


@dataclass
class PredictStats:
    items: int = 0
    cached: int = 0
    computed: int = 0
    failed: int = 0
    empty: int = 0  # empty answers: kept and scored as wrong, never dropped
    model_calls: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": self.errors[:20]}


class Predictor:
    def __init__(self, adapter: ModelAdapter, cache: KVCache, blobs: BlobStore, batch_size: int = 8,
                 use_cache: bool = True):
        self.adapter = adapter
        self.cache = cache
        self.blobs = blobs
        self.batch_size = max(1, int(batch_size))
        self.use_cache = use_cache

    def _valid_hit(self, rec: Any, item: WorkItem) -> bool:
        if not isinstance(rec, dict):
            return False
        if isinstance(item.request, GenRequest):
            digests = rec.get("images")
            return (isinstance(digests, list) and len(digests) == item.request.n
                    and all(self.blobs.valid(d) for d in digests))
        return isinstance(rec.get("output"), str)  # an empty answer is an answer (scored as wrong)

    def run(self, items: list[WorkItem], desc: str) -> tuple[dict[str, dict[str, Any]], PredictStats]:
        stats = PredictStats(items=len(items))
        t0 = time.perf_counter()
        records: dict[str, dict[str, Any]] = {}
        if self.use_cache:
            hits = self.cache.get_many(it.key for it in items)
            for it in items:
                rec = hits.get(it.key)
                if rec is not None and self._valid_hit(rec, it):
                    records[it.key] = {**rec, "cached": True}
        todo = [it for it in items if it.key not in records]
        # identical requests inside one run (e.g. fid/vqa/clip sharing prompts) are computed once
        unique: dict[str, WorkItem] = {}
        for it in todo:
            unique.setdefault(it.key, it)
        stats.cached = len(items) - len(todo)
        batches = [list(unique.values())[i : i + self.batch_size] for i in range(0, len(unique), self.batch_size)]
        for batch in progress(batches, len(batches), desc):
            self._run_batch(batch, records, stats)
        stats.seconds = time.perf_counter() - t0
        return records, stats

    def _run_batch(self, batch: list[WorkItem], records: dict[str, dict[str, Any]], stats: PredictStats) -> None:
        reqs = [it.request for it in batch]
        t = time.perf_counter()
        stats.model_calls += 1
        if isinstance(reqs[0], GenRequest):
            outs = self.adapter.generate_images(reqs)  # type: ignore[arg-type]
        else:
            outs = self.adapter.answer(reqs)  # type: ignore[arg-type]
        per_item = (time.perf_counter() - t) / len(batch)
        if not isinstance(outs, list) or len(outs) != len(batch):
            raise FacebenchError(f"model '{self.adapter.name}' returned {len(outs) if isinstance(outs, list) else type(outs).__name__} "
                                 f"outputs for {len(batch)} requests")
        new: dict[str, Any] = {}
        for it, out in zip(batch, outs):
            if isinstance(it.request, GenRequest):
                rec = self._gen_record(it, out, stats)
            else:
                rec = self._text_record(it, out, stats)
            rec["time"] = per_item
            records[it.key] = {**rec, "cached": False}
            if not rec.get("error"):
                new[it.key] = rec
        self.cache.put_many(new)  # blobs are on disk already: the record commits the item

    def _gen_record(self, it: WorkItem, out: Any, stats: PredictStats) -> dict[str, Any]:
        req = it.request
        assert isinstance(req, GenRequest)
        if isinstance(out, ItemError):  # the adapter says this item failed (e.g. its worker crashed)
            stats.failed += 1
            stats.errors.append(f"{it.item_id}: {out}")
            return {"images": [], "error": f"{it.item_id}: {out}"}
        if not isinstance(out, list) or len(out) != req.n:
            stats.failed += 1
            msg = f"{it.item_id}: expected {req.n} images, got {len(out) if isinstance(out, list) else type(out).__name__}"
            stats.errors.append(msg)
            return {"images": [], "error": msg}
        digests = []
        for img in out:
            if not hasattr(img, "save") or getattr(img, "size", None) != (req.width, req.height):
                stats.failed += 1
                msg = f"{it.item_id}: image of size {getattr(img, 'size', None)}, expected {(req.width, req.height)}"
                stats.errors.append(msg)
                return {"images": [], "error": msg}
            digests.append(self.blobs.put(png_bytes(img.convert("RGB"))))
        stats.computed += 1
        return {"images": digests, "seeds": req.seeds()}

    def _text_record(self, it: WorkItem, out: Any, stats: PredictStats) -> dict[str, Any]:
        if not isinstance(out, str):  # a failed item (ItemError) or a broken adapter, not an answer
            stats.failed += 1
            msg = f"{it.item_id}: " + (str(out) if isinstance(out, ItemError) else
                                       f"the adapter returned {type(out).__name__}, not a string")
            stats.errors.append(msg)
            return {"output": "", "error": msg}
        stats.computed += 1
        if not out.strip():
            stats.empty += 1
        return {"output": out}


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
