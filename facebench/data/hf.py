"""UniF²ace-130K (and any Hugging Face image-caption dataset) through ``datasets``.

The hub id is ``tulvgengenr/UniF2ace-130K``; its field and split names are UNVERIFIED
(docs/reference.md §1), so columns are found from a list of common names or given explicitly
(task YAML ``columns:`` or ``--columns caption=text,image=jpg``). LLaVA-style ``conversations``
columns become QA pairs. Decoded images are written once as PNG under facebench's cache so every
later phase works on files. Only regular data files are opened (never a FIFO or a device), and a
row with a field of the wrong type is one line naming the source, the row and the field
(``facebench.data.fields``)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from facebench.data.base import Dataset
from facebench.data.fields import FieldError, attributes_of, check_regular_file, doc_id_of, loads, qa_list_of, text_of
from facebench.errors import DatasetError, MissingDependencyError
from facebench.hashing import canonical_json, sha256_text
from facebench.types import QA, Sample

HUB_ID = "tulvgengenr/UniF2ace-130K"
ENV_PATH = "FACEBENCH_UNIF2ACE_PATH"
CANDIDATES = {
    "doc_id": ("doc_id", "id", "image_id", "idx", "key"),
    "image": ("image", "img", "jpg", "png", "face"),
    "caption": ("caption", "text", "description", "prompt", "long_caption"),
    "qa": ("qa", "vqa", "qa_pairs", "conversations", "conversation"),
    "attributes": ("attributes", "attrs"),
}


def conversations_to_qa(conv: list[dict[str, Any]]) -> list[QA]:
    """LLaVA format [{"from": "human", "value": "<image>\\nQ"}, {"from": "gpt", "value": "A"}, ...]."""
    out, question = [], None
    for turn in conv:
        role = turn.get("from") or turn.get("role")
        text = str(turn.get("value") or turn.get("content") or "").replace("<image>", "").strip()
        if role in ("human", "user"):
            question = text
        elif role in ("gpt", "assistant") and question is not None:
            out.append(QA(question=question, answer=text))
            question = None
    return out


def _pick(columns: dict[str, str], names: list[str], field: str) -> str | None:
    if field in columns:
        if columns[field] not in names:
            raise DatasetError(f"column '{columns[field]}' (for {field}) not in dataset columns {names}")
        return columns[field]
    return next((c for c in CANDIDATES[field] if c in names), None)


class UniF2aceDataset(Dataset):
    name = "unif2ace"

    def __init__(self, columns: dict[str, str] | None = None, path: str | None = None, hub_id: str = HUB_ID, **_: Any):
        self.columns = dict(columns or {})
        self.source = path or os.environ.get(ENV_PATH) or hub_id
        self.hub_id = hub_id

    def _load_hf(self, split: str):
        try:
            import datasets
        except ImportError:
            raise MissingDependencyError("datasets", what="the UniF²ace dataset loader") from None
        if not sys.stderr.isatty() or os.environ.get("FACEBENCH_NO_PROGRESS"):
            datasets.disable_progress_bars()  # as facebench.progress: no bars in logs
        src = self.source
        p = Path(src)
        if p.exists() and not p.is_dir():
            check_regular_file(p)
        elif p.is_dir():
            for f in list(p.glob("*.parquet")) + list(p.glob("*.arrow")):
                check_regular_file(f)
        try:
            if p.is_file():
                kind = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}.get(p.suffix, "parquet")
                return datasets.load_dataset(kind, data_files={split: str(p)}, split=split)
            if p.is_dir() and any(p.glob("*.parquet")) and not (p / "dataset_info.json").exists():
                return datasets.load_dataset("parquet", data_files={split: sorted(str(f) for f in p.glob(f"{split}*.parquet"))
                                                                  or sorted(str(f) for f in p.glob("*.parquet"))}, split=split)
            if p.is_dir() and (p / "dataset_info.json").exists():
                return datasets.load_from_disk(str(p))
            return datasets.load_dataset(src, split=split)
        except (FileNotFoundError, ConnectionError, OSError, ValueError) as e:
            offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
            why = "offline mode is on (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE)" if offline else f"{type(e).__name__}: {str(e)[:160]}"
            raise DatasetError(
                f"cannot load UniF²ace-130K from '{src}' split '{split}' ({why}); fix: download it once with "
                f"`hf download {self.hub_id} --repo-type dataset --local-dir DIR` and pass --dataset DIR "
                f"(or set {ENV_PATH}=DIR), or use --dataset mini for the offline mini benchmark") from None

    def load(self, split: str, limit: int | None = None) -> list[Sample]:
        ds = self._load_hf(split)
        names = list(ds.column_names)
        img_col = _pick(self.columns, names, "image")
        cap_col = _pick(self.columns, names, "caption")
        if cap_col is None:
            raise DatasetError(f"no caption column among {names}; pass --columns caption=<name>")
        qa_col, id_col, attr_col = (_pick(self.columns, names, f) for f in ("qa", "doc_id", "attributes"))
        img_dir = self._image_dir(split)
        samples = []
        n = len(ds) if limit is None else min(limit, len(ds))
        for i in range(n):
            row = ds[i]
            try:
                samples.append(self._row_to_sample(row, i, split, id_col, img_col, cap_col, qa_col, attr_col, img_dir))
            except (FieldError, DatasetError) as e:
                raise DatasetError(f"{self.source} (split '{split}') row {i}: {e}") from None
        return samples

    def _row_to_sample(self, row: dict[str, Any], i: int, split: str, id_col: str | None, img_col: str | None,
                       cap_col: str, qa_col: str | None, attr_col: str | None, img_dir: Path) -> Sample:
        def named(col: str | None, e: FieldError) -> FieldError:
            return FieldError(col or e.field, str(e).split(": ", 1)[1])

        try:
            doc_id = doc_id_of(row[id_col], f"{split}-{i:06d}") if id_col else f"{split}-{i:06d}"
        except FieldError as e:
            raise named(id_col, e) from None
        doc_id = doc_id.replace("/", "_").replace("\\", "_").lstrip(".") or f"{split}-{i:06d}"
        caption = text_of(row[cap_col], cap_col)
        qa: list[QA] = []
        if qa_col and row.get(qa_col) is not None:
            raw = row[qa_col]
            if isinstance(raw, str):
                try:
                    raw = loads(raw, qa_col)
                except json.JSONDecodeError as e:
                    raise FieldError(qa_col, f"is a string that is not JSON ({e.msg})") from None
            if isinstance(raw, list) and raw and isinstance(raw[0], dict) and ("from" in raw[0] or "role" in raw[0]):
                if not all(isinstance(t, dict) for t in raw):
                    raise FieldError(qa_col, "conversation turns must be objects")
                qa = conversations_to_qa(raw)
            else:
                qa = qa_list_of(raw, qa_col)
        attrs = attributes_of(row.get(attr_col) if attr_col else None, attr_col or "attributes")
        image_path = self._materialize(row.get(img_col) if img_col else None, img_dir, doc_id)
        return Sample(doc_id=doc_id, image=image_path, caption=caption, qa=qa, attributes=attrs)

    def _image_dir(self, split: str) -> Path:
        from facebench.paths import cache_root

        return cache_root() / "datasets" / "unif2ace" / sha256_text(canonical_json([self.source, split]))[:12]

    @staticmethod
    def _materialize(img: Any, img_dir: Path, doc_id: str) -> Path | None:
        if img is None:
            return None
        path = img_dir / f"{doc_id}.png"
        if path.exists():
            return path
        from facebench.images import save_png

        if isinstance(img, dict) and img.get("bytes"):
            import io

            from PIL import Image

            img = Image.open(io.BytesIO(img["bytes"]))
        elif isinstance(img, dict) and img.get("path"):
            from facebench.images import load_image

            if not isinstance(img["path"], str) or "\x00" in img["path"]:
                raise FieldError("image.path", "must be a path string without NUL")
            check_regular_file(img["path"], "image")
            img = load_image(img["path"])
        if not hasattr(img, "save"):
            raise FieldError("image", f"holds {type(img).__name__}, not an image")
        save_png(img.convert("RGB"), path)
        return path

    def fingerprint(self, split: str) -> str:
        return sha256_text(canonical_json([self.source, split, sorted(self.columns.items())]))[:16]

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "columns": self.columns}
