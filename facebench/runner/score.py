"""The score phase: instantiate the task's metrics, run them on the predictions, aggregate.

A metric that raises a ``FacebenchError`` (missing weights, no key, missing dependency) is
reported as skipped with that message; any other exception is recorded as an error (and makes
the run exit non-zero) without losing the other metrics' numbers."""
from __future__ import annotations

import logging
import os
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from facebench.cache import KVCache
from facebench.hashing import content_key

from facebench.errors import FacebenchError, UnknownNameError
from facebench.metrics.aggregate import finalize
from facebench.metrics.base import MetricContext
from facebench.registry import METRICS
from facebench.taskconfig import MetricSpec, TaskConfig
from facebench.types import MetricValue, Prediction

log = logging.getLogger("facebench")

JUDGE_IDENTITY_KEYS = ("judge", "judge_model", "judge_base_url")


def apply_judge_override(task: TaskConfig, judge: dict[str, Any]) -> list[MetricSpec]:
    """With a judge chosen on the command line, the task's judge metrics collapse to one, named
    ``<task>_judge`` (never under a paper name like desc_gpt unless it is that same judge)."""
    ident = {k: judge.get(k) for k in JUDGE_IDENTITY_KEYS if judge.get(k)}
    specs = list(task.metrics)
    judges = [m for m in specs if m.metric == "judge"]
    if not ident or not judges:
        return specs
    first = judges[0]
    same = (set(ident) == {"judge"} and ident["judge"] == first.args.get("judge"))
    if same:
        keep = first
    else:
        args = {"template": first.args.get("template", task.name)}
        keep = MetricSpec(metric="judge", key=f"{task.name}_judge", args=args, datasets=first.datasets)
    out, placed = [], False
    for m in specs:
        if m.metric == "judge":
            if not placed:
                out.append(keep)
                placed = True
        else:
            out.append(m)
    return out


def metric_args_for(spec: MetricSpec, metric_args: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """YAML args < ``--metric_args <plugin>.k=v`` < ``--metric_args <key>.k=v``."""
    return {**spec.args, **metric_args.get(spec.metric, {}), **metric_args.get(spec.key, {})}


def _files_state(paths: list[Path]) -> list[Any]:
    """(path, size, mtime) of files: a changed image changes the key without hashing it."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append([str(p), st.st_size, st.st_mtime_ns])
        except OSError:
            out.append([str(p), None, None])
    return out


def inputs_digest(preds: list[Prediction], ctx: MetricContext) -> str:
    """Everything a metric reads: predictions (with their image files), the reference and gallery
    samples, judge settings. Computed once per task."""
    pred_part = [[p.to_dict(), _files_state(p.images)] for p in preds]
    refs = [[s.doc_id, s.caption, _files_state([s.image] if s.image else [])] for s in ctx.reference_samples]
    gallery = [[s.doc_id, _files_state([s.image] if s.image else [])] for s in ctx.gallery_samples]
    return content_key("score-inputs", pred_part, refs, gallery, ctx.dataset, ctx.judge)


def _to_cache(values: list[MetricValue]) -> list[dict[str, Any]]:
    return [asdict(v) for v in values]


def _from_cache(rows: Any) -> list[MetricValue] | None:
    try:
        out = []
        for r in rows:
            r = dict(r)
            r["ci"] = tuple(r["ci"]) if r.get("ci") else None
            out.append(MetricValue(**r))
        return out
    except (TypeError, KeyError):
        return None


def score_task(task: TaskConfig, specs: list[MetricSpec], preds: list[Prediction], ctx: MetricContext,
               metric_args: dict[str, dict[str, Any]], cache: KVCache | None = None
               ) -> tuple[dict[str, MetricValue], list[str]]:
    """Run each metric; with ``cache``, a metric whose inputs, arguments and version are unchanged
    is read back instead of recomputed (only complete results are cached: nothing skipped or
    failed, so a rerun retries those)."""
    values: dict[str, MetricValue] = {}
    errors: list[str] = []
    digest = inputs_digest(preds, ctx) if cache is not None and not ctx.dry_run else None
    for spec in specs:
        try:
            cls = METRICS.get(spec.metric)
        except UnknownNameError:
            raise  # a config error: stop before anything is written
        except FacebenchError as e:  # the plugin's dependencies are missing: skip with the fix
            values[spec.key] = MetricValue(name=spec.key, value=None, higher_is_better=True, variant=spec.metric,
                                           skipped=str(e))
            log.debug("%s/%s skipped: %s", task.name, spec.key, e)  # the end-of-run table lists skips
            continue
        args = metric_args_for(spec, metric_args)
        key = (content_key("score", spec.metric, spec.key, args, f"{cls.__module__}.{cls.__qualname__}",
                           getattr(cls, "version", "1"), digest) if digest else None)
        cached = _from_cache(cache.get(key)) if key else None
        if cached is not None:
            for mv in cached:
                values[mv.name] = finalize(mv, preds)
            continue
        try:
            metric = cls(key=spec.key, **args)
            out = metric.compute(preds, ctx)
            final = getattr(cls, "failures_are_final", True)
            if key and all(not mv.skipped and (final or (not mv.n_failed and
                           not any(v is None for v in mv.per_item.values()))) for mv in out):
                cache.put(key, _to_cache(out))
        except FacebenchError as e:
            out = [MetricValue(name=spec.key, value=None, higher_is_better=cls.higher_is_better, variant=spec.metric,
                               skipped=str(e))]
        except Exception as e:  # a bug or a crash in one metric must not lose the others
            log.error("metric %s on task %s failed:\n%s", spec.key, task.name, traceback.format_exc())
            errors.append(f"{task.name}/{spec.key}: {type(e).__name__}: {e}")
            out = [MetricValue(name=spec.key, value=None, higher_is_better=cls.higher_is_better, variant=spec.metric,
                               skipped=f"error: {type(e).__name__}: {e}")]
        for mv in out:
            values[mv.name] = finalize(mv, preds)
            if mv.skipped:
                log.debug("%s/%s skipped: %s", task.name, mv.name, mv.skipped)  # listed by the end-of-run table
    return values, errors


def prepare_metrics(specs: list[MetricSpec], preds: list[Prediction], ctx: MetricContext,
                    metric_args: dict[str, dict[str, Any]]) -> None:
    """Let each metric precompute its per-item work for ``preds`` (one rank's shard). Failures
    here are not fatal: ``compute`` on rank 0 does the work again and reports any problem."""
    for spec in specs:
        try:
            cls = METRICS.get(spec.metric)
            cls(key=spec.key, **metric_args_for(spec, metric_args)).prepare(preds, ctx)
        except Exception as e:  # noqa: BLE001 - reported by compute() on rank 0
            log.warning("prepare %s/%s on this rank failed (rank 0 will recompute): %s", ctx.task, spec.key, e)
