"""Writing a run's results and samples files (atomically) and reading predictions back.

Paths in these files are portable: images relative to the run folder, dataset images relative to
the dataset's root (or to the facebench cache, as ``$FACEBENCH_CACHE/...``), so results copied to
another machine read the same and carry no path of the machine that made them."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from facebench.images import atomic_write_text
from facebench.paths import package_root
from facebench.types import QA, MetricValue, Prediction

SCHEMA_VERSION = 2
CACHE_PREFIX = "$FACEBENCH_CACHE/"
TRACKED_PACKAGES = ("facebench", "torch", "torchvision", "torchmetrics", "open-clip-torch", "clean-fid", "openai",
                    "transformers", "diffusers", "datasets", "numpy", "pillow", "scipy", "dlib-bin",
                    "sentence-transformers", "pandas", "matplotlib")


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_hash() -> str | None:
    root = package_root()
    if not (root / ".git").exists():
        return None
    try:
        r = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return r.stdout.strip() or None if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(), "git_hash": git_hash(),
            "versions": dict(package_versions()), "argv": sys.argv[1:]}


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# Characters that str.splitlines() and some editors take as line breaks but JSON leaves unescaped
# (a model's garbled answer may hold them): escaped so one record is always one line.
_LINE_BREAKS_JSON_KEEPS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def jsonl_line(row: dict[str, Any]) -> str:
    """One JSON record on one line, readable UTF-8 (non-ASCII kept), whatever its strings hold."""
    text = json.dumps(row, ensure_ascii=False)
    for ch, esc in _LINE_BREAKS_JSON_KEEPS.items():
        text = text.replace(ch, esc)
    return text + "\n"


def jsonl_records(text: str) -> list[str]:
    """The lines of a JSONL text: split on "\\n" only (never str.splitlines, which also splits on
    U+2028, U+0085 … that may stand unescaped inside a JSON string)."""
    return [line for line in text.split("\n") if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(jsonl_line(r) for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").split("\n")):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                from facebench.errors import FacebenchError

                raise FacebenchError(f"{path}:{i + 1}: corrupt JSON line ({e.msg}); delete the file and re-run predict") from None
    return rows


def portable_path(path: Path | str | None, root: Path | None) -> str | None:
    """``path`` relative to ``root`` (the dataset root), else to the facebench cache, else as is."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    from facebench.paths import cache_root

    for base, prefix in ((root, ""), (cache_root(), CACHE_PREFIX)):
        if base is None:
            continue
        try:
            return prefix + str(p.resolve().relative_to(Path(base).resolve()))
        except ValueError:
            continue
    return str(p)


def resolve_portable(text: str | None, root: Path | None) -> Path | None:
    if not text:
        return None
    if text.startswith(CACHE_PREFIX):
        from facebench.paths import cache_root

        return cache_root() / text[len(CACHE_PREFIX):]
    p = Path(text)
    return p if p.is_absolute() or root is None else Path(root) / p


def _run_relative(paths: list[Path], run_dir: Path) -> list[str]:
    return [str(Path(x).relative_to(run_dir)) if Path(x).is_relative_to(run_dir) else str(x) for x in paths]


def prediction_row(pred: Prediction, run_dir: Path, root: Path | None) -> dict[str, Any]:
    d = pred.to_dict()
    d["images"] = _run_relative(pred.images, run_dir)
    d["source_image"] = portable_path(pred.source_image, root)
    if isinstance(d["meta"].get("video"), str):  # a clip (video tasks): named like source images
        d["meta"] = {**d["meta"], "video": portable_path(d["meta"]["video"], root)}
    return d


def prediction_from_dict(d: dict[str, Any], run_dir: Path, root: Path | None = None) -> Prediction:
    qa = d.get("qa")
    return Prediction(
        item_id=d["item_id"], doc_id=d["doc_id"], task=d["task"], prompt=d["prompt"], reference=d.get("reference"),
        images=[(run_dir / p) if not Path(p).is_absolute() else Path(p) for p in d.get("images", [])],
        output=d.get("output"),
        qa=QA(qa["question"], qa["answer"], qa.get("kind", "open"), qa.get("family"), tuple(qa.get("choices") or ()))
        if qa else None,
        attributes=d.get("attributes") or {}, source_image=resolve_portable(d.get("source_image"), root),
        meta=d.get("meta") or {},
    )


def sample_rows(preds: list[Prediction], values: dict[str, MetricValue], run_dir: Path,
                root: Path | None = None) -> list[dict[str, Any]]:
    rows = []
    for p in preds:
        d = prediction_row(p, run_dir, root)
        d["scores"] = {k: mv.per_item.get(p.item_id) for k, mv in values.items() if p.item_id in mv.per_item}
        d["details"] = {k: mv.details[p.item_id] for k, mv in values.items() if p.item_id in mv.details}
        rows.append(d)
    return rows


def load_results(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def write_results(path: Path, results: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(results, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
