"""The run loop. Each phase reads only what the previous one wrote, so ``--mode score`` can
re-score without a model, and a killed run resumes from the cache with nothing redone."""
from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from facebench.adapters.base import ModelAdapter
from facebench.builtins import register_builtins
from facebench.cache import BlobStore, KVCache
from facebench.data.base import resolve_dataset
from facebench.errors import DatasetError, FacebenchError
from facebench.hashing import canonical_json, sha256_text
from facebench.images import load_image
from facebench.metrics.base import MetricContext
from facebench.paths import cache_root
from facebench.registry import MODELS
from facebench.runner import distributed
from facebench.runner import results as R
from facebench.runner.plan import WorkItem, assign_keys, plan_task, shard
from facebench.runner.predict import PredictStats, Predictor, materialize_images
from facebench.runner.score import apply_judge_override, prepare_metrics, score_task
from facebench.taskconfig import TaskConfig, TaskIndex, dataset_category
from facebench.types import Prediction, Sample

log = logging.getLogger("facebench")
CAPABILITY = {"generation": "generate", "understanding": "understand"}


@dataclass
class RunConfig:
    model: str | ModelAdapter
    tasks: list[str]
    model_args: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    limit: int | None = None
    batch_size: int = 8
    seed: int = 0
    device: str = "cpu"
    output_path: str | Path = "results"
    run_name: str | None = None
    mode: str = "all"  # all | predict | score
    use_cache: bool = True
    images: str | Path | None = None  # score images made elsewhere: <doc_id>.png / <doc_id>_<k>.png
    metric_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    judge: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    include_path: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        d = asdict(self) if not isinstance(self.model, ModelAdapter) else {**asdict(self), "model": self.model.name}
        d["output_path"] = str(self.output_path)
        d["images"] = str(self.images) if self.images else None
        return d


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict[str, Any]
    predict_stats: dict[str, PredictStats]
    errors: list[str]

    @property
    def model_calls(self) -> int:
        return sum(s.model_calls for s in self.predict_stats.values())


def _model_name(cfg: RunConfig) -> str:
    name = cfg.model.name if isinstance(cfg.model, ModelAdapter) else str(cfg.model)
    return re.sub(r"[^\w.-]+", "_", name)  # "pkg.mod:Class" plugins make safe folder names


def _dataset_label(ds: str) -> str:
    return ds if dataset_category(ds) != "path" else Path(ds).stem or "local"


def make_adapter(cfg: RunConfig) -> ModelAdapter:
    if isinstance(cfg.model, ModelAdapter):
        return cfg.model
    cls = MODELS.get(cfg.model)
    try:
        return cls(device=cfg.device, **cfg.model_args)
    except TypeError as e:
        raise FacebenchError(f"model '{cfg.model}': bad --model_args ({e})") from None
    except ModuleNotFoundError as e:
        from facebench.errors import MissingDependencyError

        raise MissingDependencyError((e.name or "?").split(".")[0], what=f"model '{cfg.model}'") from None


def _gen_key(task: TaskConfig, model_fp: str, seed: int, data_fp: str) -> str:
    payload = {"model": model_fp, "prompt": task.prompt, "gen": task.gen_settings(), "seed": seed, "data": data_fp,
               "split": task.split}
    return sha256_text(canonical_json(payload))[:12]


def _prediction_rows(items: list[WorkItem], records: dict[str, dict[str, Any]], blobs: BlobStore, run_dir: Path,
                     gen_dir: Path | None) -> list[dict[str, Any]]:
    rows = []
    for it in items:
        rec = records.get(it.key)
        if rec is None:
            continue
        pred = it.prediction
        if gen_dir is not None and rec.get("images"):
            pred.images = materialize_images(blobs, rec["images"], gen_dir, it.prediction.doc_id)
        elif "output" in rec:
            pred.output = rec["output"]
        row = pred.to_dict()
        row["images"] = [str(p.relative_to(run_dir)) for p in pred.images]
        row.update({"request": it.request.to_dict(), "time": rec.get("time"), "cached": rec.get("cached", False),
                    "error": rec.get("error")})
        rows.append(row)
    return rows


def _metric_context(task: TaskConfig, cfg: RunConfig, run_dir: Path, root: Path, samples: list[Sample],
                    ds: Any) -> MetricContext:
    gallery = ds.load("gallery") if dataset_category(task.dataset) == "mini" else []
    return MetricContext(task=task.name, dataset=task.dataset, run_dir=run_dir, cache_dir=root, device=cfg.device,
                         batch_size=cfg.batch_size, seed=cfg.seed, reference_samples=samples,
                         gallery_samples=gallery, judge=dict(cfg.judge), dry_run=cfg.dry_run)


def _exchange_parts(run_dir: Path, task: str, rows: list[dict[str, Any]], items: list[WorkItem],
                    dist: distributed.DistInfo) -> list[dict[str, Any]] | None:
    """Each rank writes its part file; after a barrier rank 0 merges all parts in plan order."""
    parts = run_dir / "parts"
    part = parts / f"predictions_{task}.rank{dist.rank}-of-{dist.world_size}.jsonl"
    R.write_jsonl(part, rows)
    distributed.barrier(dist)
    if not dist.is_main:
        return None
    by_id: dict[str, dict[str, Any]] = {}
    for r in range(dist.world_size):
        for row in R.read_jsonl(parts / f"predictions_{task}.rank{r}-of-{dist.world_size}.jsonl"):
            by_id[row["item_id"]] = row
    return [by_id[it.item_id] for it in items if it.item_id in by_id]


def _byo_predictions(task: TaskConfig, samples: list[Sample], images_dir: Path, seed: int) -> list[Prediction]:
    """Generation predictions from a folder of PNGs named by doc_id (bring your own images)."""
    if not images_dir.is_dir():
        raise DatasetError(f"--images folder {images_dir} does not exist")
    preds, missing = [], []
    for it in plan_task(task, samples, seed):
        found = sorted(images_dir.glob(f"{it.prediction.doc_id}_*.png")) or sorted(images_dir.glob(f"{it.prediction.doc_id}.png"))
        if not found:
            missing.append(it.prediction.doc_id)
            continue
        for f in found:
            load_image(f)  # corrupt/truncated files fail here, with the file named
        it.prediction.images = found
        preds.append(it.prediction)
    if not preds:
        raise DatasetError(f"no images named <doc_id>.png or <doc_id>_<k>.png in {images_dir} for task '{task.name}'")
    if missing:
        log.warning("%d of %d prompts have no image in %s (e.g. %s): scored without them",
                    len(missing), len(missing) + len(preds), images_dir, missing[0])
    return preds


def run(cfg: RunConfig) -> RunOutcome:
    """Run the configured phases and return the run directory and results."""
    register_builtins()
    if cfg.mode not in ("all", "predict", "score"):
        raise FacebenchError(f"--mode must be all|predict|score, got '{cfg.mode}'")
    if cfg.limit is not None and cfg.limit <= 0:
        raise FacebenchError("--limit must be a positive number")
    if cfg.batch_size <= 0:
        raise FacebenchError("--batch_size must be a positive number")
    index = TaskIndex(cfg.include_path)
    names = index.expand(cfg.tasks)
    if not names:
        raise FacebenchError("no task given (e.g. --task vqa or --task all)")
    tasks = [index.load(n).resolved(cfg.dataset) for n in names]  # fail on any bad name before any work
    known_keys = {m.key for t in tasks for m in t.metrics} | {m.metric for t in tasks for m in t.metrics}
    unknown = sorted(set(cfg.metric_args) - known_keys)
    if unknown:
        raise FacebenchError(f"--metric_args names {unknown}, which no selected task uses (known: {sorted(known_keys)})")
    dataset_name = tasks[0].dataset
    model_name = _model_name(cfg)
    run_dir = Path(cfg.output_path) / (cfg.run_name or f"{model_name}_{_dataset_label(dataset_name)}")
    run_dir.mkdir(parents=True, exist_ok=True)
    root = cache_root()

    needs_model = cfg.mode in ("all", "predict") and not (cfg.images and all(t.kind == "generation" for t in tasks))
    adapter = make_adapter(cfg) if needs_model else None
    if adapter is not None:
        model_info = {"name": model_name, "fingerprint": adapter.fingerprint(), "args": adapter.model_args,
                      "capabilities": sorted(adapter.capabilities), "paper_model": adapter.paper_model}
    else:
        prev = R.load_results(run_dir / "results.json") or {}
        model_info = prev.get("model") or {"name": model_name, "fingerprint": None, "args": cfg.model_args,
                                           "capabilities": [], "paper_model": None}
        if cfg.images:
            model_info = {**model_info, "fingerprint": f"images:{Path(cfg.images).resolve()}", "capabilities": ["generate"]}

    cache = KVCache(root / "predictions.sqlite")
    scores = KVCache(root / "scores.sqlite")
    blobs = BlobStore(root / "blobs")
    dist = distributed.dist_info()
    distributed.init(dist)
    predict_stats: dict[str, PredictStats] = {}
    errors: list[str] = []
    prev = R.load_results(run_dir / "results.json")
    same_model = prev is not None and prev.get("model", {}).get("fingerprint") == model_info.get("fingerprint")
    results: dict[str, Any] = {
        "schema_version": R.SCHEMA_VERSION, "facebench_version": R.package_versions().get("facebench"),
        "created": R.now_iso(), "model": model_info, "config": cfg.public(), "environment": R.environment(),
        "tasks": dict(prev.get("tasks", {})) if same_model else {},
    }
    ds_cache: dict[tuple[str, str], tuple[list[Sample], str, Any]] = {}
    try:
        for task in tasks:
            key = (task.dataset, task.split)
            if key not in ds_cache:
                ds = resolve_dataset(task.dataset, columns=task.columns or cfg.columns or None)
                samples = ds.load(task.split, cfg.limit)
                if not samples:
                    raise DatasetError(f"dataset '{task.dataset}' split '{task.split}' is empty")
                ds_cache[key] = (samples, ds.fingerprint(task.split), ds)
            samples, data_fp, ds = ds_cache[key]
            entry: dict[str, Any] = {
                "kind": task.kind, "task_hash": task.fingerprint(), "skipped": None,
                "dataset": {"name": task.dataset, "split": task.split, "n_samples": len(samples), "hash": data_fp},
                "metrics": {},
            }
            cap = CAPABILITY[task.kind]
            caps = set(model_info.get("capabilities") or [])
            if adapter is not None and cap not in caps:
                entry["skipped"] = f"model '{model_name}' has no '{cap}' capability"
                log.warning("task %s skipped: %s", task.name, entry["skipped"])
                results["tasks"][task.name] = entry
                continue
            t0 = time.perf_counter()
            pred_file = run_dir / f"predictions_{task.name}.jsonl"
            # -- predict -------------------------------------------------------------------------
            preds: list[Prediction]
            if cfg.images and task.kind == "generation":
                preds = _byo_predictions(task, samples, Path(cfg.images), cfg.seed)
            elif cfg.mode in ("all", "predict"):
                assert adapter is not None
                items = plan_task(task, samples, cfg.seed)
                assign_keys(items, adapter.fingerprint())
                mine = shard(items, dist.rank, dist.world_size)
                predictor = Predictor(adapter, cache, blobs, cfg.batch_size, cfg.use_cache)
                records, stats = predictor.run(mine, desc=f"{task.name}: predict")
                predict_stats[task.name] = stats
                gen_dir = (run_dir / "images" / _gen_key(task, adapter.fingerprint(), cfg.seed, data_fp)
                           if task.kind == "generation" else None)
                rows = _prediction_rows(mine, records, blobs, run_dir, gen_dir)
                if dist.active:
                    if cfg.mode == "all" and task.kind == "generation":
                        # per-item metric work (image features) on every rank, before the merge
                        mine_preds = [R.prediction_from_dict(r, run_dir) for r in rows if not r.get("error")]
                        prepare_metrics(apply_judge_override(task, cfg.judge), mine_preds,
                                        _metric_context(task, cfg, run_dir, root, samples, ds), cfg.metric_args)
                    rows = _exchange_parts(run_dir, task.name, rows, items, dist)
                    if rows is None:  # not rank 0: its part is written, rank 0 scores
                        continue
                R.write_jsonl(pred_file, rows)
                preds = [R.prediction_from_dict(r, run_dir) for r in rows if not r.get("error")]
                entry["predict"] = stats.to_dict()
                if stats.failed:
                    log.warning("%s: %d items failed in predict (%s)", task.name, stats.failed, stats.errors[0])
            else:
                if not pred_file.exists():
                    raise FacebenchError(f"no predictions for task '{task.name}' in {run_dir}; run --mode predict first "
                                         "(or pass --images DIR for generation tasks)")
                preds = [R.prediction_from_dict(r, run_dir) for r in R.read_jsonl(pred_file) if not r.get("error")]
            entry["n_items"] = len(preds)
            if cfg.mode == "predict":
                entry["metrics"] = results["tasks"].get(task.name, {}).get("metrics", {})
                results["tasks"][task.name] = entry
                continue
            # -- score ---------------------------------------------------------------------------
            ctx = _metric_context(task, cfg, run_dir, root, samples, ds)
            specs = apply_judge_override(task, cfg.judge)
            values, errs = score_task(task, specs, preds, ctx, cfg.metric_args, scores if cfg.use_cache else None)
            errors.extend(errs)
            entry["metrics"] = {k: v.summary() for k, v in values.items()}
            entry["seconds"] = round(time.perf_counter() - t0, 3)
            R.write_jsonl(run_dir / f"samples_{task.name}.jsonl", R.sample_rows(preds, values, run_dir))
            results["tasks"][task.name] = entry
            R.write_results(run_dir / "results.json", results)  # after every task: partial progress is kept
        if adapter is not None:
            results["model"]["info"] = adapter.info()
        results["config"]["tasks"] = sorted(results["tasks"])
        if dist.active:
            results["config"]["world_size"] = dist.world_size
        if dist.is_main:
            R.write_results(run_dir / "results.json", results)
    finally:
        distributed.finish(dist)
        if adapter is not None and not isinstance(cfg.model, ModelAdapter):
            adapter.close()
        cache.close()
        scores.close()
    return RunOutcome(run_dir=run_dir, results=results, predict_stats=predict_stats, errors=errors)


def evaluate(model: str | ModelAdapter, tasks: list[str] | str, **kwargs: Any) -> dict[str, Any]:
    """Notebook API: ``facebench.evaluate(model="retrieval", tasks=["conv"], dataset="mini")``
    returns the results dict (also written to ``output_path``)."""
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t]
    return run(RunConfig(model=model, tasks=list(tasks), **kwargs)).results
