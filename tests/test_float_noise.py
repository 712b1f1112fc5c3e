"""Reported numbers are stable under float noise.

Another machine (BLAS build, thread count, CPU) computes the same embeddings and features up to
their last bits: 10.0 becomes 9.9999995. Such noise must never move a reported metric beyond the
regression gate's tolerance. The test perturbs every floating-point source of per-item scores on the
mini benchmark (sentence embeddings, judge cosines, face embeddings, probe features) by ±1e-5 and
checks every metric of a full retrieval run, and the statistics that take ties (agreement) on
heavily tied scores directly."""
from __future__ import annotations

import numpy as np
import pytest

from facebench.metrics.judge import point_biserial
from facebench.report.compare import DEFAULT_TOLERANCE
from facebench.runner import RunConfig, run

EPS = 1e-5


def _noisy(fn, rng):
    def wrapped(*a, **kw):
        out = fn(*a, **kw)
        if isinstance(out, np.ndarray) and out.dtype.kind == "f":
            return out + rng.uniform(-EPS, EPS, size=out.shape).astype(out.dtype)
        if isinstance(out, list) and out and all(isinstance(x, float) for x in out):
            return [x + float(rng.uniform(-EPS, EPS)) for x in out]
        if hasattr(out, "embedding") and isinstance(getattr(out, "embedding"), np.ndarray):
            out.embedding = out.embedding + rng.uniform(-EPS, EPS, size=out.embedding.shape)
        return out
    return wrapped


def _perturb_sources(monkeypatch, seed: int) -> None:
    rng = np.random.default_rng(seed)
    from facebench.judge import embedding as emb
    from facebench.metrics import probe

    # every embedding the judge computes (whole answers and sentences) and every probe feature vector
    monkeypatch.setattr(emb.EmbeddingJudge, "embed", _noisy(emb.EmbeddingJudge.embed, rng))
    monkeypatch.setattr(probe, "pixel_features", _noisy(probe.pixel_features, rng))
    try:
        from facebench.faces import DlibFace
    except ImportError:  # pragma: no cover - dlib is a test dependency
        return
    monkeypatch.setattr(DlibFace, "analyse", _noisy(DlibFace.analyse, rng))


def _metrics(results: dict) -> dict[str, float]:
    return {f"{t}:{k}": m["value"] for t, e in results["tasks"].items() for k, m in e.get("metrics", {}).items()
            if m.get("value") is not None}


def test_no_metric_moves_beyond_its_gate_tolerance_under_noise(tmp_path, monkeypatch):
    """Predict once, then score the same predictions three times: as is, and twice with every
    floating-point score source perturbed, in fresh caches (nothing read back)."""
    import os

    cfg = dict(model="retrieval", tasks=["desc", "conv", "fid", "vqa"], dataset="mini", limit=30,
               output_path=tmp_path / "out")
    clean = run(RunConfig(**cfg))
    base = _metrics(clean.results)
    assert {"conv:conv_embed", "conv:conv_embed_exact_agreement", "desc:desc_embed"} <= set(base)
    shared = os.environ["FACEBENCH_CACHE_DIR"]
    moved: dict[str, float] = {}
    for seed in (1, 2):
        fresh = tmp_path / f"cache{seed}"
        fresh.mkdir()
        (fresh / "datasets").symlink_to(os.path.join(shared, "datasets"))  # the same mini set, nothing else
        with monkeypatch.context() as m:
            m.setenv("FACEBENCH_CACHE_DIR", str(fresh))
            _perturb_sources(m, seed)
            noisy = _metrics(run(RunConfig(**cfg, mode="score", use_cache=False)).results)
        assert set(noisy) == set(base)
        for k in base:
            moved[k] = max(moved.get(k, 0.0), abs(noisy[k] - base[k]))
    too_far = {k: v for k, v in moved.items() if v > DEFAULT_TOLERANCE}
    assert not too_far, f"metrics moved beyond the gate tolerance {DEFAULT_TOLERANCE} under ±{EPS} noise: {too_far}"
    # the continuous statistics move by about the noise itself, not by a tie flip
    assert moved["conv:conv_embed_exact_agreement"] < 1e-3
    assert any(v > 0 for v in moved.values())  # the perturbation did reach the scores


def test_agreement_is_continuous_where_a_rank_statistic_jumps():
    """The failure that reddened CI: heavily tied scores (10.0 vs 9.9999995) reorder under noise."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    correct = rng.integers(0, 2, 400).astype(float)
    scores = np.where(correct == 1, 10.0, rng.choice([1.0, 5.5, 10.0], 400))  # ties everywhere
    r0, _ = point_biserial(list(scores), list(correct))
    rho_jumps, r_moves = [], []
    for _ in range(20):
        noisy = scores + rng.uniform(-EPS, EPS, scores.size)
        rho_jumps.append(abs(spearmanr(noisy, correct).statistic - spearmanr(scores, correct).statistic))
        r_moves.append(abs(point_biserial(list(noisy), list(correct))[0] - r0))
    assert max(rho_jumps) > DEFAULT_TOLERANCE  # a rank statistic would fail the gate on noise alone
    assert max(r_moves) < 1e-5


@pytest.mark.parametrize("agg", ["bootstrap", "paired_ratio"])
def test_interval_statistics_are_continuous(agg):
    from facebench.metrics.aggregate import bootstrap_ci
    from facebench.metrics.judge import paired_ratio_ci

    rng = np.random.default_rng(3)
    a = rng.choice([1.0, 7.0, 10.0], 300)
    b = rng.choice([8.0, 10.0], 300)
    noisy_a = a + rng.uniform(-EPS, EPS, a.size)
    if agg == "bootstrap":
        lo, hi = bootstrap_ci(list(a))
        lo2, hi2 = bootstrap_ci(list(noisy_a))
    else:
        lo, hi = paired_ratio_ci(a, b, seed=0)
        lo2, hi2 = paired_ratio_ci(noisy_a, b, seed=0)
    assert abs(lo - lo2) < 1e-3 and abs(hi - hi2) < 1e-3
