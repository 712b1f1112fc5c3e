"""A local dataset: a folder with ``<split>.jsonl`` files (or one .jsonl file) and images.

Each JSONL line: ``{"doc_id", "image" (path relative to the file's folder), "caption",
"qa": [{"question", "answer", "kind", "family", "choices"}], "attributes": {family: value}}``.
A ``columns`` mapping renames fields of other layouts (e.g. ``{"caption": "text"}``).
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from facebench.errors import DatasetError
from facebench.hashing import sha256_file, sha256_text
from facebench.types import QA, Sample

from facebench.data.base import Dataset


@lru_cache(maxsize=64)
def _real(root: Path) -> Path:
    return Path(os.path.realpath(root))


def _safe_join(root: Path, rel: str) -> Path:
    """Resolve ``rel`` inside ``root``; a path that escapes the dataset folder is refused."""
    p = Path(os.path.realpath(root / rel))
    root_r = _real(root)
    if p != root_r and root_r not in p.parents:
        raise DatasetError(f"image path '{rel}' escapes the dataset folder {root}: refused")
    return p


def parse_qa(raw: Any) -> list[QA]:
    if raw is None:
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise DatasetError("qa column is a string that is not JSON") from None
    out = []
    for q in raw:
        if not isinstance(q, dict) or "question" not in q or "answer" not in q:
            raise DatasetError(f"qa entry {q!r:.80} lacks 'question'/'answer'")
        out.append(
            QA(
                question=str(q["question"]),
                answer=str(q["answer"]),
                kind=str(q.get("kind") or "open"),
                family=q.get("family"),
                choices=tuple(q.get("choices") or ()),
            )
        )
    return out


def record_to_sample(rec: dict[str, Any], root: Path, columns: dict[str, str], index: int) -> Sample:
    def col(name: str, default: Any = None) -> Any:
        return rec.get(columns.get(name, name), default)

    doc_id = col("doc_id")
    doc_id = str(doc_id) if doc_id is not None else f"{index:06d}"
    if "/" in doc_id or "\\" in doc_id or doc_id.startswith("."):
        raise DatasetError(f"doc_id '{doc_id}' must not contain path separators or start with '.'")
    image = col("image")
    caption = col("caption", "")
    if not isinstance(caption, str):
        raise DatasetError(f"doc {doc_id}: caption must be a string")
    attrs = col("attributes") or {}
    if isinstance(attrs, str):
        attrs = json.loads(attrs)
    return Sample(
        doc_id=doc_id,
        image=_safe_join(root, image) if image else None,
        caption=caption,
        qa=parse_qa(col("qa")),
        attributes={str(k): str(v) for k, v in attrs.items()},
    )


class LocalDataset(Dataset):
    def __init__(self, path: str | Path, columns: dict[str, str] | None = None, **_: Any):
        self.path = Path(path)
        self.columns = dict(columns or {})
        self.name = str(self.path)

    def _file(self, split: str) -> Path:
        if self.path.is_file():
            return self.path
        for cand in (self.path / f"{split}.jsonl", self.path / split / "data.jsonl", self.path / "metadata.jsonl"):
            if cand.exists():
                return cand
        raise DatasetError(f"dataset folder {self.path} has no '{split}.jsonl' (split '{split}')")

    def load(self, split: str, limit: int | None = None) -> list[Sample]:
        f = self._file(split)
        samples: list[Sample] = []
        seen: set[str] = set()
        try:
            lines = f.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise DatasetError(f"{f} is not UTF-8 text") from None
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{f}:{i + 1}: not valid JSON ({e.msg})") from None
            s = record_to_sample(rec, f.parent, self.columns, i)
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
