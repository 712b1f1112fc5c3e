"""Fréchet distance and kernel (KID) distance between two feature sets, in float64.

Fréchet distance between N(mu1, S1) and N(mu2, S2):
    ||mu1 - mu2||² + tr(S1) + tr(S2) - 2·tr((S1 S2)^½)
clean-fid and pytorch-fid take ``scipy.linalg.sqrtm(S1 @ S2)`` (a Schur decomposition of a
non-symmetric matrix: ~19 s at 2048-d on 2 cores, and it can return complex garbage for
near-singular products). Here the trace term comes from symmetric eigenvalue problems instead:
for any factor S1 = F Fᵀ the eigenvalues of S1·S2 equal those of the symmetric PSD matrix
Fᵀ S2 F, so
    tr((S1 S2)^½) = Σ sqrt(eig(Fᵀ S2 F)).
F is the Cholesky factor when S1 is positive definite (N > d, the usual case) and the symmetric
square root from ``eigh(S1)`` otherwise. The eigenproblem is symmetric (LAPACK ``syevd``), tiny
negative eigenvalues from round-off are clipped at 0, and nothing complex appears.
The distance itself is clamped at 0: it is a squared distance, and for identical (or nearly
identical) sets the three trace terms cancel to round-off (e.g. −3e-7 for N=40, d=64), a negative
number no reader should see. The clamp moves nothing above that round-off.

KID (Bińkowski et al. 2018) is the unbiased MMD² with the cubic polynomial kernel
k(x, y) = (x·y/d + 1)³, averaged over random subsets, with the same subset sampling order as
clean-fid's ``kernel_distance`` so a shared seed gives the same number.

numpy only (LAPACK through numpy). ``backend="torch"`` runs the same float64 linear algebra with
torch.linalg (MKL); on 2 cores it is no faster once warm and pays a few seconds of first-call set-up,
so numpy is the default.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def mean_cov(feats: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (ddof=1, as ``np.cov``) in float64, accumulated in row chunks
    so a large float32 feature matrix is never copied to float64 as a whole."""
    feats = np.asarray(feats)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"need a (N >= 2, d) feature matrix, got shape {feats.shape}")
    n, d = feats.shape
    mu = np.zeros(d, dtype=np.float64)
    for i in range(0, n, chunk):
        mu += feats[i : i + chunk].astype(np.float64).sum(axis=0)
    mu /= n
    cov = np.zeros((d, d), dtype=np.float64)
    for i in range(0, n, chunk):
        x = feats[i : i + chunk].astype(np.float64) - mu
        cov += x.T @ x
    cov /= n - 1
    return mu, cov


def _sqrt_psd(sigma: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(sigma)
    w = np.sqrt(np.clip(w, 0.0, None))
    return (v * w) @ v.T


def _factor(sigma: np.ndarray) -> np.ndarray:
    """A matrix F with F Fᵀ = sigma: Cholesky when sigma is positive definite (cheap), else the
    symmetric square root from ``eigh`` (singular covariances, e.g. N ≤ d)."""
    try:
        return np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        return _sqrt_psd(sigma)


def _trace_sqrt_torch(sigma1: np.ndarray, sigma2: np.ndarray) -> float | None:
    """Same computation with torch.linalg in float64; None when torch is absent."""
    try:
        import torch
    except ImportError:
        return None
    s1 = torch.from_numpy(np.ascontiguousarray(sigma1, dtype=np.float64))
    s2 = torch.from_numpy(np.ascontiguousarray(sigma2, dtype=np.float64))
    f, info = torch.linalg.cholesky_ex(s1)
    if int(info) != 0:  # not positive definite: symmetric square root instead
        w, v = torch.linalg.eigh(s1)
        f = (v * w.clamp_min(0).sqrt()) @ v.T
    m = f.T @ s2 @ f
    m = 0.5 * (m + m.T)
    return float(torch.linalg.eigvalsh(m).clamp_min(0).sqrt().sum())


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, backend: str = "numpy") -> float:
    """tr((S1 S2)^½) for symmetric PSD S1, S2: with S1 = F Fᵀ, eig(S1 S2) = eig(Fᵀ S2 F), a
    symmetric PSD matrix, so the trace is the sum of square roots of its eigenvalues.
    ``backend``: numpy (default) | torch (falls back to numpy without torch) — both float64."""
    if backend == "torch":
        out = _trace_sqrt_torch(sigma1, sigma2)
        if out is not None:
            return out
    f = _factor(np.asarray(sigma1, dtype=np.float64))
    m = f.T @ np.asarray(sigma2, dtype=np.float64) @ f
    m = 0.5 * (m + m.T)  # exact symmetry for eigvalsh
    ev = np.linalg.eigvalsh(m)
    return float(np.sqrt(np.clip(ev, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, backend: str = "numpy") -> float:
    """Fréchet distance between two Gaussians, float64, eigenvalue formulation (see module doc)."""
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape}/{mu2.shape}, sigma {sigma1.shape}/{sigma2.shape}")
    diff = mu1 - mu2
    fd = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2, backend)
    return max(float(fd), 0.0)  # a squared distance: round-off below 0 is clamped (module doc)


def frechet_distance_lowrank(feats1: np.ndarray, mu2, sigma2) -> float:
    """Fréchet distance between the Gaussian fitted to ``feats1`` (N1 rows) and N(mu2, sigma2),
    exact and cheap when N1 - 1 < d: with Xc the centred rows / sqrt(N1 - 1), S1 = Xcᵀ Xc and the
    non-zero eigenvalues of S1·S2 are those of the N1×N1 matrix Xc S2 Xcᵀ (eig(AB) = eig(BA)).
    Costs one N1×d×d product and an N1×N1 eigenproblem instead of d×d ones, and has no
    round-off eigenvalues from the d - N1 null directions."""
    x = np.asarray(feats1, dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        raise ValueError("need at least 2 feature rows")
    mu1 = x.mean(axis=0)
    xc = (x - mu1) / np.sqrt(n - 1)
    sigma2 = np.asarray(sigma2, dtype=np.float64)
    m = xc @ sigma2 @ xc.T
    m = 0.5 * (m + m.T)
    tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh(m), 0.0, None)).sum())
    diff = mu1 - np.asarray(mu2, dtype=np.float64)
    return max(float(diff @ diff + (xc * xc).sum() + np.trace(sigma2) - 2.0 * tr_sqrt), 0.0)


def fid_from_features(
    feats1: np.ndarray, feats2: np.ndarray, stats2: tuple[np.ndarray, np.ndarray] | None = None
) -> float:
    """FID between two feature sets (``stats2`` = precomputed (mu, sigma) of ``feats2``). Uses the
    low-rank identity through the smaller set when it has fewer rows than dimensions."""
    n1, n2, d = feats1.shape[0], feats2.shape[0], feats1.shape[1]
    if min(n1, n2) - 1 < d:
        if n1 <= n2:
            mu2, s2 = stats2 if stats2 is not None else mean_cov(feats2)
            return frechet_distance_lowrank(feats1, mu2, s2)
        mu1, s1 = mean_cov(feats1)
        return frechet_distance_lowrank(feats2, mu1, s1)
    mu1, s1 = mean_cov(feats1)
    mu2, s2 = stats2 if stats2 is not None else mean_cov(feats2)
    return frechet_distance(mu1, s1, mu2, s2)


@dataclass
class KIDResult:
    mean: float
    std: float
    subset_size: int
    num_subsets: int
    values: np.ndarray


def kernel_distance(
    feats1: np.ndarray,
    feats2: np.ndarray,
    num_subsets: int = 100,
    max_subset_size: int = 1000,
    seed: int | None = 0,
    rng: np.random.RandomState | None = None,
) -> KIDResult:
    """KID: unbiased polynomial-kernel MMD² averaged over ``num_subsets`` random subsets of size
    m = min(N1, N2, max_subset_size), drawn without replacement (x from ``feats2``, then y from
    ``feats1`` — clean-fid's order). ``std`` is the spread over subsets (as torchmetrics reports)."""
    f1 = np.asarray(feats1, dtype=np.float64)
    f2 = np.asarray(feats2, dtype=np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature shapes differ: {f1.shape} vs {f2.shape}")
    d = f1.shape[1]
    m = min(f1.shape[0], f2.shape[0], max_subset_size)
    if m < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    rng = rng if rng is not None else np.random.RandomState(seed)
    values = np.empty(num_subsets, dtype=np.float64)
    for s in range(num_subsets):
        x = f2[rng.choice(f2.shape[0], m, replace=False)]
        y = f1[rng.choice(f1.shape[0], m, replace=False)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        values[s] = ((a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m) / m
    return KIDResult(float(values.mean()), float(values.std()), m, num_subsets, values)


def jackknife_fid(
    feats1: np.ndarray, feats2: np.ndarray, groups: int = 20, seed: int = 0, z: float = 1.959963984540054
) -> tuple[tuple[float, float], float, float, int]:
    """Delete-a-group jackknife for FID: rows of both sets are dealt at random into ``groups``
    groups, FID is recomputed with each group left out, and
        se = sqrt((G-1)/G · Σ (θ_g − θ̄)²),   CI = θ̂ ± z·se,   bias ≈ (G−1)(θ̄ − θ̂).
    Returns (CI, se, bias, groups used — at most N−2 per set). A percentile bootstrap is not
    used: resampling with replacement duplicates rows, which shrinks the sample covariance and
    pushes every replicate's FID up, so its interval often misses the estimate altogether.
    Costs G Fréchet distances, so callers use it only for low-dimensional features (dlib 128-d,
    CLIP ≤ 1024-d)."""
    f1 = np.asarray(feats1)
    f2 = np.asarray(feats2)
    g = int(min(groups, f1.shape[0] - 2, f2.shape[0] - 2))
    if g < 2:
        raise ValueError("too few samples for a jackknife")
    rng = np.random.RandomState(seed)
    a1 = rng.permutation(f1.shape[0]) % g
    a2 = rng.permutation(f2.shape[0]) % g
    theta = fid_from_features(f1, f2)
    reps = np.array([fid_from_features(f1[a1 != k], f2[a2 != k]) for k in range(g)])
    se = float(np.sqrt((g - 1) / g * ((reps - reps.mean()) ** 2).sum()))
    bias = float((g - 1) * (reps.mean() - theta))
    return (theta - z * se, theta + z * se), se, bias, g
