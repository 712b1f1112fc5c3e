"""A full CLI run against a judge server that fails in every way: the run finishes, failures
are counted and excluded (never a number), and the API key appears in no written file or log."""
from __future__ import annotations

import hashlib
import json
import threading

from openai_stub_server import DEFAULT_REVIEW, StubOpenAIServer, StubResponse, chat_completion
from tests.helpers import cli_env, latest_results, run_cli, run_file

SECRET = "sk-test-NEVER-WRITE-ME-1234567890"
BAD = [
    StubResponse(status=429, body={"error": {"message": "slow down", "type": "rate_limit"}}),
    StubResponse(status=500, body={"error": {"message": "boom", "type": "server_error"}}),
    StubResponse(raw=b'{"id": "x", "choices": [{"message": {"content": "8 8'),  # truncated JSON
    StubResponse(body=chat_completion("")),  # empty content
    StubResponse(body={"unexpected": "schema"}),  # wrong schema
    StubResponse(body=chat_completion("I think it is pretty good overall.")),  # unparsable review
    StubResponse(drop=True),  # connection reset
]


class ChaosHandler:
    """A third of the distinct requests always fail (rotating through every failure mode); the
    rest fail once with a transient error (429, 500 or a hang past the timeout), then succeed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}
        self.always_bad: set[str] = set()

    def __call__(self, path: str, body: dict, n: int):
        key = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()
        with self.lock:
            k = self.attempts[key] = self.attempts.get(key, 0) + 1
        h = int(key[:8], 16)
        if h % 3 == 0:
            self.always_bad.add(key)
            return BAD[(h // 3 + k) % len(BAD)]
        if k == 1:
            return [BAD[0], BAD[1], StubResponse(hang=True)][h % 3 if h % 3 else 2]
        return chat_completion(DEFAULT_REVIEW)


def test_judge_chaos_run_finishes_counts_failures_and_never_leaks_the_key(tmp_path):
    handler = ChaosHandler()
    cfg = tmp_path / "judge.yaml"
    cfg.write_text("judge_timeout: 1.0\njudge_max_retries: 3\njudge_retry_base_delay: 0.02\n")
    env = cli_env()
    env["OPENAI_API_KEY"] = SECRET
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    with StubOpenAIServer(handler) as srv:
        r = run_cli("run", "--model", "retrieval", "--task", "desc", "--dataset", "mini", "--limit", "15",
                    "--judge", "openai", "--judge_base_url", srv.base_url, "--judge_model", "stub-judge",
                    "--judge_concurrency", "4", "--judge_config", str(cfg), "--output_path", str(tmp_path / "out"),
                    "-v", env=env, timeout=600)
        seen_auth = {h.get("authorization", "") for _, _, h in srv.requests}
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"Bearer {SECRET}" in seen_auth  # the key was used ...
    run_dir = tmp_path / "out" / "retrieval_mini"
    res = latest_results(run_dir)
    m = res["tasks"]["desc"]["metrics"]["desc_judge"]
    rows = [json.loads(x) for x in run_file(run_dir, "samples", "desc").read_text().splitlines()]
    scores = [row["scores"].get("desc_judge") for row in rows]
    failed = [s for s in scores if s is None]
    assert handler.always_bad and len(failed) >= 1
    assert m["n_failed"] == len(failed) and m["n"] == len(scores) - len(failed)
    assert all(s == 8.0 for s in scores if s is not None)  # only real reviews became numbers
    assert m["value"] == 8.0
    # ... and written nowhere: results, samples, predictions, caches, logs
    for folder in (tmp_path / "out", tmp_path / "cache"):
        for f in folder.rglob("*"):
            if f.is_file():
                assert SECRET.encode() not in f.read_bytes(), f
    assert SECRET not in r.stdout and SECRET not in r.stderr
