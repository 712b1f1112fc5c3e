"""FaVChat (arXiv 2503.09158): facial video understanding — bring your own checkpoint.

What is public (checked 2026-12-01 with facebench's code search): no official FaVChat code or
weights. The only repository under that name, github.com/heavenhellchen/FaVChat (commit fc02501),
calls itself "a standalone runnable repository for the FaVChat reproduction": training code (SFT,
"DE-GRPO", a hierarchical prompt-query module in ``favchat_components.py``) built on Video-R1 /
Qwen2.5-VL, and an inference example that names a checkpoint ``FaVChat/FaVChat-7B`` that could not
be verified to exist. Its provenance is unconfirmed, so this plugin pins no upstream code and
claims no inference settings (frames, pixels, prompts, decoding) from it.

What it runs: a FaVChat checkpoint you give it (``pretrained=<folder or hub id>``) through the
``hf-vlm`` path — transformers' own classes and the checkpoint's processor and chat template,
greedy, frames sampled by the task's policy (``dfer``/``vconv``: 8 uniform frames) and passed as
``videos=``. That is exact only for a checkpoint that loads as a stock transformers video model
(e.g. a Qwen2.5-VL-layout export); one that needs the repository's extra modules will fail to load
with transformers' own error (then give ``model_class=`` and ``trust_remote_code=true`` if the
checkpoint ships its code). No environment beyond facebench's (``environment = None``): there is no
public code to pin.

Reported numbers (zero-shot DFER UAR, DFEW 68.17 / MAFW 49.07) are in baselines/reported/favchat_*.yaml.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.hf_vlm import HFVLMAdapter
from facebench.errors import FacebenchError

REPRODUCTION_REPO = "https://github.com/heavenhellchen/FaVChat"
NOT_PUBLIC = ("favchat: FaVChat's weights and official code are not public (the only repository, "
              "heavenhellchen/FaVChat, is an unverified reproduction with training code only): give "
              "--model_args pretrained=<your FaVChat checkpoint folder in transformers format>")


class FaVChatAdapter(HFVLMAdapter):
    name: ClassVar[str] = "favchat"
    paper_model: ClassVar[str | None] = "FaVChat"
    default_checkpoint: ClassVar[str | None] = None
    needs_pretrained: ClassVar[bool] = True
    capabilities: ClassVar[frozenset[str]] = frozenset({"understand"})  # + "video" per instance (hf-vlm)
    description: ClassVar[str] = "FaVChat facial video LLM (arXiv 2503.09158): your checkpoint through hf-vlm, greedy"
    default_args: ClassVar[dict[str, Any]] = {}

    def __init__(self, device: str = "cpu", **model_args: Any):
        if model_args.get("pretrained") is None:
            raise FacebenchError(NOT_PUBLIC)
        super().__init__(device=device, **model_args)
