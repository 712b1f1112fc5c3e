"""Feature-extractor interface shared by FID/KID and the face metrics.

An extractor turns image files into one feature row per image. ``extract_paths`` streams the
files in batches (load → preprocess → network), decoding and preprocessing the next batch on
threads while the network runs (``pipeline.py``), so peak memory is about three batches of images
plus the (N, d) feature matrix, whatever N is.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np


@dataclass
class FeatureSet:
    """Features of a list of images. ``missing`` lists images that produced no feature (a face
    extractor that found no face); they are counted, never filled in."""

    features: np.ndarray  # (n_ok, d) float32
    n_images: int
    missing: list[int] = field(default_factory=list)
    image_sizes: dict[str, int] = field(default_factory=dict)  # "WxH" -> count
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.features.shape[0])


class FeatureExtractor:
    """Base class. Subclasses set ``name``/``mode``/``dim``/``weights_sha256`` and implement
    ``preprocess`` (PIL RGB → array) and ``forward`` (list of preprocessed → (B, d) array)."""

    name: str = "extractor"
    mode: str = ""
    dim: int = 0
    version: str = "1"  # bump when preprocessing changes (part of the reference-stats cache key)
    weights_sha256: str | None = None
    input_size: tuple[int, int] | None = None  # what images are resized to, if anything

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the features: part of every cache key and recorded in results."""
        return {
            "extractor": self.name,
            "mode": self.mode,
            "weights_sha256": self.weights_sha256,
            "input_size": list(self.input_size) if self.input_size else None,
            "dim": self.dim,
            "version": self.version,
        }

    def preprocess(self, image) -> Any:
        raise NotImplementedError

    def forward(self, batch: list[Any]) -> np.ndarray:
        raise NotImplementedError

    #: threads decoding + preprocessing images ahead of ``forward`` (None: one per CPU, up to 4;
    #: 0: inline). Results are in input order: the features do not depend on it.
    threads: int | None = None

    def extract_paths(self, paths: Sequence[str | Path], batch_size: int = 32) -> FeatureSet:
        from facebench.metrics.features.pipeline import prefetched
        from facebench.progress import progress

        sizes: Counter[str] = Counter()
        chunks: list[np.ndarray] = []
        missing: list[int] = []
        bs = max(1, int(batch_size))
        batch: list[Any] = []
        # the next batch is decoded and preprocessed on threads while ``forward`` runs on this one
        stream = prefetched(paths, self.preprocess, threads=self.threads, ahead=2 * bs)
        for i, size, item, err in progress(stream, len(paths), f"{type(self).__name__}: features"):
            if err is not None:  # unreadable image: counted as missing, never replaced
                missing.append(i)
            else:
                sizes[f"{size[0]}x{size[1]}"] += 1
                batch.append(item)
            if len(batch) == bs or (i == len(paths) - 1 and batch):
                chunks.append(np.asarray(self.forward(batch), dtype=np.float32))
                batch = []
        feats = np.concatenate(chunks, axis=0) if chunks else np.zeros((0, self.dim), dtype=np.float32)
        info = {"n_unreadable": len(missing)} if missing else {}
        return FeatureSet(features=feats, n_images=len(paths), missing=missing, image_sizes=dict(sizes), info=info)
