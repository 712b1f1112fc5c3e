"""A local dataset: a folder with ``<split>.jsonl`` files (or one .jsonl file) and images.

Each JSONL line: ``{"doc_id", "image" (path relative to the file's folder), "caption",
"qa": [{"question", "answer", "kind", "family", "choices"}], "attributes": {family: value}}``.
A ``columns`` mapping renames fields of other layouts (e.g. ``{"caption": "text"}``).

Hostile input is refused with one line naming the file, the line and the field (see
``facebench.data.fields``): only regular files are read, up to a size limit; every field is
type-checked; image paths must stay inside the dataset folder and be regular files.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from facebench.data.base import Dataset
from facebench.data.fields import (FieldError, attributes_of, check_regular_file, doc_id_of, image_ref_of, loads,
                                   qa_list_of, read_text_capped, text_of)
from facebench.errors import DatasetError
from facebench.hashing import sha256_file, sha256_text
from facebench.types import QA, Sample


@lru_cache(maxsize=64)
def _real(root: Path) -> Path:
    return Path(os.path.realpath(root))


def _safe_join(root: Path, rel: str) -> Path:
    """Resolve ``rel`` inside ``root``; a path that escapes the dataset folder is refused, and so
    is one that exists but is not a regular file (a FIFO would block the image reader forever)."""
    p = Path(os.path.realpath(root / rel))
    root_r = _real(root)
    if p != root_r and root_r not in p.parents:
        raise DatasetError(f"image path '{rel}' escapes the dataset folder {root}: refused")
    if p.exists():
        check_regular_file(p, "image")
    return p


def parse_qa(raw: Any, field: str = "qa") -> list[QA]:
    """QA pairs from a list of {question, answer, kind, family, choices} (or its JSON string)."""
    try:
        return qa_list_of(raw, field)
    except FieldError as e:
        raise DatasetError(str(e)) from None


def record_to_sample(rec: Any, root: Path, columns: dict[str, str], index: int) -> Sample:
    """One JSONL record → Sample; a bad field raises ``FieldError`` (the loader adds file:line)."""
    if not isinstance(rec, dict):
        raise FieldError("row", f"must be a JSON object, got {type(rec).__name__}")

    def name(field: str) -> str:
        return columns.get(field, field)

    def col(field: str, default: Any = None) -> Any:
        return rec.get(name(field), default)

    try:
        doc_id = doc_id_of(col("doc_id"), f"{index:06d}")
    except FieldError as e:
        raise FieldError(name("doc_id"), str(e).split(": ", 1)[1]) from None
    if "/" in doc_id or "\\" in doc_id or doc_id.startswith("."):
        raise FieldError(name("doc_id"), f"'{doc_id}' must not contain path separators or start with '.'")
    image = image_ref_of(col("image"), name("image"))
    video = image_ref_of(col("video"), name("video"))  # a clip, for video tasks (same path rules)
    return Sample(
        doc_id=doc_id,
        image=_safe_join(root, image) if image else None,
        caption=text_of(col("caption", ""), name("caption")),
        qa=qa_list_of(col("qa"), name("qa")),
        attributes=attributes_of(col("attributes"), name("attributes")),
        video=_safe_join(root, video) if video else None,
    )


class LocalDataset(Dataset):
    def __init__(self, path: str | Path, columns: dict[str, str] | None = None, **_: Any):
        self.path = Path(path)
        self.columns = dict(columns or {})
        self.name = str(self.path)

    def _file(self, split: str) -> Path:
        """The split's JSONL file — a regular file within the size limit (never a FIFO/device)."""
        if self.path.exists() and not self.path.is_dir():
            check_regular_file(self.path)
            return self.path
        for cand in (self.path / f"{split}.jsonl", self.path / split / "data.jsonl", self.path / "metadata.jsonl"):
            if cand.exists() or cand.is_symlink():
                check_regular_file(cand)
                return cand
        raise DatasetError(f"dataset folder {self.path} has no '{split}.jsonl' (split '{split}')")

    def load(self, split: str, limit: int | None = None) -> list[Sample]:
        f = self._file(split)
        samples: list[Sample] = []
        seen: set[str] = set()
        lines = read_text_capped(f).split("\n")  # not splitlines(): U+2028 may stand inside a JSON string
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = loads(line)
                s = record_to_sample(rec, f.parent, self.columns, i)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{f}:{i + 1}: not valid JSON ({e.msg})") from None
            except FieldError as e:
                raise DatasetError(f"{f}:{i + 1}: {e}") from None
            except DatasetError as e:
                raise DatasetError(f"{f}:{i + 1}: {e}") from None
            if s.doc_id in seen:
                raise DatasetError(f"{f}:{i + 1}: duplicate doc_id '{s.doc_id}'")
            seen.add(s.doc_id)
            samples.append(s)
            if limit is not None and len(samples) >= limit:
                break
        return samples

    def fingerprint(self, split: str) -> str:
        return sha256_text(sha256_file(self._file(split)) + str(sorted(self.columns.items())))[:16]

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "columns": self.columns}
