"""Janus-Pro through the ``janus`` backend (transformers' native Janus classes).

Default ``deepseek-community/Janus-Pro-7B`` (the transformers conversion of ``deepseek-ai/Janus-Pro-7B``;
``deepseek-community/Janus-Pro-1B`` for the small one). Generation settings follow DeepSeek's
reference ``generation_inference.py``: CFG weight 5, temperature 1, 576 tokens → 384×384, prompt in
the chat template + ``<begin_of_image>``. Janus-Pro is not in the UniF²ace paper's tables (its
sibling JanusFlow is): no paper row.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.janus import JanusAdapter


class JanusProAdapter(JanusAdapter):
    name: ClassVar[str] = "janus-pro"
    default_checkpoint: ClassVar[str] = "deepseek-community/Janus-Pro-7B"
    paper_model: ClassVar[str | None] = None
    description: ClassVar[str] = "Janus-Pro-7B (transformers native): CFG 5, T=1, 384², greedy answers"
    default_args: ClassVar[dict[str, Any]] = {"guidance_scale": 5.0, "temperature": 1.0}
