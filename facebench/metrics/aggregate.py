"""Turn per-item scores into an aggregate: mean over scored items, percentile bootstrap CI,
and a per-attribute breakdown. Failed items (None) are counted and excluded, never imputed."""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

import numpy as np

from facebench.types import MetricValue, Prediction

BOOTSTRAP_RESAMPLES = 1000
CI_LEVEL = 0.95


def bootstrap_ci(values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, level: float = CI_LEVEL,
                 seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean (fixed seed: the same scores give the same CI)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 100):  # chunks keep memory at 100·n
        stop = min(start + 100, resamples)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def attribute_breakdown(per_item: dict[str, float | None], preds: Sequence[Prediction]) -> dict[str, dict[str, float]]:
    """Per attribute family: the mean score of the items that probe it (a QA with ``family``),
    or, for items that carry all attributes (generation, captions), the mean per attribute value."""
    by_family: dict[str, list[float]] = defaultdict(list)
    by_value: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in preds:
        v = per_item.get(p.item_id)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if p.qa is not None and p.qa.family:
            by_family[p.qa.family].append(v)
            if p.qa.family in p.attributes:
                by_value[p.qa.family][p.attributes[p.qa.family]].append(v)
        elif p.qa is None:
            for fam, val in p.attributes.items():
                by_family[fam].append(v)
                by_value[fam][val].append(v)
    out: dict[str, dict[str, float]] = {}
    for fam in sorted(by_family):
        vals = by_family[fam]
        entry: dict[str, float] = {"all": float(np.mean(vals)), "n": float(len(vals))}
        for val in sorted(by_value.get(fam, {})):
            entry[val] = float(np.mean(by_value[fam][val]))
        out[fam] = entry
    return out


def finalize(mv: MetricValue, preds: Sequence[Prediction]) -> MetricValue:
    """Fill value/CI/n/n_failed (for "mean" metrics) and the per-attribute breakdown."""
    if mv.skipped:
        return mv
    if mv.aggregate == "mean":
        scored = [v for v in mv.per_item.values() if v is not None and not (isinstance(v, float) and math.isnan(v))]
        mv.n = len(scored)
        mv.n_failed = len(mv.per_item) - len(scored)
        if not scored:
            mv.value = None
            mv.skipped = f"no item could be scored ({mv.n_failed} failed)"
            return mv
        mv.value = float(np.mean(scored))
        if mv.ci is None:
            mv.ci = bootstrap_ci(scored)
    if mv.per_item and not mv.per_attribute and any(p.attributes for p in preds):
        mv.per_attribute = attribute_breakdown(mv.per_item, preds)
    return mv
