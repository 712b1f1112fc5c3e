"""Bad input: a one-line clear error on stderr, a non-zero exit, no traceback, and no results
file written (or the previous one left intact)."""
from __future__ import annotations

import json

import pytest

from tests.helpers import PLUGIN_PATH, make_local_dataset, results_files, run_cli

TASKS = str(PLUGIN_PATH / "fbtest_plugin" / "tasks")


def _assert_clean_error(r, needle: str) -> None:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("facebench: error:") and needle in last, r.stderr[-1000:]


def _no_results(out):
    assert not list(out.rglob("results_*.json")) and not list(out.rglob("*.jsonl"))


@pytest.mark.parametrize("args, needle", [
    (["--model", "retreival", "--task", "conv"], "did you mean 'retrieval'"),
    (["--model", "dummy", "--task", "cnov"], "unknown task 'cnov'"),
    (["--model", "needs-missing", "--task", "convlite"], "missing optional dependency 'facebench_not_installed_backend'"),
    (["--model", "dummy", "--task", "convlite", "--metric_args", "nosuch.x=1"], "--metric_args names ['nosuch']"),
    (["--model", "dummy", "--task", "conv", "--dataset", "unif2ace"], "cannot load UniF²ace-130K"),
    (["--model", "dummy", "--task", "conv", "--dataset", "./no/such/dir"], "does not exist"),
    (["--model", "dummy", "--task", "convlite", "--limit", "0"], "--limit must be a whole number of samples"),
])
def test_bad_arguments(tmp_path, args, needle):
    r = run_cli("run", *args, "--output_path", str(tmp_path), "--include_path", TASKS)
    _assert_clean_error(r, needle)
    _no_results(tmp_path)


def test_missing_dependency_names_the_extra(tmp_path):
    from facebench.errors import MissingDependencyError

    assert "pip install 'facebench[judge]'" in str(MissingDependencyError("openai"))
    assert "pip install 'facebench[hf]'" in str(MissingDependencyError("transformers"))


def test_unknown_metric_in_task_yaml(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "weird.yaml").write_text(
        "task: weird\nkind: understanding\nmode: vqa\nprompt: '{question}'\nmetrics: [exact_mtch]\n")
    r = run_cli("run", "--model", "dummy", "--task", "weird", "--dataset", "mini", "--limit", "2",
                "--output_path", str(tmp_path / "out"), "--include_path", str(tmp_path / "tasks"))
    _assert_clean_error(r, "unknown metric 'exact_mtch'; did you mean 'exact_match'")


def test_malformed_yaml(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "bad.yaml").write_text("task: bad\nkind: [generation\n")
    r = run_cli("run", "--model", "dummy", "--task", "bad", "--output_path", str(tmp_path / "out"),
                "--include_path", str(tmp_path / "tasks"))
    _assert_clean_error(r, "malformed YAML")


def test_corrupt_image(tmp_path):
    ds = make_local_dataset(tmp_path / "ds")
    (ds / "images" / "3.png").write_bytes((ds / "images" / "3.png").read_bytes()[:40])  # truncated PNG
    r = run_cli("run", "--model", "retrieval", "--task", "convlite", "--dataset", str(ds),
                "--output_path", str(tmp_path / "out"), "--include_path", TASKS)
    _assert_clean_error(r, "corrupt or unreadable")
    _no_results(tmp_path / "out")


def test_empty_prompt(tmp_path):
    ds = make_local_dataset(tmp_path / "ds")
    rows = [json.loads(line) for line in (ds / "test.jsonl").read_text().splitlines()]
    rows[2]["caption"] = "   "
    (ds / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run_cli("run", "--model", "dummy", "--task", "genlite", "--dataset", str(ds),
                "--output_path", str(tmp_path / "out"), "--include_path", TASKS)
    _assert_clean_error(r, "doc d2: empty prompt")
    _no_results(tmp_path / "out")


def test_path_traversal_in_dataset(tmp_path):
    ds = make_local_dataset(tmp_path / "ds")
    rows = [json.loads(line) for line in (ds / "test.jsonl").read_text().splitlines()]
    rows[0]["image"] = "../../../../etc/passwd"
    (ds / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run_cli("run", "--model", "dummy", "--task", "convlite", "--dataset", str(ds),
                "--output_path", str(tmp_path / "out"), "--include_path", TASKS)
    _assert_clean_error(r, "escapes the dataset folder")


def test_corrupt_byo_image(tmp_path):
    byo = tmp_path / "imgs"
    byo.mkdir()
    (byo / "mini-test-0001.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    r = run_cli("run", "--model", "mine", "--task", "genlite", "--dataset", "mini", "--limit", "2", "--mode", "score",
                "--images", str(byo), "--output_path", str(tmp_path / "out"), "--include_path", TASKS)
    _assert_clean_error(r, "corrupt or unreadable")


def test_previous_results_survive_a_failed_rerun(tmp_path):
    ok = run_cli("run", "--model", "dummy", "--task", "convlite", "--dataset", "mini", "--limit", "2",
                 "--output_path", str(tmp_path), "--include_path", TASKS)
    assert ok.returncode == 0, ok.stderr
    [res] = results_files(tmp_path / "dummy_mini")
    before = res.read_bytes()
    bad = run_cli("run", "--model", "dummy", "--task", "convlite,nosuchtask", "--dataset", "mini", "--limit", "2",
                  "--output_path", str(tmp_path), "--include_path", TASKS)
    assert bad.returncode != 0
    assert res.read_bytes() == before and results_files(tmp_path / "dummy_mini") == [res]
