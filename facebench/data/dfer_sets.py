"""DFEW and MAFW, read from their official releases as distributed (on request, under licence):
each clip becomes one sample with the closed DFER question over the dataset's classes.

DFEW (16,372 clips, 7 classes, 5 folds): ``EmoLabel_DataSplit/{train,test}(single-labeled)/set_<k>.csv``
with a ``video_name,label`` header and labels 1–7 = happy, sad, neutral, angry, surprise, disgust,
fear; the clips (``00001.mp4`` ...) anywhere below the folder (the release has ``Clip/original``).

MAFW (10,045 clips, 11 classes, 5 folds): ``Train & Test Set/single/no_caption/set_<k>/{train,test}.txt``
with ``<clip file> <label name>`` lines; the clips in ``data/clips``.

Splits: ``test`` = fold 1's test set, ``test_<k>`` / ``train_<k>`` = fold k's sets, ``all`` = the
five test sets together (each clip once: the folds partition the single-labelled clips). Clips are
matched by their numeric name (``1`` = ``00001.mp4``); a listed clip that is missing is an error.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from facebench.data.base import Dataset
from facebench.data.fields import check_regular_file, read_text_capped
from facebench.errors import DatasetError
from facebench.hashing import canonical_json, sha256_file, sha256_text
from facebench.types import QA, Sample
from facebench.videoinput import VIDEO_SUFFIXES

FOLDS = 5


def dfer_question(classes: tuple[str, ...]) -> str:
    return ("Which facial expression does the person in this video show? Answer with one word: "
            + ", ".join(classes[:-1]) + " or " + classes[-1] + ".")


def _clip_key(name: str) -> str:
    stem = Path(name.strip()).stem if Path(name.strip()).suffix.lower() in VIDEO_SUFFIXES else name.strip()
    return str(int(stem)) if stem.isdigit() else stem


class DFERFolder(Dataset):
    """Common part: split names → label files → samples with their clip and the DFER question."""

    name = "dfer-folder"
    classes: tuple[str, ...] = ()

    def __init__(self, path: str | Path, **_: Any):
        self.path = Path(path)
        self._clips: dict[str, Path] | None = None

    # -- per dataset ----------------------------------------------------------------------------
    def label_file(self, part: str, fold: int) -> Path:
        raise NotImplementedError  # abstract

    def parse(self, text: str, where: Path) -> list[tuple[str, str]]:
        raise NotImplementedError  # abstract

    # -- common ---------------------------------------------------------------------------------
    def _files(self, split: str) -> list[Path]:
        m = re.fullmatch(r"(train|test)_([1-9])", split)
        if split == "test":
            return [self.label_file("test", 1)]
        if split == "all":
            return [self.label_file("test", k) for k in range(1, FOLDS + 1)]
        if m and 1 <= int(m.group(2)) <= FOLDS:
            return [self.label_file(m.group(1), int(m.group(2)))]
        raise DatasetError(f"{self.name} has no split '{split}' (splits: test, test_1..test_{FOLDS}, "
                           f"train_1..train_{FOLDS}, all)")

    def _clip_index(self) -> dict[str, Path]:
        if self._clips is None:
            index: dict[str, Path] = {}
            found = sorted(p for p in self.path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(self.path).parts))
            for p in sorted(found, key=lambda p: ("original" not in p.parts, str(p))):
                index.setdefault(_clip_key(p.name), p)
            self._clips = index
        return self._clips

    def rows(self, split: str) -> list[tuple[str, str]]:
        out, seen = [], set()
        for f in self._files(split):
            check_regular_file(f, f"{self.name} label file")
            for clip, label in self.parse(read_text_capped(f), f):
                if clip not in seen:
                    seen.add(clip)
                    out.append((clip, label))
        return out

    def load(self, split: str, limit: int | None = None) -> list[Sample]:
        question = dfer_question(self.classes)
        clips = self._clip_index()
        samples = []
        for clip, label in self.rows(split):
            video = clips.get(_clip_key(clip))
            if video is None:
                raise DatasetError(f"{self.name}: clip '{clip}' of split '{split}' is not under {self.path} "
                                   f"(looked for {', '.join(VIDEO_SUFFIXES)} files named after it)")
            doc_id = f"{self.name.lower()}-{_clip_key(clip).zfill(5)}"
            samples.append(Sample(doc_id=doc_id, image=None, caption="", video=video,
                                  qa=[QA(question, label, "closed", "dfer", self.classes)],
                                  attributes={"expression": label}))
            if limit is not None and len(samples) >= limit:
                break
        return samples

    def fingerprint(self, split: str) -> str:
        files = [sha256_file(f) for f in self._files(split)]
        return sha256_text(canonical_json([self.name, list(self.classes), files]))[:16]

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "root": str(self.path), "classes": list(self.classes)}


class DFEWDataset(DFERFolder):
    name = "DFEW"
    classes = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")  # labels 1..7

    def label_file(self, part: str, fold: int) -> Path:
        return self.path / "EmoLabel_DataSplit" / f"{part}(single-labeled)" / f"set_{fold}.csv"

    def parse(self, text: str, where: Path) -> list[tuple[str, str]]:
        lines = [ln.strip() for ln in text.splitlines()]
        if not lines or [c.strip() for c in lines[0].split(",")][:2] != ["video_name", "label"]:
            raise DatasetError(f"{where}:1: expected the header 'video_name,label'")
        out = []
        for i, ln in enumerate(lines[1:], start=2):
            if not ln:
                continue
            cells = [c.strip() for c in ln.split(",")]
            if len(cells) < 2 or not cells[1].isdigit() or not 1 <= int(cells[1]) <= len(self.classes):
                raise DatasetError(f"{where}:{i}: expected '<clip>,<label 1-{len(self.classes)}>', got {ln[:60]!r}")
            out.append((cells[0], self.classes[int(cells[1]) - 1]))
        return out


class MAFWDataset(DFERFolder):
    name = "MAFW"
    classes = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise", "contempt", "anxiety",
               "helplessness", "disappointment")

    def label_file(self, part: str, fold: int) -> Path:
        return self.path / "Train & Test Set" / "single" / "no_caption" / f"set_{fold}" / f"{part}.txt"

    def parse(self, text: str, where: Path) -> list[tuple[str, str]]:
        out = []
        for i, ln in enumerate(text.splitlines(), start=1):
            if not ln.strip():
                continue
            cells = ln.split()
            if len(cells) != 2 or cells[1].lower() not in self.classes:
                raise DatasetError(f"{where}:{i}: expected '<clip file> <one of {', '.join(self.classes)}>', "
                                   f"got {ln[:60]!r}")
            out.append((cells[0], cells[1].lower()))
        return out


def detect(path: Path) -> Dataset | None:
    """A DFEW or MAFW release folder (recognised by its label-split folder), else None."""
    if not path.is_dir():
        return None
    if (path / "EmoLabel_DataSplit").is_dir():
        return DFEWDataset(path)
    if (path / "Train & Test Set").is_dir():
        return MAFWDataset(path)
    return None
