"""Task YAML loading (lm-eval style): one YAML per task in ``tasks/``, groups in ``groups.yaml``.

YAML is read with ``yaml.safe_load`` (Python tags are refused) and validated key by key, so a
typo is an error, not a silently ignored setting.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from facebench.errors import TaskConfigError
from facebench.hashing import canonical_json, sha256_text
from facebench.registry import TASK_DIRS_ENTRY_POINT

TASK_KEYS = {"task", "kind", "mode", "description", "dataset", "split", "prompt", "generation", "metrics",
             "dataset_overrides", "columns", "video"}
METRIC_KEYS = {"metric", "key", "args", "datasets"}
GEN_KEYS = {"n", "height", "width", "params"}
KINDS = {"generation", "understanding"}
MODES = {"caption", "vqa"}
BUILTIN_DATASETS = ("unif2ace", "mini")


@dataclass(frozen=True)
class MetricSpec:
    metric: str
    key: str
    args: dict[str, Any] = field(default_factory=dict)
    datasets: tuple[str, ...] = ()  # empty: every dataset; "path" matches any local dataset


@dataclass
class TaskConfig:
    name: str
    kind: str
    prompt: str
    metrics: list[MetricSpec]
    dataset: str = "unif2ace"
    split: str = "test"
    mode: str | None = None
    description: str = ""
    generation: dict[str, Any] = field(default_factory=dict)
    dataset_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    video: dict[str, Any] = field(default_factory=dict)  # frame sampling of a video task (videoinput.py)
    source: str = ""

    def resolved(self, dataset: str | None) -> "TaskConfig":
        """The task as it runs on ``dataset``: overrides applied, metrics filtered."""
        ds = dataset or self.dataset
        cat = dataset_category(ds)
        out = copy.deepcopy(self)
        out.dataset = ds
        over = self.dataset_overrides.get(cat, {})
        for k, v in over.items():
            if k == "generation":
                gen = dict(out.generation)
                for gk, gv in v.items():
                    if gk == "params":
                        gen["params"] = {**gen.get("params", {}), **gv}
                    else:
                        gen[gk] = gv
                out.generation = gen
            elif k == "metrics":
                out.metrics = _parse_metrics(v, self.source)
            else:
                setattr(out, k, v)
        out.metrics = [m for m in out.metrics if not m.datasets or cat in m.datasets]
        out.dataset_overrides = {}
        return out

    def gen_settings(self) -> dict[str, Any]:
        g = self.generation
        return {"n": int(g.get("n", 1)), "height": int(g.get("height", 512)), "width": int(g.get("width", 512)),
                "params": dict(g.get("params", {}))}

    def to_dict(self) -> dict[str, Any]:
        out = {
            "task": self.name, "kind": self.kind, "mode": self.mode, "dataset": self.dataset, "split": self.split,
            "prompt": self.prompt, "generation": self.generation, "columns": self.columns,
            "metrics": [{"metric": m.metric, "key": m.key, "args": m.args, "datasets": list(m.datasets)}
                        for m in self.metrics],
        }
        if self.video:  # only video tasks: image tasks keep their fingerprints
            out["video"] = dict(self.video)
        return out

    def fingerprint(self) -> str:
        return sha256_text(canonical_json(self.to_dict()))[:16]


def dataset_category(ds: str) -> str:
    """'unif2ace' / 'mini' / another registered name, or 'path' for a local folder/file."""
    if ds in BUILTIN_DATASETS:
        return ds
    if os.sep in ds or ds.startswith(".") or Path(ds).suffix in (".jsonl", ".parquet") or Path(ds).exists():
        return "path"
    return ds


def _parse_metrics(raw: Any, source: str) -> list[MetricSpec]:
    if not isinstance(raw, list) or not raw:
        raise TaskConfigError(f"{source}: 'metrics' must be a non-empty list")
    out = []
    for m in raw:
        if isinstance(m, str):
            m = {"metric": m}
        if not isinstance(m, dict) or "metric" not in m:
            raise TaskConfigError(f"{source}: each metric needs a 'metric' name (got {m!r:.60})")
        bad = set(m) - METRIC_KEYS
        if bad:
            raise TaskConfigError(f"{source}: unknown metric key(s) {sorted(bad)}; allowed: {sorted(METRIC_KEYS)}")
        args = m.get("args") or {}
        if not isinstance(args, dict):
            raise TaskConfigError(f"{source}: metric '{m['metric']}' args must be a mapping")
        out.append(MetricSpec(metric=str(m["metric"]), key=str(m.get("key") or m["metric"]), args=dict(args),
                              datasets=tuple(m.get("datasets") or ())))
    keys = [m.key for m in out]
    if len(set(keys)) != len(keys):
        raise TaskConfigError(f"{source}: duplicate metric keys {keys}")
    return out


def parse_task(data: Any, source: str) -> TaskConfig:
    if not isinstance(data, dict):
        raise TaskConfigError(f"{source}: a task YAML must be a mapping")
    bad = set(data) - TASK_KEYS
    if bad:
        raise TaskConfigError(f"{source}: unknown key(s) {sorted(bad)}; allowed: {sorted(TASK_KEYS)}")
    for req in ("task", "kind", "prompt", "metrics"):
        if req not in data:
            raise TaskConfigError(f"{source}: missing required key '{req}'")
    kind = data["kind"]
    if kind not in KINDS:
        raise TaskConfigError(f"{source}: kind must be one of {sorted(KINDS)}, got {kind!r}")
    mode = data.get("mode")
    if kind == "understanding" and mode not in MODES:
        raise TaskConfigError(f"{source}: understanding tasks need mode: caption|vqa")
    gen = data.get("generation") or {}
    if not isinstance(gen, dict) or set(gen) - GEN_KEYS:
        raise TaskConfigError(f"{source}: 'generation' must be a mapping with keys {sorted(GEN_KEYS)}")
    prompt = data["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise TaskConfigError(f"{source}: 'prompt' must be a non-empty string")
    overrides = data.get("dataset_overrides") or {}
    if not isinstance(overrides, dict):
        raise TaskConfigError(f"{source}: 'dataset_overrides' must be a mapping")
    for ds, ov in overrides.items():
        if not isinstance(ov, dict) or set(ov) - (TASK_KEYS - {"task", "kind", "dataset_overrides"}):
            raise TaskConfigError(f"{source}: bad dataset_overrides for '{ds}'")
    video = data.get("video") or {}
    if video:
        if kind != "understanding":
            raise TaskConfigError(f"{source}: 'video' is for understanding tasks only")
        from facebench.errors import FacebenchError
        from facebench.runner.video_plan import parse_video_config

        try:
            parse_video_config(video, f"{source}: video")
        except FacebenchError as e:
            raise TaskConfigError(str(e)) from None
    return TaskConfig(
        video=dict(video), name=str(data["task"]), kind=kind, mode=mode, prompt=prompt, metrics=_parse_metrics(data["metrics"], source),
        dataset=str(data.get("dataset", "unif2ace")), split=str(data.get("split", "test")),
        description=str(data.get("description", "")), generation=dict(gen), dataset_overrides=dict(overrides),
        columns=dict(data.get("columns") or {}), source=source,
    )


def _load_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TaskConfigError(f"{path}: malformed YAML ({first})") from None
    except UnicodeDecodeError:
        raise TaskConfigError(f"{path}: not UTF-8 text") from None


def builtin_task_dir() -> Path:
    try:
        from importlib.resources import files

        return Path(str(files("facebench_tasks")))
    except ModuleNotFoundError:  # running from a source checkout without install
        from facebench.paths import package_root

        return package_root() / "tasks"


def _entry_point_dirs() -> list[Path]:
    dirs = []
    for ep in metadata.entry_points(group=TASK_DIRS_ENTRY_POINT):
        obj = ep.load()
        path = Path(obj) if isinstance(obj, (str, os.PathLike)) else Path(obj.__file__).parent
        dirs.append(path)
    return dirs


class TaskIndex:
    """All known tasks and groups: built-in, ``include_paths`` and entry-point folders."""

    def __init__(self, include_paths: list[str | Path] | None = None):
        self.dirs = [builtin_task_dir(), *[Path(p) for p in include_paths or []], *_entry_point_dirs()]
        env = os.environ.get("FACEBENCH_TASK_PATH")
        if env:
            self.dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
        self._files: dict[str, Path] = {}
        self.groups: dict[str, list[str]] = {}
        for d in self.dirs:
            if not d.is_dir():
                raise TaskConfigError(f"task folder {d} does not exist")
            for f in sorted(d.glob("*.yaml")):
                if f.name == "groups.yaml":
                    data = _load_yaml(f) or {}
                    groups = data.get("groups") if isinstance(data, dict) else None
                    if not isinstance(groups, dict):
                        raise TaskConfigError(f"{f}: expected a 'groups' mapping")
                    self.groups.update({str(k): [str(t) for t in v] for k, v in groups.items()})
                else:
                    self._files[f.stem] = f  # later folders override built-ins of the same name

    def names(self) -> list[str]:
        return sorted(self._files)

    def load(self, name: str) -> TaskConfig:
        if name not in self._files:
            import difflib

            from facebench.errors import UnknownNameError

            known = self.names() + sorted(self.groups)
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else f" (known: {', '.join(known)})"
            raise UnknownNameError(f"unknown task '{name}'{hint}")
        path = self._files[name]
        task = parse_task(_load_yaml(path), str(path))
        if task.name != name:
            raise TaskConfigError(f"{path}: 'task: {task.name}' does not match the file name '{name}'")
        return task

    def expand(self, names: list[str]) -> list[str]:
        """Expand groups, keep order, drop duplicates."""
        out: list[str] = []
        for n in names:
            for t in self.groups.get(n, [n]):
                if t not in out:
                    out.append(t)
        return out
