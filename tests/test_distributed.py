"""torchrun with 2 CPU processes (gloo): the same results as one process, each rank writes its
own part file, and a run resumed with a different number of processes reuses every item."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.helpers import PLUGIN_PATH, REPO, cli_env, latest_results, run_file

TASKS = str(PLUGIN_PATH / "fbtest_plugin" / "tasks")


def _args(out, log):
    return ["run", "--model", "slow-counting", "--model_args", f"calls_log={log}", "--task", "convlite,genlite",
            "--dataset", "mini", "--limit", "8", "--batch_size", "3", "--output_path", str(out), "--include_path", TASKS]


@pytest.mark.skipif(shutil.which("torchrun") is None and not (REPO / ".venv/bin/torchrun").exists(),
                    reason="torchrun not installed (pip install torch)")
def test_two_ranks_equal_one_and_resume_across_world_sizes(tmp_path):
    env = cli_env()
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    log = tmp_path / "calls.log"
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "facebench",
                          *_args(tmp_path / "two", log)], env=env, cwd=str(REPO), capture_output=True, text=True,
                         timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    run_dir = tmp_path / "two" / "slow-counting_mini"
    [stamp_dir] = list((run_dir / "parts").iterdir())  # parts are named after the run's own stamp
    assert stamp_dir.name == latest_results(run_dir)["run_id"]
    parts = sorted(p.name for p in stamp_dir.iterdir())
    assert parts == [f"predictions_{t}.rank{r}-of-2.jsonl" for t in ("convlite", "genlite") for r in (0, 1)]
    pids = {line.split()[0] for line in log.read_text().splitlines()}
    assert len(pids) == 2  # both ranks did model work
    n_calls_two = len(log.read_text().splitlines())

    # one process in a fresh cache: identical results
    env1 = dict(env, FACEBENCH_CACHE_DIR=str(tmp_path / "cache1"))
    one = subprocess.run([sys.executable, "-m", "facebench", *_args(tmp_path / "one", log)], env=env1,
                         cwd=str(REPO), capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    r2 = latest_results(run_dir)
    r1 = latest_results(tmp_path / "one" / "slow-counting_mini")
    for t in ("convlite", "genlite"):
        assert r1["tasks"][t]["metrics"] == r2["tasks"][t]["metrics"]
        rows = lambda d: sorted(map(json.loads, run_file(d, "samples", t).read_text().splitlines()),  # noqa: E731
                                key=lambda x: x["item_id"])
        a, b = rows(run_dir), rows(tmp_path / "one" / "slow-counting_mini")
        assert [(x["item_id"], x["output"], x["scores"]) for x in a] == [(x["item_id"], x["output"], x["scores"]) for x in b]

    # resume the 2-process run with 1 process on the same cache: no model call at all
    before = len(log.read_text().splitlines())
    again = subprocess.run([sys.executable, "-m", "facebench", *_args(tmp_path / "two", log)], env=env,
                           cwd=str(REPO), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(log.read_text().splitlines()) == before
    assert n_calls_two > 0


def test_fid_features_are_computed_on_every_rank_and_gathered(tmp_path):
    """Under torchrun each rank extracts the Inception features of its own shard's images; rank 0
    reads them back (features, not images, are gathered) and the FID equals one process's."""
    from tiny_metric_models import build_random_inception

    weights = build_random_inception(tmp_path / "w")["torchscript"]
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "genfid.yaml").write_text(
        "task: genfid\nkind: generation\ndataset: mini\nprompt: '{caption}'\n"
        "generation: {n: 1, height: 64, width: 64}\n"
        f"metrics:\n  - metric: fid\n    args: {{extractor: inception, mode: clean, weights: '{weights}'}}\n")
    args = ["run", "--model", "dummy", "--task", "genfid", "--dataset", "mini", "--limit", "6",
            "--include_path", str(tasks)]
    env = cli_env()
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "facebench",
                          *args, "--output_path", str(tmp_path / "two")], env=env, cwd=str(REPO),
                         capture_output=True, text=True, timeout=900)
    assert two.returncode == 0, two.stderr[-3000:]
    feats = list((tmp_path / "cache" / "fid_features").rglob("*.npy"))
    assert len(feats) == 6  # one cached feature row per generated image, written by the ranks
    env1 = dict(env, FACEBENCH_CACHE_DIR=str(tmp_path / "cache1"))
    one = subprocess.run([sys.executable, "-m", "facebench", *args, "--output_path", str(tmp_path / "one")],
                         env=env1, cwd=str(REPO), capture_output=True, text=True, timeout=900)
    assert one.returncode == 0, one.stderr[-3000:]
    v2 = latest_results(tmp_path / "two" / "dummy_mini")["tasks"]["genfid"]["metrics"]["fid"]
    v1 = latest_results(tmp_path / "one" / "dummy_mini")["tasks"]["genfid"]["metrics"]["fid"]
    # features of a 3-image batch vs a 6-image batch differ in float32 rounding only
    assert v1["value"] is not None and v2["value"] == pytest.approx(v1["value"], rel=1e-6)
