"""OmniFlow (3.4B any-to-any rectified-flow model built on SD3) via its research code.

Code: https://github.com/jacklishufan/OmniFlows (``pip install -e .`` in the clone, or
``code_path=/path/to/OmniFlows``), package ``omniflow``. Calls follow the repo README:
``OmniFlowPipeline.load_pretrained(path, device=...)``; text→image with ``task='t2i'``,
``num_inference_steps=28, guidance_scale=7, add_token_embed=True``; image→text (captioning) with
``task='i2t'``, ``input_img=<PIL>``, ``v_pred=True, num_inference_steps=100, guidance_scale=7,
use_text_output=True, drop_pool=True``. Return structures vary between releases: the first image /
string found is used (UNVERIFIED). Default checkpoint ``jacklishufan/OmniFlow-v0.5``.

OmniFlow's understanding is captioning only: the question is not given to the model, so its
answers to VQA questions are captions (the paper reports no Conv score for OmniFlow — "–").
Global RNGs are seeded with ``seed + k`` before each image.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded, to_pil

from ._helpers import first_image, first_text


class OmniFlowAdapter(ResearchAdapter):
    name: ClassVar[str] = "omniflow"
    family: ClassVar[str] = "OmniFlow"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    default_checkpoint: ClassVar[str | None] = "jacklishufan/OmniFlow-v0.5"
    requires: ClassVar[tuple[str, ...]] = ("torch", "omniflow")
    paper_model: ClassVar[str | None] = "OmniFlow"
    description: ClassVar[str] = "OmniFlow v0.5 (research code), t2i 28 steps CFG 7; captions only (no VQA)"
    repo_url: ClassVar[str] = "https://github.com/jacklishufan/OmniFlows"
    probe_module: ClassVar[str] = "omniflow"
    default_args: ClassVar[dict[str, Any]] = {"num_inference_steps": 28, "guidance_scale": 7.0,
                                              "i2t_steps": 100, "i2t_guidance_scale": 7.0}

    def _load(self) -> None:
        lib = self.research_module("omniflow")
        self._m_pipe = lib.OmniFlowPipeline.load_pretrained(self.pretrained, device=self._device)

    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        import torch

        seeded(seed)
        with torch.inference_mode():
            out = self._m_pipe(prompt, num_inference_steps=int(self.param(params, "num_inference_steps")),
                               guidance_scale=float(self.param(params, "guidance_scale")),
                               add_token_embed=True, task="t2i")
        return to_pil(first_image(out))

    def _answer_one(self, image, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        import torch

        seeded(int(params.get("seed", 0)))
        with torch.inference_mode():
            out = self._m_pipe("", input_img=image, v_pred=True,
                               num_inference_steps=int(self.param(params, "i2t_steps")),
                               guidance_scale=float(self.param(params, "i2t_guidance_scale")),
                               add_token_embed=True, task="i2t", use_text_output=True, drop_pool=True)
        return first_text(out)
