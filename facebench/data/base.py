"""The dataset interface and name/path resolution."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from facebench.errors import DatasetError
from facebench.types import Sample


class Dataset:
    """A named source of ``Sample``s by split. ``fingerprint()`` changes when the data changes
    (it is part of every cache key and recorded in results)."""

    name: str = "dataset"

    def load(self, split: str, limit: int | None = None) -> list[Sample]:
        raise NotImplementedError  # abstract

    def fingerprint(self, split: str) -> str:
        raise NotImplementedError  # abstract

    def info(self) -> dict[str, Any]:
        return {"name": self.name}


def resolve_dataset(spec: str, columns: dict[str, str] | None = None, **kwargs: Any) -> Dataset:
    """``spec`` is a registered name (``unif2ace``, ``mini``, plugins) or a local path
    (folder with ``<split>.jsonl``, a .jsonl/.parquet file, or an HF dataset folder)."""
    from facebench.builtins import register_builtins
    from facebench.registry import DATASETS

    register_builtins()
    if spec in DATASETS:
        return DATASETS.get(spec)(columns=columns, **kwargs)
    path = Path(spec).expanduser()
    if path.exists():
        from facebench.data.dfer_sets import detect
        from facebench.data.local import LocalDataset

        dfer = detect(path)  # a DFEW / MAFW release folder
        if dfer is not None:
            return dfer

        if path.suffix == ".jsonl" or (path.is_dir() and (any(path.glob("*.jsonl")) or any(path.glob("*/data.jsonl")))):
            return LocalDataset(path, columns=columns)
        from facebench.data.hf import UniF2aceDataset  # parquet files or an HF save_to_disk folder

        ds = UniF2aceDataset(columns=columns, path=str(path))
        ds.name = str(path)
        return ds
    if "/" in spec or spec.startswith("."):
        raise DatasetError(f"dataset path '{spec}' does not exist")
    raise DATASETS.unknown(spec)
