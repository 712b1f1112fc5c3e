"""The floor (dummy) and ceiling (oracle) recorded beside every metric are measured, with the
run's own settings, as real runs of those models."""
from __future__ import annotations

import pytest

from facebench.errors import FacebenchError
from facebench.runner import RunConfig, run
from facebench.runner.summary import make_table
from tests.helpers import latest_results


def test_bounds_are_the_dummy_and_oracle_runs_with_the_same_settings(tmp_path):
    out = tmp_path / "out"
    res = run(RunConfig(model="retrieval", tasks=["conv"], dataset="mini", limit=12, seed=3, output_path=out,
                        bounds=True)).results
    metrics = res["tasks"]["conv"]["metrics"]
    floor_run = latest_results(out / "dummy_mini")
    ceiling_run = latest_results(out / "oracle_mini")
    for run_doc in (floor_run, ceiling_run):  # same settings as the run they bound
        assert run_doc["config"]["limit"] == 12 and run_doc["config"]["seed"] == 3
    exact = metrics["exact_match"]
    b = exact["bounds"]
    assert b["floor"] == floor_run["tasks"]["conv"]["metrics"]["exact_match"]["value"]
    assert b["ceiling"] == ceiling_run["tasks"]["conv"]["metrics"]["exact_match"]["value"]
    assert (b["floor_model"], b["ceiling_model"]) == ("dummy", "oracle")
    assert b["floor"] <= exact["value"] <= b["ceiling"] and b["ceiling"] == 1.0
    both = {k for k, m in floor_run["tasks"]["conv"]["metrics"].items() if m.get("value") is not None} & \
        {k for k, m in ceiling_run["tasks"]["conv"]["metrics"].items() if m.get("value") is not None}
    assert {k for k, m in metrics.items() if "bounds" in m} == {k for k in both if metrics[k].get("value") is not None}
    assert "conv_embed" in both
    table = make_table(res)
    row = next(line for line in table.splitlines() if line.startswith("| conv | exact_match |"))
    assert "floor – ceiling" in table and row.endswith("| 0.0000 – 1.0000 |")  # dummy 0, oracle 1


def test_bounds_off_by_default_in_the_api_and_refused_where_the_truth_is_unknown(tmp_path):
    res = run(RunConfig(model="dummy", tasks=["conv"], dataset="mini", limit=4, output_path=tmp_path)).results
    assert all("bounds" not in m for m in res["tasks"]["conv"]["metrics"].values())
    with pytest.raises(FacebenchError, match="--bounds needs"):
        run(RunConfig(model="dummy", tasks=["conv"], dataset="mini", limit=4, output_path=tmp_path, bounds=True,
                      mode="predict"))
