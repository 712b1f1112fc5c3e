"""The retrieval baseline's video side: the gallery clip nearest to the query clip answers.

Feature of a clip (its frames sampled by the request's own policy, so query and gallery are seen
the same way): appearance — the mean frame at ``SIDE``² colour pixels — and motion — each frame
minus the first, in grey at ``SIDE``², weighted ``MOTION_WEIGHT``. Cheap and honest: it finds a
gallery face that looks alike and moves alike, and inherits its answers; it knows nothing about
expressions, so it lands between the floor (dummy) and the truth (oracle).

The gallery (default the ``mini-video`` gallery split, never its test split) is loaded and its
features computed on the first video request, per sampling policy.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facebench.types import ChatRequest, Sample

SIDE = 12
MOTION_WEIGHT = 3.0


def clip_features(frames: list[Any]) -> np.ndarray:
    from PIL import Image

    small = [np.asarray(f.convert("RGB").resize((SIDE, SIDE), Image.BILINEAR), dtype=np.float32) / 255.0
             for f in frames]
    colour = np.stack(small)
    appearance = colour.mean(axis=0).reshape(-1)
    grey = colour.mean(axis=3)
    motion = (grey[1:] - grey[:1]).reshape(-1) if len(frames) > 1 else np.zeros(0, np.float32)
    return np.concatenate([appearance, MOTION_WEIGHT * motion])


class VideoGallery:
    def __init__(self, dataset: str = "mini-video", split: str = "gallery"):
        self.dataset, self.split = str(dataset), str(split)
        self._samples: list[Sample] | None = None
        self._index: dict[str, np.ndarray] = {}  # policy (canonical JSON) → features
        self._orders: dict[str, np.ndarray] = {}
        self._qa: dict[str, dict[int, str]] | None = None
        # a named gallery other than the built-in one is fingerprinted now (its content is the truth
        # this baseline answers from); the built-in one by its version and generating code, without building it
        self._fp = None if self.dataset == "mini-video" else self._dataset().fingerprint(self.split)

    def _dataset(self):
        from facebench.data.base import resolve_dataset

        return resolve_dataset(self.dataset)

    def identity(self) -> str:
        if self._fp is not None:
            return f"{self.dataset}/{self.split}:{self._fp}"
        from facebench.data.mini.video import generator_identity
        from facebench.hashing import sha256_file

        return f"{generator_identity()}/{self.split};feature:{sha256_file(Path(__file__))[:12]}"

    def info(self) -> dict[str, Any]:
        return {"video_gallery": self.dataset, "video_gallery_split": self.split,
                "video_gallery_size": len(self._samples) if self._samples is not None else "not loaded",
                "video_feature": f"mean frame {SIDE}x{SIDE} RGB + frame-minus-first {SIDE}x{SIDE} grey (x{MOTION_WEIGHT:g})"}

    def samples(self) -> list[Sample]:
        if self._samples is None:
            from facebench.errors import DatasetError

            samples = [s for s in self._dataset().load(self.split) if s.video is not None]
            if not samples:
                raise DatasetError(f"video gallery '{self.dataset}' split '{self.split}' has no clips")
            self._samples = samples
        return self._samples

    def _features(self, r: ChatRequest) -> np.ndarray:
        from facebench.hashing import canonical_json
        from facebench.videoinput import decode_video

        key = canonical_json(r.video.policy.to_dict())
        if key not in self._index:
            self._index[key] = np.stack([clip_features(decode_video(s.video, r.video.policy).frames)
                                         for s in self.samples()])
        return self._index[key]

    def neighbours(self, r: ChatRequest) -> np.ndarray:
        """Gallery indices by feature distance to the request's clip (ties: gallery order)."""
        from facebench.hashing import canonical_json

        key = r.video.sha256 + canonical_json(r.video.policy.to_dict())
        if key not in self._orders:
            index = self._features(r)
            q = clip_features(r.load_video().frames)
            self._orders[key] = np.argsort(np.linalg.norm(index - q[None, :], axis=1), kind="stable")
        return self._orders[key]

    def _questions(self) -> dict[str, dict[int, str]]:
        if self._qa is None:
            idx: dict[str, dict[int, str]] = {}
            for i, s in enumerate(self.samples()):
                for qa in s.qa:
                    idx.setdefault(qa.question.strip().lower(), {})[i] = qa.answer
            self._qa = idx
        return self._qa

    def answer(self, r: ChatRequest, k: int) -> str:
        from facebench.adapters.retrieval import majority_answer

        order = self.neighbours(r)
        known = self._questions().get(r.question.strip().lower())
        if known:
            return majority_answer(order, known, k)
        return self.samples()[int(order[0])].caption
