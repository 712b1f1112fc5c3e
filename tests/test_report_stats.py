"""Paired tests checked against hand calculations and limiting cases."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from facebench.report.stats import (
    ci_overlap, describe, format_p, join_items, paired_bootstrap, paired_permutation, paired_test,
)


def test_permutation_exact_matches_hand_enumeration():
    # d = [1, 2, 3]: the 8 sign patterns give |sum| = 6,4,2,0,0,2,4,6 → |sum| ≥ 6 in 2 of 8: p = 0.25
    t = paired_permutation([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert t.p_value == pytest.approx(0.25)
    assert t.diff == pytest.approx(2.0) and t.resamples == 0
    # d = [1, -1, 2, 0.5]: brute force over all 16 patterns, written out independently
    d = np.array([1.0, -1.0, 2.0, 0.5])
    obs = abs(d.mean())
    hits = sum(abs(np.dot(s, d)) / 4 >= obs - 1e-12 for s in itertools.product((1, -1), repeat=4))
    t = paired_permutation(list(d), [0.0] * 4)
    assert t.p_value == pytest.approx(hits / 16)


def test_permutation_monte_carlo_close_to_exact():
    rng = np.random.default_rng(3)
    a = rng.normal(0.3, 1, size=14)
    b = rng.normal(0.0, 1, size=14)
    exact = paired_permutation(a, b).p_value
    mc = paired_permutation(a, b, exact_max_n=0, resamples=20_000, seed=1).p_value
    assert abs(exact - mc) < 0.015


def test_bootstrap_two_item_case_by_hand():
    # d = [0, 2], d̄ = 1. Resampled means: 0 (¼), 1 (½), 2 (¼); |d*̄ − 1| ≥ 1 for 0 and 2 → p = ½
    t = paired_bootstrap([0.0, 2.0], [0.0, 0.0], resamples=40_000, seed=5)
    assert t.p_value == pytest.approx(0.5, abs=0.01)
    assert t.ci == (0.0, 2.0)  # 2.5% / 97.5% quantiles of {0, 1, 2}


def test_bootstrap_identical_runs_p_is_one():
    a = list(np.random.default_rng(0).random(50))
    for fn in (paired_bootstrap, paired_permutation):
        t = fn(a, a)
        assert t.p_value == pytest.approx(1.0) and t.diff == 0.0


def test_bootstrap_strong_shift_small_p_and_ci():
    rng = np.random.default_rng(1)
    b = rng.normal(0.5, 0.05, size=200)
    a = b + 0.1 + rng.normal(0, 0.02, size=200)
    t = paired_bootstrap(a, b, resamples=5000)
    assert t.p_value <= 1 / 5001 + 1e-12
    assert t.ci[0] > 0.09 and t.ci[1] < 0.11
    assert paired_permutation(a, b, resamples=5000).p_value <= 1 / 5001 + 1e-12


def test_bootstrap_ci_matches_reference_resampling():
    """The CI equals percentiles of mean differences over the same index draws (reference loop)."""
    rng = np.random.default_rng(7)
    a, b = rng.random(30), rng.random(30)
    t = paired_bootstrap(a, b, resamples=500, seed=11)
    d = a - b
    draws = np.random.default_rng(11).integers(0, 30, size=(500, 30))
    ref = np.array([d[idx].mean() for idx in draws])
    assert t.ci == pytest.approx(tuple(np.quantile(ref, [0.025, 0.975])))
    assert t.p_value == pytest.approx((np.sum(np.abs(ref - d.mean()) >= abs(d.mean())) + 1) / 501)


def test_join_and_describe():
    a = {"x": 1.0, "y": 2.0, "z": 3.0}
    b = {"y": 1.0, "z": 1.0, "w": 9.0}
    ids, xa, xb = join_items(a, b)
    assert ids == ["y", "z"] and xa == [2.0, 3.0] and xb == [1.0, 1.0]
    assert paired_test({"only": 1.0}, {"only": 2.0}) is None
    with pytest.raises(ValueError):
        paired_test(a, b, method="magic")
    t = paired_permutation([0.9] * 12, [0.1] * 12)
    assert describe("new", "base", t, higher_is_better=True) == "new > base, p<0.001"
    assert describe("new", "base", t, higher_is_better=False).startswith("base > new")
    same = paired_permutation([0.5, 0.6], [0.5, 0.6])
    assert describe("A", "B", same, True) == "A ≈ B, p=1.00"
    assert format_p(0.0342) == "p=0.034" and format_p(0.41) == "p=0.41"


def test_ci_overlap():
    assert ci_overlap((0, 1), (0.5, 2)) is True
    assert ci_overlap((0, 1), (1.5, 2)) is False
    assert ci_overlap(None, (0, 1)) is None
