"""Paired significance tests between two runs scored on the same items (joined by item_id).

Both tests look at the per-item differences d_i = a_i − b_i:

* paired bootstrap (Koehn 2004; Berg-Kirkpatrick et al. 2012): resample items with replacement;
  the two-sided p-value is the share of resampled mean differences that move away from the
  observed one by at least its size, |d*̄ − d̄| ≥ |d̄| (the bootstrap distribution shifted to the
  null). It also gives a percentile CI of the mean difference.
* paired permutation (sign-flip): under the null each d_i is as likely to be −d_i; p is the share
  of sign patterns whose |mean| reaches the observed |d̄| (exact enumeration for small n).

Seeds are fixed, so the same scores always give the same p (the leaderboard is byte-stable).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

DEFAULT_RESAMPLES = 10_000
ALPHA = 0.05
EXACT_MAX_N = 16  # 2^16 sign patterns: exact permutation test up to here


@dataclass(frozen=True)
class PairedTest:
    method: str  # "bootstrap" or "permutation"
    n: int  # items scored in both runs
    mean_a: float
    mean_b: float
    diff: float  # mean(a − b)
    p_value: float
    ci: tuple[float, float] | None = None  # CI of the mean difference (bootstrap only)
    resamples: int = 0  # 0: exact

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.p_value < alpha


def _arrays(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("paired tests need two equally long 1-d score lists")
    if x.size < 2:
        raise ValueError("paired tests need at least 2 items")
    return x - y


def _tol(d: np.ndarray) -> float:
    """Float slack for "as extreme as observed" comparisons (sums of equal numbers in another order)."""
    return 1e-9 * max(1.0, float(np.max(np.abs(d))))


def paired_bootstrap(a: Sequence[float], b: Sequence[float], resamples: int = DEFAULT_RESAMPLES,
                     seed: int = 0, level: float = 0.95) -> PairedTest:
    d = _arrays(a, b)
    n = d.size
    obs = float(d.mean())
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, min(resamples, 2_000_000 // n))
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = d[idx].mean(axis=1)
    extreme = int(np.count_nonzero(np.abs(means - obs) >= abs(obs) - _tol(d)))
    p = (extreme + 1) / (resamples + 1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return PairedTest("bootstrap", n, float(np.mean(a)), float(np.mean(b)), obs, min(1.0, p),
                      (float(lo), float(hi)), resamples)


def paired_permutation(a: Sequence[float], b: Sequence[float], resamples: int = DEFAULT_RESAMPLES,
                       seed: int = 0, exact_max_n: int = EXACT_MAX_N) -> PairedTest:
    d = _arrays(a, b)
    n = d.size
    obs = abs(float(d.mean()))
    tol = _tol(d)
    if n <= exact_max_n:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        stats = np.abs(signs @ d) / n
        p = float(np.count_nonzero(stats >= obs - tol)) / len(stats)
        used = 0
    else:
        rng = np.random.default_rng(seed)
        count = 0
        chunk = max(1, min(resamples, 2_000_000 // n))
        for start in range(0, resamples, chunk):
            stop = min(start + chunk, resamples)
            signs = rng.choice((1.0, -1.0), size=(stop - start, n))
            count += int(np.count_nonzero(np.abs(signs @ d) / n >= obs - tol))
        p = (count + 1) / (resamples + 1)
        used = resamples
    return PairedTest("permutation", n, float(np.mean(a)), float(np.mean(b)), float(d.mean()), min(1.0, p),
                      None, used)


def join_items(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[list[str], list[float], list[float]]:
    """Items scored in both runs, in sorted item_id order (failed items are already left out)."""
    ids = sorted(set(a) & set(b))
    return ids, [a[i] for i in ids], [b[i] for i in ids]


def paired_test(a: Mapping[str, float], b: Mapping[str, float], method: str = "bootstrap",
                resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> PairedTest | None:
    """Join two item_id → score maps and test them; None when fewer than 2 items are shared."""
    _, x, y = join_items(a, b)
    if len(x) < 2:
        return None
    if method == "bootstrap":
        return paired_bootstrap(x, y, resamples=resamples, seed=seed)
    if method == "permutation":
        return paired_permutation(x, y, resamples=resamples, seed=seed)
    raise ValueError(f"unknown paired test '{method}' (bootstrap or permutation)")


def ci_overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool | None:
    """Whether two CIs overlap (None when either is unknown). Overlap is a conservative sign of
    "not separable": non-overlapping 95% CIs imply p < 0.05, the converse does not hold."""
    if a is None or b is None:
        return None
    return not (a[1] < b[0] or b[1] < a[0])


def format_p(p: float, resamples: int = 0) -> str:
    """``p=0.034``; below the resolution of the test ``p<0.001`` (or ``p<1/(B+1)``)."""
    floor = 1.0 / (resamples + 1) if resamples else 0.0
    if p < 0.001 or (floor and p <= floor):
        return f"p<{max(0.001, floor):.3g}" if floor > 0.001 else "p<0.001"
    if p >= 0.995:
        return "p=1.00"
    return f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


def describe(label_a: str, label_b: str, test: PairedTest, higher_is_better: bool, alpha: float = ALPHA) -> str:
    """``A > B, p=0.003`` (">" means "better", respecting the metric's direction) or
    ``A ≈ B, p=0.41`` when the difference is not significant at ``alpha``."""
    p = format_p(test.p_value, test.resamples)
    if not test.significant(alpha) or test.diff == 0:
        return f"{label_a} ≈ {label_b}, {p}"
    a_better = (test.diff > 0) == higher_is_better
    return f"{label_a} > {label_b}, {p}" if a_better else f"{label_b} > {label_a}, {p}"


def is_nan(v: float | None) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))
