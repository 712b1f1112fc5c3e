"""Under torchrun each rank drives its own worker: two ranks, two worker processes (neither of them
a rank), and the same results as one process without workers."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.helpers import PLUGIN_PATH, REPO, cli_env
from tests.envs_adapters import samples_file

TASKS = str(PLUGIN_PATH / "fbtest_plugin" / "tasks")
SCRIPT = """
import os, sys
sys.path.insert(0, {repo!r})
from facebench.envs import make_adapter
from facebench.runner import RunConfig, run
from tests.envs_adapters import FaultyAdapter
w = make_adapter(FaultyAdapter, "cpu", {{"isolate": {isolate}, "calls_log": {log!r}}})
with open({ranks!r}, "a") as f:
    f.write(f"{{os.getpid()}} {{w.pid if {isolate} else os.getpid()}}\\n")
try:
    run(RunConfig(model=w, tasks=["convlite", "genlite"], dataset="mini", limit=6, batch_size=2,
                  output_path={out!r}, run_name="faulty", include_path=[{tasks!r}]))
finally:
    w.close()
"""


@pytest.mark.skipif(shutil.which("torchrun") is None and not (REPO / ".venv/bin/torchrun").exists(),
                    reason="torchrun not installed (pip install torch)")
def test_each_rank_drives_its_own_worker(tmp_path):
    runs = {}
    for name, isolate, nproc in (("two", True, 2), ("one", False, 1)):
        log, ranks, out = tmp_path / f"{name}.log", tmp_path / f"{name}.ranks", tmp_path / name
        script = SCRIPT.format(repo=str(REPO), isolate=isolate, log=str(log), ranks=str(ranks), out=str(out),
                               tasks=TASKS)
        env = dict(cli_env(extra_path=False), FACEBENCH_CACHE_DIR=str(tmp_path / f"cache-{name}"), OMP_NUM_THREADS="1")
        path = tmp_path / f"{name}.py"
        path.write_text(script)
        cmd = ([sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", str(path)] if nproc > 1
               else [sys.executable, str(path)])
        r = subprocess.run(cmd, env=env, cwd=str(REPO), capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        runs[name] = (log, ranks, out / "faulty")
    log, ranks, run_dir = runs["two"]
    pairs = [line.split() for line in ranks.read_text().splitlines()]
    rank_pids, worker_pids = {p[0] for p in pairs}, {p[1] for p in pairs}
    assert len(rank_pids) == 2 and len(worker_pids) == 2 and not rank_pids & worker_pids
    assert {line.split()[0] for line in log.read_text().splitlines()} == worker_pids  # the workers did the work
    one_dir = runs["one"][2]
    results = lambda d: json.loads((sorted(d.glob("results_*.json")) or [d / "results.json"])[-1].read_text())  # noqa: E731
    for t in ("convlite", "genlite"):
        assert results(run_dir)["tasks"][t]["metrics"] == results(one_dir)["tasks"][t]["metrics"]
        rows = lambda d: sorted((x["item_id"], x["output"], json.dumps(x["scores"], sort_keys=True))  # noqa: E731
                                for x in map(json.loads, samples_file(d, t).read_text().splitlines()))
        assert rows(run_dir) == rows(one_dir)
