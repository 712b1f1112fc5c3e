"""Progress for long loops: a tqdm bar on a terminal; off a terminal (nohup, SLURM, CI logs) a log
line at most every ``FACEBENCH_PROGRESS_EVERY`` seconds (default 30) with counts, rate and ETA, so
a batch job's log never sits silent for minutes. ``FACEBENCH_NO_PROGRESS=1`` keeps the bar off
(the periodic lines still go to the log at INFO level)."""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
log = logging.getLogger("facebench")


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


def _logged(iterable: Iterable[T], total: int | None, desc: str, every: float, unit: str) -> Iterator[T]:
    t0 = last = time.monotonic()
    done = 0
    for item in iterable:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every and (total is None or done < total):
            last = now
            rate = done / max(now - t0, 1e-9)
            part = f"{done}/{total} ({100.0 * done / total:.0f}%)" if total else f"{done}"
            eta = f", ETA {_fmt_seconds((total - done) / rate)}" if total and rate > 0 else ""
            log.info("%s: %s %s, %.2f %s/s%s", desc, part, unit, rate, unit, eta)


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "", unit: str = "batches") -> Iterable[T]:
    if sys.stderr.isatty() and not os.environ.get("FACEBENCH_NO_PROGRESS"):
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=False)
    try:
        every = float(os.environ.get("FACEBENCH_PROGRESS_EVERY", "30"))
    except ValueError:
        every = 30.0
    return _logged(iterable, total, desc, every, unit)


def quiet_library_bars() -> None:
    """Off a terminal, the libraries' own bars (transformers' "Loading weights", hub downloads) would
    print carriage-return noise into logs: turn them off (facebench logs its own progress lines)."""
    if not sys.stderr.isatty() or os.environ.get("FACEBENCH_NO_PROGRESS"):
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
