"""The bundled offline mini benchmark: synthetic cartoon faces drawn from exact attributes.

Every image is drawn with PIL from an explicit attribute dict, so captions, VQA answers and
attribute accuracy are exact, and the whole set is rebuilt byte-identically from a seed (no
download). One module per job, so other synthetic sets (e.g. a video set) can reuse the parts:

- ``attributes``: the families, their values, sampling and the visibility rules;
- ``render``: the face renderer (``render_face``);
- ``captions``: detailed captions that state every attribute (``caption_for``);
- ``parse``: reading attributes back from free text (``attributes_in_text``);
- ``qa``: closed questions with exact answers (``qa_for``);
- ``build``: building and publishing the set on disk, and ``MiniDataset``.
"""
from __future__ import annotations

from facebench.data.mini.attributes import ATTRIBUTE_FAMILIES, sample_attributes
from facebench.data.mini.build import (
    MANIFEST,
    MINI_VERSION,
    SPLITS,
    MiniDataset,
    build_mini,
    default_root,
    make_sample,
)
from facebench.data.mini.captions import caption_for
from facebench.data.mini.parse import attribute_phrases, attributes_in_text
from facebench.data.mini.qa import qa_for
from facebench.data.mini.render import render_face

__all__ = [
    "ATTRIBUTE_FAMILIES", "MANIFEST", "MINI_VERSION", "SPLITS", "MiniDataset", "attribute_phrases",
    "attributes_in_text", "build_mini", "caption_for", "default_root", "make_sample", "qa_for", "render_face",
    "sample_attributes",
]
