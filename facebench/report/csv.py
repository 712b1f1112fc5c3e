"""The leaderboard's numbers in long CSV form: one row per (run, metric) and per (run, metric,
attribute family, attribute value). Written with the standard library (byte-deterministic, full
float precision); read it back with ``pandas.read_csv(path, keep_default_na=False, na_values=[""])``
or ``read_csv`` below."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Sequence

from facebench.images import atomic_write_text
from facebench.report.loader import FLAT_FIELDS, RunRecord, flat_records


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def render_csv(runs: Sequence[RunRecord], attributes: bool = True) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FLAT_FIELDS)
    for rec in flat_records(runs, attributes):
        w.writerow([_fmt(rec[f]) for f in FLAT_FIELDS])
    return buf.getvalue()


def write_csv(runs: Sequence[RunRecord], path: str | Path, attributes: bool = True) -> None:
    atomic_write_text(path, render_csv(runs, attributes))


def read_csv(path: str | Path):
    """The CSV as a pandas DataFrame with empty strings kept as "" for text columns."""
    import pandas as pd

    df = pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in
                                                             ("value", "ci_lo", "ci_hi", "n", "n_failed")})
    if df["higher_is_better"].dtype != bool:  # pandas parses true/false itself when the column is clean
        df["higher_is_better"] = df["higher_is_better"].map({"true": True, "false": False, True: True, False: False})
    return df
