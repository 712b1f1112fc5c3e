"""LLaVA-1.5-7B through the ``hf-vlm`` backend (``llava-hf/llava-1.5-7b-hf``, transformers native).

Prompt format is the llava-hf chat template (``USER: <image>\\n{question} ASSISTANT:``), i.e. the
original ``llava_v1`` conversation without its system line; greedy decoding as in LLaVA's
evaluation scripts (temperature 0). The paper's exact LLaVA variant/size (7B per its table) and
decoding are UNVERIFIED.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.hf_vlm import HFVLMAdapter


class LLaVA15Adapter(HFVLMAdapter):
    name: ClassVar[str] = "llava-1.5"
    default_checkpoint: ClassVar[str] = "llava-hf/llava-1.5-7b-hf"
    paper_model: ClassVar[str] = "LLaVA-v1.5"
    description: ClassVar[str] = "LLaVA-1.5-7B (llava-hf, transformers native), greedy"
    default_args: ClassVar[dict[str, Any]] = {}
    video_input: ClassVar[bool] = False  # LLaVA-1.5's processor takes images only
