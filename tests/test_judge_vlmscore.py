"""VLM-score (0–100 prompt–image agreement) against a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import base64
import io
import re

import pytest

pytest.importorskip("openai")

from PIL import Image  # noqa: E402

from facebench.metrics.aggregate import finalize  # noqa: E402
from facebench.metrics.base import MetricContext  # noqa: E402
from facebench.metrics.vlmscore import VLMScore  # noqa: E402
from facebench.types import Prediction  # noqa: E402
from openai_stub_server import StubOpenAIServer, StubResponse, chat_completion, error_body  # noqa: E402

SECRET = "sk-VLM-SECRET-1234"


def save(tmp_path, name, colour):
    p = tmp_path / f"{name}.png"
    Image.new("RGB", (16, 16), colour).save(p)
    return p


def vlm_judge(path, body, n):
    """Score = the red channel of the image it was sent (proves the image really travelled)."""
    parts = body["messages"][-1]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    assert url.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    red = img.getpixel((0, 0))[0]
    if red == 13:
        return chat_completion("I cannot rate this.", model="vlm-srv")
    return chat_completion(f"Score: {red}\nmatches", model="vlm-srv")


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def ctx(tmp_path, judge=None, dry_run=False):
    return MetricContext(task="vqa", dataset="unif2ace", run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                         judge=judge or {}, dry_run=dry_run)


def test_vlm_score_per_item_mean_and_failures(tmp_path, key):
    preds = [
        Prediction("a", "a", "vqa", "a smiling woman", images=[save(tmp_path, "a0", (80, 0, 0)), save(tmp_path, "a1", (60, 0, 0))]),
        Prediction("b", "b", "vqa", "a bearded man", images=[save(tmp_path, "b0", (90, 0, 0))]),
        Prediction("c", "c", "vqa", "a child", images=[save(tmp_path, "c0", (70, 0, 0)), save(tmp_path, "c1", (13, 0, 0))]),
        Prediction("d", "d", "vqa", "no image", images=[]),
    ]
    with StubOpenAIServer(vlm_judge) as srv:
        [v] = VLMScore(key="vlm_score", model="gpt-4o-2024-08-06").compute(preds, ctx(tmp_path, {"judge_base_url": srv.base_url}))
        assert srv.count == 5
        texts = [next(p["text"] for p in b["messages"][-1]["content"] if p["type"] == "text") for _, b, _ in srv.requests]
        assert any("a bearded man" in t for t in texts)
        assert all(b["temperature"] == 0 for _, b, _ in srv.requests)
        v = finalize(v, preds)
        assert v.per_item == {"a": 70.0, "b": 90.0, "c": None, "d": None}
        assert v.value == pytest.approx(80.0) and v.n_failed == 2
        assert "unparsable" in v.details["c"]["error"] and v.details["c"]["scores"] == [70.0, None]
        assert v.details["d"]["error"] == "no generated image"
        assert v.extra["prompt"]["name"] == "vlm_score" and len(v.extra["prompt"]["hash"]) == 16
        assert v.extra["judge"]["model_returned"] == ["vlm-srv"]
        # rerun: only the failed image is asked again (cache keyed on the image bytes)
        srv.reset()
        VLMScore(key="vlm_score", model="gpt-4o-2024-08-06").compute(preds, ctx(tmp_path, {"judge_base_url": srv.base_url}))
        assert srv.count == 1


def test_vlm_score_skips_with_the_fix(tmp_path, monkeypatch):
    p = [Prediction("a", "a", "vqa", "x", images=[save(tmp_path, "a", (1, 2, 3))])]
    [v] = VLMScore(key="vlm_score").compute(p, ctx(tmp_path))
    assert v.skipped.startswith("no VLM judge configured; fix: pass --judge_model")
    [v] = VLMScore(key="vlm_score").compute(p, ctx(tmp_path, {"judge": "embedding"}))
    assert "cannot look at images" in v.skipped
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    [v] = VLMScore(key="vlm_score", model="gpt-4o-2024-08-06").compute(p, ctx(tmp_path))
    assert v.skipped.startswith("no API key in OPENAI_API_KEY; fix:")
    with StubOpenAIServer(lambda path, b, n: StubResponse(status=404, body=error_body("no such model", "model_not_found"))) as srv:
        [v] = VLMScore(key="vlm_score", model="text-only-model").compute(p, ctx(tmp_path, {"judge_base_url": srv.base_url}))
    assert "refused every call" in v.skipped


def test_vlm_score_dry_run(tmp_path, key):
    preds = [Prediction(f"i{k}", f"i{k}", "vqa", "a face", images=[save(tmp_path, f"i{k}", (k, 0, 0))]) for k in range(3)]
    with StubOpenAIServer(vlm_judge) as srv:
        [v] = VLMScore(key="vlm_score", model="gpt-4o-2024-08-06").compute(
            preds, ctx(tmp_path, {"judge_base_url": srv.base_url}, dry_run=True))
        assert srv.count == 0
    m = re.match(r"dry run: (\d+) calls, est\. \$([0-9.]+)", v.skipped)
    assert m and m.group(1) == "3" and float(m.group(2)) > 0
