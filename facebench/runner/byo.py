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


def match_images(images_dir: Path, doc_ids: list[str]) -> dict[str, list[Path]]:
    """doc_id → its image files (``<doc>.png`` alone, or ``<doc>_<k>.png`` in k order).

    A file named exactly after a doc belongs to that doc; ``face_1.png`` is doc ``face``'s image 1
    only when no doc is called ``face_1``. When a name fits both readings and doc ``face`` also has
    other numbered images, the folder is ambiguous and the error names the files."""
    if not images_dir.is_dir():
        raise DatasetError(f"--images folder {images_dir} does not exist")
    wanted = set(doc_ids)
    plain: dict[str, Path] = {}
    numbered: dict[str, dict[int, Path]] = {}
    doubtful: list[tuple[Path, str]] = []  # (file taken as a doc's plain image, the doc it could number)
    for f in sorted(images_dir.iterdir()):
        if f.suffix.lower() != ".png" or not f.is_file():
            continue
        m = _K.match(f.stem)
        as_numbered = (m.group(1), int(m.group(2))) if m and m.group(1) in wanted else None
        if f.stem in wanted:
            plain[f.stem] = f
            if as_numbered:
                doubtful.append((f, as_numbered[0]))
        elif as_numbered:
            numbered.setdefault(as_numbered[0], {})[as_numbered[1]] = f
    for f, other in doubtful:
        if other in numbered:
            raise DatasetError(f"--images: {f.name} could be the image of doc '{f.stem}' or image "
                               f"{f.stem.rsplit('_', 1)[1]} of doc '{other}' (which has "
                               f"{', '.join(p.name for p in numbered[other].values())}); fix: rename the files so each "
                               "name fits one doc")
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
