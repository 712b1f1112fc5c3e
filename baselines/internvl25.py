"""InternVL2.5-8B through the ``hf-vlm`` backend (transformers' native InternVL classes).

Default ``OpenGVLab/InternVL2_5-8B-MPO-hf``: the official transformers-native conversion of
InternVL2.5-8B (MPO-tuned). The plain ``OpenGVLab/InternVL2_5-8B`` ships only remote code with its
own ``chat()`` API, which this backend does not call; which of the two the paper used is
UNVERIFIED. The native processor tiles the image (dynamic 448² crops) as the model card does;
greedy decoding.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.hf_vlm import HFVLMAdapter


class InternVL25Adapter(HFVLMAdapter):
    name: ClassVar[str] = "internvl-2.5"
    default_checkpoint: ClassVar[str] = "OpenGVLab/InternVL2_5-8B-MPO-hf"
    paper_model: ClassVar[str] = "InternVL2.5"
    description: ClassVar[str] = "InternVL2.5-8B (native -hf conversion, MPO), greedy"
    default_args: ClassVar[dict[str, Any]] = {}
