"""dlib face detection and 128-d face embeddings — real weights that install from PyPI and run
offline (``dlib-bin`` + ``face-recognition-models``).

Pipeline per image: HOG frontal-face detector (upsampled ``upsample`` times, so faces down to
~40 px are found) → the largest detected box → 5-point landmarks → dlib's ResNet face
descriptor (128-d; two photos of one person are usually < 0.6 apart, dlib's own threshold).

No face found is reported as such (``FaceResult.embedding is None``). Only when a caller asks
for ``no_face="whole_image"`` is the whole image used as the face box instead (landmarks are
then fitted inside the full frame) — a documented fallback for FD-dlib on generators whose faces
the HOG detector misses (e.g. stylised drawings), counted separately in the results.

The ``.dat`` files are located with ``importlib.util.find_spec("face_recognition_models")``:
importing that package fails on current setuptools (it imports ``pkg_resources``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from facebench.metrics.features.base import FeatureExtractor, FeatureSet

# the detector/embedder core lives in facebench.faces (shared with the retrieval baseline)
from facebench.faces import (  # noqa: E402,F401
    NO_FACE_POLICIES, PREDICTOR_FILE, RECOGNITION_FILE, DlibFace, FaceResult, _load_models, models_dir)


class DlibFaceExtractor(FeatureExtractor):
    """128-d dlib face embeddings as a feature set (FD-dlib). Images without a detected face are
    skipped and listed in ``FeatureSet.missing`` unless ``no_face="whole_image"``."""

    name = "dlib"
    dim = 128

    def __init__(self, upsample: int = 1, no_face: str = "whole_image"):
        self.face = DlibFace(upsample=upsample, no_face=no_face)
        self.mode = f"hog-up{upsample}/{no_face}"
        self.weights_sha256 = self.face.weights_sha256

    def extract_paths(self, paths: Sequence[str | Path], batch_size: int = 32) -> FeatureSet:
        from facebench.errors import DatasetError
        from facebench.images import load_image

        rows: list[np.ndarray] = []
        missing: list[int] = []
        sizes: dict[str, int] = {}
        n_detected = n_whole = 0
        n_unreadable = 0
        for i, p in enumerate(paths):
            try:
                im = load_image(p)
            except DatasetError:  # unreadable image: missing, counted
                missing.append(i)
                n_unreadable += 1
                continue
            key = f"{im.width}x{im.height}"
            sizes[key] = sizes.get(key, 0) + 1
            r = self.face.analyse(im)
            if r.embedding is None:
                missing.append(i)
                continue
            rows.append(r.embedding.astype(np.float32))
            n_detected += int(r.n_faces > 0)
            n_whole += int(r.whole_image)
        feats = np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)
        return FeatureSet(feats, len(paths), missing, sizes,
                          info={"n_face_detected": n_detected, "n_whole_image_fallback": n_whole,
                                "n_no_face_skipped": len(missing) - n_unreadable, "n_unreadable": n_unreadable})
