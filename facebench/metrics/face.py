"""Face metrics that need no hub download (dlib HOG detector + dlib 128-d face embeddings, from
the PyPI packages ``dlib-bin`` and ``face-recognition-models``; see ``features/dlib_face.py``).

``face_detection`` (``FaceDetectionRate``): per item, the fraction of its generated images in
which the detector finds at least one face; the runner's mean over items is the detection rate.
Args: ``detector`` dlib (default: HOG) | mtcnn (facenet-pytorch, see ``facebench.faces.MTCNNFace``);
``upsample`` (dlib only; 1: faces down to ~40 px; at 128 px output use 1–2).

``identity_diversity`` (``IdentityDiversity``, set-level): mean pairwise Euclidean distance
between the face embeddings of all generated images (largest face per image). A generator that
draws the same person for every prompt scores ~0; dlib calls two faces the same person below
0.6, reported as ``extra["fraction_same_identity"]``. Args: ``no_face`` = skip (default: images
without a detected face are left out and counted) | whole_image (embed the whole image as the face
box, counted separately); ``max_images`` (2000: a seeded random subset bounds the N² pairs);
``bootstrap`` (200: percentile CI over images, pairs of an image with itself excluded).

The mini set's faces are drawn so that both detectors find them (≥ 95% of its real test faces:
``benchmarks/bench_mini.py``); other stylised faces may be missed, which shows up as a low detection
rate and a small N for diversity — both reported, never papered over.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facebench.metrics.base import Metric, MetricContext
from facebench.types import MetricValue, Prediction

DETECTOR = "dlib HOG frontal-face detector (dlib.get_frontal_face_detector)"
MTCNN_DETECTOR = "MTCNN (facenet-pytorch, weights from its wheel; default thresholds 0.6/0.7/0.7, min face 20 px)"
SAME_IDENTITY_THRESHOLD = 0.6


def _face(upsample: int, no_face: str = "skip"):
    from facebench.metrics.features.dlib_face import DlibFace

    return DlibFace(upsample=upsample, no_face=no_face)


class FaceDetectionRate(Metric):
    name = "face_detection"
    kind = "generation"
    higher_is_better = True

    @property
    def variant(self) -> str:
        if self.args.get("detector", "dlib") == "mtcnn":
            return "mtcnn-facenet-pytorch"
        return f"dlib-hog-up{int(self.args.get('upsample', 1))}"

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        from facebench.images import load_image
        from facebench.metrics.features.weights import WeightsUnavailable

        items = [p for p in preds if p.images]
        if not items:
            return [self.skipped("no generated images to score; fix: run the predict phase for this task first")]
        upsample = int(self.args.get("upsample", 1))
        detector_name = str(self.args.get("detector", "dlib"))
        if detector_name not in ("dlib", "mtcnn"):
            from facebench.errors import FacebenchError

            raise FacebenchError(f"face_detection: detector must be dlib or mtcnn, got '{detector_name}'")
        try:
            if detector_name == "mtcnn":
                from facebench.faces import MTCNNFace

                face = MTCNNFace(device=ctx.device)
            else:
                face = _face(upsample)
        except WeightsUnavailable as e:
            return [self.skipped(str(e))]
        per_item: dict[str, float | None] = {}
        details: dict[str, dict[str, Any]] = {}
        n_images = n_found = n_unreadable = 0
        for p in items:
            counts: list[int | None] = []
            for img in p.images:
                try:
                    boxes = face.detect(load_image(img))
                except Exception:
                    counts.append(None)
                    n_unreadable += 1
                    continue
                counts.append(len(boxes))
                n_images += 1
                n_found += int(bool(boxes))
            good = [c for c in counts if c is not None]
            per_item[p.item_id] = float(np.mean([c > 0 for c in good])) if len(good) == len(counts) else None
            details[p.item_id] = {"faces_per_image": counts}
        extra = {"detector": DETECTOR if detector_name == "dlib" else MTCNN_DETECTOR,
                 "upsample": upsample if detector_name == "dlib" else None, "weights_sha256": face.weights_sha256,
                 "n_images": n_images, "n_images_with_face": n_found,
                 "image_rate": n_found / n_images if n_images else None, "n_unreadable": n_unreadable}
        return [self.value(per_item=per_item, details=details, extra=extra)]


def pairwise_distances(emb: np.ndarray) -> np.ndarray:
    e = np.asarray(emb, dtype=np.float64)
    sq = (e * e).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * e @ e.T
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(np.clip(d2, 0.0, None))


def mean_pairwise(dist: np.ndarray, idx: np.ndarray | None = None) -> float:
    """Mean distance over pairs of distinct images (for a bootstrap sample, pairs that are the
    same original image twice are excluded)."""
    if idx is None:
        n = dist.shape[0]
        return float(dist[np.triu_indices(n, 1)].mean())
    sub = dist[np.ix_(idx, idx)]
    mask = idx[:, None] != idx[None, :]
    return float(sub[mask].mean()) if mask.any() else float("nan")


class IdentityDiversity(Metric):
    name = "identity_diversity"
    kind = "generation"
    higher_is_better = True

    @property
    def variant(self) -> str:
        return f"dlib-resnet128:mean-pairwise-L2:no_face={self.args.get('no_face', 'skip')}"

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        from facebench.images import load_image
        from facebench.metrics.features.weights import WeightsUnavailable

        paths = [Path(img) for p in preds for img in p.images]
        if not paths:
            return [self.skipped("no generated images to score; fix: run the predict phase for this task first")]
        no_face = str(self.args.get("no_face", "skip"))
        upsample = int(self.args.get("upsample", 1))
        try:
            face = _face(upsample, no_face)
        except WeightsUnavailable as e:
            return [self.skipped(str(e))]
        max_images = int(self.args.get("max_images", 2000))
        rng = np.random.RandomState(ctx.seed)
        sampled = len(paths) > max_images
        if sampled:
            paths = [paths[i] for i in sorted(rng.choice(len(paths), max_images, replace=False))]
        embs: list[np.ndarray] = []
        n_no_face = n_whole = n_unreadable = 0
        for path in paths:
            try:
                r = face.analyse(load_image(path))
            except Exception:
                n_unreadable += 1
                continue
            if r.embedding is None:
                n_no_face += 1
                continue
            n_whole += int(r.whole_image)
            embs.append(r.embedding)
        extra: dict[str, Any] = {
            "embedding": "dlib_face_recognition_resnet_model_v1 (128-d), largest face per image",
            "detector": DETECTOR, "upsample": upsample, "no_face": no_face, "weights_sha256": face.weights_sha256,
            "n_images": len(paths), "n_embedded": len(embs), "n_no_face": n_no_face,
            "n_whole_image_fallback": n_whole, "n_unreadable": n_unreadable,
            "subsampled_to": max_images if sampled else None,
        }
        if len(embs) < 2:
            return [self.skipped(f"dlib embedded {len(embs)} of {len(paths)} generated images (no face found in "
                                 f"{n_no_face}); need ≥ 2; fix: more images, upsample=2, or no_face=whole_image")]
        dist = pairwise_distances(np.stack(embs))
        value = mean_pairwise(dist)
        n = dist.shape[0]
        iu = np.triu_indices(n, 1)
        extra["fraction_same_identity"] = float((dist[iu] < SAME_IDENTITY_THRESHOLD).mean())
        extra["same_identity_threshold"] = SAME_IDENTITY_THRESHOLD
        ci = None
        n_boot = int(self.args.get("bootstrap", 200))
        if n_boot > 0 and n >= 3:
            vals = [mean_pairwise(dist, rng.randint(0, n, n)) for _ in range(n_boot)]
            vals = [v for v in vals if np.isfinite(v)]
            if vals:
                lo, hi = np.quantile(vals, [0.025, 0.975])
                ci = (float(lo), float(hi))
                extra["ci_method"] = f"percentile bootstrap over images, {n_boot} replicates"
        return [self.value(value=value, ci=ci, n=n, n_failed=n_no_face + n_unreadable, aggregate="set", extra=extra)]
