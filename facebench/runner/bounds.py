"""Floor and ceiling beside a model's numbers on the mini benchmark.

A value such as ``conv_embed 6.2`` or ``attr_probe_acc 0.41`` means little alone: the reader needs
to know what a model that knows nothing scores (``dummy``: noise images, empty-ish answers) and
what one that knows everything scores (``oracle``: the ground truth, redrawn). Both are *measured*
with the same settings as the run (tasks, limit, seed, metric args, judge), as their own runs in the
same output folder — so they are cached, appear on the leaderboard as rows, and a rerun costs
nothing — and every metric of the run records ``bounds = {floor, ceiling, floor_model,
ceiling_model}`` next to its value.

Only datasets where the oracle can prove the truth have bounds (the mini set); elsewhere
``bounds=True`` is a usage error rather than a silent no-op.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from facebench.errors import FacebenchError

if TYPE_CHECKING:
    from facebench.runner.config import RunConfig
    from facebench.taskconfig import TaskConfig

log = logging.getLogger("facebench")

BOUND_MODELS: dict[str, str] = {"floor": "dummy", "ceiling": "oracle"}
DATASETS_WITH_BOUNDS = ("mini", "mini-video")

Bounds = dict[str, dict[str, dict[str, Any]]]  # task → metric → {floor, ceiling, floor_model, ceiling_model}


def wants_bounds(cfg: RunConfig, tasks: list[TaskConfig], distributed: bool) -> bool:
    """``cfg.bounds``: True (measure; an error where impossible), False, or None (auto: on the mini
    set, for a full scored run — no ``--limit`` — of a model that is not itself a bound)."""
    if cfg.bounds is False:
        return False
    model = cfg.model if isinstance(cfg.model, str) else getattr(cfg.model, "name", "")
    on_mini = all(t.dataset in DATASETS_WITH_BOUNDS for t in tasks)
    possible = (on_mini and cfg.mode == "all" and not cfg.dry_run and cfg.images is None and not distributed)
    if cfg.bounds is True and not possible:
        raise FacebenchError("--bounds needs a scored run (--mode all, no --dry_run/--images, not under torchrun) "
                             f"on a dataset whose truth the oracle knows ({', '.join(DATASETS_WITH_BOUNDS)})")
    if cfg.bounds is None and cfg.limit is not None:
        return False  # a --limit run is a quick check, not a result: its bounds are asked for explicitly
    return possible and model not in BOUND_MODELS.values()


def measure_bounds(cfg: RunConfig) -> Bounds:
    """Run the floor and ceiling models with ``cfg``'s settings; their metric values per task."""
    from facebench.runner.run import run

    found: Bounds = {}
    for role, model in BOUND_MODELS.items():
        log.info("bounds: measuring the %s (%s) with the same settings", role, model)
        sub = replace(cfg, model=model, model_args={}, run_name=None, bounds=False)
        outcome = run(sub)
        for tname, entry in (outcome.results.get("tasks") or {}).items():
            for mname, m in (entry.get("metrics") or {}).items():
                if m.get("value") is None:
                    continue
                slot = found.setdefault(tname, {}).setdefault(mname, {})
                slot[role] = m["value"]
                slot[f"{role}_model"] = model
                slot[f"{role}_run"] = outcome.results.get("run_id")
    return found


def attach(metrics: dict[str, dict[str, Any]], task_bounds: dict[str, dict[str, Any]] | None) -> None:
    """Record each metric's floor/ceiling beside it (only where both were measured)."""
    for name, m in metrics.items():
        b = (task_bounds or {}).get(name)
        if b and "floor" in b and "ceiling" in b and m.get("value") is not None:
            m["bounds"] = dict(b)
