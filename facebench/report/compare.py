"""The CI regression gate: compare a new run with a baseline run metric by metric.

A metric *regresses* when it got worse by more than its tolerance (absolute, in the metric's own
units) AND the change is beyond noise:

1. per-item scores on ≥ 2 shared items (samples_<task>.jsonl, joined by item_id): a paired test
   (bootstrap or permutation) with p < alpha;
2. else, a CI on the base value: the new value lies outside it, on the worse side;
3. else, a CI on the new value: the base value lies outside it;
4. else (e.g. a set-level number without CI): the tolerance alone decides.

Exit codes (see ``CompareResult.exit_code``): 0 = no regression, 1 = regression, 2 = bad input
(raised as ``ResultsError`` before any comparison).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from facebench.report.columns import column_decimals, column_for
from facebench.report.loader import MetricRecord, ResultsError, RunRecord, item_scores
from facebench.report.stats import ALPHA, DEFAULT_RESAMPLES, PairedTest, describe, paired_test

DEFAULT_TOLERANCE = 0.02

REGRESSION = "REGRESSION"
MISSING = "MISSING"


@dataclass
class CompareRow:
    task: str
    key: str
    label: str
    higher_is_better: bool
    base: MetricRecord | None
    new: MetricRecord | None
    tolerance: float
    delta: float | None = None
    test: PairedTest | None = None
    evidence: str = ""  # how significance was judged
    verdict: str = ""

    @property
    def name(self) -> str:
        return f"{self.task}:{self.key}"


@dataclass
class CompareResult:
    new: RunRecord
    base: RunRecord
    rows: list[CompareRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[CompareRow]:
        return [r for r in self.rows if r.verdict == REGRESSION]

    @property
    def missing(self) -> list[CompareRow]:
        return [r for r in self.rows if r.verdict == MISSING]

    def exit_code(self, fail_on_missing: bool = False) -> int:
        if self.regressions or (fail_on_missing and self.missing):
            return 1
        return 0


def parse_tolerances(specs: Sequence[str] | None) -> dict[str, float]:
    """``["fid=2.0,kid=0.01", "vqa:vqascore_cf5=0.05"]`` → {key: tolerance}."""
    out: dict[str, float] = {}
    for spec in specs or []:
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, val = part.partition("=")
            try:
                if not sep or not key.strip():
                    raise ValueError
                out[key.strip()] = float(val)
            except ValueError:
                raise ResultsError(f"bad --tolerance_for entry '{part}': expected METRIC=NUMBER, e.g. fid=2.0") from None
            if out[key.strip()] < 0:
                raise ResultsError(f"bad --tolerance_for entry '{part}': tolerance must be ≥ 0")
    return out


def _selected(task: str, key: str, metrics: Sequence[str] | None) -> bool:
    return not metrics or key in metrics or f"{task}:{key}" in metrics


def _significance(row: CompareRow, new_run: RunRecord, base_run: RunRecord, method: str, alpha: float,
                  resamples: int) -> bool | None:
    """True/False when the change can be judged against noise, None when nothing says."""
    b, n = row.base, row.new
    assert b is not None and n is not None
    test = paired_test(item_scores(new_run, row.task, row.key), item_scores(base_run, row.task, row.key),
                       method, resamples)
    if test is not None:
        row.test = test
        row.evidence = f"paired {test.method}, n={test.n}"
        return test.p_value < alpha
    if b.ci is not None:
        outside = not b.ci[0] <= n.value <= b.ci[1]
        row.evidence = "outside base CI" if outside else "inside base CI"
        return outside
    if n.ci is not None:
        outside = not n.ci[0] <= b.value <= n.ci[1]
        row.evidence = "base outside new CI" if outside else "base inside new CI"
        return outside
    row.evidence = "no CI or per-item scores: tolerance only"
    return None


def compare_runs(new: RunRecord, base: RunRecord, tolerance: float = DEFAULT_TOLERANCE,
                 tolerance_for: Mapping[str, float] | None = None, metrics: Sequence[str] | None = None,
                 method: str = "bootstrap", alpha: float = ALPHA, resamples: int = DEFAULT_RESAMPLES) -> CompareResult:
    if new.dataset != base.dataset:
        raise ResultsError(f"runs are on different datasets (new: '{new.dataset}', base: '{base.dataset}'); "
                           f"their numbers are not comparable")
    res = CompareResult(new, base)
    tolerance_for = dict(tolerance_for or {})
    for tname in sorted(set(base.tasks) & set(new.tasks)):
        bt, nt = base.tasks[tname], new.tasks[tname]
        if bt.dataset_hash and nt.dataset_hash and bt.dataset_hash != nt.dataset_hash:
            res.warnings.append(f"task '{tname}': dataset hash differs (base {bt.dataset_hash}, new {nt.dataset_hash}); "
                                f"paired tests use the shared items only")
    for tname in sorted(set(base.tasks) - set(new.tasks)):
        res.warnings.append(f"task '{tname}' is in the base run but not in the new run")
    keys = sorted({(t, k) for run in (base, new) for t, task in run.tasks.items() for k in task.metrics})
    for tname, key in keys:
        if not _selected(tname, key, metrics):
            continue
        b = base.tasks.get(tname).metrics.get(key) if tname in base.tasks else None
        n = new.tasks.get(tname).metrics.get(key) if tname in new.tasks else None
        ref = b or n
        col = column_for(key, ref.kind, ref.higher_is_better)
        tol = tolerance_for.get(f"{tname}:{key}", tolerance_for.get(key, tolerance))
        row = CompareRow(tname, key, col.label, col.higher_is_better, b, n, tol)
        res.rows.append(row)
        b_ok, n_ok = b is not None and b.ok, n is not None and n.ok
        if not b_ok and not n_ok:
            row.verdict = "skipped"
            row.evidence = (n.skipped if n is not None and n.skipped else (b.skipped if b is not None else "")) or ""
            continue
        if not n_ok:
            row.verdict = MISSING
            row.evidence = (n.skipped if n is not None else "not in the new run") or "no value"
            continue
        if not b_ok:
            row.verdict = "new"
            row.evidence = "not in the base run" if b is None else f"base: {b.skipped}"
            continue
        row.delta = n.value - b.value
        worse_by = -row.delta if col.higher_is_better else row.delta
        sig = _significance(row, new, base, method, alpha, resamples)
        if worse_by > tol and sig is not False:
            row.verdict = REGRESSION
        elif worse_by > tol:
            row.verdict = "worse, within noise"
        elif worse_by > 0:
            row.verdict = "worse, within tolerance"
        elif -worse_by > tol and sig is not False:
            row.verdict = "better"
        else:
            row.verdict = "same"
    if metrics:
        known = {r.key for r in res.rows} | {r.name for r in res.rows}
        unknown = [m for m in metrics if m not in known]
        if unknown:
            raise ResultsError(f"--metrics names not found in either run: {', '.join(unknown)}")
    if not any(r.base is not None and r.new is not None for r in res.rows):
        raise ResultsError("the two runs share no metric (different tasks?)")
    return res


def _num(m: MetricRecord | None, dec: int) -> str:
    if m is None:
        return "absent"
    if not m.ok:
        return "skipped"
    s = f"{m.value:.{dec}f}"
    if m.ci is not None:
        s += f" [{m.ci[0]:.{dec}f}, {m.ci[1]:.{dec}f}]"
    return s


def render_compare(res: CompareResult, alpha: float = ALPHA) -> str:
    """A Markdown table of deltas plus a verdict line."""
    def who(r: RunRecord) -> str:
        bits = [f"model `{r.model}`", f"dataset `{r.dataset}`"]
        if r.info.get("git_hash"):
            bits.append(f"git `{r.info['git_hash']}`")
        return f"`{r.path}` (" + ", ".join(bits) + ")"

    lines = [f"NEW:  {who(res.new)}", f"BASE: {who(res.base)}", ""]
    lines.append("| Task | Metric | Base | New | Δ | Tol. | Test | Verdict |")
    lines.append("|:--|:--|--:|--:|--:|--:|:--|:--|")
    for r in res.rows:
        ref = r.base or r.new
        col = column_for(r.key, ref.kind, r.higher_is_better)
        dec = column_decimals(col, [m.value for m in (r.base, r.new) if m is not None and m.ok])
        delta = f"{r.delta:+.{dec}f}" if r.delta is not None else ""
        test = describe("new", "base", r.test, r.higher_is_better, alpha) if r.test else r.evidence
        verdict = f"**{r.verdict}**" if r.verdict in (REGRESSION, MISSING) else r.verdict
        lines.append(f"| {r.task} | {r.key} {col.arrow} | {_num(r.base, dec)} | {_num(r.new, dec)} | {delta} | "
                     f"{r.tolerance:g} | {test.replace('|', '/')} | {verdict} |")
    lines.append("")
    for w in res.warnings:
        lines.append(f"warning: {w}")
    for r in res.missing:
        lines.append(f"missing: {r.name} has a value in the base run but none in the new run ({r.evidence})")
    if res.regressions:
        names = ", ".join(f"{r.name} ({r.delta:+.4g}, tolerance {r.tolerance:g}, {r.evidence})" for r in res.regressions)
        lines.append(f"REGRESSION: {len(res.regressions)} metric(s) worse beyond tolerance and noise: {names}")
    else:
        lines.append("OK: no metric got worse beyond its tolerance and noise.")
    return "\n".join(lines) + "\n"
