"""Fault tests with real processes: repeated SIGKILLs, a full disk, an output path that cannot
be written, corrupt cache entries, hostile inputs, and how checkpoints are loaded."""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import PLUGIN_PATH, REPO, cli_env, latest_results, make_local_dataset, run_cli, run_file

TASKS = str(PLUGIN_PATH / "fbtest_plugin" / "tasks")


def _cmd(out: Path, log: Path) -> list[str]:
    return [sys.executable, "-m", "facebench", "run", "--model", "slow-counting", "--model_args",
            f"delay=0.08,calls_log={log}", "--task", "convlite,genlite", "--dataset", "mini", "--limit", "10",
            "--batch_size", "3", "--output_path", str(out), "--include_path", TASKS]


def _samples(run_dir: Path, task: str) -> list[tuple]:
    """Per-sample outputs with images compared by content (folder names carry the model fingerprint)."""
    import hashlib

    rows = map(json.loads, run_file(run_dir, "samples", task).read_text().splitlines())
    return [(r["item_id"], r["output"], tuple(hashlib.sha256((run_dir / p).read_bytes()).hexdigest() for p in r["images"]),
             json.dumps(r["scores"], sort_keys=True)) for r in rows]


def test_repeated_random_sigkill_then_resume_equals_clean_run(tmp_path):
    env = cli_env()
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    log = tmp_path / "calls.log"
    rng = random.Random(1234)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(_cmd(tmp_path / "out", log), env=env, cwd=str(REPO), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 3.0))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    final = subprocess.run(_cmd(tmp_path / "out", log), env=env, cwd=str(REPO), capture_output=True, text=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    assert kills >= 2
    env2 = dict(env, FACEBENCH_CACHE_DIR=str(tmp_path / "cache2"))
    clean_log = tmp_path / "clean.log"
    clean = subprocess.run(_cmd(tmp_path / "clean", clean_log), env=env2, cwd=str(REPO), capture_output=True,
                           text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr[-2000:]
    a = latest_results(tmp_path / "out" / "slow-counting_mini")
    b = latest_results(tmp_path / "clean" / "slow-counting_mini")
    for t in ("convlite", "genlite"):
        assert a["tasks"][t]["metrics"] == b["tasks"][t]["metrics"]
        sa = _samples(tmp_path / "out" / "slow-counting_mini", t)
        assert sa == _samples(tmp_path / "clean" / "slow-counting_mini", t)
        assert len({x[0] for x in sa}) == len(sa)  # nothing duplicated
    n_items = sum(a["tasks"][t]["n_items"] for t in ("convlite", "genlite"))
    asked = len(log.read_text().splitlines())
    # every kill may lose at most the batch in flight (3 requests): nothing else is redone
    assert n_items <= asked <= n_items + 3 * kills


def test_disk_full_gives_clear_error_and_resume_works(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): " + r.stderr.decode().strip())
    try:
        out = run_cli("run", "--model", "dummy", "--task", "genlite", "--dataset", "mini", "--limit", "12",
                      "--output_path", str(mnt), "--include_path", TASKS)
        assert out.returncode == 2, out.stderr[-1500:]
        last = out.stderr.strip().splitlines()[-1]
        assert "No space left on device" in last and "Traceback" not in out.stderr
        # nothing half-written: no results file, or a complete JSON one
        for res in mnt.rglob("results_*.json"):
            json.loads(res.read_text())
        assert not list(mnt.rglob("*.tmp"))
    finally:
        subprocess.run(["umount", str(mnt)])
    ok = run_cli("run", "--model", "dummy", "--task", "genlite", "--dataset", "mini", "--limit", "12",
                 "--output_path", str(tmp_path / "big"), "--include_path", TASKS)
    assert ok.returncode == 0, ok.stderr[-1500:]


def test_unwritable_output_path(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    r = run_cli("run", "--model", "dummy", "--task", "convlite", "--dataset", "mini", "--limit", "2",
                "--output_path", str(blocker / "sub"), "--include_path", TASKS)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("facebench: error:")


def test_corrupt_cached_blob_and_garbled_rows_are_recomputed(tmp_path):
    import hashlib

    from facebench.runner import RunConfig, run

    cfg = dict(model="dummy", tasks=["genlite"], dataset="mini", limit=4, output_path=tmp_path / "o",
               include_path=[TASKS])
    first = run(RunConfig(**cfg))
    cache = Path(os.environ["FACEBENCH_CACHE_DIR"])
    img = sorted((first.run_dir / "images").rglob("*.png"))[0]
    digest = hashlib.sha256(img.read_bytes()).hexdigest()
    victim = cache / "blobs" / digest[:2] / f"{digest}.png"
    victim.write_bytes(victim.read_bytes()[:50])  # truncated PNG in the cache
    second = run(RunConfig(**cfg))
    assert second.predict_stats["genlite"].computed >= 1  # the item whose image broke was redone
    assert (second.results["tasks"]["genlite"]["metrics"]["attr_probe_acc"]["value"]
            == first.results["tasks"]["genlite"]["metrics"]["attr_probe_acc"]["value"])
    # a garbled predictions file is a clear error in score mode, not a silent partial score
    pred = run_file(second.run_dir, "predictions", "genlite")
    pred.write_text(pred.read_text()[:-40] + "\n{broken\n")
    r = run_cli("run", "--model", "dummy", "--task", "genlite", "--dataset", "mini", "--limit", "4", "--mode", "score",
                "--output_path", str(tmp_path / "o"), "--include_path", TASKS,
                env=dict(cli_env(), FACEBENCH_CACHE_DIR=str(cache)))
    assert r.returncode == 2 and "corrupt JSON line" in r.stderr


def test_hostile_inputs(tmp_path):
    from PIL import Image

    ds = make_local_dataset(tmp_path / "ds")
    rows = [json.loads(line) for line in (ds / "test.jsonl").read_text().splitlines()]
    # a huge prompt
    rows_big = [dict(r) for r in rows]
    rows_big[1]["caption"] = "very long hair " * 5000
    (ds / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows_big))
    r = run_cli("run", "--model", "dummy", "--task", "genlite", "--dataset", str(ds), "--output_path", str(tmp_path / "o"),
                "--include_path", TASKS)
    assert r.returncode == 2 and "over the 20,000 limit" in r.stderr
    # non-UTF-8 text
    (ds / "test.jsonl").write_bytes(b'{"doc_id": "x", "caption": "caf\xe9"}\n')
    r = run_cli("run", "--model", "dummy", "--task", "genlite", "--dataset", str(ds), "--output_path", str(tmp_path / "o"),
                "--include_path", TASKS)
    assert r.returncode == 2 and "not UTF-8" in r.stderr
    # a decompression bomb: tiny file, 90 megapixels
    Image.new("1", (9500, 9500)).save(ds / "images" / "0.png")
    (ds / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run_cli("run", "--model", "retrieval", "--task", "convlite", "--dataset", str(ds),
                "--output_path", str(tmp_path / "o"), "--include_path", TASKS)
    assert r.returncode == 2 and "larger than" in r.stderr and "Traceback" not in r.stderr
    # doc ids that try to escape the output folder
    rows_evil = [dict(r) for r in rows]
    rows_evil[0]["doc_id"] = "../../evil"
    (ds / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows_evil))
    r = run_cli("run", "--model", "dummy", "--task", "genlite", "--dataset", str(ds), "--output_path", str(tmp_path / "o"),
                "--include_path", TASKS)
    assert r.returncode == 2 and "path separators" in r.stderr


def test_checkpoints_are_loaded_safely():
    """Every torch.load in facebench and baselines passes weights_only=True."""
    offenders, seen = [], 0
    for base in ("facebench", "baselines"):
        for f in (REPO / base).rglob("*.py"):
            text = f.read_text()
            for m in re.finditer(r"\btorch\.load\(", text):
                depth, i = 1, m.end()
                while depth and i < len(text):  # the call's balanced argument list
                    depth += {"(": 1, ")": -1}.get(text[i], 0)
                    i += 1
                seen += 1
                if "weights_only=True" not in text[m.end():i]:
                    offenders.append(f"{f.relative_to(REPO)}: {text[m.start():i][:100]}")
    assert not offenders, offenders
    assert seen > 0  # the scan found the loaders it is meant to check
