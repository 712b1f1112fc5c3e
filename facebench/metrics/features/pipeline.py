"""Decode (and preprocess) images ahead of the network, on threads.

Scoring loops read an image file, decode it, resize/normalise it, then run a network on a batch.
Decoding and resizing are CPU work that Pillow does without the GIL (src/decode.c ``_decode`` and
the resampling passes run inside ``ImagingSectionEnter``), and so are numpy's and torchvision's
tensor conversions, so a few threads can prepare the next batch while the network — on an
accelerator, or torch's own CPU threads — runs on this one. Threads, not DataLoader worker
processes: no pickling of the extractor, no process start-up, and nothing is forked after CUDA has
been initialised. Results come back in input order, so features and scores do not depend on the
number of threads.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence


def default_threads() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 2
    return max(1, min(4, n))


def _load(path: str | Path, prepare: Callable[[Any], Any] | None) -> tuple[tuple[int, int], Any]:
    from facebench.images import load_image

    image = load_image(path)
    size = (image.width, image.height)
    return size, (prepare(image) if prepare is not None else image)  # the decoded image is dropped when prepared


def prefetched(paths: Sequence[str | Path], prepare: Callable[[Any], Any] | None = None, *,
               threads: int | None = None, ahead: int = 16) -> Iterator[tuple[int, Any, Any, BaseException | None]]:
    """Yield ``(index, (width, height), item, error)`` for every path, in order, where ``item`` is
    ``prepare(image)`` (or the RGB image itself without ``prepare``), working up to ``ahead``
    images in advance on ``threads`` threads (0: inline). Memory: ``ahead`` items at most. A file
    that cannot be read gives ``(index, None, None, DatasetError)``; other exceptions propagate."""
    from facebench.errors import DatasetError

    threads = default_threads() if threads is None else int(threads)
    if threads <= 0:
        for i, p in enumerate(paths):
            try:
                size, item = _load(p, prepare)
            except DatasetError as e:
                yield i, None, None, e
                continue
            yield i, size, item, None
        return
    pending: deque[tuple[int, Future]] = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="facebench-decode") as pool:
        it = iter(enumerate(paths))
        try:
            for _ in range(max(1, ahead)):
                i, p = next(it)
                pending.append((i, pool.submit(_load, p, prepare)))
        except StopIteration:
            pass
        try:
            while pending:
                i, fut = pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt[0], pool.submit(_load, nxt[1], prepare)))
                try:
                    size, item = fut.result()
                except DatasetError as e:
                    yield i, None, None, e
                    continue
                yield i, size, item, None
        finally:
            for _, fut in pending:  # the consumer stopped early or raised: drop the look-ahead
                fut.cancel()
