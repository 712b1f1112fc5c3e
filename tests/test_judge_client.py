"""JudgeClient against a real HTTP server on 127.0.0.1 (tests/openai_stub_server.py) through the real
``openai`` client: retries, fatal errors, budget, bounded concurrency, usage."""
from __future__ import annotations

import threading

import pytest

pytest.importorskip("openai")

from facebench.judge.client import Budget, JudgeClient, run_budget  # noqa: E402
from openai_stub_server import StubOpenAIServer, StubResponse, chat_completion, error_body  # noqa: E402

MSG = [{"role": "user", "content": "rate this answer please"}]


def _client(srv: StubOpenAIServer, **kw) -> JudgeClient:
    kw.setdefault("retry_base_delay", 0.01)
    kw.setdefault("timeout", 5.0)
    return JudgeClient(srv.base_url, "sk-test-client", **kw)


def _req(i: int = 0) -> dict:
    return {"model": "judge-model", "messages": [{"role": "user", "content": f"item {i}"}], "temperature": 0.0}


@pytest.mark.parametrize("failure", [
    StubResponse(status=429, body=error_body("rate limited", "rate_limit_exceeded")),
    StubResponse(status=500, body=error_body("boom")),
    StubResponse(status=503, body=error_body("overloaded")),
    StubResponse(raw=b'{"id": "chatcmpl-1", "object": "chat.comp'),  # truncated JSON body
    StubResponse(drop=True),  # connection closed without a reply
    StubResponse(body={"unexpected": "schema"}),  # 200 without choices
], ids=["429", "500", "503", "truncated", "dropped", "wrong-schema"])
def test_retries_then_success(failure):
    def handler(path, body, n):
        return failure if n < 2 else chat_completion("7 8\nfine", model="judge-model-2024")

    with StubOpenAIServer(handler) as srv:
        c = _client(srv)
        [res] = c.chat_many([_req()])
        assert res.ok, res.error
        assert res.content == "7 8\nfine"
        assert res.model == "judge-model-2024"
        assert res.attempts == 3 and srv.count == 3
        assert c.usage.retries == 2 and c.usage.requests == 3 and c.usage.calls == 1 and c.usage.failures == 0


def test_timeout_then_success():
    def handler(path, body, n):
        return StubResponse(hang=True) if n == 0 else chat_completion("Score: 6")

    with StubOpenAIServer(handler) as srv:
        c = _client(srv, timeout=0.5)
        [res] = c.chat_many([_req()])
        assert res.ok and res.content == "Score: 6" and res.attempts == 2


def test_retries_exhausted_is_an_error_not_a_value():
    with StubOpenAIServer(lambda p, b, n: StubResponse(status=500, body=error_body("down"))) as srv:
        c = _client(srv, max_retries=3)
        [res] = c.chat_many([_req()])
        assert not res.ok and res.content is None
        assert "HTTP 500" in res.error and "after 4 attempts" in res.error
        assert srv.count == 4 and c.usage.failures == 1


def test_client_error_is_not_retried():
    with StubOpenAIServer(lambda p, b, n: StubResponse(status=400, body=error_body("bad", "invalid", "invalid_request_error"))) as srv:
        c = _client(srv)
        [res] = c.chat_many([_req()])
        assert not res.ok and "HTTP 400" in res.error and srv.count == 1


def test_fatal_error_stops_the_run():
    with StubOpenAIServer(lambda p, b, n: StubResponse(status=401, body=error_body("bad key", "invalid_api_key"))) as srv:
        c = _client(srv, concurrency=1)
        res = c.chat_many([_req(i) for i in range(10)])
        assert all(not r.ok for r in res)
        assert srv.count == 1  # the other nine were never sent
        assert c.fatal and "401" in c.fatal
        assert sum("not sent" in r.error for r in res) == 9


def test_retry_after_header_is_honoured():
    def handler(path, body, n):
        if n == 0:
            return StubResponse(status=429, body=error_body("slow down"), headers={"retry-after-ms": "300"})
        return chat_completion("Score: 5")

    import time

    with StubOpenAIServer(handler) as srv:
        c = _client(srv, retry_base_delay=0.001)
        t0 = time.perf_counter()
        [res] = c.chat_many([_req()])
        assert res.ok and time.perf_counter() - t0 >= 0.3


def test_backoff_grows_with_jitter_and_cap():
    c = JudgeClient("http://127.0.0.1:9/v1", None, retry_base_delay=1.0, retry_max_delay=8.0, seed=0)
    for attempt in range(1, 8):
        d = min(8.0, 2.0 ** (attempt - 1))
        samples = [c.backoff(attempt) for _ in range(200)]
        assert all(d / 2 <= s <= d for s in samples)
        assert max(samples) - min(samples) > d / 4  # jitter actually spreads the delays
    assert c.backoff(1, retry_after=5.0) >= 5.0
    assert c.backoff(1, retry_after=100.0) <= 8.0


@pytest.mark.parametrize("n_conc", [1, 3, 6])
def test_concurrency_is_bounded(n_conc):
    with StubOpenAIServer(lambda p, b, n: chat_completion("Score: 5"), latency=0.05) as srv:
        c = _client(srv, concurrency=n_conc)
        res = c.chat_many([_req(i) for i in range(18)])
        assert all(r.ok for r in res)
        assert srv.count == 18
        assert srv.in_flight_max <= n_conc
        if n_conc > 1:
            assert srv.in_flight_max >= 2  # it really runs in parallel


def test_concurrency_bound_holds_during_retries():
    def handler(path, body, n):
        return StubResponse(status=429, body=error_body("rl")) if n % 2 == 0 else chat_completion("Score: 5")

    with StubOpenAIServer(handler, latency=0.02) as srv:
        c = _client(srv, concurrency=4)
        res = c.chat_many([_req(i) for i in range(12)])
        assert all(r.ok for r in res)
        assert srv.in_flight_max <= 4


def test_budget_max_calls_stops_cleanly():
    with StubOpenAIServer(lambda p, b, n: chat_completion("Score: 5")) as srv:
        answered = []
        c = _client(srv, concurrency=2, budget=Budget(max_calls=5))
        res = c.chat_many([_req(i) for i in range(12)], on_result=lambda i, r: answered.append((i, r.ok)))
        assert srv.count == 5
        assert sum(r.ok for r in res) == 5
        assert all("budget exhausted" in r.error for r in res if not r.ok)
        assert len(answered) == 12  # every item reported, nothing raised


def test_budget_max_tokens_stops_cleanly():
    usage = {"prompt_tokens": 60, "completion_tokens": 40, "total_tokens": 100}
    with StubOpenAIServer(lambda p, b, n: chat_completion("Score: 5", usage=usage)) as srv:
        c = _client(srv, concurrency=1, budget=Budget(max_tokens=250))
        res = c.chat_many([_req(i) for i in range(10)])
        assert srv.count == 3  # 100, 200, 300 ≥ 250 → stop
        assert sum(r.ok for r in res) == 3
        assert c.usage.prompt_tokens == 180 and c.usage.completion_tokens == 120


def test_run_budget_is_shared_per_run():
    a = run_budget("/tmp/run-a", 3, None)
    assert run_budget("/tmp/run-a", 3, None) is a
    assert run_budget("/tmp/run-b", 3, None) is not a


def test_logprobs_are_returned():
    lp = [("Yes", -0.1, [("Yes", -0.1), ("No", -2.4)])]
    with StubOpenAIServer(lambda p, b, n: chat_completion("Yes", logprobs=lp)) as srv:
        c = _client(srv)
        [res] = c.chat_many([{**_req(), "logprobs": True, "top_logprobs": 2}])
        assert res.logprobs[0]["token"] == "Yes"
        assert [a["token"] for a in res.logprobs[0]["top_logprobs"]] == ["Yes", "No"]
        assert res.logprobs[0]["top_logprobs"][1]["logprob"] == pytest.approx(-2.4)
        assert srv.requests[0][1]["top_logprobs"] == 2


def test_generic_map_reuses_retry_and_concurrency():
    """The adapter path: any awaitable on the AsyncOpenAI client (here images.generate)."""
    def handler(path, body, n):
        if n == 0:
            return StubResponse(status=502, body=error_body("bad gateway"))
        from PIL import Image

        from openai_stub_server import image_response

        return image_response([Image.new("RGB", (8, 8), (n, 0, 0))])

    async def gen(oc, prompt):
        r = await oc.images.generate(model="img", prompt=prompt, n=1, size="8x8", response_format="b64_json")
        return r.data[0].b64_json

    with StubOpenAIServer(handler) as srv:
        c = _client(srv, concurrency=2)
        outs = c.map(["a face", "another face"], gen)
        assert all(o.ok and o.value for o in outs)
        assert c.usage.retries == 1 and srv.count == 3


def test_sync_wrapper_works_inside_a_running_loop():
    import asyncio

    with StubOpenAIServer(lambda p, b, n: chat_completion("Score: 9")) as srv:
        c = _client(srv)

        async def main():
            return c.chat_many([_req()])

        [res] = asyncio.run(main())
        assert res.ok and res.content == "Score: 9"


def test_key_is_sent_but_not_shown():
    with StubOpenAIServer() as srv:
        c = JudgeClient(srv.base_url, "sk-secret-123")
        c.chat_many([_req()])
        assert srv.requests[0][2]["authorization"] == "Bearer sk-secret-123"
        assert "sk-secret" not in repr(c) and "sk-secret" not in str(c.__dict__.get("usage"))


def test_stub_server_shuts_down_with_hung_connection():
    before = threading.active_count()
    with StubOpenAIServer(lambda p, b, n: StubResponse(hang=True)) as srv:
        c = _client(srv, timeout=0.3, max_retries=0)
        [res] = c.chat_many([_req()])
        assert not res.ok and "Timeout" in res.error
    import time

    time.sleep(0.2)
    assert threading.active_count() <= before + 1


def test_stub_default_routes_serve_images_and_models():
    import base64
    import io

    import openai
    from PIL import Image

    with StubOpenAIServer() as srv:
        c = openai.OpenAI(base_url=srv.base_url, api_key="sk-x", max_retries=0)
        r = c.images.generate(model="img", prompt="a face", n=2, size="32x24", response_format="b64_json")
        imgs = [Image.open(io.BytesIO(base64.b64decode(d.b64_json))) for d in r.data]
        assert [im.size for im in imgs] == [(32, 24), (32, 24)]
        assert c.models.list().data[0].id == "stub"
        chat = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "one two three"}])
        assert chat.usage.prompt_tokens == 3 and chat.usage.completion_tokens > 0  # filled from the request
        assert srv.paths() == ["/v1/images/generations", "/v1/models", "/v1/chat/completions"]
