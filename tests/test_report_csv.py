"""The long CSV round-trips through pandas: every number and text field comes back unchanged."""
from __future__ import annotations

import math

import pytest
from test_report_synthetic import make_results_tree

from facebench.report.csv import read_csv, render_csv, write_csv
from facebench.report.loader import FLAT_FIELDS, flat_records, load_reported, load_runs

pd = pytest.importorskip("pandas")


def _same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or b == "" or (isinstance(b, float) and math.isnan(b))
    if isinstance(a, float):
        return float(b) == a  # repr() keeps every bit of a float
    return a == b or str(a) == str(b)


def test_csv_round_trip(tmp_path):
    runs = load_reported() + load_runs([make_results_tree(tmp_path)])
    path = tmp_path / "lb.csv"
    write_csv(runs, path)
    df = read_csv(path)
    recs = flat_records(runs)
    assert list(df.columns) == list(FLAT_FIELDS)
    assert len(df) == len(recs)
    for i, rec in enumerate(recs):
        got = df.iloc[i]
        for f in FLAT_FIELDS:
            assert _same(rec[f], None if (isinstance(got[f], float) and math.isnan(got[f])) else got[f]), (i, f, rec[f], got[f])
    # spot checks: a paper number, a skip reason with commas/semicolons, an attribute row
    uni = df[(df.model == "UniF²ace") & (df.metric == "fid")]
    assert uni.value.tolist() == [66.005] and uni.source_detail.tolist() == ["arXiv 2503.08120v1, Table 1"]
    skipped = df[(df.model == "alpha") & (df.metric == "desc_gpt")]
    assert skipped.value.isna().all() and skipped.skipped.str.contains("OPENAI_API_KEY; fix:").all()
    attr = df[(df.model == "beta") & (df.metric == "vqascore_cf5") & (df.attribute == "hair_color")]
    assert set(attr.attribute_value) == {"all", "black", "blond", "brown"}
    assert df.higher_is_better.dtype == bool and not df[df.metric == "fid"].higher_is_better.any()


def test_csv_is_deterministic(tmp_path):
    runs = load_runs([make_results_tree(tmp_path)])
    assert render_csv(runs) == render_csv(load_runs([tmp_path / "results"]))
