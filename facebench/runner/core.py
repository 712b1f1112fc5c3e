"""The run entry points (kept under this name for existing imports); the run itself is
``facebench.runner.run.Run``: plan → predict → score → write."""
from __future__ import annotations

from facebench.runner.config import RunConfig
from facebench.runner.run import Run, RunOutcome, evaluate, make_adapter, run

__all__ = ["Run", "RunConfig", "RunOutcome", "evaluate", "make_adapter", "run"]
