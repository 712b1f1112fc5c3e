"""Bring your own images: generation predictions from a folder of PNGs named by doc_id.

A file belongs to a doc only by its exact name, ``<doc_id>.png`` or ``<doc_id>_<k>.png`` with an
integer ``k`` — never by a glob, so doc ``face`` does not take ``face_1.png`` when ``face_1`` is a
doc of its own, and doc ids with glob characters (``img[12]``) match literally. A name that fits
two docs, or a doc with both forms, is an error that names the files."""
from __future__ import annotations

import logging
import re
from pathlib import Path

from facebench.errors import DatasetError
from facebench.hashing import canonical_json, sha256_file, sha256_text
from facebench.images import load_image
from facebench.runner.plan import plan_task
from facebench.taskconfig import TaskConfig
from facebench.types import Prediction, Sample

log = logging.getLogger("facebench")
_K = re.compile(r"^(.*)_(\d+)$")


def _candidates(stem: str, doc_ids: set[str]) -> list[tuple[str, int | None]]:
    out: list[tuple[str, int | None]] = []
    if stem in doc_ids:
        out.append((stem, None))
    m = _K.match(stem)
    if m and m.group(1) in doc_ids:
        out.append((m.group(1), int(m.group(2))))
    return out


def match_images(images_dir: Path, doc_ids: list[str]) -> dict[str, list[Path]]:
    """doc_id → its image files (``<doc>.png`` alone, or ``<doc>_<k>.png`` in k order)."""
    if not images_dir.is_dir():
        raise DatasetError(f"--images folder {images_dir} does not exist")
    wanted = set(doc_ids)
    plain: dict[str, Path] = {}
    numbered: dict[str, dict[int, Path]] = {}
    for f in sorted(images_dir.iterdir()):
        if f.suffix.lower() != ".png" or not f.is_file():
            continue
        cands = _candidates(f.stem, wanted)
        if len(cands) > 1:
            raise DatasetError(f"--images: {f.name} could be the image of doc '{cands[0][0]}' or of doc "
                               f"'{cands[1][0]}'; fix: rename it to <doc_id>_<k>.png or <doc_id>.png unambiguously")
        if not cands:
            continue
        doc, k = cands[0]
        if k is None:
            plain[doc] = f
        else:
            numbered.setdefault(doc, {})[k] = f
    out: dict[str, list[Path]] = {}
    for doc in doc_ids:
        if doc in plain and doc in numbered:
            names = [plain[doc].name] + [p.name for _, p in sorted(numbered[doc].items())]
            raise DatasetError(f"--images: doc '{doc}' has both {names[0]} and {', '.join(names[1:])}; fix: keep one "
                               "naming scheme per doc")
        if doc in plain:
            out[doc] = [plain[doc]]
        elif doc in numbered:
            out[doc] = [p for _, p in sorted(numbered[doc].items())]
    return out


def byo_predictions(task: TaskConfig, samples: list[Sample], images_dir: Path, seed: int
                    ) -> tuple[list[Prediction], str]:
    """The task's predictions with the folder's images, and a fingerprint of those images' content
    (the run's model identity: different images never pass for the same model)."""
    items = plan_task(task, samples, seed)
    found = match_images(images_dir, [it.prediction.doc_id for it in items])
    preds, missing, ident = [], [], []
    for it in items:
        files = found.get(it.prediction.doc_id)
        if not files:
            missing.append(it.prediction.doc_id)
            continue
        for f in files:
            load_image(f)  # corrupt/truncated files fail here, with the file named
            ident.append([it.prediction.doc_id, f.name, sha256_file(f)])
        it.prediction.images = files
        preds.append(it.prediction)
    if not preds:
        raise DatasetError(f"no images named <doc_id>.png or <doc_id>_<k>.png in {images_dir} for task '{task.name}'")
    if missing:
        log.warning("%d of %d prompts have no image in %s (e.g. %s): scored without them",
                    len(missing), len(missing) + len(preds), images_dir, missing[0])
    return preds, "images-" + sha256_text(canonical_json(ident))[:16]
