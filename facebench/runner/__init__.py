"""Plan → predict → score, with files between the phases (see docs/design.md).

``evaluate`` is the Python API that mirrors ``facebench run``."""
from __future__ import annotations

from facebench.runner.config import RunConfig
from facebench.runner.run import RunOutcome, evaluate, run, simple_evaluate

__all__ = ["RunConfig", "RunOutcome", "evaluate", "run", "simple_evaluate"]
