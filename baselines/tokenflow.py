"""TokenFlow (dual-codebook image tokenizer; 7B LlamaGen-style text-to-image model and a LLaVA-style
understanding model) via its research code.

Code: https://github.com/ByteFlow-AI/TokenFlow (pass ``code_path=/path/to/TokenFlow``: its ``t2i/``
folder provides ``llava_t2i``, its ``i2t/`` folder the ``llava`` package). Generation follows
``t2i/llava_t2i/eval/run_llava_samples.py`` (``scripts/run_t2i.sh``): ``LlavaLlamaForCausalLM``
loaded with ``mm_vision_tower=<tokenizer .pt>``, ``crop_and_encode_text_and_img`` for the prompt and
the fixed negative prompt, ``autoregressive_infer_cfg`` with CFG 7.5 and the 1-loop strategy
(top-k 600, top-p 0.6), one image per call with ``g_seed = seed + k``. Checkpoints:
``ByteFlow-AI/TokenFlow-t2i`` + tokenizer ``tokenflow_clipb_32k_enhanced.pt`` (from
``ByteFlow-AI/TokenFlow``; give a local path or ``owner/repo/file`` with ``tokenizer_path=``); 256².
Understanding uses the released ``ByteFlow-AI/Tokenflow-llava-qwen2.5-14B-finetuning`` through the
LLaVA API (``conv_mode=qwen_2``, UNVERIFIED) — note the paper's table lists TokenFlow as 7B; which
understanding checkpoint it used is UNVERIFIED (``und_pretrained=`` to change it).
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded, to_pil

from ._helpers import resolve_file
from ._llava_repo import LlavaRepoChat

NEGATIVE_PROMPT = ("lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, fewer digits, "
                   "cropped, worst quality, low quality, normal quality, jpeg artifacts, signature, watermark, "
                   "username, blurry.")


class TokenFlowAdapter(ResearchAdapter):
    name: ClassVar[str] = "tokenflow"
    family: ClassVar[str] = "TokenFlow"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    default_checkpoint: ClassVar[str | None] = "ByteFlow-AI/TokenFlow-t2i"
    requires: ClassVar[tuple[str, ...]] = ("torch", "llava_t2i", "llava")
    paper_model: ClassVar[str | None] = "TokenFlow"
    description: ClassVar[str] = "TokenFlow-t2i 7B 256², CFG 7.5 + LLaVA-style understanding (research code)"
    repo_url: ClassVar[str] = "https://github.com/ByteFlow-AI/TokenFlow"
    probe_module: ClassVar[str] = "llava_t2i"
    code_subdirs: ClassVar[tuple[str, ...]] = ("", "t2i", "i2t")
    reference_dtype: ClassVar[str] = "bfloat16"  # as the reference inference script runs it
    default_args: ClassVar[dict[str, Any]] = {
        "tokenizer_path": "ByteFlow-AI/TokenFlow/tokenflow_clipb_32k_enhanced.pt",
        "und_pretrained": "ByteFlow-AI/Tokenflow-llava-qwen2.5-14B-finetuning",
        "conv_mode": "qwen_2",
        "cfg": 7.5,
        "topk_list": [600],
        "topp_list": [0.6],
        "max_text_tokens": 128,
        "negative_prompt": NEGATIVE_PROMPT,
        "max_new_tokens": 256,
    }

    def _load(self) -> None:
        self._m_gen = None
        self._m_chat = None

    def _load_gen(self) -> None:
        from transformers import AutoTokenizer

        llava_t2i_model = self.research_module("llava_t2i.model")
        self._m_process = self.research_module("llava_t2i.dataset.process")
        vq = resolve_file(str(self.model_args["tokenizer_path"]), "TokenFlow tokenizer_path")
        model = llava_t2i_model.LlavaLlamaForCausalLM.from_pretrained(self.pretrained, attn_implementation="eager",
                                                                      mm_vision_tower=vq)
        model = model.eval().to(self._dtype).to(self._device)
        model.get_vision_tower().to(self._dtype)
        model.config.mm_vision_vq_type = str(model.config.mm_vision_vq_type)
        model.config.use_cache = False
        tok = AutoTokenizer.from_pretrained(self.pretrained, model_max_length=model.config.tokenizer_model_max_length,
                                            padding_side="right", use_fast=False)
        model.reinit_image_token_start_end(tok)
        self._m_gen, self._m_tok = model, tok

    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        import numpy as np
        import torch

        if self._m_gen is None:
            self._load_gen()
        seeded(seed)
        n = int(self.model_args["max_text_tokens"])
        ids, _ = self._m_process.crop_and_encode_text_and_img(self._m_tok, prompt, image=None, max_text_token_num=n)
        neg, _ = self._m_process.crop_and_encode_text_and_img(self._m_tok, str(self.param(params, "negative_prompt")),
                                                               image=None, max_text_token_num=n)
        with torch.inference_mode():
            samples = self._m_gen.autoregressive_infer_cfg(
                B=1, prefix_text_codes=[ids, neg], cfg=float(self.param(params, "cfg")),
                topk_list=list(self.param(params, "topk_list")), topp_list=list(self.param(params, "topp_list")),
                g_seed=int(seed))
        img = samples[0]
        arr = img.cpu().numpy() if hasattr(img, "cpu") else np.asarray(img)
        return to_pil(arr.astype(np.uint8))

    def _answer_one(self, image, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        if self._m_chat is None:
            self._m_chat = LlavaRepoChat(self.research_module, str(self.model_args["und_pretrained"]),
                                         str(self.model_args["conv_mode"]), self._device, self._dtype)
        seeded(int(params.get("seed", 0)))
        return self._m_chat.answer(image, messages, int(self.param(params, "max_new_tokens")))
