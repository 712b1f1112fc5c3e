"""``diffusers`` backend on a tiny random StableDiffusionPipeline (real CLIP tokenizer, tiny UNet/VAE/
text encoder) saved to disk and loaded through ``DiffusionPipeline.from_pretrained``: sizes, per-image
seeds, determinism, batch-size invariance within float noise (docs/reference.md §4), native-resolution
resizing and fingerprints."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("open_clip")  # ships the CLIP BPE vocabulary the tiny tokenizer is rebuilt from

from facebench.errors import FacebenchError  # noqa: E402
from facebench.types import GenRequest  # noqa: E402



@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    from tiny_models import torch_threads

    with torch_threads(1):
        yield

@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory) -> Path:
    from tiny_models import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("tiny-sd") / "pipe")


@pytest.fixture(scope="module")
def adapter(sd_dir):
    from facebench.adapters.diffusers_t2i import DiffusersAdapter

    a = DiffusersAdapter(pretrained=str(sd_dir), num_inference_steps=2, guidance_scale=5.0, batch_size=4)
    yield a
    a.close()


REQS = [
    GenRequest("a", "a photo of a young woman with long blond hair, smiling", n=2, seed=7, height=32, width=32),
    GenRequest("b", "a close-up portrait of a man with a beard", n=1, seed=3, height=32, width=32),
]


def _a(img) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def test_shapes_and_seeds(adapter):
    out = adapter.generate_images(REQS)
    assert [len(o) for o in out] == [2, 1]
    assert all(img.size == (32, 32) and img.mode == "RGB" for o in out for img in o)
    assert np.abs(_a(out[0][0]) - _a(out[0][1])).max() > 0  # seed and seed+1 differ
    info = adapter.info()
    assert info["pipeline"] == "StableDiffusionPipeline" and info["num_inference_steps"] == 2


def test_deterministic_and_batch_invariant(adapter):
    ref = adapter.generate_images(REQS)
    again = adapter.generate_images(REQS)
    for x, y in zip(sum(ref, []), sum(again, [])):
        assert np.array_equal(_a(x), _a(y))  # same seeds, same batch → bitwise identical
    adapter.batch_size = 1
    try:
        single = adapter.generate_images(REQS)
        reordered = adapter.generate_images(list(reversed(REQS)))[::-1]
    finally:
        adapter.batch_size = 4
    for other in (single, reordered):
        for x, y in zip(sum(ref, []), sum(other, [])):
            diff = np.abs(_a(x) - _a(y))
            assert diff.max() <= 2 and (diff > 0).mean() < 0.01  # float noise only


def test_image_k_is_seed_plus_k(adapter):
    two = adapter.generate_images([GenRequest("a", "a man", n=2, seed=20, height=32, width=32)])[0]
    one = adapter.generate_images([GenRequest("a", "a man", n=1, seed=21, height=32, width=32)])[0][0]
    assert np.abs(_a(two[1]) - _a(one)).max() <= 2


def test_request_params_and_sizes_group_correctly(adapter):
    reqs = [GenRequest("a", "a woman", seed=1, height=32, width=32),
            GenRequest("b", "a woman", seed=1, height=16, width=24),
            GenRequest("c", "a woman", seed=1, height=32, width=32, params={"guidance_scale": 1.0})]
    out = adapter.generate_images(reqs)
    assert out[1][0].size == (24, 16)
    assert np.abs(_a(out[0][0]) - _a(out[2][0])).max() > 0  # guidance differs → image differs


def test_native_resolution_is_resized(sd_dir):
    from facebench.adapters.diffusers_t2i import DiffusersAdapter

    a = DiffusersAdapter(pretrained=str(sd_dir), num_inference_steps=1, resolution=16)
    img = a.generate_images([GenRequest("a", "a face", seed=0, height=40, width=40)])[0][0]
    assert img.size == (40, 40) and a.info()["native_size"] == [16, 16]


def test_fingerprint_and_errors(sd_dir, adapter):
    from facebench.adapters.diffusers_t2i import DiffusersAdapter

    fp = adapter.fingerprint()
    same = DiffusersAdapter(pretrained=str(sd_dir), num_inference_steps=2, guidance_scale=5.0, batch_size=1)
    assert fp == same.fingerprint()
    assert fp != DiffusersAdapter(pretrained=str(sd_dir), num_inference_steps=3, guidance_scale=5.0).fingerprint()
    assert "understand" not in adapter.capabilities
    with pytest.raises(FacebenchError, match="pretrained"):
        DiffusersAdapter()
    with pytest.raises(FacebenchError, match="cannot load"):
        DiffusersAdapter(pretrained=str(sd_dir / "missing")).generate_images([GenRequest("a", "x")])
