"""``openai-api`` backend against a real local HTTP server speaking the OpenAI REST API
(tests/openai_stub_server.py): image input as a data URL, the images API (b64_json), retries,
bounded concurrency, per-item failures, fatal errors and keeping the API key out of everything."""
from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openai")

from facebench.errors import FacebenchError  # noqa: E402
from facebench.types import ChatRequest, GenRequest  # noqa: E402
from openai_stub_server import (  # noqa: E402
    StubOpenAIServer,
    StubResponse,
    chat_completion,
    error_body,
    image_response,
)

SECRET = "sk-test-0123456789-very-secret"


@pytest.fixture()
def faces(tmp_path) -> list[Path]:
    from PIL import Image

    out = []
    for i in range(5):
        arr = np.random.default_rng(i).integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
        Image.fromarray(arr).save(tmp_path / f"{i}.png")
        out.append(tmp_path / f"{i}.png")
    return out


def _chat_reqs(faces, n=5):
    return [ChatRequest(f"d{i}", faces[i], ({"role": "user", "content": f"question {i}?"},), {"max_new_tokens": 7})
            for i in range(n)]


def _echo(path, body, n):
    """Answer with the question text and the size of the image the request carried."""
    from PIL import Image

    if path.endswith("/chat/completions"):
        parts = body["messages"][-1]["content"]
        url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
        img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        text = next(p["text"] for p in parts if p["type"] == "text")
        return chat_completion(f"{text} {img.size[0]}x{img.size[1]}")
    return StubResponse(status=404, body=error_body("no route"))


def _adapter(srv, **kw):
    from facebench.adapters.openai_api import OpenAIAPIAdapter

    args = {"model": "gpt-test", "base_url": srv.base_url, "retry_base_delay": 0.01, "concurrency": 2}
    args.update(kw)
    return OpenAIAPIAdapter(**args)


def test_answers_in_order_with_lossless_image(faces, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with StubOpenAIServer(_echo, latency=0.05) as srv:
        a = _adapter(srv)
        out = a.answer(_chat_reqs(faces))
        assert out == [f"question {i}? 24x20" for i in range(5)]
        assert srv.in_flight_max <= 2  # bounded concurrency
        path, body, headers = srv.requests[0]
        assert path == "/v1/chat/completions" and body["model"] == "gpt-test"
        assert body["max_tokens"] == 7 and body["temperature"] == 0.0
        by_text = {b["messages"][0]["content"][1]["text"]: b for _, b, _ in srv.requests}
        url = by_text["question 0?"]["messages"][0]["content"][0]["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        sent = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
        src = np.asarray(Image.open(faces[0]).convert("RGB"))
        assert np.array_equal(sent, src)  # PNG data URL: the pixels arrive unchanged
        assert headers["authorization"] == f"Bearer {SECRET}"


def test_retries_then_success_and_per_item_failure(faces):
    def handler(path, body, n):
        text = body["messages"][-1]["content"][-1]["text"]
        if text == "question 1?":
            return StubResponse(status=400, body=error_body("bad request", "invalid_request_error"))
        if n < 2:
            return StubResponse(status=429, body=error_body("slow down", "rate_limit_exceeded"))
        if n == 2:
            return StubResponse(status=500, body=error_body("oops"))
        return chat_completion("ok " + text)

    with StubOpenAIServer(handler) as srv:
        a = _adapter(srv, concurrency=1)
        out = a.answer(_chat_reqs(faces, 3))
    assert out[0] == "ok question 0?" and out[2] == "ok question 2?"
    assert out[1] == ""  # a failed item is empty (the runner records it as failed, never cached)
    assert a.usage["retries"] >= 3 and a.usage["failures"] == 1
    assert any("d1" in e and "400" in e for e in a.info()["errors"])


def test_fatal_error_aborts(faces):
    def bad_key(path, body, n):
        return StubResponse(status=401, body=error_body("bad key", "invalid_api_key"))

    with StubOpenAIServer(bad_key) as srv:
        a = _adapter(srv)
        with pytest.raises(FacebenchError, match="401"):
            a.answer(_chat_reqs(faces, 2))
        assert srv.count <= 2  # stopped instead of retrying


def test_images_api_generation(faces):
    from PIL import Image

    calls = []

    def handler(path, body, n):
        calls.append(body)
        color = (n * 40 % 256, 10, 200)
        return image_response([Image.new("RGB", (64, 64), color)])

    with StubOpenAIServer(handler) as srv:
        a = _adapter(srv, model=None, image_model="dall-e-3", quality="hd")
        assert a.capabilities == frozenset({"generate"})
        out = a.generate_images([GenRequest("a", "a smiling woman", n=2, width=32, height=48),
                                 GenRequest("b", "a man", n=1, width=16, height=16)])
    assert [len(o) for o in out] == [2, 1]
    assert out[0][0].size == (32, 48) and out[1][0].size == (16, 16)
    assert len(calls) == 3 and all(c["n"] == 1 and c["response_format"] == "b64_json" for c in calls)
    assert calls[0]["model"] == "dall-e-3" and calls[0]["quality"] == "hd" and calls[0]["size"] == "1024x1024"
    assert a.info()["generation_reproducible"] is False
    with pytest.raises(FacebenchError, match="cannot answer"):
        a.answer(_chat_reqs(faces, 1))


def test_garbled_image_is_retried_and_failure_gives_no_images():
    from PIL import Image

    def handler(path, body, n):
        if body["prompt"] == "never":
            return {"created": 0, "data": [{"b64_json": base64.b64encode(b"not a png").decode()}]}
        if n == 0:
            return {"created": 0, "data": []}
        return image_response([Image.new("RGB", (8, 8), (1, 2, 3))])

    with StubOpenAIServer(handler) as srv:
        a = _adapter(srv, model=None, image_model="img", max_retries=2, concurrency=1)
        out = a.generate_images([GenRequest("a", "ok", n=1, width=8, height=8),
                                 GenRequest("b", "never", n=2, width=8, height=8)])
    assert len(out[0]) == 1 and out[1] == []  # failed request: no images → recorded as failed


def test_api_key_never_recorded(faces, monkeypatch):
    from facebench.adapters.openai_api import OpenAIAPIAdapter

    monkeypatch.setenv("MY_KEY", SECRET)
    with pytest.raises(FacebenchError, match="api_key_env"):
        OpenAIAPIAdapter(model="m", api_key=SECRET)
    with StubOpenAIServer(_echo) as srv:
        a = _adapter(srv, api_key_env="MY_KEY")
        a.answer(_chat_reqs(faces, 1))
        assert srv.requests[0][2]["authorization"] == f"Bearer {SECRET}"
    blob = repr(a.model_args) + a.fingerprint() + repr(a.info()) + repr(vars(a))
    assert SECRET not in blob


def test_missing_key_for_remote_endpoint(monkeypatch, faces):
    from facebench.adapters.openai_api import OpenAIAPIAdapter

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    a = OpenAIAPIAdapter(model="gpt-4o", base_url="https://api.example.invalid/v1")
    with pytest.raises(FacebenchError, match="OPENAI_API_KEY"):
        a.answer(_chat_reqs(faces, 1))
    with pytest.raises(FacebenchError, match="model="):
        OpenAIAPIAdapter()


def test_fingerprint_depends_on_model_and_endpoint_not_concurrency():
    from facebench.adapters.openai_api import OpenAIAPIAdapter

    base = OpenAIAPIAdapter(model="gpt-4o-2024-08-06", base_url="http://127.0.0.1:1/v1")
    assert base.fingerprint() == OpenAIAPIAdapter(model="gpt-4o-2024-08-06", base_url="http://127.0.0.1:1/v1",
                                                  concurrency=16).fingerprint()
    assert base.fingerprint() != OpenAIAPIAdapter(model="gpt-4o-mini", base_url="http://127.0.0.1:1/v1").fingerprint()
    other_url = OpenAIAPIAdapter(model="gpt-4o-2024-08-06", base_url="http://127.0.0.1:2/v1")
    assert base.fingerprint() != other_url.fingerprint()
