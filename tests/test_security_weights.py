"""Weights cannot be planted: a network placed where clean-fid downloads (``/tmp``) or in any folder
others can write is never loaded; a file in facebench's cache is loaded only with the published
sha256; a file the user names is loaded (their decision) with a warning and a record when it is
not the published one; a file that is no network at all is one line, not a traceback."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from facebench.errors import WeightsUnavailable  # noqa: E402
from facebench.metrics.base import MetricContext  # noqa: E402
from facebench.types import Prediction, Sample  # noqa: E402
from tests.helpers import cli_env, latest_results, run_cli  # noqa: E402

CLEANFID_TMP = Path("/tmp/inception-2015-12-05.pt")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A random network saved as both Inception files, and noise images (gen) vs others (ref)."""
    from PIL import Image

    from tiny_metric_models import build_random_inception

    root = tmp_path_factory.mktemp("planted")
    weights = build_random_inception(root / "weights")
    rng = np.random.default_rng(0)
    imgs = {}
    for name in ("gen", "ref"):
        (root / name).mkdir()
        imgs[name] = []
        for i in range(4):
            p = root / name / f"{i}.png"
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(p)
            imgs[name].append(p)
    return {"root": root, "weights": weights, **imgs}


def _offline_empty_cache(monkeypatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for v in ("FACEBENCH_INCEPTION_WEIGHTS", "FACEBENCH_INCEPTION_PT_WEIGHTS"):
        monkeypatch.delenv(v, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("FACEBENCH_CACHE_DIR", str(cache))
    return cache


def _fid(planted, tmp_path: Path, **args):
    from facebench.metrics.fid import FID

    ctx = MetricContext(task="fid", dataset="x", run_dir=tmp_path, cache_dir=tmp_path / "cache",
                        reference_samples=[Sample(f"r{i}", p, "") for i, p in enumerate(planted["ref"])])
    preds = [Prediction(f"g{i}", f"g{i}", "fid", "p", images=[p]) for i, p in enumerate(planted["gen"])]
    return FID(key="fid", extractor="inception", **args).compute(preds, ctx)[0]


def test_network_planted_in_tmp_is_never_loaded(planted, monkeypatch, tmp_path):
    if CLEANFID_TMP.exists():
        pytest.skip(f"{CLEANFID_TMP} already exists on this machine (not ours to replace)")
    _offline_empty_cache(monkeypatch, tmp_path)
    shutil.copyfile(planted["weights"]["torchscript"], CLEANFID_TMP)
    try:
        mv = _fid(planted, tmp_path, mode="clean")
    finally:
        CLEANFID_TMP.unlink(missing_ok=True)
    assert mv.value is None, "FID was computed with a network planted in /tmp"
    assert "not found and the run is offline" in mv.skipped and "fix:" in mv.skipped


def test_wrong_file_in_facebench_cache_is_a_hash_mismatch(planted, monkeypatch, tmp_path):
    cache = _offline_empty_cache(monkeypatch, tmp_path)
    for mode, key in (("clean", "torchscript"), ("legacy_pytorch", "pytorch")):
        src = planted["weights"][key]
        (cache / "weights").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, cache / "weights" / src.name)
        mv = _fid(planted, tmp_path, mode=mode)
        assert mv.value is None
        assert "in facebench's cache have sha256" in mv.skipped and "not the published" in mv.skipped
        assert f"delete {cache / 'weights' / src.name}" in mv.skipped


def test_explicit_file_is_loaded_with_a_warning_and_a_record(planted, monkeypatch, tmp_path, caplog):
    _offline_empty_cache(monkeypatch, tmp_path)
    ts = planted["weights"]["torchscript"]
    with caplog.at_level(logging.WARNING):
        mv = _fid(planted, tmp_path, mode="clean", weights=str(ts))
    assert mv.value is not None and np.isfinite(mv.value)
    check = mv.extra["weights_check"]
    assert check == {"sha256": hashlib.sha256(ts.read_bytes()).hexdigest(),
                     "published_sha256": "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4",
                     "matches_published": False, "source": "explicit"}
    assert "not comparable with published numbers" in caplog.text


def test_other_tools_folders_only_when_private_and_verified(tmp_path, monkeypatch):
    from facebench.metrics.features.weights import resolve_weights, weights_check

    monkeypatch.setenv("FACEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    blob = b"pretend these are weights" * 100
    good = hashlib.sha256(blob).hexdigest()
    private, shared = tmp_path / "private", tmp_path / "shared"
    for d in (private, shared):
        d.mkdir()
        (d / "w.bin").write_bytes(blob)
    os.chmod(private, 0o700)
    os.chmod(shared, 0o777)  # anyone may write here: never searched, even with the right hash
    kw = dict(what="test", filename="w.bin", url=None)
    with pytest.raises(WeightsUnavailable):
        resolve_weights(extra_dirs=(shared,), sha256=good, **kw)
    with pytest.raises(WeightsUnavailable):  # private but not the published file
        resolve_weights(extra_dirs=(private,), sha256="0" * 64, **kw)
    got = resolve_weights(extra_dirs=(shared, private), sha256=good, **kw)
    assert got == tmp_path / "cache" / "weights" / "w.bin" and got.read_bytes() == blob  # a verified copy
    assert weights_check(got)["source"] == f"copied from {private / 'w.bin'}"


def test_download_with_the_wrong_hash_leaves_no_file(tmp_path, monkeypatch):
    from facebench.metrics.features.weights import resolve_weights

    for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "FACEBENCH_OFFLINE"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("FACEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "served.bin"
    src.write_bytes(b"not the published file")
    with pytest.raises(WeightsUnavailable, match="not the published"):
        resolve_weights(what="test", filename="w.bin", url=src.as_uri(), sha256="1" * 64)
    assert not list((tmp_path / "cache" / "weights").iterdir())


def test_weights_that_are_not_a_network_are_one_line(tmp_path):
    fifo = tmp_path / "weights.pt"
    os.mkfifo(fifo)
    env = dict(cli_env(), FACEBENCH_CACHE_DIR=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")
    for bad, needle in (("/etc/passwd", "cannot be loaded as TorchScript"), (str(fifo), "no regular, non-empty file")):
        r = run_cli("run", "--model", "dummy", "--task", "fid", "--dataset", "mini", "--limit", "2",
                    "--metric_args", f"fid.weights={bad}", "--output_path", str(tmp_path / "out"), env=env, timeout=300)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
        res = latest_results(tmp_path / "out" / "dummy_mini")
        skipped = res["tasks"]["fid"]["metrics"]["fid"]["skipped"]
        assert needle in skipped and bad in skipped and "\n" not in skipped
