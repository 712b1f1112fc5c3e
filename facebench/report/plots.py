"""Matplotlib figures for the report (Agg backend, imported lazily): a bar chart per metric with
CI whiskers, and a heat map of per-attribute scores (models × attribute values)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

from facebench.report.columns import Column, column_decimals
from facebench.report.loader import RunRecord

REPORTED_COLOR = "#b8c2cc"
REPRODUCED_COLOR = "#3b6ea8"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        from facebench.errors import MissingDependencyError

        raise MissingDependencyError("matplotlib", "report", "facebench report plots") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def bar_chart(runs: Sequence[RunRecord], kind: str, col: Column, title: str = "") -> bytes | None:
    """One bar per run with a value for ``col.key``; whiskers = the 95% CI where known.
    Paper-reported bars are grey (no CI), reproduced ones blue. None when no run has a value."""
    pts = [(r, m) for r in runs for m in [r.metrics_of(kind).get(col.key)] if m is not None and m.ok]
    if not pts:
        return None
    plt = _pyplot()
    mixed = len({r.reported for r, _ in pts}) > 1
    labels = [r.label + (" (paper)" if r.reported and mixed else "") for r, _ in pts]
    vals = [m.value for _, m in pts]
    # a set-level estimator (FD) can lie outside its own bootstrap CI: clamp whiskers at the bar
    hi = [max(0.0, m.ci[1] - m.value) if m.ci else 0.0 for _, m in pts]
    colors = [REPORTED_COLOR if r.reported else REPRODUCED_COLOR for r, _ in pts]
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    try:
        x = list(range(len(pts)))
        ax.bar(x, vals, color=colors, width=0.7)
        withci = [(xi, m) for xi, (_, m) in zip(x, pts) if m.ci is not None]
        if withci:  # whiskers only where a CI exists (paper rows have none)
            ax.errorbar([xi for xi, _ in withci], [m.value for _, m in withci],
                        yerr=[[max(0.0, m.value - m.ci[0]) for _, m in withci],
                              [max(0.0, m.ci[1] - m.value) for _, m in withci]],
                        fmt="none", ecolor="#222", elinewidth=1, capsize=3)
        dec = column_decimals(col, vals)
        for xi, v, h in zip(x, vals, hi):
            ax.annotate(f"{v:.{dec}f}", (xi, v + h), ha="center", va="bottom", fontsize=7, xytext=(0, 2),
                        textcoords="offset points")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=30 if len(pts) > 3 else 0, ha="right" if len(pts) > 3 else "center",
                           fontsize=8)
        ax.set_ylabel(col.header)
        ax.set_title(title or col.header, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        ax.margins(y=0.15)
        return _png(fig)
    finally:
        plt.close(fig)


def attribute_matrix(runs: Sequence[RunRecord], kind: str, key: str) -> tuple[list[str], list[str], list[list[float | None]]]:
    """(model labels, attribute labels, values[model][attribute]) from ``per_attribute``: every
    attribute value ("hair_color=blond"), or the family mean for a family without values."""
    rows = [r for r in runs if (m := r.metrics_of(kind).get(key)) is not None and m.ok and m.per_attribute]
    attrs: dict[tuple[str, str], None] = {}
    for r in rows:
        for fam, entry in sorted(r.metrics_of(kind)[key].per_attribute.items()):
            vals = [v for v in entry if v not in ("all", "n")]
            for v in (sorted(vals) or ["all"]):
                attrs[(fam, v)] = None
    keys = sorted(attrs)
    grid = []
    for r in rows:
        pa = r.metrics_of(kind)[key].per_attribute
        grid.append([float(pa[f][v]) if f in pa and pa[f].get(v) is not None else None for f, v in keys])
    labels = [f if v == "all" else f"{f}={v}" for f, v in keys]
    return [r.label for r in rows], labels, grid


def attribute_heatmap(runs: Sequence[RunRecord], kind: str, col: Column, title: str = "") -> bytes | None:
    """Models × attribute values, coloured so that better is always brighter (↓ metrics flipped).
    With many attribute values the matrix is drawn transposed (one row per attribute value)."""
    models, attrs, grid = attribute_matrix(runs, kind, col.key)
    if not models or not attrs:
        return None
    import numpy as np

    plt = _pyplot()
    data = np.array([[np.nan if v is None else v for v in row] for row in grid], dtype=float)
    tall = len(attrs) > 12
    if tall:
        data = data.T
        rows, cols = attrs, models
        size = (max(4.0, 1.1 * len(models) + 2.6), max(2.5, 0.22 * len(attrs) + 1.0))
    else:
        rows, cols = models, attrs
        size = (max(6.0, 0.5 * len(attrs) + 2.0), max(2.0, 0.42 * len(models) + 1.6))
    fig, ax = plt.subplots(figsize=size)
    try:
        cmap = plt.get_cmap("viridis" if col.higher_is_better else "viridis_r").with_extremes(bad="#eeeeee")
        im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, aspect="auto")
        dec = column_decimals(col, [v for row in grid for v in row])
        finite = data[np.isfinite(data)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                if np.isfinite(data[i, j]):
                    bright = (data[i, j] > mid) == col.higher_is_better
                    ax.text(j, i, f"{data[i, j]:.{dec}f}", ha="center", va="center", fontsize=7,
                            color="black" if bright else "white")
        ax.set_xticks(range(len(cols)))
        if tall:
            ax.set_xticklabels(cols, fontsize=8)
            ax.xaxis.tick_top()
        else:
            ax.set_xticklabels(cols, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(rows, fontsize=7 if tall else 8)
        ax.set_title(title or f"{col.header} per attribute", fontsize=10, pad=18 if tall else 6)
        fig.colorbar(im, ax=ax, fraction=0.05 if tall else 0.03, pad=0.02)
        return _png(fig)
    finally:
        plt.close(fig)


def write_png(data: bytes, path: str | Path) -> Path:
    from facebench.images import atomic_write_bytes

    atomic_write_bytes(path, data)
    return Path(path)
