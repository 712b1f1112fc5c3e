"""Rows for ``facebench ls``: read class attributes only, never load weights or torch."""
from __future__ import annotations

import importlib.util
from typing import Any


def _importable(mod: str) -> bool:
    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False


def _reported_rows() -> dict[str, dict[str, Any]]:
    """Paper-reported values per model name (merged over the generation/understanding tables)."""
    try:
        from facebench.report.loader import load_reported

        rows: dict[str, dict[str, Any]] = {}
        for run in load_reported():
            vals = rows.setdefault(run.model, {"values": {}, "source": []})
            vals["source"].append(run.source_detail)
            for task in run.tasks.values():
                for key, m in task.metrics.items():
                    vals["values"][key] = m.value
        return rows
    except Exception:  # a broken reported file must not break `ls`
        return {}


def _env_fields(spec: Any) -> dict[str, Any]:
    """Where a model runs (in-process, or its own environment and whether that is built) and the
    upstream commit its plugin was verified against (``EnvSpec.verified``)."""
    if spec is None:
        return {"environment": "in-process", "verified": None}
    from facebench.envs.build import env_paths

    built = env_paths(spec).manifest.is_file()
    v = getattr(spec, "verified", None)
    return {"environment": f"{spec.name} env ({'built' if built else 'not built'})",
            "verified": f"{v.commit[:12]} ({v.how}; {v.date})" if v else None}


def _deps_hint(name: str, missing: list[str], spec: Any) -> str:
    """'ok', or what to run: the family's own environment, or the pip extra for missing packages."""
    if spec is not None:
        from facebench.envs.build import env_paths

        return "ok" if env_paths(spec).manifest.is_file() else f"facebench env build {name}"
    if not missing:
        return "ok"
    from facebench.errors import EXTRA_FOR_MODULE

    extras = sorted({EXTRA_FOR_MODULE[m][1] for m in missing if m in EXTRA_FOR_MODULE})
    other = [m for m in missing if m not in EXTRA_FOR_MODULE]
    hint = [f"pip install 'facebench[{','.join(extras)}]'"] if extras else []
    hint += [f"install {', '.join(other)}"] if other else []
    return "missing: " + "; ".join(hint)


def list_things(what: str, include_path: list[str] | None = None) -> list[dict[str, Any]]:
    from facebench.builtins import register_builtins
    from facebench.registry import DATASETS, METRICS, MODELS

    register_builtins()
    rows: list[dict[str, Any]] = []
    if what == "models":
        reported = _reported_rows()
        for name in MODELS.names():
            try:
                cls = MODELS.get(name)
            except Exception as e:  # a plugin that fails to import is listed with the reason
                rows.append({"name": name, "error": f"{type(e).__name__}: {e}"})
                continue
            spec = getattr(cls, "environment", None)
            req = list(getattr(cls, "requires", ()) or ())
            missing = [m for m in req if not _importable(m)]
            paper = getattr(cls, "paper_model", None)
            rep = reported.get(paper) if paper else None
            rows.append({
                "name": name,
                "capabilities": sorted(getattr(cls, "capabilities", ())),
                "default_checkpoint": getattr(cls, "default_checkpoint", None),
                "deps": _deps_hint(name, missing, spec),
                "paper_model": paper,
                "paper_row": rep["values"] if rep else None,
                "source": MODELS.source(name),
                **_env_fields(getattr(cls, "environment", None)),
            })
    elif what == "tasks":
        from facebench.taskconfig import TaskIndex

        idx = TaskIndex(include_path or [])
        for n in idx.names():
            t = idx.load(n)
            rows.append({"name": n, "kind": t.kind, "dataset": t.dataset, "metrics": [m.key for m in t.metrics],
                         "description": t.description})
        for g, members in sorted(idx.groups.items()):
            rows.append({"name": g, "kind": "group", "tasks": members})
    elif what == "metrics":
        for name in METRICS.names():
            rows.append({"name": name, "source": METRICS.source(name)})
    elif what == "datasets":
        for name in DATASETS.names():
            rows.append({"name": name, "source": DATASETS.source(name)})
        rows.append({"name": "PATH", "source": "a local folder with <split>.jsonl + images, or a .jsonl file"})
    return rows


MODEL_COLUMNS = (("name", "model"), ("can", "can"), ("runs", "runs in"), ("deps", "needs"),
                 ("verified", "verified against"), ("paper", "paper row"))


def _model_cells(r: dict[str, Any]) -> dict[str, str]:
    caps = r.get("capabilities") or []
    can = "+".join({"generate": "gen", "understand": "und"}.get(c, c) for c in caps) or "–"
    runs = "in-process" if r.get("environment") in (None, "in-process") else str(r["environment"])
    verified = (r.get("verified") or "").split(" (", 1)[0] or "–"
    return {"name": r["name"], "can": can, "runs": runs, "deps": "ok" if r.get("deps") == "ok" else
            str(r.get("deps") or "").replace("missing: ", ""), "verified": verified,
            "paper": str(r.get("paper_model") or "–")}


def format_table(rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> str:
    widths = {k: max(len(h), *(len(r.get(k, "")) for r in rows)) for k, h in columns}
    line = lambda cells: "  ".join(str(cells.get(k, "")).ljust(widths[k]) for k, _ in columns).rstrip()  # noqa: E731
    return "\n".join([line(dict(columns)), line({k: "-" * widths[k] for k, _ in columns})] + [line(r) for r in rows])


def format_rows(rows: list[dict[str, Any]], what: str = "") -> str:
    """A table for a terminal (``--json`` gives every field)."""
    if what == "models":
        cells = [_model_cells(r) if "error" not in r else {"name": r["name"], "can": "–", "runs": "–",
                                                             "deps": "cannot load: " + r["error"][:80]} for r in rows]
        return format_table(cells, MODEL_COLUMNS) + ("\n\ndefault checkpoints, settings and the full verification "
                                                     "record: facebench ls models --json")
    if what == "tasks":
        cells = [{"name": r["name"], "kind": r["kind"], "dataset": str(r.get("dataset", "")),
                  "metrics": ", ".join(r.get("metrics") or r.get("tasks") or [])} for r in rows]
        return format_table(cells, (("name", "task"), ("kind", "kind"), ("dataset", "dataset"), ("metrics", "metrics / members")))
    lines = []
    for r in rows:
        r = dict(r)
        name = r.pop("name")
        rest = "  ".join(f"{k}={v}" for k, v in r.items() if v not in (None, [], ""))
        lines.append(f"{name:<18} {rest}")
    return "\n".join(lines)
