"""Hostile judge servers on 127.0.0.1: one that trickles a byte a second (``--judge_timeout``
bounds the whole request), one that sends 1 MB reviews, and replies on the wrong scale; plus
hostile judge inputs (a reference far over the size limit), through the CLI and the metrics."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("openai")

from facebench.metrics.base import MetricContext  # noqa: E402
from facebench.metrics.judge import JudgeScore  # noqa: E402
from facebench.metrics.vlmscore import VLMScore  # noqa: E402
from facebench.types import Prediction  # noqa: E402
from openai_stub_server import DEFAULT_REVIEW, StubOpenAIServer, StubResponse, chat_completion  # noqa: E402
from tests.helpers import cli_env, latest_results, make_local_dataset, run_cli, run_file  # noqa: E402


def _trickle(path: str, body: dict, n: int):
    return StubResponse(body=chat_completion(DEFAULT_REVIEW), trickle=1.0)  # ~400 bytes at 1 byte/s


# -- 3. --judge_timeout is a total deadline ------------------------------------------------------
def test_trickling_server_is_cut_at_the_total_deadline():
    from facebench.judge.client import JudgeClient

    with StubOpenAIServer(_trickle) as srv:
        c = JudgeClient(srv.base_url, None, timeout=1.0, max_retries=1, retry_base_delay=0.01)
        t0 = time.perf_counter()
        [res] = c.chat_many([{"model": "m", "messages": [{"role": "user", "content": "hi"}]}])
        elapsed = time.perf_counter() - t0
        assert srv.count == 2  # the first attempt was cut, then retried once
    assert not res.ok and "Timeout" in res.error and res.attempts == 2
    assert elapsed < 6.0  # 2 attempts × 1 s + backoff; the body alone would take ~400 s


def test_trickling_judge_does_not_hang_a_cli_run(tmp_path):
    cfg = tmp_path / "judge.yaml"
    cfg.write_text("judge_max_retries: 1\njudge_retry_base_delay: 0.01\n")
    env = dict(cli_env(), FACEBENCH_CACHE_DIR=str(tmp_path / "cache"))
    with StubOpenAIServer(_trickle) as srv:
        t0 = time.perf_counter()
        r = run_cli("run", "--model", "dummy", "--task", "conv", "--dataset", "mini", "--limit", "1",
                    "--judge", "openai", "--judge_base_url", srv.base_url, "--judge_model", "judge",
                    "--judge_timeout", "1.5", "--judge_config", str(cfg), "--output_path", str(tmp_path / "o"),
                    env=env, timeout=180)
        elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr[-2000:]
    res = latest_results(tmp_path / "o" / "dummy_mini")
    m = res["tasks"]["conv"]["metrics"]["conv_judge"]
    assert m["value"] is None and "Timeout" in m["skipped"]  # every call timed out: no number
    assert elapsed < 150


# -- 6. bounded judge inputs and replies --------------------------------------------------------
LONG_ANSWER = "blond " * 5000  # 30,000 characters: over the 20,000 reference limit


def _dataset_with_long_reference(root: Path) -> Path:
    ds = make_local_dataset(root, n=3)
    rows = [json.loads(x) for x in (ds / "test.jsonl").read_text().splitlines()]
    rows[1]["qa"][0]["answer"] = LONG_ANSWER
    rows[2]["qa"][0]["question"] = "What colour is the hair? (long review please)"
    (ds / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ds


def _big_reviews(path: str, body: dict, n: int):
    user = body["messages"][-1]["content"]
    if "long review please" in user:
        return chat_completion("8 7\n" + "x" * 1_000_000)  # a 1 MB review
    return chat_completion("8 7\nfine")


def test_over_long_inputs_and_replies_fail_with_a_reason(tmp_path):
    ds = _dataset_with_long_reference(tmp_path / "ds")
    env = dict(cli_env(), FACEBENCH_CACHE_DIR=str(tmp_path / "cache"))
    common = ["run", "--model", "dummy", "--task", "conv", "--dataset", str(ds), "--judge", "openai",
              "--judge_model", "judge", "--output_path", str(tmp_path / "o")]
    with StubOpenAIServer(_big_reviews) as srv:
        dry = run_cli(*common, "--judge_base_url", srv.base_url, "--dry_run", env=env)
        assert dry.returncode == 0, dry.stderr[-2000:]
        assert srv.count == 0
        assert "1 item(s) over a size limit will fail without a call" in dry.stdout
        assert "judge_max_reference_chars=20,000" in dry.stderr  # in full on the console; the table footnote is short
        r = run_cli(*common, "--judge_base_url", srv.base_url, env=env)
        sizes = [len(json.dumps(b)) for _, b, _ in srv.requests]
    assert r.returncode == 0, r.stderr[-2000:]
    assert srv.count == 2 and max(sizes) < 20_000  # the over-long item was never sent
    run_dir = tmp_path / "o" / "dummy_ds"
    res = latest_results(run_dir)
    m = res["tasks"]["conv"]["metrics"]["conv_judge"]
    assert m["n"] == 1 and m["n_failed"] == 2
    assert m["extra"]["n_failed_reasons"] == {"input too long": 1, "reply too long": 1}
    samples = run_file(run_dir, "samples", "conv")
    assert samples.stat().st_size < 100_000  # the 1 MB review was not stored whole
    details = [json.loads(x)["details"]["conv_judge"] for x in samples.read_text().splitlines()]
    errors = sorted(d["error"] or "" for d in details)
    assert errors[1].startswith("input too long: the reference is 30,000 characters")
    assert errors[2].startswith("reply too long: 1,000,004 characters, over judge_max_reply_chars=20,000")


def test_size_limits_are_configurable(tmp_path):
    """A judge config can raise the reference limit: the same item is then sent."""
    from facebench.judge.settings import resolve_settings

    cfg = tmp_path / "judge.yaml"
    cfg.write_text("judge_max_reference_chars: 40000\njudge_max_prompt_chars: 100000\n")
    s = resolve_settings({"judge_config": str(cfg)}, {})
    assert (s.max_reference_chars, s.max_prompt_chars, s.max_reply_chars) == (40_000, 100_000, 20_000)
    preds = [Prediction("a", "a", "conv", "Q?", reference=LONG_ANSWER, output="blond")]
    with StubOpenAIServer(lambda p, b, n: chat_completion("8 7\nok")) as srv:
        ctx = MetricContext(task="conv", dataset="x", run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                            judge={"judge_base_url": srv.base_url, "judge_config": str(cfg)})
        [v, *_] = JudgeScore(key="conv_judge", judge="openai", model="judge").compute(preds, ctx)
        assert srv.count == 1 and v.per_item == {"a": 7.0}


# -- 7. replies on the wrong scale are unparsable, never rescaled ---------------------------------
def test_wrong_scale_replies_are_failures_over_loopback(tmp_path):
    from PIL import Image

    replies = {"a": "Score: 8/10\nlooks right", "b": "Score: 1e9", "c": "Score: 87/100\nclose", "d": "Score: 64"}
    preds = []
    for k, colour in zip(replies, [(1, 0, 0), (2, 0, 0), (3, 0, 0), (4, 0, 0)]):
        p = tmp_path / f"{k}.png"
        Image.new("RGB", (8, 8), colour).save(p)
        preds.append(Prediction(k, k, "vqa", f"prompt {k}", images=[p]))

    def vlm(path, body, n):
        text = body["messages"][-1]["content"][0]["text"]
        k = text.split("prompt ")[1][0]
        return chat_completion(replies[k])

    with StubOpenAIServer(vlm) as srv:
        ctx = MetricContext(task="vqa", dataset="x", run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                            judge={"judge_base_url": srv.base_url, "judge_model": "vlm"})
        [v] = VLMScore(key="vlm_score").compute(preds, ctx)
    assert v.per_item == {"a": None, "b": None, "c": 87.0, "d": 64.0}
    assert "not a plain number on the template's 0–100 scale" in v.details["a"]["error"]

    pair_preds = [Prediction("p", "p", "conv", "Q?", reference="blond", output="blond")]
    with StubOpenAIServer(lambda p, b, n: chat_completion("5/100 6/100\nok")) as srv:
        ctx = MetricContext(task="conv", dataset="x", run_dir=tmp_path / "run2", cache_dir=tmp_path / "cache2",
                            judge={"judge_base_url": srv.base_url, "judge_model": "judge"})
        out = JudgeScore(key="conv_judge", judge="openai", model="judge").compute(pair_preds, ctx)
    assert out[0].per_item == {"p": None} and "unparsable review" in out[0].details["p"]["error"]
