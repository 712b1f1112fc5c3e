"""Weights & Biases logging of a finished run (``--wandb_args``, lm-eval's flag): every metric as a
summary value and a ``metrics`` table row, and one ``samples/<task>`` table per task with the
prompt, reference, output and per-item scores — for generation tasks with the generated image, the
gallery T2I researchers look at. Reads the run's files, like every report; ``wandb`` is an optional
extra (``pip install 'facebench[wandb]'``) imported only here. ``mode=offline`` works without a
network (``wandb sync`` uploads later)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from facebench.errors import MissingDependencyError

log = logging.getLogger("facebench")
MAX_IMAGES_PER_TASK = 200


def _samples(run_dir: Path, entry: dict[str, Any]) -> list[dict[str, Any]]:
    name = (entry.get("files") or {}).get("samples")
    path = run_dir / name if name else None
    if path is None or not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def log_run(results: dict[str, Any], run_dir: Path, wandb_args: dict[str, Any],
            max_images: int = MAX_IMAGES_PER_TASK) -> str | None:
    """Log one run; returns the W&B run's local folder (or None when wandb wrote none)."""
    try:
        import wandb
    except ImportError:
        raise MissingDependencyError("wandb", "wandb", "--wandb_args") from None
    model = results.get("model") or {}
    cfg = results.get("config") or {}
    init = {"project": "facebench", "job_type": "eval",
            "name": f"{model.get('name')}_{cfg.get('dataset') or 'default'}_{results.get('run_id')}",
            "config": {"model": model.get("name"), "fingerprint": model.get("fingerprint"),
                       "model_args": model.get("args"), **{k: cfg.get(k) for k in ("dataset", "limit", "seed",
                                                                                     "batch_size", "judge", "tasks")}},
            **wandb_args}
    run = wandb.init(**init)
    rows = []
    for tname, t in (results.get("tasks") or {}).items():
        for key, m in (t.get("metrics") or {}).items():
            ci = m.get("ci") or [None, None]
            rows.append([tname, key, m.get("value"), ci[0], ci[1], m.get("n"), m.get("n_failed"), m.get("variant"),
                         m.get("skipped")])
            if m.get("value") is not None:
                run.summary[f"{tname}/{key}"] = m["value"]
    tables: dict[str, Any] = {"metrics": wandb.Table(
        columns=["task", "metric", "value", "ci_lo", "ci_hi", "n", "n_failed", "variant", "skipped"], data=rows)}
    for tname, t in (results.get("tasks") or {}).items():
        recs = _samples(run_dir, t)
        if not recs:
            continue
        keys = sorted({k for r in recs for k in (r.get("scores") or {})})
        gen = t.get("kind") == "generation"
        cols = ["item_id", "prompt", "reference", "output"] + (["image"] if gen else []) + keys
        data = []
        for i, r in enumerate(recs):
            row = [r.get("item_id"), r.get("prompt"), r.get("reference"), r.get("output")]
            if gen:
                imgs = r.get("images") or []
                row.append(wandb.Image(str(run_dir / imgs[0])) if imgs and i < max_images else None)
            row += [(r.get("scores") or {}).get(k) for k in keys]
            data.append(row)
        tables[f"samples/{tname}"] = wandb.Table(columns=cols, data=data)
        if gen:  # also as an image panel: the faces with their prompts (saved as files in offline runs too)
            tables[f"images/{tname}"] = [wandb.Image(str(run_dir / r["images"][0]), caption=(r.get("prompt") or "")[:200])
                                         for r in recs[:max_images] if r.get("images")]
    run.log(tables)
    folder = getattr(run, "dir", None)
    run.finish()
    return str(Path(folder).parent) if folder else None
