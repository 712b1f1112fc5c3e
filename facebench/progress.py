"""Progress bars for long loops: tqdm on a terminal, silent otherwise (CI logs stay readable,
and ``FACEBENCH_NO_PROGRESS=1`` silences them everywhere)."""
from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "") -> Iterable[T]:
    quiet = not sys.stderr.isatty() or bool(os.environ.get("FACEBENCH_NO_PROGRESS"))
    if quiet:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)
