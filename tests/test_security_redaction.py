"""The API key never leaks: a hostile server on 127.0.0.1 echoes the ``Authorization`` header (and
the bare key) in reply content, the returned model name, 400/401 error bodies and response
headers; full CLI runs (the ``openai-api`` adapter as the model, the LLM judge, the report
commands) must leave no trace of any key in any file under the output, report and cache folders,
nor in stdout/stderr (``-v``: openai's debug log prints response headers)."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

pytest.importorskip("openai")

from openai_stub_server import ECHO_AUTH, ECHO_KEY, StubOpenAIServer, StubResponse, chat_completion, error_body  # noqa: E402
from tests.helpers import cli_env, latest_results, run_cli, run_file  # noqa: E402

OPENAI_KEY = "sk-proj-OPENAIsecret0123456789abcdef"  # sk-shaped
JUDGE_KEY = "judge.secret.value.7f3a9c21e5"  # shaped like nothing: only its value can be found
MODEL_KEY = "model-secret-value-44d0b19e2c"
KEYS = (OPENAI_KEY, JUDGE_KEY, MODEL_KEY)


def _h(body: dict) -> int:
    return int(hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()[:8], 16)


def echo_handler(path: str, body: dict, n: int):
    """Every reply carries the key: in content, model name, error bodies and a response header."""
    hdr = {"X-Echo-Authorization": ECHO_AUTH, "X-Echo-Key": ECHO_KEY}
    if body.get("model") == "answerer":  # the model under test (openai-api adapter)
        if _h(body) % 3 == 0:
            return StubResponse(status=400, headers=hdr, body=error_body(
                f"invalid request: header {ECHO_AUTH} (key {ECHO_KEY}) not allowed", "invalid_request"))
        return StubResponse(headers=hdr, body=chat_completion(f"Yes, she is smiling. [{ECHO_AUTH}] {ECHO_KEY}",
                                                              model=f"answerer-{ECHO_KEY}"))
    if _h(body) % 3 == 0:  # the judge
        return StubResponse(status=400, headers=hdr, body=error_body(f"context too long for {ECHO_AUTH} {ECHO_KEY}"))
    return StubResponse(headers=hdr, body=chat_completion(f"8 7\nreviewed for {ECHO_AUTH}; key {ECHO_KEY}",
                                                          model=f"judge-{ECHO_KEY}"))


def fatal_handler(path: str, body: dict, n: int):
    return StubResponse(status=401, headers={"X-Echo-Authorization": ECHO_AUTH},
                        body=error_body(f"Incorrect API key provided: {ECHO_KEY} ({ECHO_AUTH})", "invalid_api_key",
                                        "invalid_request_error"))


def _env(tmp_path: Path) -> dict[str, str]:
    env = cli_env()
    env.update(OPENAI_API_KEY=OPENAI_KEY, MY_JUDGE_KEY=JUDGE_KEY, MY_MODEL_KEY=MODEL_KEY,
               FACEBENCH_CACHE_DIR=str(tmp_path / "cache"))
    return env


def _assert_no_key(folders: list[Path], *texts: str) -> int:
    """No key in any file under ``folders`` (bytes, so SQLite pages count too) or in ``texts``."""
    n = 0
    for folder in folders:
        for f in folder.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                n += 1
                for k in KEYS:
                    assert k.encode() not in data, f"key leaked into {f}"
    for t in texts:
        for k in KEYS:
            assert k not in t
    return n


def test_echoing_server_cannot_plant_the_key_anywhere(tmp_path):
    cfg = tmp_path / "judge.yaml"
    cfg.write_text("judge_api_key_env: MY_JUDGE_KEY\njudge_max_retries: 1\njudge_retry_base_delay: 0.01\n")
    env = _env(tmp_path)
    out = tmp_path / "out"
    with StubOpenAIServer(echo_handler) as srv:
        r = run_cli("run", "--model", "openai-api", "--model_args",
                    f"model=answerer,base_url={srv.base_url},api_key_env=MY_MODEL_KEY,max_retries=1",
                    "--task", "conv", "--dataset", "mini", "--limit", "3", "--judge", "openai",
                    "--judge_base_url", srv.base_url, "--judge_model", "judge", "--judge_config", str(cfg),
                    "--output_path", str(out), "-v", env=env, timeout=600)
        auth = {h.get("authorization") for _, _, h in srv.requests}
    assert r.returncode == 0, r.stderr[-3000:]
    assert {f"Bearer {MODEL_KEY}", f"Bearer {JUDGE_KEY}"} <= auth  # both keys really went out (and came back)
    run_dir = out / "openai-api_mini"
    samples = run_file(run_dir, "samples", "conv").read_text()
    assert "[REDACTED]" in samples  # the echoes reached the files, redacted
    res = latest_results(run_dir)
    m = res["tasks"]["conv"]["metrics"]["conv_judge"]
    scores = [json.loads(x)["scores"].get("conv_judge") for x in samples.splitlines()]
    # judge 400s are failures; echoed 200s are reviews (7); answers lost to the model's 400s are
    # empty answers, scored 1 without a call
    assert m["n_failed"] >= 1 and set(scores) == {None, 1.0, 7.0}
    lb = run_cli("leaderboard", str(out), "-o", str(tmp_path / "lb.md"), env=env)
    html = run_cli("report", str(out), "-o", str(tmp_path / "report"), env=env)
    assert lb.returncode == 0 and html.returncode == 0, lb.stderr[-2000:] + html.stderr[-2000:]
    assert (tmp_path / "report" / "index.html").is_file()
    n = _assert_no_key([out, tmp_path / "cache", tmp_path / "report"], r.stdout, r.stderr, lb.stdout, lb.stderr,
                       html.stdout, html.stderr, (tmp_path / "lb.md").read_text())
    assert n >= 5
    assert (tmp_path / "cache" / "judge.sqlite").is_file()


def test_key_echoed_in_401_errors_is_redacted(tmp_path):
    """A 401 whose body quotes the key: the judge is reported as refusing (one line, in results,
    stdout and the leaderboard) and the adapter aborts with exit 2 — the key appears nowhere."""
    env = _env(tmp_path)
    out = tmp_path / "out"
    with StubOpenAIServer(fatal_handler) as srv:
        judged = run_cli("run", "--model", "dummy", "--task", "conv", "--dataset", "mini", "--limit", "2",
                         "--judge", "openai", "--judge_base_url", srv.base_url, "--judge_model", "judge",
                         "--output_path", str(out), "-v", env=env, timeout=600)
        model = run_cli("run", "--model", "openai-api", "--model_args",
                        f"model=answerer,base_url={srv.base_url},api_key_env=MY_MODEL_KEY", "--task", "conv",
                        "--dataset", "mini", "--limit", "1", "--judge", "embedding", "--run_name", "api401",
                        "--output_path", str(out), "-v", env=env, timeout=600)
    assert judged.returncode == 0, judged.stderr[-3000:]
    res = latest_results(out / "dummy_mini")
    skipped = res["tasks"]["conv"]["metrics"]["conv_judge"]["skipped"]
    assert "401" in skipped and "[REDACTED]" in skipped
    assert model.returncode == 2 and "Traceback" not in model.stderr
    assert "401" in model.stderr.strip().splitlines()[-1]
    lb = run_cli("leaderboard", str(out), "-o", "-", env=env)
    _assert_no_key([out, tmp_path / "cache"], judged.stdout, judged.stderr, model.stdout, model.stderr,
                   lb.stdout, lb.stderr)


def test_redact_unit_shapes_and_values(monkeypatch):
    from facebench.redact import REDACTED, redact, redact_obj, register_key_env

    monkeypatch.setenv("SOME_CUSTOM_VAR", "custom-value-123456")
    register_key_env("SOME_CUSTOM_VAR")
    text = ("Authorization: Bearer abcdefghijklmnop123 and sk-ABCDEFGHIJKLMNOPqrst and custom-value-123456; "
            "task-abcdefghijklmnopqrstuvwxyz stays; the bearer of bad news stays")
    out = redact(text)
    assert "abcdefghijklmnop123" not in out and "sk-ABCDEFGHIJKLMNOPqrst" not in out
    assert "custom-value-123456" not in out and out.count(REDACTED) == 3
    assert "task-abcdefghijklmnopqrstuvwxyz stays" in out and "bearer of bad news" in out
    assert redact_obj({"a": ["custom-value-123456", 3]}) == {"a": [REDACTED, 3]}
    monkeypatch.setenv("SHORT_API_KEY", "abc")  # too short to be a key: ordinary words stay
    assert redact("abc def") == "abc def"


def test_log_filter_redacts_messages_args_and_tracebacks(monkeypatch, capsys):
    from facebench.redact import install_log_redaction

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    handler = logging.StreamHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_log_redaction()
        log = logging.getLogger("facebench.test.redact")
        log.warning("header %s", f"Bearer {OPENAI_KEY}")
        try:
            raise RuntimeError(f"server said {OPENAI_KEY}")
        except RuntimeError:
            log.exception("failed")
    finally:
        root.removeHandler(handler)
    err = capsys.readouterr().err
    assert "RuntimeError" in err and "[REDACTED]" in err and OPENAI_KEY not in err


def test_atomic_write_text_is_a_safety_net(tmp_path, monkeypatch):
    from facebench.images import atomic_write_text

    monkeypatch.setenv("DEEPSEEK_API_KEY", "deepseek-secret-00112233")
    atomic_write_text(tmp_path / "x.json", json.dumps({"review": "echo deepseek-secret-00112233"}))
    data = json.loads((tmp_path / "x.json").read_text())  # still valid JSON
    assert data == {"review": "echo [REDACTED]"}
