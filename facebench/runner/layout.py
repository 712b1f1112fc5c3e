"""Where a run's files go. Every run owns its files, named by a timestamp claimed exclusively
(lm-eval style ``results_<stamp>.json``, ``samples_<task>_<stamp>.jsonl``), so two runs into one
folder — one after another or at the same time — never rewrite or mix each other's results.
Generated images live under ``images/<generation key>/``: the same key always means the same
images, so runs share them safely."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from facebench.errors import FacebenchError

_STAMP_RE = re.compile(r"^results_(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{6})(?:-(\d+))?\.json$")


def new_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%f")


def stamp_of(path: Path) -> str | None:
    """The stamp of a ``results_<stamp>.json`` file name (None for other names)."""
    m = _STAMP_RE.match(path.name)
    if not m:
        return None
    return m.group(1) + (f"-{m.group(2)}" if m.group(2) else "")


@dataclass(frozen=True)
class RunFiles:
    run_dir: Path
    stamp: str

    @property
    def results(self) -> Path:
        return self.run_dir / f"results_{self.stamp}.json"

    def samples(self, task: str) -> Path:
        return self.run_dir / f"samples_{task}_{self.stamp}.jsonl"

    def predictions(self, task: str) -> Path:
        return self.run_dir / f"predictions_{task}_{self.stamp}.jsonl"

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.run_dir))

    @classmethod
    def claim(cls, run_dir: Path, stamp: str | None = None) -> "RunFiles":
        """Create this run's results file exclusively (O_EXCL): a stamp taken by a concurrent run
        in the same microsecond gets a numeric suffix instead of being shared."""
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise FacebenchError(f"cannot create the run folder {run_dir} ({e.strerror}); fix: choose a writable "
                                 "--output_path") from None
        base = stamp or new_stamp()
        for i in range(1000):
            files = cls(run_dir, base if i == 0 else f"{base}-{i}")
            try:
                fd = os.open(files.results, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            os.close(fd)
            return files
        raise FacebenchError(f"cannot claim a results file name in {run_dir}")


def results_files(run_dir: Path) -> list[Path]:
    """This folder's ``results_<stamp>.json`` files, oldest first."""
    found = [(stamp_of(p), p) for p in run_dir.glob("results_*.json")]
    return [p for s, p in sorted((s, p) for s, p in found if s)]
