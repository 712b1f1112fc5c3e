"""Review parsing (a review that cannot be read is refused, never a number), templates, settings."""
from __future__ import annotations

import json

import pytest

from facebench.errors import TaskConfigError
from facebench.judge.parse import ReviewParseError, parse_pair, parse_single
from facebench.judge.prompts import TEMPLATES, Template, get_template
from facebench.judge.settings import resolve_settings


@pytest.mark.parametrize("review,expected", [
    ("8 6\nThe answer misses the beard.", (8.0, 6.0)),
    ("  \n7 9\nBetter than the reference.", (7.0, 9.0)),
    ("**7 5**\nexplanation", (7.0, 5.0)),
    ("7, 5\nexplanation", (7.0, 5.0)),
    ("7.5 6.5", (7.5, 6.5)),
    ("8/10 6/10\nboth fine", (8.0, 6.0)),
    ("Scores below.\nAssistant 1: 9\nAssistant 2: 4\nbecause", (9.0, 4.0)),
    ("Assistant 1 score: 10, Assistant 2 score: 3", (10.0, 3.0)),
    ("10 1", (10.0, 1.0)),
])
def test_parse_pair_accepts(review, expected):
    assert parse_pair(review) == expected


@pytest.mark.parametrize("review", [
    None, "", "   \n  ", "The answer is good.", "8\nonly one score", "8 7 6\nthree numbers",
    "11 5\nout of scale", "0 5", "-1 -1", "Assistant 1: 9 and then nothing",
])
def test_parse_pair_refuses(review):
    with pytest.raises(ReviewParseError):
        parse_pair(review)


@pytest.mark.parametrize("review,expected", [
    ("Score: 7\nok", 7.0), ("score:7", 7.0), ("**Score:** 8/10", 8.0), ("Rating: 4", 4.0),
    ("6\nbecause", 6.0), ("The overall score is 9.", 9.0),
])
def test_parse_single_accepts(review, expected):
    assert parse_single(review) == expected


@pytest.mark.parametrize("review", [None, "", "good answer", "Score: 12", "Score: 0", "5 7\ntwo numbers"])
def test_parse_single_refuses(review):
    with pytest.raises(ReviewParseError):
        parse_single(review)


@pytest.mark.parametrize("review,scale", [
    ("5/100 6/100", (1.0, 10.0)),  # a 0–100 reply to a 1–10 template: never "5 6"
    ("5 out of 100, 6 out of 100\nok", (1.0, 10.0)),
    ("Assistant 1: 8/100\nAssistant 2: 6/100", (1.0, 10.0)),
    ("8/10 6/10\nfine", (0.0, 100.0)),
    ("1e9 2", (1.0, 10.0)),
    ("7th 5th", (1.0, 10.0)),
])
def test_parse_pair_refuses_other_scales_and_glued_numbers(review, scale):
    with pytest.raises(ReviewParseError):
        parse_pair(review, scale)


@pytest.mark.parametrize("review", [
    "Score: 8/10\nlooks right",  # a 1–10 reply to the 0–100 vlm_score template: never 8
    "Score: 8 out of 10",
    "Score: 1e9",  # never 1 (nor 9)
    "Score: 2.5e1",
    "Score: 1,000",
    "Score: 87x",
    "**Score:** 9/10",
])
def test_parse_single_0_100_refuses_other_scales(review):
    with pytest.raises(ReviewParseError):
        parse_single(review, (0.0, 100.0))


@pytest.mark.parametrize("review,expected", [
    ("Score: 87/100\nclose", 87.0), ("Score: 87 out of 100", 87.0), ("Score: 85%\nmost attributes", 85.0),
    ("Score: 64.", 64.0), ("**Score:** 70\n3/4 of the attributes are right", 70.0),
])
def test_parse_single_0_100_accepts(review, expected):
    assert parse_single(review, (0.0, 100.0)) == expected


def test_parse_pair_keeps_llava_bench_forms():
    """LLaVA-Bench's own reader splits the first line on commas/spaces: those forms still parse,
    and a fraction in the explanation does not disturb the first line's scores."""
    assert parse_pair("7,5\nexplanation") == (7.0, 5.0)
    assert parse_pair("8 6\nOnly 3/4 of the attributes (1/2 of the colours) match.") == (8.0, 6.0)
    assert parse_pair("8 out of 10 6 out of 10") == (8.0, 6.0)
    assert parse_pair("9 4.") == (9.0, 4.0)


def test_parse_single_0_100_scale():
    assert parse_single("Score: 87\nclose match", (0.0, 100.0)) == 87.0
    assert parse_single("Score: 0", (0.0, 100.0)) == 0.0
    with pytest.raises(ReviewParseError):
        parse_single("Score: 101", (0.0, 100.0))


def test_template_hash_is_stable_and_content_sensitive():
    t = get_template("desc")
    assert len(t.hash) == 16 and t.hash == get_template("desc").hash
    changed = Template(t.name, t.version, t.system, t.user + " ", paired=t.paired, rule=t.rule)
    assert changed.hash != t.hash
    assert len({tpl.hash for tpl in TEMPLATES.values() if tpl.name not in ("desc", "conv")}) == 3
    msgs = t.messages(context="ctx", question="q?", reference="ref", answer="ans")
    assert msgs[0]["role"] == "system" and "ref" in msgs[1]["content"] and "ans" in msgs[1]["content"]
    assert msgs[1]["content"].index("ref") < msgs[1]["content"].index("ans")  # reference is Assistant 1
    with pytest.raises(TaskConfigError):
        get_template("nope")


def test_settings_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEBENCH_JUDGE_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.example/v1")
    monkeypatch.setenv("FACEBENCH_JUDGE_CONCURRENCY", "3")
    task = {"judge": "openai", "model": "task-model", "template": "desc", "concurrency": 5}
    s = resolve_settings({}, task)
    assert (s.model, s.base_url, s.concurrency, s.template) == ("task-model", "http://env.example/v1", 5, "desc")
    assert s.sources["model"] == "task" and s.sources["base_url"] == "env"

    cfg = tmp_path / "judge.yaml"
    cfg.write_text("judge_model: cfg-model\nbase_url: http://cfg.example/v1\njudge_concurrency: 7\n")
    s = resolve_settings({"judge_config": str(cfg)}, task)
    assert (s.model, s.base_url, s.concurrency) == ("cfg-model", "http://cfg.example/v1", 7)
    assert s.sources["model"] == "config"

    s = resolve_settings({"judge_config": str(cfg), "judge_model": "cli-model", "judge_concurrency": 2}, task)
    assert (s.model, s.base_url, s.concurrency) == ("cli-model", "http://cfg.example/v1", 2)
    assert s.sources["model"] == "cli" and s.sources["base_url"] == "config"

    jcfg = tmp_path / "judge.json"
    jcfg.write_text(json.dumps({"judge_max_calls": 11}))
    assert resolve_settings({"judge_config": str(jcfg)}, task).max_calls == 11


def test_switching_backend_drops_the_other_judges_identity(monkeypatch):
    monkeypatch.setenv("FACEBENCH_JUDGE_MODEL", "env-model")
    task = {"judge": "openai", "model": "gpt-4o-2024-08-06", "base_url": "https://api.deepseek.com",
            "api_key_env": "DEEPSEEK_API_KEY"}
    s = resolve_settings({"judge": "embedding"}, task)
    assert s.backend == "embedding" and s.model == "all-MiniLM-L6-v2" and s.base_url is None
    assert s.api_key_env == "OPENAI_API_KEY" and s.sources["backend"] == "cli"
    s = resolve_settings({}, {"judge": "embedding"})
    assert s.model == "all-MiniLM-L6-v2"  # env model is for API judges


def test_settings_errors(tmp_path):
    with pytest.raises(TaskConfigError, match="unknown judge backend"):
        resolve_settings({"judge": "gpt5-magic"}, {})
    bad = tmp_path / "j.yaml"
    bad.write_text("api_key: sk-oops\n")
    with pytest.raises(TaskConfigError, match="API key"):
        resolve_settings({"judge_config": str(bad)}, {})
    bad.write_text("judge_modle: x\n")
    with pytest.raises(TaskConfigError, match="unknown keys"):
        resolve_settings({"judge_config": str(bad)}, {})
    with pytest.raises(TaskConfigError, match="number"):
        resolve_settings({"judge_concurrency": "many"}, {})


def test_loopback_detection():
    assert resolve_settings({"judge_base_url": "http://127.0.0.1:8080/v1"}, {}).is_local
    assert resolve_settings({"judge_base_url": "http://localhost:11434/v1"}, {}).is_local
    assert not resolve_settings({"judge_base_url": "https://api.deepseek.com"}, {}).is_local
