"""Feature-extractor plugins for distribution metrics (FID/KID/FD-*) and face metrics.

``build_extractor(name, ...)`` returns a ``FeatureExtractor``:
  ``inception``  TF-Inception (``mode=clean`` / ``legacy_tensorflow``) or pytorch-fid Inception
                 (``mode=legacy_pytorch``) — see ``inception.py`` for weights and env vars
  ``clip``       open_clip image embeddings (FD-CLIP) — ``clip.py``
  ``dlib``       dlib 128-d face embeddings (FD-dlib; offline) — ``dlib_face.py``
Heavy libraries are imported only inside the chosen extractor.
"""
from __future__ import annotations

import os
from typing import Any

from facebench.metrics.features.base import FeatureExtractor, FeatureSet
from facebench.metrics.features.weights import WeightsUnavailable

EXTRACTORS = ("inception", "clip", "dlib")

__all__ = ["EXTRACTORS", "FeatureExtractor", "FeatureSet", "WeightsUnavailable", "build_extractor"]


def build_extractor(
    name: str,
    *,
    mode: str | None = None,
    weights: str | os.PathLike | None = None,
    device: str = "cpu",
    arg_hint: str = "fid.weights=PATH",
    **kw: Any,
) -> FeatureExtractor:
    """Build an extractor; raises ``WeightsUnavailable`` (→ metric skipped) when weights are absent."""
    if name == "inception":
        from facebench.metrics.features.inception import InceptionExtractor

        return InceptionExtractor(mode=mode or "clean", weights=weights, device=device, arg_hint=arg_hint)
    if name == "clip":
        from facebench.metrics.features.clip import CLIPExtractor

        return CLIPExtractor(model=kw.get("model") or "ViT-B-32", pretrained=kw.get("pretrained", "openai"),
                             weights=weights, device=device, arg_hint=arg_hint)
    if name == "dlib":
        from facebench.metrics.features.dlib_face import DlibFaceExtractor

        return DlibFaceExtractor(upsample=int(kw.get("upsample", 1)), no_face=kw.get("no_face") or "whole_image")
    raise ValueError(f"unknown feature extractor {name!r}; choose one of {', '.join(EXTRACTORS)}")
