"""JudgeScore (Desc/Conv-GPT) end to end against a real HTTP server on 127.0.0.1 through the real
``openai`` client: parsing, failures, reference/relative scores, cache, budget, dry run, keys."""
from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openai")

from facebench.cache import KVCache  # noqa: E402
from facebench.metrics.aggregate import finalize  # noqa: E402
from facebench.metrics.base import MetricContext  # noqa: E402
from facebench.metrics.judge import JudgeScore  # noqa: E402
from facebench.types import QA, Prediction  # noqa: E402
from openai_stub_server import StubOpenAIServer, StubResponse, chat_completion, error_body  # noqa: E402

SECRET = "sk-TEST-SECRET-7f3a9c"
MODEL = "gpt-4o-2024-08-06"
_ANS = re.compile(r"\[Assistant 2\]\n(.*?)\n\n\[End of Assistant 2\]", re.S)


def reviewer(path: str, body: dict, n: int):
    """Reviews computed from the answer text: 'quality K' → reference 9, answer K."""
    user = body["messages"][-1]["content"]
    if "[Assistant 2]" not in user:  # a single-answer template
        return chat_completion("Score: 5\nSingle review.", model=MODEL + "-srv")
    answer = _ANS.search(user).group(1)
    if "garbled" in answer:
        return chat_completion("I think the second answer is rather good overall.", model=MODEL + "-srv")
    if "silent" in answer:
        return chat_completion("", model=MODEL + "-srv")
    if "broken" in answer:
        return StubResponse(status=500, body=error_body("judge backend down"))
    m = re.search(r"quality (\d+)", answer)
    k = int(m.group(1)) if m else 5
    return chat_completion(f"9 {k}\nThe answer gets {k} because it covers some attributes.", model=MODEL + "-srv")


def pred(i: int | str, answer: str | None, task: str = "desc", qa: QA | None = None, ref: str = "A young woman with blond hair.") -> Prediction:
    return Prediction(item_id=f"d{i}", doc_id=f"d{i}", task=task, prompt="Describe the face.", reference=ref,
                      output=answer, qa=qa, attributes={"hair_color": "blond"})


def ctx(tmp_path: Path, judge: dict | None = None, task: str = "desc", dry_run: bool = False, run: str = "run") -> MetricContext:
    return MetricContext(task=task, dataset="unif2ace", run_dir=tmp_path / run, cache_dir=tmp_path / "cache",
                         judge=judge or {}, dry_run=dry_run)


def metric(key: str = "desc_gpt", **args) -> JudgeScore:
    base = {"judge": "openai", "model": MODEL, "template": "desc", "retry_base_delay": 0.01, "max_retries": 2}
    return JudgeScore(key=key, **{**base, **args})


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    return SECRET


def by_name(values):
    return {v.name: v for v in values}


def test_scores_parsed_failures_excluded_and_relative(tmp_path, api_key):
    preds = [pred(0, "quality 8"), pred(1, "quality 6"), pred(2, "quality 3"), pred(3, "quality 10"),
             pred(4, "garbled"), pred(5, "silent"), pred(6, "broken"), pred(7, None)]
    with StubOpenAIServer(reviewer) as srv:
        vals = by_name(metric().compute(preds, ctx(tmp_path, {"judge_base_url": srv.base_url})))
    main = finalize(vals["desc_gpt"], preds)
    assert main.per_item == {"d0": 8.0, "d1": 6.0, "d2": 3.0, "d3": 10.0, "d4": None, "d5": None, "d6": None, "d7": None}
    assert main.value == pytest.approx(np.mean([8, 6, 3, 10]))
    assert main.n == 4 and main.n_failed == 4 and main.ci is not None
    assert main.ci[0] <= main.value <= main.ci[1]
    d = main.details
    assert d["d0"]["review"].startswith("9 8") and d["d0"]["score"] == 8.0 and d["d0"]["ref_score"] == 9.0
    assert d["d4"]["review"].startswith("I think") and "unparsable" in d["d4"]["error"]
    assert "empty review" in d["d5"]["error"]
    assert "HTTP 500" in d["d6"]["error"] and d["d6"]["score"] is None
    assert d["d7"]["error"] == "no model output"
    assert main.variant == f"openai:{MODEL}"

    ref = finalize(vals["desc_gpt_ref_mean"], preds)
    assert ref.value == pytest.approx(9.0) and ref.n == 4
    rel = vals["desc_gpt_relative"]
    assert rel.aggregate == "set" and rel.n == 4
    assert rel.value == pytest.approx(100 * (8 + 6 + 3 + 10) / (4 * 9))
    assert rel.ci[0] <= rel.value <= rel.ci[1]

    ex = main.extra
    assert ex["judge"]["model_requested"] == MODEL and ex["judge"]["model_returned"] == [MODEL + "-srv"]
    assert ex["judge"]["base_url"] == srv.base_url and ex["temperature"] == 0.0
    assert ex["prompt"]["name"] == "desc" and len(ex["prompt"]["hash"]) == 16
    u = ex["usage"]
    assert u["calls"] == 6 and u["failures"] == 1 and u["requests"] == 6 + 3  # the 500 item: 3 attempts
    assert u["prompt_tokens"] > 0 and u["completion_tokens"] > 0
    # cost from the price table (gpt-4o-2024-08-06: $2.50 / $10 per 1M tokens), checked by hand
    assert ex["cost"]["usd"] == pytest.approx((u["prompt_tokens"] * 2.5 + u["completion_tokens"] * 10.0) / 1e6)
    assert ex["cost"]["price"]["date"] and ex["cost"]["price"]["source"]
    assert ex["n_failed_reasons"] == {"unparsable review": 1, "empty review": 1, "HTTP 500": 1, "no model output": 1}
    # every request: temperature 0, the model as requested, the key only in the header
    for path, body, headers in srv.requests:
        assert body["temperature"] == 0 and body["model"] == MODEL and headers["authorization"] == f"Bearer {SECRET}"


def test_unknown_model_has_null_cost_and_local_unknown_is_free(tmp_path, api_key):
    preds = [pred(0, "quality 7")]
    with StubOpenAIServer(reviewer) as srv:
        v = metric(model="my-local-judge").compute(preds, ctx(tmp_path, {"judge_base_url": srv.base_url}))[0]
    assert v.extra["cost"]["usd"] == 0.0 and "loopback" in v.extra["cost"]["price"]["source"]
    s = metric(model="some-new-model")
    [dry] = s.compute(preds, ctx(tmp_path, {"judge_base_url": "https://judge.example/v1"}, dry_run=True))
    assert "unknown (no price for model 'some-new-model')" in dry.skipped


def test_single_template_has_no_reference_numbers(tmp_path, api_key):
    with StubOpenAIServer(lambda p, b, n: chat_completion("Score: 6\nok")) as srv:
        vals = metric(template="desc_single").compute([pred(0, "a"), pred(1, "b")], ctx(tmp_path, {"judge_base_url": srv.base_url}))
    assert [v.name for v in vals] == ["desc_gpt"] and vals[0].per_item == {"d0": 6.0, "d1": 6.0}


def test_cache_second_run_makes_zero_calls_and_half_cached_asks_half(tmp_path, api_key):
    first = [pred(i, f"item {i} quality {i % 10 + 1}") for i in range(6)]
    more = first + [pred(i, f"item {i} quality {i % 10 + 1}") for i in range(6, 12)]
    with StubOpenAIServer(reviewer) as srv:
        c = ctx(tmp_path, {"judge_base_url": srv.base_url})
        v1 = metric().compute(first, c)[0]
        assert srv.count == 6
        srv.reset()
        v2 = metric().compute(first, c)[0]
        assert srv.count == 0
        assert v2.per_item == v1.per_item and v2.extra["usage"]["cached_hits"] == 6
        assert all(d["cached"] for d in v2.details.values())
        v3 = metric().compute(more, c)[0]
        assert srv.count == 6
        asked = {_ANS.search(b["messages"][-1]["content"]).group(1) for _, b, _ in srv.requests}
        assert asked == {f"item {i} quality {i % 10 + 1}" for i in range(6, 12)}
        assert v3.per_item == {f"d{i}": float(i % 10 + 1) for i in range(12)}


def test_cache_key_depends_on_model_template_and_url(tmp_path, api_key):
    items = [pred(0, "quality 4")]
    with StubOpenAIServer(reviewer) as srv:
        c = ctx(tmp_path, {"judge_base_url": srv.base_url})
        metric().compute(items, c)
        metric(model="gpt-4o-mini").compute(items, c)
        metric(template="desc_single").compute(items, c)
        assert srv.count == 3
        metric(template="desc_single").compute(items, c)
        metric().compute([pred(5, "quality 4")], c)  # same inputs under another item id: cached
        assert srv.count == 3


def test_failed_items_are_not_cached_and_rerun_asks_only_them(tmp_path, api_key):
    healthy = {"on": False}

    def flaky(path, body, n):
        if not healthy["on"] and "quality 2" in body["messages"][-1]["content"]:
            return StubResponse(status=503, body=error_body("busy"))
        return reviewer(path, body, n)

    items = [pred(i, f"quality {i}") for i in range(1, 5)]
    with StubOpenAIServer(flaky) as srv:
        c = ctx(tmp_path, {"judge_base_url": srv.base_url})
        v1 = metric(max_retries=1).compute(items, c)[0]
        assert v1.per_item["d2"] is None and v1.per_item["d1"] == 1.0
        healthy["on"] = True
        srv.reset()
        v2 = metric().compute(items, c)[0]
        assert srv.count == 1 and v2.per_item["d2"] == 2.0


def test_each_answer_is_persisted_as_it_arrives(tmp_path, api_key):
    """A crash mid-run loses nothing answered: the cache already holds every earlier reply."""
    cache_file = tmp_path / "cache" / "judge.sqlite"
    seen: list[int] = []

    def spy(path, body, n):
        seen.append(len(KVCache(cache_file)) if cache_file.exists() else 0)
        return reviewer(path, body, n)

    items = [pred(i, f"quality {i}") for i in range(1, 6)]
    with StubOpenAIServer(spy) as srv:
        metric().compute(items, ctx(tmp_path, {"judge_base_url": srv.base_url, "judge_concurrency": 1}))
    assert seen == [0, 1, 2, 3, 4]


def test_budget_stop_keeps_answers_and_rerun_fills_the_rest(tmp_path, api_key):
    items = [pred(i, f"quality {i}") for i in range(1, 7)]
    with StubOpenAIServer(reviewer) as srv:
        judge = {"judge_base_url": srv.base_url, "judge_concurrency": 1, "judge_max_calls": 3}
        v = finalize(metric().compute(items, ctx(tmp_path, judge, run="budget-run"))[0], items)
        assert srv.count == 3
        assert v.n == 3 and v.n_failed == 3
        assert [v.per_item[f"d{i}"] for i in range(1, 4)] == [1.0, 2.0, 3.0]
        assert all("budget exhausted" in v.details[f"d{i}"]["error"] for i in range(4, 7))
        assert v.extra["budget"]["exhausted"]
        srv.reset()
        v2 = metric().compute(items, ctx(tmp_path, {"judge_base_url": srv.base_url}, run="second-run"))[0]
        assert srv.count == 3 and all(v2.per_item[f"d{i}"] == float(i) for i in range(1, 7))


def test_budget_is_shared_by_the_metrics_of_one_run(tmp_path, api_key):
    with StubOpenAIServer(reviewer) as srv:
        judge = {"judge_base_url": srv.base_url, "judge_concurrency": 1, "judge_max_calls": 4}
        metric().compute([pred(i, f"quality {i}") for i in range(1, 4)], ctx(tmp_path, judge, run="shared"))
        v = metric("conv_gpt", template="conv").compute([pred(i, f"quality {i}", task="conv") for i in range(4, 7)],
                                                       ctx(tmp_path, judge, task="conv", run="shared"))[0]
        assert srv.count == 4
        assert sum(x is not None for x in v.per_item.values()) == 1


def test_concurrency_bounded_through_the_metric(tmp_path, api_key):
    items = [pred(i, f"quality {i % 9 + 1}") for i in range(16)]
    with StubOpenAIServer(reviewer, latency=0.05) as srv:
        v = metric().compute(items, ctx(tmp_path, {"judge_base_url": srv.base_url, "judge_concurrency": 3}))[0]
    assert srv.count == 16 and 2 <= srv.in_flight_max <= 3
    assert v.extra["concurrency"] == 3


def test_dry_run_counts_calls_and_cost_without_calling(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    items = [pred(i, f"quality {i}") for i in range(5)]
    with StubOpenAIServer(reviewer) as srv:
        [v] = metric().compute(items, ctx(tmp_path, {"judge_base_url": srv.base_url}, dry_run=True))
        assert srv.count == 0
    m = re.match(r"dry run: (\d+) calls, est\. \$([0-9.]+)", v.skipped)
    assert m and int(m.group(1)) == 5 and float(m.group(2)) > 0


def test_no_key_is_skipped_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    [v] = metric().compute([pred(0, "x")], ctx(tmp_path))
    assert v.value is None and v.skipped == (
        "no API key in OPENAI_API_KEY; fix: export it, or run with --judge embedding for an offline, non-GPT judge")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)  # an OpenAI key is never sent to DeepSeek
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    [v] = metric("desc_ds", model="deepseek-chat", base_url="https://api.deepseek.com",
                 api_key_env="DEEPSEEK_API_KEY").compute([pred(0, "x")], ctx(tmp_path))
    assert v.skipped.startswith("no API key in DEEPSEEK_API_KEY")


def test_unreachable_judge_is_skipped_with_the_fix(tmp_path, api_key):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [v] = metric(max_retries=1).compute([pred(0, "x"), pred(1, "y")],
                                        ctx(tmp_path, {"judge_base_url": f"http://127.0.0.1:{port}/v1"}))
    assert v.value is None and "unreachable" in v.skipped and "fix:" in v.skipped


def test_bad_key_is_skipped_and_stops_early(tmp_path, api_key):
    with StubOpenAIServer(lambda p, b, n: StubResponse(status=401, body=error_body("bad key", "invalid_api_key"))) as srv:
        [v] = metric().compute([pred(i, "x") for i in range(6)],
                               ctx(tmp_path, {"judge_base_url": srv.base_url, "judge_concurrency": 1}))
        assert srv.count == 1
    assert "refused every call" in v.skipped and "401" in v.skipped


def test_api_key_absent_from_every_written_file(tmp_path, api_key, caplog):
    import logging

    from facebench.hashing import canonical_json

    caplog.set_level(logging.DEBUG)  # also the openai/httpx debug logs

    items = [pred(i, f"quality {i}") for i in range(1, 4)] + [pred(9, "garbled")]
    cfg = tmp_path / "judge.yaml"
    cfg.write_text("judge_api_key_env: OPENAI_API_KEY\njudge_max_calls: 50\n")
    with StubOpenAIServer(reviewer) as srv:
        c = ctx(tmp_path, {"judge_base_url": srv.base_url, "judge_config": str(cfg)})
        vals = [finalize(v, items) for v in metric().compute(items, c)]
        assert any(h.get("authorization") == f"Bearer {SECRET}" for _, _, h in srv.requests)  # it was used
    run_dir = c.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(canonical_json({v.name: v.summary() for v in vals}))
    with open(run_dir / "samples_desc.jsonl", "w") as f:
        for p in items:
            f.write(json.dumps({"item_id": p.item_id, "scores": {v.name: v.per_item.get(p.item_id) for v in vals},
                                "details": {v.name: v.details.get(p.item_id) for v in vals}}) + "\n")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "judge.sqlite" for p in files) and len(files) >= 3
    for p in files:
        assert SECRET.encode() not in p.read_bytes(), p
    assert SECRET not in canonical_json([v.summary() for v in vals])
    assert caplog.records and SECRET not in caplog.text


def test_exact_agreement_is_point_biserial_by_hand(tmp_path, api_key):
    qa_yes = QA("Is the person smiling?", "yes", kind="closed", choices=("yes", "no"))
    qa_blond = QA("What colour is the hair?", "blond", kind="closed", choices=("blond", "black", "brown"))
    qa_open = QA("Describe the eyes.", "blue eyes", kind="open")
    answers = [("yes quality 9", qa_yes), ("no quality 3", qa_yes), ("blond quality 8", qa_blond),
               ("black quality 7", qa_blond), ("yes quality 4", qa_yes), ("brown quality 2", qa_blond),
               ("they are blue quality 6", qa_open)]
    items = [pred(i, a, task="conv", qa=q, ref=q.answer) for i, (a, q) in enumerate(answers)]
    with StubOpenAIServer(reviewer) as srv:
        vals = by_name(metric("conv_gpt", template="conv").compute(items, ctx(tmp_path, {"judge_base_url": srv.base_url}, task="conv")))
    agree = vals["conv_gpt_exact_agreement"]
    judge_scores = [9, 3, 8, 7, 4, 2]
    correct = [1, 0, 1, 0, 1, 0]
    assert agree.value == pytest.approx(hand_point_biserial(judge_scores, correct))
    assert agree.n == 6 and agree.aggregate == "set"
    assert agree.extra["n_closed_correct"] == 3
    assert agree.extra["accuracy_agreement_at_5.5"] == pytest.approx(np.mean(
        [(s > 5.5) == bool(c) for s, c in zip(judge_scores, correct)]))


def test_llama_cpp_backend_without_llama_cpp_is_skipped_with_the_fix(tmp_path, monkeypatch):
    from facebench.judge.llama_server import llama_cpp_available

    if llama_cpp_available():
        pytest.skip("llama_cpp is importable here: the skip path does not apply")
    [v] = JudgeScore(key="desc_judge", judge="llama-cpp", template="desc").compute([pred(0, "x")], ctx(tmp_path))
    assert "llama-cpp-python is not importable" in v.skipped and "fix:" in v.skipped


def test_base_url_alone_uses_the_servers_only_model(tmp_path, monkeypatch):
    """`--judge_base_url` at a local server (no key, no model): the server's one model is used and
    recorded as coming from the server."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with StubOpenAIServer(reviewer) as srv:
        [v, *_] = JudgeScore(key="desc_judge", template="desc", retry_base_delay=0.01).compute(
            [pred(0, "quality 6")], ctx(tmp_path, {"judge": "openai", "judge_base_url": srv.base_url}))
        assert srv.paths() == ["/v1/models", "/v1/chat/completions"]
        assert srv.requests[1][1]["model"] == "stub"
    assert v.per_item == {"d0": 6.0} and v.variant == "openai:stub"
    assert v.extra["judge"]["sources"]["model"] == "server (GET /models)"
    assert v.extra["judge"]["api_key_env"] == "OPENAI_API_KEY"


def test_conv_context_uses_the_caption_when_given(tmp_path, api_key):
    qa = QA("What colour is the hair?", "blond", kind="closed", choices=("blond", "black"))
    with_caption = pred(0, "quality 7", task="conv", qa=qa, ref="blond")
    with_caption.meta = {"caption": "A woman with long blond hair and green eyes."}
    without = pred(1, "quality 6", task="conv", qa=qa, ref="blond")
    with StubOpenAIServer(reviewer) as srv:
        metric("conv_gpt", template="conv").compute([with_caption, without], ctx(tmp_path, {"judge_base_url": srv.base_url,
                                                                                           "judge_concurrency": 1}, task="conv"))
        users = [b["messages"][-1]["content"] for _, b, _ in srv.requests]
    assert "[Context]\nA woman with long blond hair and green eyes." in users[0]
    assert "no description of the image" in users[1]
    assert "[Question]\nDescribe the face." in users[0] and "[Assistant 1]\nblond" in users[0]


def test_send_image_attaches_the_source_image(tmp_path, api_key):
    from PIL import Image

    img = tmp_path / "face.jpg"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(img)
    p0 = pred(0, "quality 5")
    p0.source_image = img
    p1 = pred(1, "quality 5")  # no source image → not judged blind: a failed item
    with StubOpenAIServer(lambda path, b, n: chat_completion("9 5\nok")) as srv:
        v = metric(send_image=True).compute([p0, p1], ctx(tmp_path, {"judge_base_url": srv.base_url}))[0]
        [(_, body, _)] = srv.requests
    parts = body["messages"][-1]["content"]
    assert parts[0]["type"] == "text" and parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert v.per_item == {"d0": 5.0, "d1": None} and v.extra["judge"]["send_image"] is True


def hand_point_biserial(scores, correct):
    """r_pb = (M1 - M0) / s * sqrt(p * q) with the population standard deviation s."""
    x, y = np.asarray(scores, float), np.asarray(correct, float)
    p = y.mean()
    return (x[y == 1].mean() - x[y == 0].mean()) / x.std() * np.sqrt(p * (1 - p))
