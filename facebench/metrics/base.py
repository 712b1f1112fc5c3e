"""Metric plugin interface.

A metric gets every ``Prediction`` of one task and returns one or more ``MetricValue``s.
Per-item metrics fill ``per_item`` and leave ``value`` to ``finalize`` (mean + bootstrap CI,
per-attribute breakdown); set-level metrics (FID) set ``aggregate="set"`` and fill value/ci.
A metric that cannot run returns ``skipped(...)`` with the reason and the fix — never a number.
Metrics never import adapters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from facebench.types import MetricValue, Prediction, Sample


@dataclass
class MetricContext:
    """What a metric may use besides the predictions."""

    task: str
    dataset: str  # dataset name ("unif2ace", "mini", or a path)
    run_dir: Path
    cache_dir: Path  # facebench's own cache root (feature stats, judge and scorer caches)
    device: str = "cpu"
    batch_size: int = 8
    seed: int = 0
    reference_samples: list[Sample] = field(default_factory=list)  # real images of the split (FID)
    gallery_samples: list[Sample] = field(default_factory=list)  # mini gallery split (probes)
    judge: dict[str, Any] = field(default_factory=dict)  # judge settings from CLI/config
    dry_run: bool = False


class Metric:
    """Base class. ``name`` is the registry name; ``key`` (from the task YAML) names the output
    value, so one plugin can appear twice in a task with different args (e.g. VQAScore with two
    scorers as ``vqascore_cf5`` and ``vqascore_lv``)."""

    name: ClassVar[str] = "metric"
    higher_is_better: ClassVar[bool] = True
    version: ClassVar[str] = "1"
    kind: ClassVar[str] = "any"  # "generation", "understanding" or "any"
    # False for metrics whose failed items may succeed on a rerun (network judges): their results
    # are then only reused by the score cache when nothing failed.
    failures_are_final: ClassVar[bool] = True

    def __init__(self, key: str | None = None, **args: Any):
        self.key = key or self.name
        self.args = args

    @property
    def variant(self) -> str:
        """A human-readable implementation/variant name recorded with every number."""
        return self.name

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        raise NotImplementedError  # abstract: every registered metric overrides this

    def prepare(self, preds: list[Prediction], ctx: MetricContext) -> None:
        """Optional: compute and cache the per-item part of the work (e.g. image features) for
        ``preds``. Under torchrun every rank calls this on its own shard before rank 0 calls
        ``compute`` on all items, so the expensive part runs in parallel and only its results
        (features, not images) are gathered, through facebench's cache. Default: nothing."""

    # -- helpers for subclasses -----------------------------------------------------------------
    def value(self, name: str | None = None, **kw: Any) -> MetricValue:
        kw.setdefault("higher_is_better", self.higher_is_better)
        kw.setdefault("variant", self.variant)
        kw.setdefault("version", self.version)
        return MetricValue(name=name or self.key, value=kw.pop("value", None), **kw)

    def skipped(self, reason: str, name: str | None = None) -> MetricValue:
        return self.value(name, skipped=reason)
