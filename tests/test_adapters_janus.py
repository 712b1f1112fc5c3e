"""``janus`` backend on a tiny random Janus saved to disk and loaded through the adapter's real
``from_pretrained`` path: CFG image generation (shapes, seeds, batch/order invariance) and
understanding (batched, greedy, batch-size invariant)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from facebench.errors import FacebenchError  # noqa: E402
from facebench.types import ChatRequest, GenRequest  # noqa: E402



@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    from tiny_models import torch_threads

    with torch_threads(1):
        yield

@pytest.fixture(scope="module")
def janus_dir(tmp_path_factory) -> Path:
    from tiny_models import build_tiny_janus

    return build_tiny_janus(tmp_path_factory.mktemp("tiny-janus") / "model")


@pytest.fixture(scope="module")
def adapter(janus_dir):
    from facebench.adapters.janus import JanusAdapter

    a = JanusAdapter(pretrained=str(janus_dir), batch_size=4)
    yield a
    a.close()


@pytest.fixture(scope="module")
def face_images(tmp_path_factory) -> list[Path]:
    from PIL import Image

    root = tmp_path_factory.mktemp("faces")
    paths = []
    for i in range(3):
        arr = np.random.default_rng(i).integers(0, 256, size=(40 + 8 * i, 36, 3), dtype=np.uint8)
        p = root / f"{i}.png"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


def _arr(img) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


GEN = [
    GenRequest("a", "a smiling young woman with long blond hair", n=2, seed=11, height=8, width=8),
    GenRequest("b", "a man", n=1, seed=5, height=16, width=12),
    GenRequest("c", "an old man with a grey beard and glasses, neutral expression", n=1, seed=11, height=8, width=8),
]


def test_generate_shapes_sizes_and_seeds(adapter):
    out = adapter.generate_images(GEN)
    assert [len(o) for o in out] == [2, 1, 1]
    assert all(img.mode == "RGB" for o in out for img in o)
    assert out[0][0].size == (8, 8) and out[1][0].size == (12, 16)  # resized to the request's width×height
    assert adapter.info()["native_size"] == [8, 8]  # 4×4 tokens × 2 (tiny VQ decoder)
    # image k uses seed + k: two images of one request differ; same seed, other prompt differs too
    assert np.abs(_arr(out[0][0]) - _arr(out[0][1])).max() > 0
    assert np.abs(_arr(out[0][0]) - _arr(out[2][0])).max() > 0


def test_generate_deterministic_and_batch_invariant(adapter):
    ref = adapter.generate_images(GEN)
    adapter.gen_batch_size = 1
    try:
        one = adapter.generate_images(GEN)
        rev = adapter.generate_images(list(reversed(GEN)))[::-1]
        solo = [adapter.generate_images([r])[0] for r in GEN]
    finally:
        adapter.gen_batch_size = 4
    for other in (one, rev, solo):
        for a_imgs, b_imgs in zip(ref, other):
            for a, b in zip(a_imgs, b_imgs):
                assert np.abs(_arr(a) - _arr(b)).max() <= 1  # float noise only (left padding)


def test_seed_k_equals_fresh_request_with_seed_plus_k(adapter):
    two = adapter.generate_images([GenRequest("a", "a man", n=2, seed=3, height=8, width=8)])[0]
    second = adapter.generate_images([GenRequest("a", "a man", n=1, seed=4, height=8, width=8)])[0][0]
    assert np.abs(_arr(two[1]) - _arr(second)).max() <= 1


def test_guidance_changes_the_image(adapter):
    base = adapter.generate_images([GenRequest("a", "a smiling woman", seed=1, height=8, width=8)])[0][0]
    other = adapter.generate_images([GenRequest("a", "a smiling woman", seed=1, height=8, width=8,
                                                params={"guidance_scale": 1.0})])[0][0]
    assert np.abs(_arr(base) - _arr(other)).max() > 0


def test_answer_batched_greedy_and_invariant(adapter, face_images):
    qs = ["Is the person smiling?", "Describe the face in detail, including hair and eyes.", "What color is the hair?"]
    reqs = [ChatRequest(f"d{i}", p, ({"role": "user", "content": q},), {"max_new_tokens": 6})
            for i, (p, q) in enumerate(zip(face_images, qs))]
    out = adapter.answer(reqs)
    assert len(out) == 3 and all(isinstance(t, str) and t for t in out)
    adapter.batch_size = 1
    try:
        assert adapter.answer(reqs) == out
        assert adapter.answer(list(reversed(reqs))) == out[::-1]
    finally:
        adapter.batch_size = 4
    # max_new_tokens is honoured: a shorter budget gives a prefix of the greedy answer
    short = adapter.answer([ChatRequest("d0", face_images[0], reqs[0].messages, {"max_new_tokens": 2})])[0]
    assert out[0].startswith(short)


def test_fingerprint_tracks_weights_and_settings(janus_dir, adapter, tmp_path):
    import shutil

    from facebench.adapters.janus import JanusAdapter

    fp = adapter.fingerprint()
    assert fp.startswith("janus-") and fp == JanusAdapter(pretrained=str(janus_dir), batch_size=1).fingerprint()
    assert JanusAdapter(pretrained=str(janus_dir), guidance_scale=3.0).fingerprint() != fp
    copy = tmp_path / "copy"
    shutil.copytree(janus_dir, copy)
    assert JanusAdapter(pretrained=str(copy)).weights_revision() == adapter.weights_revision()  # content, not path
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one changed weight byte → another revision
    weights.write_bytes(bytes(data))
    assert JanusAdapter(pretrained=str(copy)).weights_revision() != adapter.weights_revision()


def test_missing_pretrained_is_a_clear_error():
    from facebench.adapters.janus import JanusAdapter

    with pytest.raises(FacebenchError, match="pretrained"):
        JanusAdapter()
    with pytest.raises(FacebenchError, match="cannot load"):
        JanusAdapter(pretrained="/nonexistent/janus").answer(
            [ChatRequest("x", None, ({"role": "user", "content": "hi"},))])
