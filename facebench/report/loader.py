"""Read runs (``results_<stamp>.json`` + ``samples_<task>_<stamp>.jsonl``, schema v2; the older
single ``results.json`` of schema v1 too) and the paper-reported rows (baselines/reported/*.yaml)
into light records. The report reads files only, never live objects, so it works on results copied
from another machine.

Runs are immutable, so a folder may hold many. ``load_runs`` picks, per model fingerprint +
dataset (+ its hash) + task, the task result of the latest run that scored it in full: a partial
run (``--limit``, ``--dry_run``, ``--mode predict``) or a task that did not finish never stands in
for a full result (``include_partial=True`` shows them, marked).

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

SUPPORTED_SCHEMA = (1, 2)
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
    samples_file: Path | None = None
    run_id: str = ""
    created: str = ""
    complete: bool = True  # scored in full, in a run that was not partial
    partial: list[str] = field(default_factory=list)


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
        # n_items too: an --images run with images for 30 of 150 prompts is another sample set
        parts = sorted({(t.dataset, t.split, t.dataset_hash, t.n_samples, t.n_items) for t in self.tasks_of(kind)},
                       key=str)
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


# -- reading runs ---------------------------------------------------------------------------------
RESULTS_GLOB = "results_*.json"
LEGACY_RESULTS = "results.json"


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


def _run_files_in(folder: Path) -> list[Path]:
    from facebench.runner.layout import results_files

    found = results_files(folder)
    legacy = folder / LEGACY_RESULTS
    return ([legacy] if legacy.is_file() else []) + found


def load_results_file(rpath: Path) -> RunRecord:
    """One results file as a record (all its tasks, complete or not)."""
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
    run_id = str(data.get("run_id") or "")
    partial = list(data.get("partial") or [])
    if version == 1 and config.get("limit"):
        partial.append(f"--limit {config['limit']}")
    run_ok = version == 1 or (data.get("status") in ("complete", "running", "failed", "interrupted") and not partial)
    tasks: dict[str, TaskRecord] = {}
    for tname, t in sorted((data.get("tasks") or {}).items()):
        kind = t.get("kind") or "generation"
        if kind == "understanding" and t.get("video"):  # a video task: the leaderboard's video section
            kind = "video"
        ds = t.get("dataset") or {}
        files = t.get("files") or {}
        samples = rpath.parent / (files["samples"] if files.get("samples") else f"samples_{tname}.jsonl")
        scored = (version == 1 or bool(files.get("samples")) or bool(t.get("skipped"))) and not t.get("failed")
        tasks[tname] = TaskRecord(
            name=tname, kind=kind, dataset=str(ds.get("name") or config.get("dataset") or "?"),
            split=str(ds.get("split") or ""), n_items=t.get("n_items"), n_samples=ds.get("n_samples"),
            dataset_hash=str(ds.get("hash") or ""), skipped=t.get("skipped") or None,
            metrics={k: _metric(k, tname, kind, m or {}) for k, m in sorted((t.get("metrics") or {}).items())},
            samples_file=samples, run_id=run_id, created=str(data.get("created") or ""),
            complete=run_ok and scored, partial=partial,
        )
    dataset = str(config.get("dataset") or next((t.dataset for t in tasks.values()), "?"))
    env = data.get("environment") or {}
    detail = rpath.parent.name + (f"@{run_id}" if run_id else "")
    return RunRecord(
        model=str(model.get("name") or rpath.parent.name), source=REPRODUCED, dataset=dataset, tasks=tasks,
        path=rpath.parent, source_detail=detail, limit=config.get("limit"),
        info={"fingerprint": model.get("fingerprint"), "paper_model": model.get("paper_model"),
              "args": model.get("args") or {},
              "git_hash": env.get("git_hash"), "facebench_version": data.get("facebench_version"),
              "judge": config.get("judge") or {}, "created": data.get("created"), "run_ids": [run_id] if run_id else [],
              "status": data.get("status") or ("complete" if version == 1 else "?"), "partial": partial},
    )


def expand_result_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Results files from each path: a results file, a run folder, or a folder of run folders."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_file():
            out.append(p)
            continue
        if not p.exists():
            raise ResultsError(f"results path '{p}' does not exist")
        here = _run_files_in(p)
        if here:
            out.extend(here)
            continue
        found = [f for d in sorted(q for q in p.iterdir() if q.is_dir()) for f in _run_files_in(d)]
        if not found:
            raise ResultsError(f"'{p}' holds no runs (no results_*.json in it or in its sub-folders)")
        out.extend(found)
    return out


def default_result_dirs(root: str | Path | None = None) -> list[Path]:
    """The run folders under ``results/`` (committed reference runs) and ``runs/`` (your runs, the
    default --output_path) of ``root`` (default: the current directory)."""
    base = Path(root) if root is not None else Path.cwd()
    return sorted({f.parent for sub in ("results", "runs") if (base / sub).is_dir()
                   for f in expand_result_paths_quiet(base / sub)})


def expand_result_paths_quiet(path: Path) -> list[Path]:
    try:
        return expand_result_paths([path])
    except ResultsError:
        return []


def _row_key(rec: RunRecord, t: TaskRecord) -> tuple[str, str, str]:
    return (str(rec.info.get("fingerprint") or rec.model), t.dataset, t.dataset_hash)


def select_latest(records: Sequence[RunRecord], include_partial: bool = False) -> list[RunRecord]:
    """Per (model fingerprint, dataset, dataset hash): one row holding, per task, the task result of
    the latest run that completed it (partial results only with ``include_partial``)."""
    chosen: dict[tuple[str, str, str], dict[str, tuple[str, TaskRecord, RunRecord]]] = {}
    for rec in records:
        for t in rec.tasks.values():
            if not t.complete and not include_partial:
                continue
            key = _row_key(rec, t)
            order = (t.complete, t.created, t.run_id)
            slot = chosen.setdefault(key, {})
            if t.name not in slot or order > (slot[t.name][1].complete, slot[t.name][1].created, slot[t.name][1].run_id):
                slot[t.name] = (t.run_id, t, rec)
    out: list[RunRecord] = []
    for key in sorted(chosen):
        picks = chosen[key]
        latest = max((rec for _, _, rec in picks.values()), key=lambda r: str(r.info.get("created") or ""))
        run_ids = sorted({rid for rid, _, _ in picks.values() if rid})
        partial = sorted({p for _, t, _ in picks.values() for p in t.partial})
        folders = sorted({rec.path.name for _, _, rec in picks.values() if rec.path is not None})
        detail = "/".join(folders) + (f"@{run_ids[0]}" if len(run_ids) == 1 else (f"@{len(run_ids)} runs" if run_ids else ""))
        out.append(RunRecord(
            model=latest.model, source=REPRODUCED, dataset=key[1], tasks={n: t for n, (_, t, _) in sorted(picks.items())},
            path=latest.path, source_detail=detail, limit=latest.limit if partial else None,
            info={**latest.info, "run_ids": run_ids, "partial": partial}))
    return out


def _load_found(paths: Sequence[str | Path]) -> list[RunRecord]:
    """Results files named explicitly must read; ones found in folders are skipped (with a note)
    when unreadable — e.g. the empty file of a run that was killed as it started."""
    named = {Path(p).resolve() for p in paths if Path(p).is_file()}
    out, errors = [], []
    for f in expand_result_paths(list(paths)):
        try:
            out.append(load_results_file(f))
        except ResultsError as err:
            if f.resolve() in named:
                raise
            errors.append(err)
            import logging

            logging.getLogger("facebench").warning("skipping %s: %s", f, err)
    if errors and not out:
        raise errors[0]
    return out


def load_runs(paths: Iterable[str | Path], include_partial: bool = False) -> list[RunRecord]:
    return select_latest(_load_found(list(paths)), include_partial)


def load_run(path: str | Path, include_partial: bool = False) -> RunRecord:
    """The one model × dataset result under ``path`` (a results file, a run folder or an output
    folder holding exactly one model × dataset); an error names the choices when there are several."""
    rows = select_latest(_load_found([path]), include_partial)
    if not rows:
        raise ResultsError(f"'{path}' holds no complete run (partial runs: --limit, --dry_run or --mode predict "
                           "never stand for a full result)")
    if len(rows) > 1:
        names = ", ".join(f"{r.model} on {r.dataset}" for r in rows)
        raise ResultsError(f"'{path}' holds results of several models or datasets ({names}); fix: name one run "
                           "folder or results file")
    return rows[0]


# -- per-item records ---------------------------------------------------------------------------
def load_samples(run: RunRecord, task: str) -> list[dict[str, Any]]:
    """The ``samples_<task>.jsonl`` records of a reproduced run ([] when absent)."""
    t = run.tasks.get(task)
    path = t.samples_file if t is not None and t.samples_file is not None else (
        run.path / f"samples_{task}.jsonl" if run.path is not None else None)
    if path is None or not path.is_file():
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
