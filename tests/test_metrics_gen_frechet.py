"""Fréchet distance and KID against clean-fid and torchmetrics on the same features."""
from __future__ import annotations

import numpy as np
import pytest

from facebench.metrics.frechet import (
    fid_from_features,
    frechet_distance,
    frechet_distance_lowrank,
    jackknife_fid,
    kernel_distance,
    mean_cov,
)


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    mix = rng.randn(d, d) / np.sqrt(d)
    return np.abs(rng.randn(n, d) @ mix + shift)  # non-negative, correlated: like pool features


@pytest.mark.parametrize("n,d,backend", [(400, 64, "numpy"), (400, 64, "torch"), (700, 256, "numpy")])
def test_frechet_matches_cleanfid_and_torchmetrics(n, d, backend):
    import torch
    from cleanfid.fid import frechet_distance as cleanfid_fd
    from torchmetrics.image.fid import _compute_fid

    f1, f2 = _features(n, d, 1), _features(n + 17, d, 2, shift=0.3)
    mu1, s1 = mean_cov(f1)
    mu2, s2 = mean_cov(f2)
    ours = frechet_distance(mu1, s1, mu2, s2, backend=backend)
    ref = cleanfid_fd(mu1, s1, mu2, s2)
    tm = float(_compute_fid(*(torch.from_numpy(x) for x in (mu1, s1, mu2, s2))))
    assert ours > 1e-3  # a real distance, not a degenerate zero
    assert abs(ours - ref) / abs(ref) <= 1e-6
    assert abs(ours - tm) / abs(tm) <= 1e-6
    assert abs(fid_from_features(f1, f2) - ours) / ours < 1e-12
    assert abs(frechet_distance(mu2, s2, mu1, s1) - ours) / ours < 1e-9  # symmetric


def test_mean_cov_is_numpy_cov_even_in_chunks():
    f = _features(257, 12, 3).astype(np.float32)
    mu, cov = mean_cov(f, chunk=50)
    assert np.allclose(mu, f.astype(np.float64).mean(0), rtol=0, atol=1e-12)
    assert np.allclose(cov, np.cov(f.astype(np.float64), rowvar=False), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError):
        mean_cov(f[:1])


def test_identical_sets_give_zero_and_shift_gives_mean_term():
    f = _features(300, 32, 4)
    mu, s = mean_cov(f)
    assert 0.0 <= frechet_distance(mu, s, mu, s) < 1e-9 * np.trace(s)
    shift = np.full(32, 0.5)
    # same covariance, shifted mean → exactly ||shift||²
    assert frechet_distance(mu, s, mu + shift, s) == pytest.approx(float(shift @ shift), rel=1e-9)


@pytest.mark.parametrize("seed", [1, 4, 10, 19])
def test_identical_sets_are_clamped_at_zero_not_negative(seed):
    """N=40 < d=64: the three trace terms cancel to round-off, which came out at about −3e-7
    before the clamp (a squared distance must never print as negative)."""
    rng = np.random.RandomState(seed)
    f = np.abs(rng.randn(40, 64) @ (rng.randn(64, 64) / 8.0))
    mu, s = mean_cov(f)
    values = [frechet_distance(mu, s, mu, s, backend="numpy"), frechet_distance(mu, s, mu, s, backend="torch"),
              frechet_distance_lowrank(f, mu, s), fid_from_features(f, f.copy())]
    for v in values:  # before the clamp the numpy value was about -3e-7 for each of these seeds
        assert 0.0 <= v < 1e-6
    assert values[0] == 0.0
    shifted = frechet_distance(mu, s, mu + 0.1, s)
    assert shifted == pytest.approx(0.01 * 64, rel=1e-6)  # the clamp leaves real distances alone


def test_singular_covariances_stay_finite_and_close_to_cleanfid():
    from cleanfid.fid import frechet_distance as cleanfid_fd

    f1, f2 = _features(20, 64, 5), _features(25, 64, 6, shift=0.2)  # N < d: rank-deficient
    mu1, s1 = mean_cov(f1)
    mu2, s2 = mean_cov(f2)
    ref = cleanfid_fd(mu1, s1, mu2, s2)
    candidates = (frechet_distance(mu1, s1, mu2, s2, backend="numpy"),
                  frechet_distance(mu1, s1, mu2, s2, backend="torch"),
                  frechet_distance_lowrank(f1, mu2, s2), fid_from_features(f1, f2))
    for ours in candidates:
        assert np.isfinite(ours)
        assert abs(ours - ref) / ref < 1e-6


def test_kid_matches_cleanfid_with_the_same_seed():
    from cleanfid.fid import kernel_distance as cleanfid_kid

    f1, f2 = _features(120, 16, 7), _features(90, 16, 8, shift=0.1)
    ours = kernel_distance(f1, f2, num_subsets=20, max_subset_size=50, seed=123)
    np.random.seed(123)  # clean-fid draws from numpy's global generator, x from feats2 first
    ref = cleanfid_kid(f1, f2, num_subsets=20, max_subset_size=50)
    assert ours.mean == pytest.approx(ref, rel=1e-9)
    assert ours.subset_size == 50 and ours.values.shape == (20,)
    assert ours.std > 0


def test_kid_on_whole_sets_matches_torchmetrics_poly_mmd():
    import torch
    from torchmetrics.image.kid import poly_mmd

    f1, f2 = _features(60, 16, 9), _features(60, 16, 10, shift=0.2)
    ours = kernel_distance(f1, f2, num_subsets=3, max_subset_size=60, seed=0)
    tm = float(poly_mmd(torch.from_numpy(f1), torch.from_numpy(f2), degree=3, gamma=None, coef=1.0))
    # a subset of size N without replacement is a permutation: every subset gives the full-set MMD
    assert ours.mean == pytest.approx(tm, rel=1e-9)
    assert ours.std == pytest.approx(0.0, abs=1e-12)
    # two independent draws of one distribution: unbiased MMD² near 0, far below the shifted pair
    rng = np.random.RandomState(0)
    mix = rng.randn(16, 16) / 4
    g1, g2 = np.abs(rng.randn(200, 16) @ mix), np.abs(rng.randn(200, 16) @ mix)
    same = kernel_distance(g1, g2, num_subsets=10, max_subset_size=200)
    shifted = kernel_distance(g1, g2 + 0.5, num_subsets=10, max_subset_size=200)
    assert abs(same.mean) < 0.05 * shifted.mean


def test_jackknife_ci_is_centred_on_the_estimate():
    f1, f2 = _features(150, 8, 11), _features(150, 8, 12, shift=0.5)
    value = fid_from_features(f1, f2)
    (lo, hi), se, bias, used = jackknife_fid(f1, f2, groups=15, seed=0)
    assert lo < value < hi and se > 0 and used == 15
    assert jackknife_fid(f1[:8], f2, groups=15)[3] == 6  # at most N - 2 groups
    assert (lo + hi) / 2 == pytest.approx(value, rel=1e-12)
    assert hi - lo < value  # informative, not a blanket interval
    assert jackknife_fid(f1, f2, groups=15, seed=0)[0] == (lo, hi)  # seeded
