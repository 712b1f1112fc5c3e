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
    return {"environment": f"{spec.name} ({'built' if built else 'not built: facebench env build'})",
            "verified": f"{v.commit[:12]} ({v.how}; {v.date})" if v else None}


def list_things(what: str) -> list[dict[str, Any]]:
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
            req = list(getattr(cls, "requires", ()) or ())
            missing = [m for m in req if not _importable(m)]
            paper = getattr(cls, "paper_model", None)
            rep = reported.get(paper) if paper else None
            rows.append({
                "name": name,
                "capabilities": sorted(getattr(cls, "capabilities", ())),
                "default_checkpoint": getattr(cls, "default_checkpoint", None),
                "deps": "ok" if not missing else "missing: " + ", ".join(missing),
                "paper_model": paper,
                "paper_row": rep["values"] if rep else None,
                "source": MODELS.source(name),
                **_env_fields(getattr(cls, "environment", None)),
            })
    elif what == "tasks":
        from facebench.taskconfig import TaskIndex

        idx = TaskIndex()
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


def format_rows(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        name = r.pop("name")
        rest = "  ".join(f"{k}={v}" for k, v in r.items() if v not in (None, [], ""))
        lines.append(f"{name:<18} {rest}")
    return "\n".join(lines)
