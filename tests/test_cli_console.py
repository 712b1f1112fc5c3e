"""The CLI as a user runs it (subprocesses): the end-of-run table, logs off a terminal, your own
plugin from the project folder, adapter contract errors, lm-eval flags, `ls` tables."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PLUGIN_PATH, cli_env, latest_results, run_cli

TASKS = str(PLUGIN_PATH / "fbtest_plugin" / "tasks")

PROJECT_PLUGIN = '''
from typing import ClassVar
from facebench.adapters.dummy import DummyAdapter


class MyUMM(DummyAdapter):
    name: ClassVar[str] = "my-umm"
    extra_model_args: ClassVar[tuple[str, ...]] = ("max_new_tokens",)

    def answer(self, reqs):
        return [f"yes {r.params.get('max_new_tokens')}" for r in reqs]


class OneImageNotAList(DummyAdapter):
    name: ClassVar[str] = "one-image"

    def generate_images(self, reqs):
        return [imgs[0] for imgs in super().generate_images(reqs)]  # breaks the contract: [image] per request


class AnswersAsDicts(DummyAdapter):
    name: ClassVar[str] = "dict-answers"

    def answer(self, reqs):
        return [{"text": a} for a in super().answer(reqs)]  # breaks the contract: one string per request


class NoCapabilities(DummyAdapter):
    name: ClassVar[str] = "no-caps"
    capabilities: ClassVar[frozenset] = frozenset()
'''


@pytest.fixture()
def project(tmp_path):
    """A project folder with its own adapter module, as a researcher has it (not installed)."""
    root = tmp_path / "proj"
    (root / "my_pkg").mkdir(parents=True)
    (root / "my_pkg" / "__init__.py").write_text("")
    (root / "my_pkg" / "mod.py").write_text(PROJECT_PLUGIN)
    env = cli_env()
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    return root, env


def _cli_in(cwd: Path, env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The `facebench` console script (unlike `python -m`, it does not put the working directory on sys.path)."""
    script = Path(sys.executable).parent / "facebench"
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "facebench"]
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(PLUGIN_PATH)}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=str(cwd), env=env, timeout=timeout)


def test_end_of_run_table_is_this_runs_markdown_with_footnotes(tmp_path):
    out = tmp_path / "o"
    first = run_cli("run", "--model", "dummy", "--task", "convlite", "--dataset", "mini", "--limit", "2",
                    "--output_path", str(out), "--include_path", TASKS)
    assert first.returncode == 0, first.stderr[-1500:]
    r = run_cli("run", "--model", "dummy", "--task", "vqa", "--dataset", "mini", "--limit", "2", "--seed", "3",
                "--output_path", str(out), "--include_path", TASKS)
    assert r.returncode == 0, r.stderr[-1500:]
    lines = r.stdout.splitlines()
    assert lines[0].startswith("model: dummy (dummy-") and "limit: 2" in lines[0] and "seed: 3" in lines[0]
    assert "judge: task default" in lines[0]
    assert "| Task | Metric | Value | 95% CI | n | failed |" in lines
    rows = [x for x in lines if x.startswith("| vqa |")]
    assert rows and not any("convlite" in x for x in lines)  # only this run's tasks
    skipped = [x for x in rows if re.search(r"\| – \[\d+\] \|", x)]
    assert skipped, rows
    notes = [x for x in lines if re.match(r"\[\d+\] ", x)]
    assert notes and all(len(n) < 330 for n in notes) and any("fix:" in n for n in notes)
    assert len({n.split("] ", 1)[1] for n in notes}) == len(notes)  # one note per distinct reason
    # each skip is printed once (table), not also as a warning line
    reason = notes[0].split("] ", 1)[1].split(";")[0][:40]
    assert reason not in r.stderr
    path = Path(lines[-1].removeprefix("results: "))
    assert lines[-1].startswith("results: ") and path.is_file() and path.name.startswith("results_")


def test_progress_lines_off_a_terminal(tmp_path):
    env = cli_env()
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    env["FACEBENCH_PROGRESS_EVERY"] = "0"
    r = run_cli("run", "--model", "slow-counting", "--model_args", "delay=0.05", "--task", "convlite",
                "--dataset", "mini", "--limit", "3", "--batch_size", "2", "--output_path", str(tmp_path / "o"),
                "--include_path", TASKS, env=env)
    assert r.returncode == 0, r.stderr[-1500:]
    assert re.search(r"convlite: start \(3 samples of mini/test\)", r.stderr)
    assert re.search(r"convlite: predict: \d+/\d+ \(\d+%\) batches, [\d.]+ batches/s, ETA \d+", r.stderr), r.stderr[-2000:]
    assert re.search(r"convlite: (\d+) items: 0 from the cache, \1 computed, 0 failed", r.stderr)
    assert re.search(r"convlite: done in [\d.]+s", r.stderr)
    quiet = run_cli("run", "--model", "dummy", "--task", "convlite", "--dataset", "mini", "--limit", "1",
                    "--output_path", str(tmp_path / "o"), "--include_path", TASKS, "--verbosity", "WARNING", env=env)
    assert quiet.returncode == 0 and "INFO" not in quiet.stderr


def test_your_own_plugin_from_the_project_folder_has_one_name(project):
    root, env = project
    r = _cli_in(root, env, "run", "--model", "my_pkg.mod:MyUMM", "--task", "convlite", "--dataset", "mini",
                "--limit", "1", "--include_path", TASKS)
    assert r.returncode == 0, r.stderr[-1500:]
    assert (root / "runs" / "my-umm_mini").is_dir()  # named after the adapter's `name`, as evaluate() names it
    res = latest_results(root / "runs" / "my-umm_mini")
    assert res["model"]["name"] == "my-umm"
    missing = _cli_in(root, env, "run", "--model", "nope_pkg.mod:X", "--task", "convlite", "--dataset", "mini",
                      "--include_path", TASKS)
    assert missing.returncode == 2 and "fix:" in missing.stderr.strip().splitlines()[-1]


def test_adapter_contract_errors_exit_non_zero_and_say_which_contract(project):
    root, env = project
    r = _cli_in(root, env, "run", "--model", "my_pkg.mod:OneImageNotAList", "--task", "genlite", "--dataset", "mini",
                "--limit", "2", "--include_path", TASKS)
    assert r.returncode != 0, r.stderr[-1500:]
    last = r.stderr.strip().splitlines()[-1]  # the first batch is checked: one line naming the contract
    assert "does not follow the adapter contract" in last and "list of request.n PIL images" in last
    assert "expected 2 images" in last and "Traceback" not in r.stderr
    assert "run the predict phase" not in r.stderr + r.stdout
    r = _cli_in(root, env, "run", "--model", "my_pkg.mod:AnswersAsDicts", "--task", "convlite", "--dataset", "mini",
                "--limit", "1", "--include_path", TASKS)
    assert r.returncode != 0 and "answer must return one string per request" in r.stderr.strip().splitlines()[-1]
    r = _cli_in(root, env, "run", "--model", "my_pkg.mod:NoCapabilities", "--task", "convlite", "--dataset", "mini",
                "--limit", "1", "--include_path", TASKS)
    assert r.returncode == 2 and "declares no capabilities" in r.stderr


def test_gen_kwargs_beat_the_task_yaml_and_shadowed_model_args_warn(project):
    root, env = project
    args = ["run", "--model", "my_pkg.mod:MyUMM", "--task", "conv", "--dataset", "mini", "--limit", "1",
            "--model_args", "max_new_tokens=512"]
    r = _cli_in(root, env, *args)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "overridden by the task's generation settings" in r.stderr and "--gen_kwargs max_new_tokens=512" in r.stderr
    r = _cli_in(root, env, *args, "--gen_kwargs", "max_new_tokens=7")
    assert r.returncode == 0, r.stderr[-1500:]
    res = latest_results(root / "runs" / "my-umm_mini")
    assert res["tasks"]["conv"]["generation"]["params"]["max_new_tokens"] == 7
    assert res["config"]["gen_kwargs"] == {"max_new_tokens": 7}
    samples = root / "runs" / "my-umm_mini" / res["tasks"]["conv"]["files"]["samples"]
    assert {json.loads(x)["output"] for x in samples.read_text().splitlines()} == {"yes 7"}


def test_lm_eval_flags(tmp_path):
    r = run_cli("run", "--model", "dummy", "--task", "convlite", "--dataset", "mini", "--limit", "0.02",
                "--predict_only", "--log_samples", "--show_config", "--output_path", str(tmp_path / "o"),
                "--include_path", TASKS)
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.startswith("# facebench --show_config") and "convlite:" in r.stdout
    assert "--limit is for testing only" in r.stderr
    res = latest_results(tmp_path / "o" / "dummy_mini")
    assert res["config"]["mode"] == "predict" and res["status"] == "partial"
    assert "--mode predict (not scored)" in res["partial"] and res["tasks"]["convlite"]["dataset"]["n_samples"] == 3
    bad = run_cli("run", "--model", "dummy", "--task", "convlite", "--batch_size", "banana")
    assert bad.returncode == 2 and "expected a whole number or 'auto'" in bad.stderr


def test_simple_evaluate_takes_string_args_and_returns_samples(tmp_path):
    import facebench

    res = facebench.simple_evaluate(model="dummy", model_args="", tasks="convlite", dataset="mini", limit=1,
                                    log_samples=True, include_path=[TASKS], output_path=tmp_path)
    assert res["samples"]["convlite"] and res["samples"]["convlite"][0]["item_id"].startswith("mini-test-")


def test_ls_tables_name_the_fix(tmp_path):
    from facebench.listing import _deps_hint

    r = run_cli("ls", "models")
    assert r.returncode == 0
    header = r.stdout.splitlines()[0].split()
    assert header[:3] == ["model", "can", "runs"] and "{" not in r.stdout  # a table, no raw dicts
    assert re.search(r"^show-o\s+gen\+und\s+show-o env \((not )?built\)", r.stdout, re.M)
    assert _deps_hint("x", ["torch", "open_clip"], None) == "missing: pip install 'facebench[metrics]'"
    t = run_cli("ls", "tasks", "--include_path", TASKS)
    assert re.search(r"^genlite\s+generation\s+mini\s+attr_probe_acc", t.stdout, re.M)


def test_report_commands_use_the_same_error_prefix(tmp_path):
    r = run_cli("leaderboard", str(tmp_path / "nope"))
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("facebench: error:")


def test_wandb_offline_logs_metrics_and_sample_tables_with_images(tmp_path):
    pytest.importorskip("wandb")
    env = cli_env()
    env.update(WANDB_MODE="offline", WANDB_DIR=str(tmp_path / "wb"), WANDB_SILENT="true")
    (tmp_path / "wb").mkdir()
    r = run_cli("run", "--model", "dummy", "--task", "genlite,convlite", "--dataset", "mini", "--limit", "2",
                "--output_path", str(tmp_path / "o"), "--include_path", TASKS, "--wandb_args", "project=fbtest",
                env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    runs = list((tmp_path / "wb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    tables = {p.name.split("_")[0]: json.loads(p.read_text()) for p in runs[0].rglob("*.table.json")}
    metrics = tables["metrics"]
    assert ["convlite", "exact_match"] in [row[:2] for row in metrics["data"]]
    gen = next(v for k, v in tables.items() if k == "genlite")
    assert "image" in gen["columns"] and list(runs[0].rglob("*.png"))
