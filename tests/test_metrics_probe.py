"""The attribute probe (attr_probe_acc): what it scores, how it is calibrated, how stable it is."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from facebench.data.mini import MiniDataset, build_mini  # noqa: E402
from facebench.metrics import probe as P  # noqa: E402
from facebench.metrics.base import MetricContext  # noqa: E402
from facebench.types import Prediction  # noqa: E402


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = build_mini(tmp_path_factory.mktemp("probe") / "mini", n_test=24, n_gallery=120)
    ds = MiniDataset(root=root)
    return ds.load("test"), ds.load("gallery")


def test_noise_image_is_the_dummy_adapters_image():
    from facebench.adapters.dummy import DummyAdapter
    from facebench.types import GenRequest

    [[img]] = DummyAdapter().generate_images([GenRequest(doc_id="d", prompt="p", seed=7, height=64, width=64)])
    assert P.noise_image(7, 64).tobytes() == img.tobytes()


def test_value_is_the_fraction_of_prompt_attributes_read_back(small, tmp_path):
    test, gallery = small
    ctx = MetricContext(task="vqa", dataset="mini", run_dir=tmp_path, cache_dir=tmp_path,
                        reference_samples=test, gallery_samples=gallery)
    # the real test faces as "generated" images: each item's score is the probe's accuracy on that face
    preds = [Prediction(s.doc_id, s.doc_id, "vqa", s.caption, attributes=dict(s.attributes), images=[s.image])
             for s in test]
    mv = P.AttributeProbe(key="attr_probe_acc").compute(preds, ctx)[0]
    probe = P.LinearAttributeProbe(gallery)
    for p, s in zip(preds, test):
        read = probe.predict(s.load_image())
        assert mv.per_item[p.item_id] == pytest.approx(np.mean([read.get(f) == v for f, v in p.attributes.items()]))
        assert mv.details[p.item_id]["read"] == read
    assert np.mean(list(mv.per_item.values())) == pytest.approx(mv.extra["probe_accuracy_on_real"])
    e = mv.extra
    assert e["n_real"] == 24 and e["n_noise"] == P.NOISE_IMAGES and e["gallery_size"] == 120
    # majority level by hand: always the gallery's most frequent value of each family
    fam_hits = {}
    for s in test:
        for f, v in s.attributes.items():
            vals = [g.attributes[f] for g in gallery if f in g.attributes]
            top = max(sorted(set(vals)), key=vals.count)
            fam_hits.setdefault(f, []).append(v == top)
    assert e["majority_class_macro_accuracy"] == pytest.approx(np.mean([np.mean(h) for h in fam_hits.values()]))


def test_skipped_without_a_gallery(tmp_path):
    ctx = MetricContext(task="vqa", dataset="x", run_dir=tmp_path, cache_dir=tmp_path)
    assert "gallery" in P.AttributeProbe(key="a").compute([], ctx)[0].skipped


def test_feature_noise_flips_only_near_ties(small, monkeypatch):
    """±1e-5 noise in every feature changes no read-out beyond those the probe flags as near ties
    (top two decision values within 1e-3); each such flip moves the value by 1/(items·families)."""
    test, gallery = small
    probe = P.LinearAttributeProbe(gallery)
    images = [s.load_image() for s in test]
    clean = probe.predict_many(images)
    ties = probe.near_ties
    real = P.pixel_features
    rng = np.random.default_rng(0)
    monkeypatch.setattr(P, "pixel_features", lambda im: real(im) + rng.uniform(-1e-5, 1e-5, P.SIDE * P.SIDE * 3))
    noisy = probe.predict_many(images)
    flips = sum(a.get(f) != b.get(f) for a, b in zip(clean, noisy) for f in probe.families)
    assert flips <= ties
    assert flips / (len(images) * len(probe.families)) < 0.02
