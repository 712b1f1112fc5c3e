"""One run, as an object: ``plan`` → ``predict`` → ``score`` → ``write``.

A ``Run`` owns its config, its results file (``results_<stamp>.json``, claimed exclusively when the
run starts and never touched by another run) and the adapter it calls. Each phase reads only what
the one before produced, so ``--mode score`` re-scores the predictions of an earlier ``--mode
predict`` run without a model, and a killed run resumes from the prediction cache."""
from __future__ import annotations

import copy
import logging
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facebench.adapters.base import ModelAdapter
from facebench.builtins import register_builtins
from facebench.cache import BlobStore, KVCache
from facebench.data.base import Dataset, resolve_dataset
from facebench.data.integrity import content_fingerprint
from facebench.errors import DatasetError, FacebenchError
from facebench.hashing import canonical_json, content_key, sha256_text
from facebench.metrics.base import MetricContext
from facebench.paths import cache_root
from facebench.registry import MODELS
from facebench.runner import distributed
from facebench.runner import results as R
from facebench.runner.bounds import BOUND_MODELS, measure_bounds, wants_bounds
from facebench.runner.bounds import attach as attach_bounds
from facebench.runner.byo import byo_predictions
from facebench.runner.config import RunConfig
from facebench.runner.layout import RunFiles, results_files
from facebench.runner.plan import WorkItem, assign_keys, plan_task, shard
from facebench.runner.predict import Predictor, PredictStats, materialize_images
from facebench.runner.score import apply_judge_override, prepare_metrics, score_task
from facebench.taskconfig import TaskConfig, TaskIndex, dataset_category
from facebench.types import Prediction, Sample

log = logging.getLogger("facebench")
CAPABILITY = {"generation": "generate", "understanding": "understand"}
METRIC_AUTO_BATCH = 16  # metrics' batch size under --batch_size auto (the model's is searched, theirs is not)


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict[str, Any]
    predict_stats: dict[str, PredictStats]
    errors: list[str]
    results_file: Path | None = None

    @property
    def model_calls(self) -> int:
        return sum(s.model_calls for s in self.predict_stats.values())


@dataclass
class TaskWork:
    """One task as planned: its samples, the dataset they came from and its results entry."""

    task: TaskConfig
    samples: list[Sample]
    dataset: Dataset
    data_fp: str
    entry: dict[str, Any] = field(default_factory=dict)


def safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)  # "pkg.mod:Class" plugins make safe folder names


def dataset_label(ds: str) -> str:
    return ds if dataset_category(ds) != "path" else safe_name(Path(ds).stem or "local")


def dataset_root(ds: Dataset) -> Path | None:
    """The folder a dataset's relative file names are relative to (None when it has none)."""
    p = getattr(ds, "path", None)
    if p is None:
        return None
    p = Path(p)
    return p.parent if p.is_file() else p


def make_adapter(cfg: RunConfig) -> ModelAdapter:
    """The adapter: in-process, or a worker in the family's own environment (facebench.envs)."""
    if isinstance(cfg.model, ModelAdapter):
        return cfg.model
    from facebench.envs import make_adapter as adapter_for

    return adapter_for(MODELS.get(cfg.model), cfg.device, cfg.model_args, family=str(cfg.model))


def model_display_name(cfg: RunConfig) -> str:
    """One name per model: the adapter's ``name`` (a ``pkg.mod:Class`` spec is named after its class's ``name``)."""
    if isinstance(cfg.model, ModelAdapter):
        return cfg.model.name
    try:
        cls = MODELS.get(cfg.model)
    except FacebenchError:
        return str(cfg.model)
    name = getattr(cls, "name", None)
    return str(name if name and name != ModelAdapter.name else getattr(cls, "__name__", cfg.model))


GEN_TOP_KEYS = ("n", "height", "width")


def apply_gen_kwargs(task: TaskConfig, gen_kwargs: dict[str, Any]) -> TaskConfig:
    """``--gen_kwargs`` over the task YAML's ``generation`` (lm-eval's precedence): ``n``, ``height``
    and ``width`` set a generation task's image settings, every other key a request parameter."""
    if not gen_kwargs:
        return task
    out = copy.deepcopy(task)
    gen = dict(out.generation)
    params = dict(gen.get("params") or {})
    for k, v in gen_kwargs.items():
        if k in GEN_TOP_KEYS:
            if task.kind == "generation":
                gen[k] = v
        else:
            params[k] = v
    gen["params"] = params
    out.generation = gen
    return out


def gen_key(task: TaskConfig, model_fp: str, seed: int, data_fp: str) -> str:
    payload = {"model": model_fp, "prompt": task.prompt, "gen": task.gen_settings(), "seed": seed, "data": data_fp,
               "split": task.split}
    return sha256_text(canonical_json(payload))[:12]


class Run:
    def __init__(self, cfg: RunConfig):
        register_builtins()
        cfg.validate()
        self.cfg = cfg
        index = TaskIndex(cfg.include_path)
        names = index.expand(cfg.tasks)
        if not names:
            raise FacebenchError("no task given (e.g. --task vqa or --task all)")
        # every bad name fails before work; --gen_kwargs beats the task YAML, which beats adapter defaults
        self.tasks = [apply_gen_kwargs(index.load(n).resolved(cfg.dataset), cfg.gen_kwargs) for n in names]
        self._warn_shadowed_model_args()
        known = {m.key for t in self.tasks for m in t.metrics} | {m.metric for t in self.tasks for m in t.metrics}
        unknown = sorted(set(cfg.metric_args) - known)
        if unknown:
            raise FacebenchError(f"--metric_args names {unknown}, which no selected task uses (known: {sorted(known)})")
        self.model_name = safe_name(model_display_name(cfg))
        self.run_dir = Path(cfg.output_path) / (cfg.run_name or f"{self.model_name}_{dataset_label(self.tasks[0].dataset)}")
        self.dist = distributed.dist_info()
        if self.dist.active and cfg.device == "cuda":  # one GPU per rank, as torchrun intends
            import os

            cfg.device = f"cuda:{os.environ.get('LOCAL_RANK', self.dist.rank)}"
        self.cache_dir = cache_root()
        self.adapter: ModelAdapter | None = None
        self.files: RunFiles | None = None
        self.errors: list[str] = []
        self.predict_stats: dict[str, PredictStats] = {}
        self.results: dict[str, Any] = {}
        self._datasets: dict[tuple[str, str], tuple[list[Sample], str, Dataset]] = {}
        self._cache: KVCache | None = None
        self._scores: KVCache | None = None
        self._blobs = BlobStore(self.cache_dir / "blobs")
        self.measure_bounds = wants_bounds(cfg, self.tasks, self.dist.active)  # floor/ceiling after scoring

    # -- the four steps ------------------------------------------------------------------------------
    def execute(self) -> RunOutcome:
        distributed.init(self.dist)
        status = "failed"
        try:
            self._start()
            for work in self.plan():
                if work.entry.get("skipped"):
                    self._set_task(work)
                    continue
                log.info("%s: start (%d samples of %s/%s)", work.task.name, len(work.samples), work.task.dataset,
                         work.task.split)
                preds = self.predict(work)
                if preds is None:  # a rank other than 0 under torchrun: its part is written
                    continue
                if self.cfg.mode != "predict":
                    self.score(work, preds)
                self._set_task(work)
                self.write("running")
                log.info("%s: done in %.1fs (%d items)", work.task.name, work.entry.get("predict_seconds", 0)
                         + work.entry.get("score_seconds", 0), work.entry.get("n_items", 0))
            if self.measure_bounds and not self.errors:
                self._attach_bounds(measure_bounds(self.cfg))
            status = "partial" if self.cfg.partial_reasons() else "complete"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            try:
                if self.files is not None or self.results.get("tasks"):
                    self.write(status)
            finally:
                distributed.finish(self.dist)
                self._close()
        return RunOutcome(run_dir=self.run_dir, results=self.results, predict_stats=self.predict_stats,
                          errors=self.errors, results_file=self.files.results if self.files else None)

    def plan(self):
        """Yield each task with its samples (datasets are loaded once per dataset/split)."""
        for task in self.tasks:
            samples, data_fp, ds = self._load(task)
            entry: dict[str, Any] = {
                "kind": task.kind, "task_hash": task.fingerprint(), "skipped": None,
                "dataset": {"name": task.dataset, "split": task.split, "n_samples": len(samples), "hash": data_fp},
                "generation": task.gen_settings(), "metrics": {},
            }
            cap = CAPABILITY[task.kind]
            caps = set(self.results["model"].get("capabilities") or [])
            if task.video:  # recorded with the results; needs the adapter's "video" capability too
                from facebench.runner.video_plan import task_policy

                entry["video"] = task_policy(task, task.gen_settings()["params"])[0].to_dict()
                cap = cap if cap not in caps else "video"
            if self.adapter is not None and cap not in caps and not (self.cfg.images and task.kind == "generation"):
                entry["skipped"] = f"model '{self.model_name}' has no '{cap}' capability"
                log.warning("task %s skipped: %s", task.name, entry["skipped"])
            yield TaskWork(task, samples, ds, data_fp, entry)

    def predict(self, work: TaskWork) -> list[Prediction] | None:
        """The task's predictions: from ``--images``, from the model (through the cache), or, in
        ``--mode score``, from the latest earlier run that predicted this task."""
        task, cfg = work.task, self.cfg
        t0 = time.perf_counter()
        work.entry["started"] = R.now_iso()
        if cfg.images and task.kind == "generation":
            preds, ident = byo_predictions(task, work.samples, Path(cfg.images), cfg.seed)
            work.entry["images_from"] = {"folder": Path(cfg.images).name, "fingerprint": ident}
        elif cfg.mode in ("all", "predict"):
            preds = self._predict_with_model(work)
            if preds is None:
                return None
        else:
            preds = self._earlier_predictions(work)
        work.entry["n_items"] = len(preds)
        work.entry["predict_seconds"] = round(time.perf_counter() - t0, 3)
        return preds

    def score(self, work: TaskWork, preds: list[Prediction]) -> None:
        task, cfg = work.task, self.cfg
        stats = self.predict_stats.get(task.name)
        if not preds and stats is not None and stats.failed:
            reason = (f"all {stats.failed} items failed in predict, so nothing was scored; first error: "
                      f"{stats.errors[0] if stats.errors else '?'}")
            self.errors.append(f"{task.name}: {reason}")
            work.entry["metrics"] = {}
            work.entry["failed"] = reason  # never taken as this task's result by the readers
            return
        t0 = time.perf_counter()
        ctx = self._metric_context(work)
        specs = apply_judge_override(task, cfg.judge)
        values, errs = score_task(task, specs, preds, ctx, cfg.metric_args, self._scores if cfg.use_cache else None)
        self.errors.extend(errs)
        work.entry["metrics"] = {k: v.summary() for k, v in values.items()}
        work.entry["score_seconds"] = round(time.perf_counter() - t0, 3)
        samples_file = self._claim().samples(task.name)
        R.write_jsonl(samples_file, R.sample_rows(preds, values, self.run_dir, dataset_root(work.dataset)))
        work.entry.setdefault("files", {})["samples"] = samples_file.name

    def write(self, status: str) -> Path | None:
        """Write this run's results file (only its own file; earlier runs are never touched)."""
        if not self.dist.is_main or (self.files is None and status != "running" and not self.results.get("tasks")):
            return None
        files = self._claim()
        self.results["run_id"] = files.stamp
        self.results["status"] = status
        self.results["partial"] = self.cfg.partial_reasons() or None
        self.results["errors"] = list(self.errors)
        if status != "running":
            self.results["finished"] = R.now_iso()
            if self.adapter is not None:
                self.results["model"]["info"] = self._model_info()
        try:
            R.write_results(files.results, self.results)
        except OSError:
            if files.results.exists() and files.results.stat().st_size == 0:
                files.results.unlink(missing_ok=True)  # never leave an empty results file behind
            raise
        return files.results

    # -- internals --------------------------------------------------------------------------------
    def _attach_bounds(self, bounds: dict[str, dict[str, dict[str, Any]]]) -> None:
        """The floor/ceiling runs are measured once this run has scored (nothing is spent on them
        when the model fails), then recorded beside each metric before the final write."""
        for tname, entry in (self.results.get("tasks") or {}).items():
            attach_bounds(entry.get("metrics") or {}, bounds.get(tname))
        self.results["bounds"] = {"floor": BOUND_MODELS["floor"], "ceiling": BOUND_MODELS["ceiling"],
                                  "note": "each measured with this run's settings, as its own run"}

    def _warn_shadowed_model_args(self) -> None:
        if isinstance(self.cfg.model, ModelAdapter):
            return
        for t in self.tasks:
            hidden = sorted(set(self.cfg.model_args) & set(t.gen_settings()["params"]))
            if hidden:
                log.warning("%s: --model_args %s are overridden by the task's generation settings %s; fix: pass "
                            "them as --gen_kwargs %s", t.name, ",".join(hidden),
                            {k: t.gen_settings()["params"][k] for k in hidden},
                            ",".join(f"{k}={self.cfg.model_args[k]}" for k in hidden))

    def _start(self) -> None:
        cfg = self.cfg
        # the cache databases are opened first: a cache problem is one line before any model loads
        self._cache = KVCache(self.cache_dir / "predictions.sqlite")
        self._scores = KVCache(self.cache_dir / "scores.sqlite")
        from facebench.network import ensure_offline_mode_if_unreachable

        ensure_offline_mode_if_unreachable()  # once per run: an offline machine fails fast, with the fix
        needs_model = cfg.mode in ("all", "predict") and not (cfg.images and all(t.kind == "generation" for t in self.tasks))
        if needs_model:
            self.adapter = make_adapter(cfg)
            if not self.adapter.capabilities:
                raise FacebenchError(f"model '{self.model_name}' declares no capabilities, so it can run no task; fix: set "
                                     "capabilities = frozenset({'generate'}) and/or {'understand'} on the adapter class")
            model_info = {"name": self.model_name, "fingerprint": self.adapter.fingerprint(),
                          "args": self.adapter.model_args, "capabilities": sorted(self.adapter.capabilities),
                          "paper_model": self.adapter.paper_model}
        else:
            model_info = {"name": self.model_name, "fingerprint": None, "args": cfg.model_args,
                          "capabilities": ["generate"] if cfg.images else [], "paper_model": None}
        if self.dist.active:  # every rank names its part files after rank 0's stamp
            self._claim()
        config = cfg.public()
        if self.dist.active:
            config["world_size"] = self.dist.world_size
        self.results = {
            "schema_version": R.SCHEMA_VERSION, "run_id": None, "status": "running",
            "facebench_version": R.package_versions().get("facebench"), "created": R.now_iso(), "finished": None,
            "model": model_info, "config": config, "environment": R.environment(), "tasks": {},
        }

    def _model_info(self) -> dict[str, Any]:
        """What the adapter says about itself (backends, devices, settings). When every output came
        from the cache the adapter never loaded, so the info of the run that computed them (stored
        under the model fingerprint) is recorded instead of an unloaded adapter's placeholders."""
        assert self.adapter is not None and self._cache is not None
        key = content_key("model-info", self.adapter.fingerprint())
        if any(s.computed for s in self.predict_stats.values()):
            info = self.adapter.info()
            self._cache.put(key, info)
            return info
        stored = self._cache.get(key) if self.predict_stats else None
        if isinstance(stored, dict):
            return {**stored, "outputs_from_cache": True}
        return self.adapter.info()

    def _claim(self) -> RunFiles:
        """Claim this run's file names when it first has something to write, so a run that fails
        on bad input leaves nothing behind."""
        if self.files is None:
            stamp = None
            if self.dist.is_main:
                self.files = RunFiles.claim(self.run_dir)
                stamp = self.files.stamp
            stamp = distributed.broadcast_str(self.dist, stamp)
            if self.files is None:
                self.files = RunFiles(self.run_dir, str(stamp))
            if self.results:
                self.results["run_id"] = self.files.stamp
        return self.files

    def _set_task(self, work: TaskWork) -> None:
        self.results["tasks"][work.task.name] = work.entry
        if self.cfg.images and work.entry.get("images_from") and not self.results["model"]["fingerprint"]:
            self.results["model"]["fingerprint"] = work.entry["images_from"]["fingerprint"]

    def _load(self, task: TaskConfig) -> tuple[list[Sample], str, Dataset]:
        key = (task.dataset, task.split)
        if key not in self._datasets:
            ds = resolve_dataset(task.dataset, columns=task.columns or self.cfg.columns or None)
            limit = self.cfg.limit
            if isinstance(limit, float):  # a fraction of the split, as lm-eval's --limit 0.1
                samples = ds.load(task.split, None)
                samples = samples[: max(1, math.ceil(limit * len(samples)))]
            else:
                samples = ds.load(task.split, limit)
            if not samples:
                raise DatasetError(f"dataset '{task.dataset}' split '{task.split}' is empty")
            # the declared fingerprint + every image's content: a swapped or edited image changes it
            fp = content_fingerprint(ds.fingerprint(task.split),
                                     ((s.doc_id, s.image if s.image is not None else s.video) for s in samples))
            self._datasets[key] = (samples, fp, ds)
        return self._datasets[key]

    def _metric_context(self, work: TaskWork) -> MetricContext:
        cfg = self.cfg
        gallery = work.dataset.load("gallery") if dataset_category(work.task.dataset) == "mini" else []
        return MetricContext(task=work.task.name, dataset=work.task.dataset, run_dir=self.run_dir,
                             cache_dir=self.cache_dir, device=cfg.device,
                             batch_size=cfg.batch_size if isinstance(cfg.batch_size, int) else METRIC_AUTO_BATCH, seed=cfg.seed,
                             reference_samples=work.samples, gallery_samples=gallery, judge=dict(cfg.judge),
                             dry_run=cfg.dry_run)

    def _predict_with_model(self, work: TaskWork) -> list[Prediction] | None:
        task, cfg, adapter = work.task, self.cfg, self.adapter
        assert adapter is not None and self._cache is not None
        items = plan_task(task, work.samples, cfg.seed)
        assign_keys(items, adapter.fingerprint())
        mine = shard(items, self.dist.rank, self.dist.world_size)
        predictor = Predictor(adapter, self._cache, self._blobs, cfg.batch_size, cfg.use_cache)
        records, stats = predictor.run(mine, desc=f"{task.name}: predict")
        self.predict_stats[task.name] = stats
        log.info("%s: %d items: %d from the cache, %d computed, %d failed%s", task.name, stats.items, stats.cached,
                 stats.computed, stats.failed, f", {stats.empty} empty answers (scored as wrong)" if stats.empty else "")
        gen_dir = (self.run_dir / "images" / gen_key(task, adapter.fingerprint(), cfg.seed, work.data_fp)
                   if task.kind == "generation" else None)
        root = dataset_root(work.dataset)
        rows = self._prediction_rows(mine, records, gen_dir, root)
        if self.dist.active:
            if cfg.mode == "all" and task.kind == "generation":
                # per-item metric work (image features) on every rank, before the merge
                mine_preds = [R.prediction_from_dict(r, self.run_dir, root) for r in rows if not r.get("error")]
                prepare_metrics(apply_judge_override(task, cfg.judge), mine_preds, self._metric_context(work),
                                cfg.metric_args)
            rows = self._exchange_parts(task.name, rows, items)
            if rows is None:
                return None
        pred_file = self._claim().predictions(task.name)
        R.write_jsonl(pred_file, rows)
        work.entry.setdefault("files", {})["predictions"] = pred_file.name
        work.entry["predict"] = stats.to_dict()
        if stats.failed:
            log.warning("%s: %d items failed in predict (%s)", task.name, stats.failed, stats.errors[0])
        return [R.prediction_from_dict(r, self.run_dir, root) for r in rows if not r.get("error")]

    def _prediction_rows(self, items: list[WorkItem], records: dict[str, dict[str, Any]], gen_dir: Path | None,
                         root: Path | None) -> list[dict[str, Any]]:
        rows = []
        for it in items:
            rec = records.get(it.key)
            if rec is None:
                continue
            pred = it.prediction
            if gen_dir is not None and rec.get("images"):
                pred.images = materialize_images(self._blobs, rec["images"], gen_dir, it.prediction.doc_id)
            elif "output" in rec:
                pred.output = rec["output"]
            row = R.prediction_row(pred, self.run_dir, root)
            row.update({"request": it.request.to_dict(), "time": rec.get("time"),
                        "cached": rec.get("cached", False), "error": rec.get("error")})
            rows.append(row)
        return rows

    def _exchange_parts(self, task: str, rows: list[dict[str, Any]], items: list[WorkItem]
                        ) -> list[dict[str, Any]] | None:
        """Each rank writes its part file; after a barrier rank 0 merges all parts in plan order."""
        parts = self.run_dir / "parts" / self._claim().stamp
        dist = self.dist
        R.write_jsonl(parts / f"predictions_{task}.rank{dist.rank}-of-{dist.world_size}.jsonl", rows)
        distributed.barrier(dist)
        if not dist.is_main:
            return None
        by_id: dict[str, dict[str, Any]] = {}
        for r in range(dist.world_size):
            for row in R.read_jsonl(parts / f"predictions_{task}.rank{r}-of-{dist.world_size}.jsonl"):
                by_id[row["item_id"]] = row
        return [by_id[it.item_id] for it in items if it.item_id in by_id]

    def _earlier_predictions(self, work: TaskWork) -> list[Prediction]:
        """``--mode score``: the predictions of the newest earlier run in this folder that predicted
        this task on the same data; its model identity is carried over."""
        task = work.task
        for path in reversed(results_files(self.run_dir)):
            if self.files is not None and path == self.files.results:
                continue
            prev = R.load_results(path) or {}
            entry = (prev.get("tasks") or {}).get(task.name) or {}
            pred_name = (entry.get("files") or {}).get("predictions")
            if not pred_name or (entry.get("dataset") or {}).get("hash") != work.data_fp:
                continue
            pred_file = self.run_dir / pred_name
            if not pred_file.is_file():
                continue
            if prev.get("model"):
                caps = self.results["model"].get("capabilities")
                self.results["model"] = {**prev["model"], "capabilities": prev["model"].get("capabilities") or caps}
            work.entry["predictions_from"] = {"run_id": prev.get("run_id"), "file": pred_name}
            root = dataset_root(work.dataset)
            return [R.prediction_from_dict(r, self.run_dir, root) for r in R.read_jsonl(pred_file) if not r.get("error")]
        raise FacebenchError(f"no predictions for task '{task.name}' on this data in {self.run_dir}; fix: run "
                             "--mode predict first (or pass --images DIR for generation tasks)")

    def _close(self) -> None:
        if self.adapter is not None and not isinstance(self.cfg.model, ModelAdapter):
            self.adapter.close()
        for c in (self._cache, self._scores):
            if c is not None:
                c.close()


def run(cfg: RunConfig) -> RunOutcome:
    """Run the configured phases and return the run directory and results (with the measured
    floor/ceiling beside each metric when ``cfg.bounds`` asks for them)."""
    return Run(cfg).execute()


def evaluate(model: str | ModelAdapter, tasks: list[str] | str, **kwargs: Any) -> dict[str, Any]:
    """Notebook API: ``facebench.evaluate(model="retrieval", tasks=["conv"], dataset="mini")``
    returns the results dict (also written to ``output_path``)."""
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t]
    return run(RunConfig(model=model, tasks=list(tasks), **kwargs)).results


def simple_evaluate(model: str | ModelAdapter, model_args: str | dict[str, Any] | None = None,
                    tasks: list[str] | str = (), log_samples: bool = False, gen_kwargs: str | dict[str, Any] | None = None,
                    **kwargs: Any) -> dict[str, Any]:
    """lm-eval's ``simple_evaluate``: ``model_args``/``gen_kwargs`` as ``"k=v,..."`` strings or dicts,
    ``tasks`` a list or a comma-separated string. Returns the results dict; with ``log_samples``
    also ``results["samples"] = {task: [per-sample records]}`` (read back from the run's files)."""
    from facebench.adapters.base import parse_model_args

    margs = parse_model_args(model_args) if isinstance(model_args, str) else dict(model_args or {})
    gkw = parse_model_args(gen_kwargs) if isinstance(gen_kwargs, str) else dict(gen_kwargs or {})
    names = [t for t in tasks.split(",") if t] if isinstance(tasks, str) else list(tasks)
    out = run(RunConfig(model=model, tasks=names, model_args=margs, gen_kwargs=gkw, **kwargs))
    results = dict(out.results)
    if log_samples:
        results["samples"] = {t: R.read_jsonl(out.run_dir / e["files"]["samples"])
                              for t, e in results["tasks"].items() if (e.get("files") or {}).get("samples")}
    return results


__all__ = ["Run", "RunConfig", "RunOutcome", "TaskWork", "evaluate", "make_adapter", "run", "simple_evaluate"]
