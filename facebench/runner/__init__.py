"""Plan → predict → score, with files between the phases (see DESIGN.md).

``evaluate`` is the Python API that mirrors ``facebench run``."""
from __future__ import annotations

from facebench.runner.core import RunConfig, RunOutcome, evaluate, run

__all__ = ["RunConfig", "RunOutcome", "evaluate", "run"]
