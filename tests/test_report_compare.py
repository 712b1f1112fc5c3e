"""The regression gate: exit 1 on a planted regression, 0 on an identical run, 2 on bad input."""
from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest
from test_report_synthetic import make_run

from facebench.report.commands import register
from facebench.report.compare import compare_runs, parse_tolerances
from facebench.report.loader import ResultsError, load_run


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="facebench")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture()
def base(tmp_path):
    return make_run(tmp_path / "results", "base", quality=0.7, seed=1, n_docs=40)


def _degrade(run_dir, key: str, task: str, by: float) -> None:
    """Plant a regression: lower every per-item score of ``key`` by ``by`` and update the aggregate."""
    path = run_dir / f"samples_{task}.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    for r in recs:
        r["scores"][key] = r["scores"][key] - by
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    res = json.loads((run_dir / "results.json").read_text())
    m = res["tasks"][task]["metrics"][key]
    m["value"] -= by
    m["ci"] = [m["ci"][0] - by, m["ci"][1] - by]
    (run_dir / "results.json").write_text(json.dumps(res))


def test_identical_run_passes(base, capsys):
    same = shutil.copytree(base, base.parent / "same")
    assert cli(["compare", str(same), str(base)]) == 0
    out = capsys.readouterr().out
    assert "| vqa | vqascore_cf5 ↑ |" in out and "new ≈ base, p=1.00" in out
    assert "OK: no metric got worse" in out and "REGRESSION" not in out


def test_planted_regression_fails(base, capsys):
    new = shutil.copytree(base, base.parent / "new")
    _degrade(new, "vqascore_cf5", "vqa", 0.05)
    assert cli(["compare", str(new), str(base)]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("| vqa | vqascore_cf5"))
    assert "-0.050" in line and "base > new, p<0.001" in line and "**REGRESSION**" in line
    assert "REGRESSION: 1 metric(s)" in out
    # a looser tolerance for that metric lets it pass; --metrics limits the gate to other metrics
    assert cli(["compare", str(new), str(base), "--tolerance_for", "vqascore_cf5=0.06"]) == 0
    assert cli(["compare", str(new), str(base), "--metrics", "fid,vqa:vqascore_lv"]) == 0
    assert cli(["compare", str(new), str(base), "--test", "permutation"]) == 1


def test_worse_within_noise_is_not_a_regression(base):
    """Worse by more than the tolerance but not significant (one item moved): no failure."""
    new = shutil.copytree(base, base.parent / "noisy")
    path = new / "samples_vqa.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    recs[0]["scores"]["vqascore_cf5"] -= 0.9
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    res = json.loads((new / "results.json").read_text())
    res["tasks"]["vqa"]["metrics"]["vqascore_cf5"]["value"] -= 0.9 / 40
    (new / "results.json").write_text(json.dumps(res))
    out = compare_runs(load_run(new), load_run(base))
    row = next(r for r in out.rows if r.key == "vqascore_cf5")
    assert row.delta == pytest.approx(-0.0225) and row.test.p_value > 0.05
    assert row.verdict == "worse, within noise" and out.exit_code() == 0


def test_set_level_metric_uses_ci(base, tmp_path):
    """FID has no per-item scores: worse beyond tolerance AND outside the base CI fails."""
    worse = make_run(tmp_path / "results", "worse", quality=0.7, seed=1, n_docs=40, fid=70.0)  # base FID 60 ± 4
    res = compare_runs(load_run(worse), load_run(base), tolerance_for=parse_tolerances(["fid=2.0"]))
    row = next(r for r in res.rows if r.key == "fid")
    assert row.verdict == "REGRESSION" and row.evidence == "outside base CI" and res.exit_code() == 1
    near = make_run(tmp_path / "results", "near", quality=0.7, seed=1, n_docs=40, fid=63.0)  # inside the CI
    res = compare_runs(load_run(near), load_run(base), tolerance_for={"fid": 2.0})
    assert next(r for r in res.rows if r.key == "fid").verdict == "worse, within noise" and res.exit_code() == 0
    better = make_run(tmp_path / "results", "better", quality=0.7, seed=1, n_docs=40, fid=40.0)
    res = compare_runs(load_run(better), load_run(base), tolerance_for={"fid": 2.0})
    assert next(r for r in res.rows if r.key == "fid").verdict == "better"


def test_missing_metric_is_reported_and_optionally_fails(base, capsys):
    new = shutil.copytree(base, base.parent / "nokey")
    res = json.loads((new / "results.json").read_text())
    res["tasks"]["vqa"]["metrics"]["vlm_score"] = {"value": None, "skipped": "judge offline", "higher_is_better": True}
    (new / "results.json").write_text(json.dumps(res))
    assert cli(["compare", str(new), str(base)]) == 0
    assert "missing: vqa:vlm_score" in capsys.readouterr().out
    assert cli(["compare", str(new), str(base), "--fail_on_missing"]) == 1


def test_bad_input_exits_2(base, tmp_path, capsys):
    assert cli(["compare", str(tmp_path / "nope"), str(base)]) == 2
    assert "does not exist" in capsys.readouterr().err
    other = make_run(tmp_path / "results", "other", dataset="unif2ace", seed=3)
    assert cli(["compare", str(other), str(base)]) == 2
    assert "different datasets" in capsys.readouterr().err
    assert cli(["compare", str(base), str(base), "--tolerance_for", "fid"]) == 2
    assert cli(["compare", str(base), str(base), "--metrics", "no_such_metric"]) == 2
    with pytest.raises(ResultsError):
        parse_tolerances(["fid=-1"])


def test_paired_test_joins_on_item_id(base, tmp_path):
    """Items are matched by item_id, not by line order: a shuffled samples file changes nothing."""
    new = shutil.copytree(base, base.parent / "shuffled")
    path = new / "samples_vqa.jsonl"
    lines = path.read_text().splitlines()
    np.random.default_rng(0).shuffle(lines)
    path.write_text("\n".join(lines) + "\n")
    res = compare_runs(load_run(new), load_run(base))
    row = next(r for r in res.rows if r.key == "vqascore_cf5")
    assert row.test.n == 40 and row.test.p_value == pytest.approx(1.0) and row.verdict == "same"
