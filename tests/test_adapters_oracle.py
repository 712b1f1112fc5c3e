"""The oracle baseline (the ceiling): the truth, found from the request, and nothing it cannot prove."""
from __future__ import annotations

import hashlib

import pytest

from facebench.adapters.oracle import OracleAdapter
from facebench.data.mini import MiniDataset, attributes_in_text, build_mini
from facebench.errors import FacebenchError
from facebench.registry import MODELS
from facebench.types import ChatRequest, GenRequest


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory):
    return build_mini(tmp_path_factory.mktemp("oracle") / "mini", n_test=6, n_gallery=6)


@pytest.fixture(scope="module")
def oracle(mini_root):
    return OracleAdapter(dataset=str(mini_root))


def _chat(s, question: str, sha: str | None = None) -> ChatRequest:
    sha = sha or hashlib.sha256(s.image.read_bytes()).hexdigest()
    return ChatRequest(doc_id=s.doc_id, image=s.image, messages=({"role": "user", "content": question},),
                       image_sha256=sha)


def test_registered_like_the_other_baselines():
    from facebench.builtins import register_builtins

    register_builtins()
    assert MODELS.get("oracle") is OracleAdapter
    assert OracleAdapter.capabilities == {"generate", "understand"}


def test_answers_are_the_ground_truth(oracle, mini_root):
    samples = MiniDataset(root=mini_root).load("test")
    reqs, truth = [], []
    for s in samples:
        for qa in s.qa:
            reqs.append(_chat(s, qa.question))
            truth.append(qa.answer)
        reqs.append(_chat(s, "Describe this person's face in detail."))
        truth.append(s.caption)
    assert oracle.answer(reqs) == truth


def test_refuses_what_it_cannot_prove(oracle, mini_root):
    s = MiniDataset(root=mini_root).load("test")[0]
    with pytest.raises(FacebenchError, match="not the image of that doc"):
        oracle.answer([_chat(s, s.qa[0].question, sha="0" * 64)])
    ghost = GenRequest(doc_id="not-a-doc", prompt=s.caption, height=64, width=64)
    with pytest.raises(FacebenchError, match="is not in dataset"):
        oracle.generate_images([ghost])
    other = MiniDataset(root=mini_root).load("test")[1]
    with pytest.raises(FacebenchError, match="does not state that doc's attributes"):
        oracle.generate_images([GenRequest(doc_id=s.doc_id, prompt=other.caption, height=64, width=64)])


def test_draws_the_prompt_not_a_copy(oracle, mini_root):
    from facebench.metrics.probe import pixel_features

    samples = MiniDataset(root=mini_root).load("test")
    reqs = [GenRequest(doc_id=s.doc_id, prompt=s.caption, n=2, seed=100 + i, height=128, width=128)
            for i, s in enumerate(samples)]
    out = oracle.generate_images(reqs)
    again = oracle.generate_images(reqs)
    for s, imgs, imgs2 in zip(samples, out, again):
        ref = s.load_image()
        assert len(imgs) == 2 and all(im.size == (128, 128) for im in imgs)
        assert [im.tobytes() for im in imgs] == [im.tobytes() for im in imgs2]  # deterministic
        assert imgs[0].tobytes() != imgs[1].tobytes()  # another identity per image
        assert all(im.tobytes() != ref.tobytes() for im in imgs)  # not the reference image
        # the same face, redrawn: close in pixels, never identical
        assert 0 < float(abs(pixel_features(imgs[0]) - pixel_features(ref)).mean()) < 0.2
        assert attributes_in_text(reqs[0].prompt) == samples[0].attributes
    small = oracle.generate_images([GenRequest(doc_id=samples[0].doc_id, prompt=samples[0].caption, height=64,
                                               width=64)])
    assert small[0][0].size == (64, 64)


def test_fingerprint_covers_the_truth_it_uses(oracle, mini_root, tmp_path):
    fp = oracle.fingerprint()
    assert fp.startswith("oracle-") and fp == OracleAdapter(dataset=str(mini_root)).fingerprint()
    other = build_mini(tmp_path / "mini", n_test=5, n_gallery=6)  # other content, same kind of set
    assert OracleAdapter(dataset=str(other)).fingerprint() != fp
    assert "code:" in oracle.weights_revision() and oracle.info()["n_samples"] == 6
