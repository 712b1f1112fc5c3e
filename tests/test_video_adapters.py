"""Video requests through the model adapters: a tiny random Qwen2-VL (built here with transformers'
own classes, saved to tmp_path, loaded by ``hf-vlm``) answers clips; ``openai-api`` sends frames as
images; the FaVChat plugin says what to provide."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from facebench.errors import FacebenchError  # noqa: E402
from facebench.hashing import sha256_file  # noqa: E402
from facebench.types import ChatRequest  # noqa: E402
from facebench.videoinput import VideoPolicy, VideoRef, write_video  # noqa: E402


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    from PIL import Image

    root = tmp_path_factory.mktemp("clips")
    out = []
    for i in range(3):
        rng = np.random.default_rng(100 + i)
        frames = [Image.fromarray(rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)) for _ in range(10)]
        out.append(write_video(root / f"c{i}.mp4", frames, fps=5))
    return out


def _req(clip: Path, q: str, frames: int = 4, max_new_tokens: int = 6) -> ChatRequest:
    return ChatRequest(clip.stem, None, ({"role": "user", "content": q},), {"max_new_tokens": max_new_tokens},
                       video=VideoRef(clip, sha256_file(clip), VideoPolicy(frames=frames)))


@pytest.fixture(scope="module")
def qwen(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import tiny_models
    from transformers import AutoProcessor

    path = tiny_models.build_tiny_qwen2_vl(tmp_path_factory.mktemp("tiny-qwen2-vl-video") / "model")
    proc = AutoProcessor.from_pretrained(path)
    # the tiny template of tiny_models has no video part: add Qwen2-VL's (vision_start, video_pad, vision_end)
    proc.chat_template = tiny_models.QWEN_CHAT_TEMPLATE.replace(
        "{% elif c['type'] == 'text' %}",
        "{% elif c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>{% elif c['type'] == 'text' %}")
    proc.save_pretrained(path)
    return path


def test_tiny_qwen2_vl_answers_video_requests(qwen, clips):
    from tiny_models import torch_threads

    from facebench.adapters.hf_vlm import HFVLMAdapter

    a = HFVLMAdapter(pretrained=str(qwen), batch_size=3)
    assert "video" in a.capabilities and "understand" in a.capabilities
    reqs = [_req(c, q) for c, q in zip(clips, ["What happens?", "Does the person blink?", "Is the person talking?"])]
    with torch_threads(1):
        a.load()
        prompt = a._prompt(reqs[0])
        assert "<|vision_start|><|video_pad|><|vision_end|>What happens?" in prompt and "<|image_pad|>" not in prompt
        seen = []
        real = a._processor.__class__.__call__

        def spy(self, *args, **kw):
            seen.append(kw)
            return real(self, *args, **kw)

        a._processor.__class__.__call__ = spy
        try:
            out = a.answer(reqs)
        finally:
            a._processor.__class__.__call__ = real
        assert len(out) == 3 and all(isinstance(t, str) and t.strip() for t in out)
        videos = seen[0]["videos"]
        assert len(videos) == 3 and videos[0].shape == (4, 40, 48, 3)  # the policy's 4 frames, as decoded
        assert seen[0]["do_sample_frames"] is False  # the processor does not resample
        a.batch_size = 1
        assert a.answer(reqs) == out  # batching does not change greedy answers
        assert len(set(out)) > 1  # answers depend on the clip/question
        # the frames reach the model: the same question about two clips gets two inputs
        seen.clear()
        a.batch_size = 2
        a._processor.__class__.__call__ = spy
        try:
            a.answer([_req(clips[0], "What happens?"), _req(clips[2], "What happens?")])
        finally:
            a._processor.__class__.__call__ = real
        v0, v2 = seen[0]["videos"]
        assert not np.array_equal(v0, v2)
    a.close()


def test_image_only_families_declare_no_video():
    import importlib

    from facebench.adapters.janus import JanusAdapter

    cls = importlib.import_module("facebench_baselines.llava15").LLaVA15Adapter
    assert "video" not in cls(pretrained="x").capabilities
    assert JanusAdapter(pretrained="x").capabilities == frozenset({"generate", "understand"})


def test_openai_api_sends_the_frames_as_images(clips):
    from facebench.adapters.openai_api import OpenAIAPIAdapter

    a = OpenAIAPIAdapter(model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1")
    assert "video" in a.capabilities
    body = a._chat_request(_req(clips[1], "Does the person blink?", frames=3))
    (msg,) = body["messages"]
    kinds = [p["type"] for p in msg["content"]]
    assert kinds == ["text", "image_url", "image_url", "image_url", "text"]
    # frames 1, 5 and 8 of 10 (segment centres) at 5 fps
    assert "3 images are frames of one video" in msg["content"][0]["text"] and "0.20, 1.00, 1.60" in msg["content"][0]["text"]
    assert msg["content"][-1]["text"] == "Does the person blink?"
    assert all(p["image_url"]["url"].startswith("data:image/png;base64,") for p in msg["content"][1:4])
    assert "video" not in OpenAIAPIAdapter(image_model="dall-e-3", base_url="http://127.0.0.1:9/v1").capabilities


def test_dummy_and_oracle_declare_video():
    from facebench.adapters.dummy import DummyAdapter
    from facebench.adapters.oracle import OracleAdapter

    assert "video" in DummyAdapter.capabilities
    oracle = OracleAdapter(dataset="mini-video")
    assert "video" in oracle.capabilities and oracle.video_dataset == "mini-video"
    assert OracleAdapter.capabilities == {"generate", "understand"}  # per instance, the class is unchanged


def test_favchat_plugin_says_what_to_provide():
    import importlib

    from facebench.registry import MODELS

    from facebench.builtins import register_builtins

    register_builtins()
    cls = MODELS.get("favchat")
    assert cls is importlib.import_module("facebench_baselines.favchat").FaVChatAdapter
    assert cls.paper_model == "FaVChat" and cls.default_checkpoint is None and cls.environment is None
    with pytest.raises(FacebenchError) as e:
        cls()
    msg = str(e.value)
    assert "\n" not in msg and "not public" in msg and "pretrained=" in msg
    a = cls(pretrained="/some/favchat-checkpoint")
    assert "video" in a.capabilities
