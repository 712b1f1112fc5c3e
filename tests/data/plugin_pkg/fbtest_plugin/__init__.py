"""A third-party facebench plugin used by the tests: found through entry points only."""
from __future__ import annotations

import os
import time
from typing import Any, ClassVar

from facebench.adapters.dummy import DummyAdapter
from facebench.metrics.base import Metric


class SlowCountingAdapter(DummyAdapter):
    """Dummy outputs, ``delay`` seconds per batch, and one line per request appended to
    ``calls_log`` so a test can count model calls across (killed) processes."""

    name: ClassVar[str] = "slow-counting"

    def __init__(self, device: str = "cpu", delay: float = 0.0, calls_log: str = "", **kw: Any):
        super().__init__(device=device, delay=delay, calls_log=calls_log, **kw)
        self.delay = float(delay)
        self.calls_log = calls_log

    def _log(self, reqs) -> None:
        if self.calls_log:
            with open(self.calls_log, "a") as f:
                for r in reqs:
                    f.write(f"{os.getpid()} {r.doc_id}\n")
                f.flush()
                os.fsync(f.fileno())
        time.sleep(self.delay)

    def generate_images(self, reqs):
        self._log(reqs)
        return super().generate_images(reqs)

    def answer(self, reqs):
        self._log(reqs)
        return [f"answer to {r.question}" for r in reqs]


class PromptLength(Metric):
    """A toy metric plugin: prompt length in words."""

    name: ClassVar[str] = "prompt_length"

    def compute(self, preds, ctx):
        return [self.value(per_item={p.item_id: float(len(p.prompt.split())) for p in preds})]


class NeedsMissingPackage(DummyAdapter):
    """An adapter whose backend package is not installed."""

    name: ClassVar[str] = "needs-missing"

    def __init__(self, device: str = "cpu", **kw: Any):
        import facebench_not_installed_backend  # noqa: F401

        super().__init__(device=device, **kw)
