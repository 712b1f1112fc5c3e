"""A run killed with SIGKILL mid-predict resumes: nothing finished is redone or lost, and the
final results equal an uninterrupted run's."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import PLUGIN_PATH, REPO, cli_env, latest_results, run_file

TASKS = str(PLUGIN_PATH / "fbtest_plugin" / "tasks")


def _cmd(out: Path, log: Path, delay: float) -> list[str]:
    return [sys.executable, "-m", "facebench", "run", "--model", "slow-counting", "--model_args",
            f"delay={delay},calls_log={log}", "--task", "convlite", "--dataset", "mini", "--limit", "12",
            "--batch_size", "4", "--output_path", str(out), "--include_path", TASKS]


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_sigkill_then_resume(tmp_path):
    env = cli_env()
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    # the resumed command is the same command (model args are part of the cache key), so both
    # runs append to the same call log
    log1 = tmp_path / "calls.log"
    proc = subprocess.Popen(_cmd(tmp_path / "out", log1, 0.15), env=env, cwd=str(REPO),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while len(_lines(log1)) < 24 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "run finished before it could be killed: " + proc.stderr.read().decode()[-500:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # a killed run leaves no finished results file (at most one marked "running")
    for f in (tmp_path / "out" / "slow-counting_mini").glob("results_*.json"):
        assert not f.read_text() or json.loads(f.read_text())["status"] == "running"
    done_before = len(_lines(log1))

    r = subprocess.run(_cmd(tmp_path / "out", log1, 0.15), env=env, cwd=str(REPO), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    res = latest_results(tmp_path / "out" / "slow-counting_mini")
    n_items = res["tasks"]["convlite"]["n_items"]
    redone = len(_lines(log1)) - done_before
    # at most the batch in flight when killed is asked again; everything committed is reused
    assert redone <= n_items - done_before + 4
    assert redone < n_items
    assert res["tasks"]["convlite"]["predict"]["cached"] >= done_before - 4

    # an uninterrupted run in a fresh cache gives the same results and per-sample outputs
    env2 = dict(env, FACEBENCH_CACHE_DIR=str(tmp_path / "cache2"))
    r2 = subprocess.run(_cmd(tmp_path / "clean", tmp_path / "calls3.log", 0.0), env=env2, cwd=str(REPO),
                        capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0, r2.stderr
    clean = latest_results(tmp_path / "clean" / "slow-counting_mini")
    assert clean["tasks"]["convlite"]["metrics"] == res["tasks"]["convlite"]["metrics"]
    rows = lambda d: [(x["item_id"], x["output"]) for x in map(json.loads, run_file(d / "slow-counting_mini", "samples", "convlite").read_text().splitlines())]  # noqa: E731
    assert rows(tmp_path / "out") == rows(tmp_path / "clean")
    assert len(set(rows(tmp_path / "out"))) == n_items  # nothing duplicated
