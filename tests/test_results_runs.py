"""Runs are immutable and never mix: every run writes its own results file; readers pick, per
model + dataset + task, the latest complete run; partial runs never stand in for full ones."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path


from facebench.report.loader import load_run, load_runs
from facebench.runner import RunConfig, run
from tests.helpers import PLUGIN_PATH, REPO, cli_env, make_local_dataset, results_files, run_cli

TASKS = str(PLUGIN_PATH / "fbtest_plugin" / "tasks")


def _cfg(tmp_path: Path, **kw):
    base = dict(model="dummy", tasks=["convlite"], dataset="mini", limit=6, output_path=tmp_path / "out",
                include_path=[TASKS])
    return RunConfig(**{**base, **kw})


def test_limit_after_a_full_run_never_replaces_it(tmp_path):
    full = run(_cfg(tmp_path, limit=None, tasks=["convlite"]))
    n_full = full.results["tasks"]["convlite"]["n_items"]
    part = run(_cfg(tmp_path, limit=2))
    files = results_files(full.run_dir)
    assert len(files) == 2 and full.results_file != part.results_file  # two files, nothing overwritten
    assert json.loads(full.results_file.read_text())["tasks"]["convlite"]["n_items"] == n_full
    assert part.results["partial"] == ["--limit 2"] and part.results["status"] == "partial"
    assert full.results["status"] == "complete" and full.results["partial"] is None
    # readers take the full run; the partial one only on request
    picked = load_run(full.run_dir)
    assert picked.tasks["convlite"].n_items == n_full
    # on request the partial run shows as its own, marked row (its sample set differs)
    rows = load_runs([full.run_dir], include_partial=True)
    assert sorted((r.tasks["convlite"].n_items, tuple(r.info["partial"])) for r in rows) == [
        (part.results["tasks"]["convlite"]["n_items"], ("--limit 2",)), (n_full, ())]
    # a dry run is partial too and keeps the stored scores untouched
    before = full.results_file.read_bytes()
    run(_cfg(tmp_path, limit=None, dry_run=True))
    assert full.results_file.read_bytes() == before
    assert load_run(full.run_dir).tasks["convlite"].metrics["exact_match"].value is not None


def test_each_run_records_exactly_its_own_tasks_and_args(tmp_path):
    a = run(_cfg(tmp_path, tasks=["convlite"]))
    b = run(_cfg(tmp_path, tasks=["genlite"], seed=3))
    ra, rb = (json.loads(x.results_file.read_text()) for x in (a, b))
    assert set(ra["tasks"]) == {"convlite"} and set(rb["tasks"]) == {"genlite"}
    assert ra["config"]["seed"] == 0 and rb["config"]["seed"] == 3
    # the folder as a whole holds both tasks, each from the run that made it (both --limit 6: partial)
    row = load_run(a.run_dir, include_partial=True)
    assert set(row.tasks) == {"convlite", "genlite"}
    assert row.tasks["convlite"].run_id == ra["run_id"] and row.tasks["genlite"].run_id == rb["run_id"]


def test_two_concurrent_runs_of_different_tasks_lose_nothing(tmp_path):
    env = cli_env()
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    cmds = [[sys.executable, "-m", "facebench", "run", "--model", "dummy", "--task", t, "--dataset", "mini",
             "--output_path", str(tmp_path / "out"), "--include_path", TASKS, "--batch_size", "2"]
            for t in ("convlite", "genlite")]
    procs = [subprocess.Popen(c, env=env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in cmds]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    run_dir = tmp_path / "out" / "dummy_mini"
    files = results_files(run_dir)
    assert len(files) == 2
    assert sorted(t for f in files for t in json.loads(f.read_text())["tasks"]) == ["convlite", "genlite"]
    row = load_run(run_dir)
    assert set(row.tasks) == {"convlite", "genlite"} and all(t.complete for t in row.tasks.values())


def test_concurrent_image_placement_never_collides(tmp_path):
    """Several processes materialising the same images into one folder (temp names are unique)."""
    from facebench.cache import BlobStore
    from facebench.runner.predict import materialize_images

    blobs = BlobStore(tmp_path / "blobs")
    digests = [blobs.put(bytes([i]) * 100) for i in range(6)]
    code = ("import sys; from pathlib import Path; from facebench.cache import BlobStore; "
            "from facebench.runner.predict import materialize_images as m; b = BlobStore(sys.argv[1]); "
            "[m(b, sys.argv[3:], Path(sys.argv[2]), 'doc') for _ in range(200)]")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "blobs"), str(tmp_path / "dest"), *digests],
                              stderr=subprocess.PIPE) for _ in range(4)]
    errs = [p.communicate(timeout=300)[1].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    placed = materialize_images(blobs, digests, tmp_path / "dest", "doc")
    assert [p.read_bytes() for p in placed] == [bytes([i]) * 100 for i in range(6)]
    assert not list((tmp_path / "dest").glob(".*"))


def test_another_dataset_with_the_same_folder_name_never_mixes(tmp_path):
    d1 = make_local_dataset(tmp_path / "a" / "faces", n=4)
    d2 = make_local_dataset(tmp_path / "b" / "faces", n=6)
    r1 = run(_cfg(tmp_path, dataset=str(d1), limit=None))
    r2 = run(_cfg(tmp_path, dataset=str(d2), limit=None))
    assert r1.run_dir == r2.run_dir  # same folder name "dummy_faces"
    rows = load_runs([r1.run_dir])
    assert len(rows) == 2  # two datasets (different content hashes): two rows, never merged
    by_n = sorted(r.tasks["convlite"].n_items for r in rows)
    assert by_n == [4, 6]
    hashes = {r.tasks["convlite"].dataset_hash for r in rows}
    assert len(hashes) == 2


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        import facebench.images as im

        im._UMASK = None
        out = run(_cfg(tmp_path))
    finally:
        os.umask(old)
        im._UMASK = None
    for f in [out.results_file, *out.run_dir.glob("*.jsonl")]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f


def test_results_carry_no_absolute_path(tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        out = run(_cfg(tmp_path, tasks=["convlite", "genlite"], output_path="out"))
    finally:
        os.chdir(cwd)
    cache = os.environ["FACEBENCH_CACHE_DIR"]
    for f in [tmp_path / out.results_file, *(tmp_path / out.run_dir).glob("*.jsonl")]:
        text = f.read_text()
        assert str(tmp_path) not in text and cache not in text, f.name
    rows = [json.loads(x) for x in sorted((tmp_path / out.run_dir).glob("samples_convlite_*.jsonl"))[0].read_text().splitlines()]
    assert all(r["source_image"].startswith("images/test/") for r in rows)


def test_readme_first_command_leaves_tracked_files_alone(tmp_path):
    """The README's main job writes only under runs/ (ignored) and prints the leaderboard."""
    r = run_cli("run", "--model", "dummy", "--task", "convlite", "--dataset", "mini", "--limit", "2",
                "--include_path", TASKS, "--output_path", str(tmp_path / "runs"))
    assert r.returncode == 0, r.stderr[-1500:]
    lb = run_cli("leaderboard", str(tmp_path / "runs"), "--include_partial")
    assert lb.returncode == 0 and "dummy" in lb.stdout
    assert "Reported in" in lb.stdout  # the paper rows are there too
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "/runs/" in ignored


def test_jsonl_keeps_one_record_per_line_whatever_the_answer_holds(tmp_path):
    """A random model's answer held U+2028/U+0085: JSON leaves them unescaped with non-ASCII kept,
    and str.splitlines() (editors, other tools) breaks the record there."""
    from facebench.runner.results import read_jsonl, write_jsonl

    answers = ["a\u2028b", "c\u0085d\u2029e", "f\rg\x1ch", "é ünïcode"]
    path = tmp_path / "p.jsonl"
    write_jsonl(path, [{"output": a} for a in answers])
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) == len(answers)
    assert [r["output"] for r in read_jsonl(path)] == answers
    assert "é ünïcode" in text  # still readable UTF-8
