"""What one run is asked to do (the CLI flags / ``evaluate`` keywords), validated before any work."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from facebench.adapters.base import ModelAdapter
from facebench.errors import FacebenchError

MODES = ("all", "predict", "score")


@dataclass
class RunConfig:
    model: str | ModelAdapter
    tasks: list[str]
    model_args: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    limit: int | float | None = None  # N samples, or a fraction of the split (0 < limit < 1), lm-eval style
    batch_size: int | str = 8  # or "auto" (largest that fits, lm-eval style)
    seed: int = 0
    device: str = "cpu"
    output_path: str | Path = "runs"
    run_name: str | None = None
    mode: str = "all"  # all | predict | score
    use_cache: bool = True
    images: str | Path | None = None  # score images made elsewhere: <doc_id>.png / <doc_id>_<k>.png
    metric_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    judge: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    include_path: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    gen_kwargs: dict[str, Any] = field(default_factory=dict)  # override the task YAML's generation settings
    # measure the floor (dummy) and ceiling (oracle) with the same settings and record them beside
    # every metric: True, False, or None = on the mini set (facebench/runner/bounds.py)
    bounds: bool | None = False

    def validate(self) -> None:
        """Usage errors, before anything is loaded or written."""
        if self.mode not in MODES:
            raise FacebenchError(f"--mode must be {'|'.join(MODES)}, got '{self.mode}'")
        if self.limit is not None:
            lim = self.limit
            ok = not isinstance(lim, bool) and (
                (isinstance(lim, int) and lim > 0)
                or (isinstance(lim, float) and math.isfinite(lim) and (0 < lim < 1 or (lim >= 1 and lim.is_integer()))))
            if not ok:
                raise FacebenchError(f"--limit must be a whole number of samples ≥ 1 or a fraction 0 < f < 1, got {lim!r}")
            if isinstance(lim, float) and lim >= 1:
                self.limit = int(lim)
        bs = self.batch_size
        auto = isinstance(bs, str) and (bs == "auto" or bs.startswith("auto:"))
        if not auto and (isinstance(bs, bool) or not isinstance(bs, int) or bs <= 0):
            raise FacebenchError(f"--batch_size must be a positive whole number or 'auto', got {bs!r}")
        if isinstance(self.seed, float) and not math.isfinite(self.seed):
            raise FacebenchError("--seed must be a whole number")
        from facebench.judge.settings import check_judge_options
        from facebench.validate import validate_device, validate_run_name

        validate_run_name(self.run_name)  # never outside --output_path
        validate_device(self.device)
        check_judge_options(self.judge)  # the Python API gets the CLI's usage errors too
        if not self.tasks:
            raise FacebenchError("no task given (e.g. --task vqa or --task all)")

    def partial_reasons(self) -> list[str]:
        """Why this run cannot stand for a full result (empty list: it can)."""
        out = []
        if self.limit is not None:
            out.append(f"--limit {self.limit}")
        if self.dry_run:
            out.append("--dry_run")
        if self.mode == "predict":
            out.append("--mode predict (not scored)")
        return out

    def public(self) -> dict[str, Any]:
        """The config as recorded in the results file (the model by name, paths as given)."""
        d = asdict(self) if not isinstance(self.model, ModelAdapter) else {**asdict(self), "model": self.model.name}
        d["output_path"] = str(self.output_path)
        d["images"] = str(self.images) if self.images else None
        return d
