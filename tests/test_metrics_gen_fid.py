"""FID/KID/FD metrics end to end: random-init Inception saved in the real weight formats and
loaded through facebench's loader, compared with clean-fid running the same network."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facebench.metrics.base import MetricContext
from facebench.types import Prediction, Sample

N_IMAGES = 6


def _write_images(folder: Path, seed: int, offset: int) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    out = []
    for i in range(N_IMAGES):
        base = rng.randint(0, 255, (6, 6, 3)).astype(np.uint8)
        w, h = (48 + 8 * (i % 3), 40 + 4 * (i % 2))  # mixed, non-square sizes: the resize matters
        arr = np.asarray(Image.fromarray(base).resize((w, h), Image.BILINEAR)).astype(int) + offset
        p = folder / f"img_{i}.png"
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(p)
        out.append(p)
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from tiny_metric_models import build_random_inception

    root = tmp_path_factory.mktemp("fid")
    weights = build_random_inception(root / "weights")
    gen = _write_images(root / "gen", 0, 0)
    ref = _write_images(root / "ref", 1, 50)
    return {"root": root, "weights": weights, "gen": gen, "ref": ref}


def _ctx(root: Path, ref: list[Path], batch_size: int = 4, seed: int = 0) -> MetricContext:
    samples = [Sample(doc_id=f"r{i}", image=p, caption="") for i, p in enumerate(ref)]
    return MetricContext(task="fid", dataset="test", run_dir=root, cache_dir=root / "cache", batch_size=batch_size,
                         seed=seed, reference_samples=samples)


def _preds(paths: list[Path]) -> list[Prediction]:
    # two images per item for the first items: every image counts, not every item
    return [Prediction(item_id=f"g{i}", doc_id=f"g{i}", task="fid", prompt="p", images=paths[i : i + 2])
            for i in range(0, len(paths), 2)]


def test_clean_fid_equals_cleanfid_compute_fid(data):
    import torch
    from cleanfid.fid import compute_fid
    from cleanfid.inception_torchscript import InceptionV3W

    from facebench.hashing import sha256_file
    from facebench.metrics.fid import FID

    ts = data["weights"]["torchscript"]
    metric = FID(key="fid", extractor="inception", mode="clean", weights=str(ts))
    mv = metric.compute(_preds(data["gen"]), _ctx(data["root"], data["ref"]))[0]
    assert mv.skipped is None, mv.skipped
    # clean-fid's own wrapper class loads the same TorchScript file from the same folder
    net = InceptionV3W(str(ts.parent), download=False, resize_inside=False).eval()
    gen_dir, ref_dir = data["gen"][0].parent, data["ref"][0].parent
    ref = compute_fid(str(gen_dir), str(ref_dir), mode="clean", custom_feat_extractor=net, num_workers=0,
                      batch_size=5, device=torch.device("cpu"), verbose=False, use_dataparallel=False)
    assert ref > 1.0
    assert abs(mv.value - ref) / ref <= 1e-5
    e = mv.extra
    assert mv.aggregate == "set" and mv.n == N_IMAGES and mv.ci is None
    assert e["mode"] == "clean" and e["extractor"] == "inception" and e["feature_dim"] == 2048
    assert e["weights_sha256"] == sha256_file(ts)
    assert e["n_generated"] == N_IMAGES and e["n_reference"] == N_IMAGES and e["input_size"] == [299, 299]
    assert "warning" in e and e["reference_stats_cached"] is False
    assert set(e["image_size_generated"]) == {"48x40", "56x44", "64x40", "48x44", "56x40", "64x44"}
    assert list((data["root"] / "cache" / "fid_stats").glob("*.npz"))  # reference stats cached


def test_legacy_pytorch_features_equal_cleanfid(data, monkeypatch):
    import cleanfid.inception_pytorch as cip
    import torch
    from cleanfid.fid import get_folder_features

    from facebench.metrics.features.inception import InceptionExtractor

    pt = data["weights"]["pytorch"]
    ours = InceptionExtractor("legacy_pytorch", weights=pt).extract_paths(data["gen"], batch_size=4).features
    # clean-fid builds pytorch-fid's InceptionV3 and fetches the FID weights by URL: hand it our file
    monkeypatch.setattr(cip, "load_state_dict_from_url", lambda *a, **k: torch.load(pt, weights_only=True))
    model = cip.InceptionV3(output_blocks=[3], resize_input=False).eval()
    ref = get_folder_features(str(data["gen"][0].parent), lambda x: model(x / 255)[0].squeeze(-1).squeeze(-1),
                              num_workers=0, batch_size=5, device=torch.device("cpu"), mode="legacy_pytorch",
                              verbose=False)
    assert ours.shape == ref.shape == (N_IMAGES, 2048)
    assert np.abs(ours - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def test_legacy_tensorflow_features_equal_cleanfid(data):
    import torch
    from cleanfid.fid import get_folder_features
    from cleanfid.inception_torchscript import InceptionV3W

    from facebench.metrics.features.inception import InceptionExtractor

    ts = data["weights"]["torchscript"]
    paths = data["gen"][:2]
    ours = InceptionExtractor("legacy_tensorflow", weights=ts).extract_paths(paths, batch_size=2).features
    net = InceptionV3W(str(ts.parent), download=False, resize_inside=True).eval()
    ref = get_folder_features(str(paths[0].parent), net, num=2, num_workers=0, batch_size=1,  # sizes differ
                              device=torch.device("cpu"), mode="legacy_tensorflow", verbose=False)
    assert np.abs(ours - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def test_missing_weights_offline_is_skipped_with_a_fix(data, monkeypatch, tmp_path):
    from facebench.metrics.fid import FID, KID

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("FACEBENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("FACEBENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("facebench.metrics.features.inception.CLEANFID_DOWNLOAD_DIR", str(tmp_path / "none"))
    ctx = _ctx(tmp_path, data["ref"])
    for cls in (FID, KID):
        mv = cls(key="fid", extractor="inception", mode="clean").compute(_preds(data["gen"]), ctx)[0]
        assert mv.value is None
        assert "inception-2015-12-05.pt" in mv.skipped and "fix:" in mv.skipped
        assert "--metric_args fid.weights=PATH" in mv.skipped and "nvlabs-fi-cdn.nvidia.com" in mv.skipped
    mv = FID(key="fid", mode="legacy_pytorch", weights=str(tmp_path / "nope.pth")).compute(_preds(data["gen"]), ctx)[0]
    assert mv.value is None and "not found" in mv.skipped
    # no reference images → skipped, not a number
    empty = MetricContext(task="fid", dataset="x", run_dir=tmp_path, cache_dir=tmp_path)
    assert FID(key="fid").compute(_preds(data["gen"]), empty)[0].skipped


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from tiny_metric_models import build_tiny_open_clip

    return build_tiny_open_clip(tmp_path_factory.mktemp("openclip"))


def test_fd_clip_and_kid_match_reference_formulas_and_ignore_batch_size(data, tiny_clip, tmp_path):
    from cleanfid.fid import kernel_distance as cleanfid_kid

    from facebench.metrics.features.clip import CLIPExtractor
    from facebench.metrics.fid import FID, KID, canonical_image_set
    from facebench.metrics.frechet import mean_cov

    model = f"local-dir:{tiny_clip}"
    gen, ref = data["gen"] * 3, data["ref"] * 3  # 18 images each (duplicates are fine for a formula check)
    preds = _preds(gen)
    values, cached = [], []
    for bs in (1, 7, 3):  # the last run reads the reference statistics from the cache
        mv = FID(key="fd_clip", extractor="clip", model=model).compute(preds, _ctx(tmp_path, ref, bs))[0]
        assert mv.skipped is None, mv.skipped
        values.append(mv.value)
        cached.append(mv.extra["reference_stats_cached"])
    assert cached == [False, True, True]
    assert values[0] == pytest.approx(values[1], rel=1e-6) and values[0] == pytest.approx(values[2], rel=1e-6)
    # another reference set (one image dropped) must not hit the cache
    other = FID(key="fd_clip", extractor="clip", model=model).compute(preds, _ctx(tmp_path, ref[:-1], 4))[0]
    assert other.extra["reference_stats_cached"] is False and other.extra["n_reference"] == len(ref) - 1
    # by hand from the same extractor's features, via clean-fid's Fréchet distance
    from cleanfid.fid import frechet_distance as cleanfid_fd

    ext = CLIPExtractor(model=model)
    fg, fr = ext.extract_paths(gen).features, ext.extract_paths(ref).features
    expected = cleanfid_fd(*mean_cov(fg), *mean_cov(fr))
    assert values[0] == pytest.approx(expected, rel=1e-5)
    assert mv.ci is not None and mv.ci[0] < mv.value < mv.ci[1]  # 32-d: the jackknife CI is cheap and given
    assert mv.extra["feature_dim"] == 32 and mv.extra["extractor"] == "clip"

    kid = KID(key="kid", extractor="clip", model=model, num_subsets=10, subset_size=12)
    kv = kid.compute(preds, _ctx(tmp_path / "k", ref, 4, seed=5))[0]
    fr_canonical = ext.extract_paths(canonical_image_set(ref)[1]).features  # reference rows in content order
    np.random.seed(5)
    assert kv.value == pytest.approx(cleanfid_kid(fg, fr_canonical, num_subsets=10, max_subset_size=12), rel=1e-5)
    shuffled = kid.compute(preds, _ctx(tmp_path / "k2", ref[::-1], 4, seed=5))[0]
    assert shuffled.value == pytest.approx(kv.value, rel=1e-9)  # the dataset's listing order does not matter
    assert kv.aggregate == "set" and kv.extra["subset_size"] == 12 and kv.extra["kid_std"] >= 0
