"""``hf-vlm`` backend on tiny random LLaVA-1.5 and Qwen2-VL models saved to disk and loaded through
the adapter's real path: batched greedy answers, left padding, batch-size/order invariance, the
chat template, request params, fingerprints and errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from facebench.errors import FacebenchError  # noqa: E402
from facebench.types import ChatRequest  # noqa: E402



@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    from tiny_models import torch_threads

    with torch_threads(1):
        yield

@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> list[Path]:
    from PIL import Image

    root = tmp_path_factory.mktemp("faces")
    out = []
    for i in range(4):
        arr = np.random.default_rng(10 + i).integers(0, 256, size=(30 + 10 * i, 44, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / f"{i}.png")
        out.append(root / f"{i}.png")
    return out


@pytest.fixture(scope="module", params=["llava", "qwen2_vl"])
def model_dir(request, tmp_path_factory) -> Path:
    import tiny_models

    build = getattr(tiny_models, f"build_tiny_{request.param}")
    return build(tmp_path_factory.mktemp(f"tiny-{request.param}") / "model")


def _reqs(faces, max_new_tokens=6):
    qs = ["Is the person smiling?", "Describe this person's face in detail, including hair, eyes and makeup.",
          "What color is the hair?", "Does she wear earrings? Answer yes or no."]
    return [ChatRequest(f"d{i}", p, ({"role": "user", "content": q},), {"max_new_tokens": max_new_tokens})
            for i, (p, q) in enumerate(zip(faces, qs))]


def test_answers_batched_and_invariant(model_dir, faces):
    from facebench.adapters.hf_vlm import HFVLMAdapter

    a = HFVLMAdapter(pretrained=str(model_dir), batch_size=4)
    reqs = _reqs(faces)
    out = a.answer(reqs)
    assert len(out) == 4 and all(isinstance(t, str) and t.strip() for t in out)
    assert len(set(out)) > 1  # answers depend on the image/question
    assert a.answer(list(reversed(reqs))) == out[::-1]
    a.batch_size = 1
    assert a.answer(reqs) == out  # left padding: batch size does not change greedy answers
    info = a.info()
    assert info["dtype"] == "float32" and info["device"] == "cpu" and info["weights"].startswith("local:")
    a.close()
    assert a._model is None


def test_max_new_tokens_and_prompt_template(model_dir, faces):
    from facebench.adapters.hf_vlm import HFVLMAdapter

    a = HFVLMAdapter(pretrained=str(model_dir), max_new_tokens=3)
    r = _reqs(faces)[0]
    a.load()
    real_generate, seen = a._model.generate, []

    def spy(**kw):
        out = real_generate(**kw)
        seen.append(out.shape[1] - kw["input_ids"].shape[1])
        return out

    a._model.generate = spy
    a.answer([ChatRequest(r.doc_id, r.image, r.messages, {"max_new_tokens": 8})])
    a.answer([ChatRequest(r.doc_id, r.image, r.messages, {})])  # model_args default: 3 tokens
    assert seen[0] <= 8 and seen[1] <= 3 and seen[0] > seen[1]  # (a random model rarely stops early)
    prompt = a._prompt(r)
    assert r.messages[0]["content"] in prompt
    if "llava" in str(model_dir):
        assert prompt.startswith("USER: <image>\n") and prompt.endswith("ASSISTANT:")
    else:
        assert "<|vision_start|><|image_pad|><|vision_end|>" in prompt and prompt.endswith("<|im_start|>assistant\n")


def test_multi_turn_history_and_system_prompt(model_dir, faces):
    from facebench.adapters.hf_vlm import HFVLMAdapter

    a = HFVLMAdapter(pretrained=str(model_dir), system_prompt="Answer briefly.")
    msgs = ({"role": "user", "content": "Is the person smiling?"}, {"role": "assistant", "content": "Yes."},
            {"role": "user", "content": "What color is the hair?"})
    a.load()
    prompt = a._prompt(ChatRequest("d", faces[0], msgs))
    assert prompt.index("smiling") < prompt.index("Yes.") < prompt.index("hair")
    image_token = "<image>" if "llava" in str(model_dir) else "<|image_pad|>"
    assert prompt.count(image_token) == 1  # the image goes once, on the first user turn
    out = a.answer([ChatRequest("d", faces[0], msgs, {"max_new_tokens": 4})])
    assert out[0].strip()


def test_fingerprint_ignores_batch_size_not_settings(model_dir):
    from facebench.adapters.hf_vlm import HFVLMAdapter

    fp = HFVLMAdapter(pretrained=str(model_dir), batch_size=2).fingerprint()
    assert fp == HFVLMAdapter(pretrained=str(model_dir), batch_size=16).fingerprint()
    assert fp != HFVLMAdapter(pretrained=str(model_dir), max_new_tokens=7).fingerprint()
    assert fp != HFVLMAdapter(pretrained=str(model_dir), system_prompt="x").fingerprint()


def test_cannot_generate_and_errors(model_dir):
    from facebench.adapters.hf_vlm import HFVLMAdapter, resolve_dtype, weights_revision
    from facebench.types import GenRequest

    a = HFVLMAdapter(pretrained=str(model_dir))
    assert "generate" not in a.capabilities
    with pytest.raises(FacebenchError, match="cannot generate"):
        a.generate_images([GenRequest("x", "a face")])
    with pytest.raises(FacebenchError, match="needs --model_args pretrained"):
        HFVLMAdapter()
    with pytest.raises(FacebenchError, match="unknown dtype"):
        resolve_dtype("float8", "cpu")
    with pytest.raises(FacebenchError, match="no class"):
        HFVLMAdapter(pretrained=str(model_dir), model_class="NoSuchModel").answer(
            [ChatRequest("x", None, ({"role": "user", "content": "hi"},))])
    rev, resolved = weights_revision("some-org/not-downloaded-model")
    assert not resolved and rev == "hub:some-org/not-downloaded-model@unresolved"


def test_explicit_dtype(model_dir, faces):
    import torch

    from facebench.adapters.hf_vlm import HFVLMAdapter

    a = HFVLMAdapter(pretrained=str(model_dir), dtype="bfloat16", attn_implementation="eager")
    out = a.answer(_reqs(faces)[:2])
    assert a._model.dtype == torch.bfloat16 and all(t.strip() for t in out)
