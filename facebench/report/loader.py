"""Read run directories (results.json + samples_<task>.jsonl, schema v1) and the paper-reported
rows (baselines/reported/*.yaml) into light records. The report reads files only, never live
objects, so it works on results copied from another machine.

pandas is optional: ``to_dataframe`` imports it lazily.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from facebench.errors import FacebenchError
from facebench.report.columns import KINDS, PAPER_COLUMNS, column_for

SUPPORTED_SCHEMA = (1,)
REPRODUCED = "reproduced"
REPORTED = "reported"
PAPER_ARXIV = "2503.08120"


class ResultsError(FacebenchError):
    """A results directory that is missing, unreadable or of an unknown schema."""


@dataclass
class MetricRecord:
    key: str
    task: str
    kind: str
    value: float | None
    higher_is_better: bool
    ci: tuple[float, float] | None = None
    n: int | None = None
    n_failed: int = 0
    variant: str = ""
    version: str = ""
    skipped: str | None = None
    per_attribute: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.value is not None and not self.skipped and math.isfinite(self.value)


@dataclass
class TaskRecord:
    name: str
    kind: str
    dataset: str
    split: str = ""
    n_items: int | None = None
    n_samples: int | None = None
    dataset_hash: str = ""
    skipped: str | None = None
    metrics: dict[str, MetricRecord] = field(default_factory=dict)


@dataclass
class RunRecord:
    """One leaderboard row source: a reproduced run directory or a paper-reported model row."""

    model: str
    source: str  # REPRODUCED or REPORTED
    dataset: str
    tasks: dict[str, TaskRecord]
    path: Path | None = None
    source_detail: str = ""  # reported: "arXiv 2503.08120v1 Table 1"; reproduced: run dir name
    info: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # display name (set by ``assign_labels``)
    limit: int | None = None

    @property
    def reported(self) -> bool:
        return self.source == REPORTED

    def tasks_of(self, kind: str) -> list[TaskRecord]:
        return [t for name, t in sorted(self.tasks.items()) if t.kind == kind]

    def has_kind(self, kind: str) -> bool:
        return bool(self.tasks_of(kind))

    def metrics_of(self, kind: str) -> dict[str, MetricRecord]:
        """Metrics of every task of ``kind`` by key; a key found in two tasks is qualified as
        ``task:key`` so no number silently replaces another."""
        seen: dict[str, list[MetricRecord]] = {}
        for t in self.tasks_of(kind):
            for key, m in sorted(t.metrics.items()):
                seen.setdefault(key, []).append(m)
        out: dict[str, MetricRecord] = {}
        for key, ms in seen.items():
            if len(ms) == 1:
                out[key] = ms[0]
            else:
                for m in ms:
                    out[f"{m.task}:{key}"] = m
        return out

    def sample_set(self, kind: str) -> str:
        """What the numbers of ``kind`` were measured on: rows with different sample sets are
        not ranked against each other even inside one dataset group."""
        if self.reported:
            return f"paper:{self.dataset}"
        parts = sorted({(t.dataset, t.split, t.dataset_hash, t.n_samples) for t in self.tasks_of(kind)}, key=str)
        return json.dumps([parts, self.limit], default=str)

    def split(self, kind: str) -> str:
        splits = sorted({t.split for t in self.tasks_of(kind) if t.split})
        return "/".join(splits)

    def skip_reason(self, kind: str) -> str | None:
        """Why the whole kind is absent (e.g. a generation-only model on understanding tasks)."""
        ts = self.tasks_of(kind)
        if ts and all(t.skipped for t in ts):
            return ts[0].skipped
        return None


# -- reading run directories --------------------------------------------------------------------
def _results_path(path: Path) -> Path:
    path = Path(path)
    if path.is_file() and path.name == "results.json":
        return path
    if not path.exists():
        raise ResultsError(f"results directory '{path}' does not exist")
    cand = path / "results.json"
    if not cand.is_file():
        raise ResultsError(f"'{path}' holds no results.json (is it a finished run directory?)")
    return cand


def _float(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _ci(v: Any) -> tuple[float, float] | None:
    if not v or len(v) != 2:
        return None
    lo, hi = _float(v[0]), _float(v[1])
    if lo is None or hi is None:
        return None
    return (min(lo, hi), max(lo, hi))


def _metric(key: str, task: str, kind: str, d: dict[str, Any]) -> MetricRecord:
    hib = d.get("higher_is_better")
    col = column_for(key, kind, hib)
    n = d.get("n")
    return MetricRecord(
        key=key, task=task, kind=kind, value=_float(d.get("value")), higher_is_better=col.higher_is_better,
        ci=_ci(d.get("ci")), n=int(n) if isinstance(n, (int, float)) else None,
        n_failed=int(d.get("n_failed") or 0), variant=str(d.get("variant") or ""),
        version=str(d.get("version") or ""), skipped=d.get("skipped") or None,
        per_attribute=dict(d.get("per_attribute") or {}), extra=dict(d.get("extra") or {}),
    )


def load_run(path: str | Path) -> RunRecord:
    """Read one run directory (or its results.json)."""
    rpath = _results_path(Path(path))
    try:
        data = json.loads(rpath.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ResultsError(f"cannot read '{rpath}': {err}") from None
    if not isinstance(data, dict) or "tasks" not in data:
        raise ResultsError(f"'{rpath}' is not a facebench results file (no 'tasks')")
    version = data.get("schema_version", 1)
    if version not in SUPPORTED_SCHEMA:
        raise ResultsError(f"'{rpath}' has results schema_version {version}; this facebench reads {SUPPORTED_SCHEMA}")
    config = data.get("config") or {}
    model = data.get("model") or {}
    tasks: dict[str, TaskRecord] = {}
    for tname, t in sorted((data.get("tasks") or {}).items()):
        kind = t.get("kind") or "generation"
        ds = t.get("dataset") or {}
        tasks[tname] = TaskRecord(
            name=tname, kind=kind, dataset=str(ds.get("name") or config.get("dataset") or "?"),
            split=str(ds.get("split") or ""), n_items=t.get("n_items"), n_samples=ds.get("n_samples"),
            dataset_hash=str(ds.get("hash") or ""), skipped=t.get("skipped") or None,
            metrics={k: _metric(k, tname, kind, m or {}) for k, m in sorted((t.get("metrics") or {}).items())},
        )
    dataset = str(config.get("dataset") or next((t.dataset for t in tasks.values()), "?"))
    env = data.get("environment") or {}
    return RunRecord(
        model=str(model.get("name") or rpath.parent.name), source=REPRODUCED, dataset=dataset, tasks=tasks,
        path=rpath.parent, source_detail=rpath.parent.name, limit=config.get("limit"),
        info={"fingerprint": model.get("fingerprint"), "paper_model": model.get("paper_model"),
              "args": model.get("args") or {},
              "git_hash": env.get("git_hash"), "facebench_version": data.get("facebench_version"),
              "judge": config.get("judge") or {}, "created": data.get("created")},
    )


def expand_result_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Each path is a run directory, a results.json, or a folder of run directories."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_file() or (p / "results.json").is_file():
            out.append(p if p.is_dir() else p.parent)
        elif p.is_dir():
            found = sorted(q.parent for q in p.glob("*/results.json"))
            if not found:
                raise ResultsError(f"'{p}' holds no run directories (no */results.json)")
            out.extend(found)
        else:
            raise ResultsError(f"results directory '{p}' does not exist")
    return out


def default_result_dirs(root: str | Path | None = None) -> list[Path]:
    """Every ``results/*/results.json`` under ``root`` (default: the current directory)."""
    base = Path(root) if root is not None else Path.cwd()
    return sorted(q.parent for q in (base / "results").glob("*/results.json"))


def load_runs(paths: Iterable[str | Path]) -> list[RunRecord]:
    return [load_run(p) for p in expand_result_paths(list(paths))]


# -- per-item records ---------------------------------------------------------------------------
def load_samples(run: RunRecord, task: str) -> list[dict[str, Any]]:
    """The ``samples_<task>.jsonl`` records of a reproduced run ([] when absent)."""
    if run.path is None:
        return []
    path = run.path / f"samples_{task}.jsonl"
    if not path.is_file():
        return []
    out = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ResultsError(f"{path}:{lineno}: bad JSON line ({err})") from None
    return out


def item_scores(run: RunRecord, task: str, key: str) -> dict[str, float]:
    """item_id → score for ``key`` (failed items, None, are left out)."""
    out: dict[str, float] = {}
    for rec in load_samples(run, task):
        v = _float((rec.get("scores") or {}).get(key))
        if v is not None and "item_id" in rec:
            out[str(rec["item_id"])] = v
    return out


# -- paper-reported rows ------------------------------------------------------------------------
def reported_dir() -> Path | None:
    """``baselines/reported`` of the installed ``facebench_baselines`` package, else the repo folder
    next to ``facebench/``."""
    try:
        from importlib.resources import files

        cand = Path(str(files("facebench_baselines") / "reported"))
        if cand.is_dir():
            return cand
    except (ImportError, ModuleNotFoundError, TypeError):
        pass
    from facebench.paths import package_root

    cand = package_root() / "baselines" / "reported"
    return cand if cand.is_dir() else None


def _source_text(src: dict[str, Any]) -> str:
    """Full citation, e.g. "arXiv 2503.08120v1, Table 1"."""
    arxiv = src.get("arxiv") or PAPER_ARXIV
    version = str(src.get("version") or "")
    ver = version if version.startswith("v") and " " not in version else (f", {version}" if version else "")
    table = src.get("table")
    return f"arXiv {arxiv}{ver}" + (f", {table}" if table else "")


def _short_source(src: dict[str, Any]) -> str:
    """Table-cell form, e.g. "paper v1 T1" / "paper ICLR 2026"."""
    version = str(src.get("version") or "")
    table = str(src.get("table") or "")
    if version.startswith("v") and " " not in version:
        return f"paper {version}" + (f" {table.replace('Table ', 'T')}" if table.startswith("Table ") else "")
    return "paper " + " ".join(version.split()[:2]) if version else "paper"


def load_reported(directory: str | Path | None = None) -> list[RunRecord]:
    """One RunRecord per model entry of each YAML file (values null → skipped "not reported")."""
    import yaml

    d = Path(directory) if directory is not None else reported_dir()
    if d is None or not d.is_dir():
        return []
    runs: list[RunRecord] = []
    for path in sorted(d.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ResultsError(f"cannot parse reported results '{path}': {err}") from None
        kind = doc.get("kind")
        if kind not in KINDS:
            raise ResultsError(f"'{path}': kind must be one of {KINDS}, got {kind!r}")
        dataset = str(doc.get("dataset") or "unif2ace")
        base_src = dict(doc.get("source") or {})
        keys = list(doc.get("metrics") or [c.key for c in PAPER_COLUMNS[kind]])
        for entry in doc.get("models") or []:
            src = {**base_src, **(entry.get("source") or {})}
            detail = _source_text(src)
            values = entry.get("values") or {}
            metrics = {}
            for key in keys:
                v = _float(values.get(key))
                col = column_for(key, kind)
                metrics[key] = MetricRecord(
                    key=key, task=f"paper_{kind}", kind=kind, value=v, higher_is_better=col.higher_is_better,
                    variant="paper", skipped=None if v is not None else f"'–' in the paper ({detail})",
                )
            task = TaskRecord(name=f"paper_{kind}", kind=kind, dataset=dataset, split=str(doc.get("split") or ""),
                              metrics=metrics)
            runs.append(RunRecord(
                model=str(entry["model"]), source=REPORTED, dataset=dataset, tasks={task.name: task},
                source_detail=detail, info={"type": entry.get("type"), "params": entry.get("params"),
                                            "source": src, "short_source": _short_source(src),
                                            "file": path.name},
            ))
    return runs


def assign_labels(runs: Sequence[RunRecord]) -> None:
    """Display names: the model name; runs sharing a name and dataset get their directory name."""
    counts: dict[tuple[str, str, str], int] = {}
    for r in runs:
        counts[(r.model, r.dataset, r.source)] = counts.get((r.model, r.dataset, r.source), 0) + 1
    for r in runs:
        dup = counts[(r.model, r.dataset, r.source)] > 1 and not r.reported
        r.label = f"{r.model} ({r.source_detail})" if dup else r.model


# -- flat records / DataFrame -------------------------------------------------------------------
FLAT_FIELDS = ("kind", "dataset", "model", "source", "source_detail", "task", "metric", "higher_is_better",
               "value", "ci_lo", "ci_hi", "n", "n_failed", "variant", "skipped", "attribute", "attribute_value")


def flat_records(runs: Sequence[RunRecord], attributes: bool = True) -> list[dict[str, Any]]:
    """One dict per (run, metric) and, with ``attributes``, one per (run, metric, attribute family,
    attribute value) — the long format behind the CSV and the DataFrame."""
    rows: list[dict[str, Any]] = []
    for r in runs:
        for kind in KINDS:
            for key, m in sorted(r.metrics_of(kind).items()):
                base = {"kind": kind, "dataset": r.dataset, "model": r.label or r.model, "source": r.source,
                        "source_detail": r.source_detail, "task": m.task, "metric": key,
                        "higher_is_better": m.higher_is_better, "variant": m.variant, "skipped": m.skipped or ""}
                rows.append({**base, "value": m.value if m.ok else None, "ci_lo": m.ci[0] if m.ci else None,
                             "ci_hi": m.ci[1] if m.ci else None, "n": m.n, "n_failed": m.n_failed,
                             "attribute": "", "attribute_value": ""})
                if not attributes:
                    continue
                for fam, entry in sorted(m.per_attribute.items()):
                    for val, score in sorted(entry.items()):
                        if val == "n":
                            continue
                        rows.append({**base, "value": _float(score), "ci_lo": None, "ci_hi": None,
                                     "n": int(entry["n"]) if val == "all" and "n" in entry else None,
                                     "n_failed": None, "attribute": fam, "attribute_value": val})
    return rows


def to_dataframe(runs: Sequence[RunRecord], attributes: bool = True):
    """The long-format records as a pandas DataFrame (pandas imported here, not at module top)."""
    try:
        import pandas as pd
    except ImportError:
        from facebench.errors import MissingDependencyError

        raise MissingDependencyError("pandas", "report", "the report DataFrame") from None
    return pd.DataFrame(flat_records(runs, attributes), columns=list(FLAT_FIELDS))
