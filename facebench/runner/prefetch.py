"""Input prefetch for understanding: decode the next batch's images on a background thread while
the model runs the current batch.

Adapters read a request's image with ``ChatRequest.load_image()`` (hf_vlm, research, openai_api),
so a prefetched request is a ``PreloadedChatRequest``: the same frozen request (same fields, same
``to_dict()``, same cache key) whose ``load_image()`` returns a copy of the already-decoded image
instead of reading the file. PIL decoding releases the GIL, so the decode overlaps the model.
A file that fails to decode is simply not preloaded: the adapter's own ``load_image()`` then raises
the same clear error at the same point as without prefetch.
"""
from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from facebench.types import ChatRequest


@dataclass(frozen=True)
class PreloadedChatRequest(ChatRequest):
    """A ``ChatRequest`` carrying its decoded RGB image (not part of equality, repr or the key)."""

    preloaded: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, req: ChatRequest, image: Any) -> PreloadedChatRequest:
        return cls(**{f.name: getattr(req, f.name) for f in fields(ChatRequest)}, preloaded=image)

    def load_image(self):
        if self.preloaded is None:
            return super().load_image()
        return self.preloaded.copy()  # a fresh image per call: an adapter may resize in place


def _decode(path: Path) -> Any:
    from facebench.images import load_image

    return load_image(path)


class InputPrefetcher:
    """``want(items)`` starts decoding their images; ``take(items)`` returns their requests, preloaded
    where the decode finished (waiting for it if needed). Items sharing one image file (the
    questions of one face) share one decode. Disabled, both are pass-throughs."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.wait_seconds = 0.0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="facebench-prefetch") if enabled else None
        self._by_item: dict[str, Future] = {}
        self._by_path: dict[Path, Future] = {}

    def want(self, items: list[Any]) -> None:
        if self._pool is None:
            return
        for it in items:
            req = it.request
            if not isinstance(req, ChatRequest) or req.image is None or it.key in self._by_item:
                continue
            fut = self._by_path.get(req.image)
            if fut is None:
                fut = self._pool.submit(_decode, req.image)
                self._by_path[req.image] = fut
            self._by_item[it.key] = fut

    def take(self, items: list[Any]) -> list[Any]:
        if self._pool is None:
            return [it.request for it in items]
        t = time.perf_counter()
        out = []
        for it in items:
            fut = self._by_item.pop(it.key, None)
            image = None
            if fut is not None:
                try:
                    image = fut.result()
                except Exception:  # noqa: BLE001 - the adapter's own load_image() reports it
                    image = None
            out.append(PreloadedChatRequest.of(it.request, image) if image is not None else it.request)
        live = {id(f) for f in self._by_item.values()}
        self._by_path = {p: f for p, f in self._by_path.items() if id(f) in live}
        self.wait_seconds += time.perf_counter() - t
        return out

    def close(self) -> None:
        if self._pool is not None:
            for fut in self._by_item.values():
                fut.cancel()
            self._pool.shutdown(wait=True)
            self._pool = None
        self._by_item.clear()
        self._by_path.clear()
