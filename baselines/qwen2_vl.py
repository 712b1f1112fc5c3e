"""Qwen2-VL-7B-Instruct through the ``hf-vlm`` backend (native transformers class).

Model card (``Qwen/Qwen2-VL-7B-Instruct``): chat template with the image first, greedy decoding in
evaluation; default pixel budget of the processor (dynamic resolution, min 4·28², max 16384·28²).
The paper's decoding settings are UNVERIFIED; facebench uses greedy decoding.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.hf_vlm import HFVLMAdapter


class Qwen2VLAdapter(HFVLMAdapter):
    name: ClassVar[str] = "qwen2-vl"
    default_checkpoint: ClassVar[str] = "Qwen/Qwen2-VL-7B-Instruct"
    paper_model: ClassVar[str] = "Qwen2-VL"
    description: ClassVar[str] = "Qwen2-VL-7B-Instruct (transformers native), greedy"
    default_args: ClassVar[dict[str, Any]] = {}
