"""Input prefetch for understanding: decode the next batch's images on a background thread while
the model runs the current batch.

Adapters read a request's image with ``ChatRequest.load_image()`` (hf_vlm, research, openai_api),
so a prefetched request is a ``PreloadedChatRequest``: the same frozen request (same fields, same
``to_dict()``, same cache key) whose ``load_image()`` returns the already-decoded image instead
of reading the file. Pillow's decoders release the GIL (src/decode.c ``_decode``), so the decode
overlaps the model.
A file that fails to decode is simply not preloaded: the adapter's own ``load_image()`` then raises
the same clear error at the same point as without prefetch.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from facebench.types import ChatRequest


@dataclass(frozen=True)
class PreloadedChatRequest(ChatRequest):
    """A ``ChatRequest`` carrying its own decoded RGB image (not part of equality, repr or the key).

    The first ``load_image()`` hands over that image (this request's own copy of the decode shared
    by the questions of one face, made on the prefetch thread: nothing left to do on the model's
    thread); later calls return copies, so an adapter that edits an image in place never sees its
    edit again.
    """

    preloaded: Any = field(default=None, compare=False, repr=False)
    _handed: list = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def of(cls, req: ChatRequest, image: Any) -> PreloadedChatRequest:
        return cls(**{f.name: getattr(req, f.name) for f in fields(ChatRequest)}, preloaded=image)

    def load_image(self):
        if self.preloaded is None:
            return super().load_image()
        if self._handed:
            return self.preloaded.copy()
        self._handed.append(True)
        return self.preloaded


def _decode(path: Path) -> Any:
    from facebench.images import load_image

    return load_image(path)


class InputPrefetcher:
    """``want(items)`` starts preparing their requests on prefetch threads: one task per image file
    decodes it once (or reuses the previous window's decode of it), gives every item of that file
    its own copy and wraps it in a ``PreloadedChatRequest``; ``take(items)`` returns their
    requests, waiting for that work if needed. All per-item work happens on the prefetch threads:
    ``take`` only looks results up. Call ``want`` for the next batch before ``take`` for this one,
    so a face split across two batches is decoded once. Disabled, both are pass-throughs."""

    def __init__(self, enabled: bool = True, threads: int = 2):
        self.enabled = enabled
        self.wait_seconds = 0.0
        # decoding starts when the model does (``model_started``): between two model calls the
        # model's thread has the CPUs to itself, so the next call is not delayed by our decoding
        self._go = threading.Event()
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="facebench-prefetch") if enabled else None
        self._wanted: dict[str, Future] = {}  # item key -> future of (image, {key: request}) of its file
        self._recent: dict[Path, Future] = {}  # the last window's tasks, by file: their decodes are reused

    def want(self, items: list[Any]) -> None:
        if self._pool is None:
            return
        by_path: dict[Path, list[Any]] = {}
        for it in items:
            req = it.request
            if isinstance(req, ChatRequest) and req.image is not None and it.key not in self._wanted:
                by_path.setdefault(req.image, []).append(it)
        if not by_path:
            return
        recent: dict[Path, Future] = {}
        for path, group in by_path.items():
            # a task only ever waits for one submitted before it: no deadlock on a FIFO pool
            fut = self._pool.submit(self._prepare, path, group, self._recent.get(path), self._go)
            recent[path] = fut
            for it in group:
                self._wanted[it.key] = fut
        self._recent = recent

    def model_started(self) -> None:
        self._go.set()

    def model_returned(self) -> None:
        self._go.clear()

    @staticmethod
    def _prepare(path: Path, items: list[Any], earlier: Future | None,
                 go: threading.Event) -> tuple[Any, dict[str, Any]]:
        go.wait()
        image = None
        if earlier is not None:
            try:
                image = earlier.result()[0]
            except Exception:  # noqa: BLE001
                image = None
        if image is None:
            try:
                image = _decode(path)
            except Exception:  # noqa: BLE001 - the adapter's own load_image() reports it
                return None, {it.key: it.request for it in items}
        # every item owns a copy: one adapter editing its image in place cannot touch another's
        return image, {it.key: PreloadedChatRequest.of(it.request, image.copy()) for it in items}

    def take(self, items: list[Any]) -> list[Any]:
        if self._pool is None:
            return [it.request for it in items]
        t = time.perf_counter()
        out = []
        futures = [self._wanted.get(it.key) for it in items]
        if not all(f is None or f.done() for f in futures):
            self._go.set()  # the prefetch is behind: let it run now
        for it in items:
            fut = self._wanted.pop(it.key, None)
            out.append(it.request if fut is None else fut.result()[1].get(it.key, it.request))
        self.wait_seconds += time.perf_counter() - t
        return out

    def close(self) -> None:
        if self._pool is not None:
            for fut in self._wanted.values():
                fut.cancel()
            self._go.set()  # release tasks that already started waiting
            self._pool.shutdown(wait=True)
            self._pool = None
        self._wanted.clear()
        self._recent.clear()
