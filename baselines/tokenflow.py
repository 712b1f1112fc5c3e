"""TokenFlow (dual-codebook image tokenizer; 7B LlamaGen-style text-to-image model and a LLaVA-style
understanding model) via its research code, ByteVisionLab/TokenFlow@9812da0.

Code: ``code_path=/path/to/TokenFlow`` (its ``t2i/`` folder provides ``llava_t2i``, its ``i2t/``
folder the ``llava`` package, its root ``tokenflow``). The two halves pin different stacks:
``t2i/requirements.txt`` transformers 4.43.4 (the ``environment`` below), ``i2t/pyproject.toml:17``
transformers 4.37.2 (``environment.extra["understanding_requirements"]``).

Generation follows ``t2i/llava_t2i/eval/run_llava_samples.py`` as ``t2i/scripts/run_t2i.sh`` runs it:
``LlavaLlamaForCausalLM`` loaded with ``attn_implementation='eager'`` and
``mm_vision_tower=<tokenizer .pt>`` (lines 58-62), in bfloat16 (``run_t2i.sh:9``), ``use_cache``
off (72), the tokenizer loaded slow with the model's ``tokenizer_model_max_length`` (74-79),
``reinit_image_token_start_end`` (83); prompt and the fixed negative prompt (45) encoded by
``crop_and_encode_text_and_img`` with 128 text tokens (99-102); ``autoregressive_infer_cfg`` with CFG
7.5 (``run_t2i.sh:7``) and the 1-loop strategy, top-k 600 / top-p 0.6 (lines 18-22). Upstream makes
every new tensor a CUDA tensor (lines 52-53) and builds token ids with it; the plugin does the same
for the adapter's device while the call runs (``_upstream_shims.default_device``), so ids and model
share a device. Upstream draws from the global RNG (``g_seed=None``, line 110); the plugin passes
``g_seed = seed + k`` per image, so an image never depends on batch size or request order.
Checkpoints: ``ByteFlow-AI/TokenFlow-t2i`` + tokenizer ``tokenflow_clipb_32k_enhanced.pt`` (from
``ByteFlow-AI/TokenFlow``; a local path or ``owner/repo/file`` with ``tokenizer_path=``); 256².

Understanding follows the evaluation TokenFlow's GETTING_STARTED.md gives (line 100: lmms-eval's
``llava`` model with ``conv_template="qwen_2_5"``) on ``ByteFlow-AI/Tokenflow-llava-qwen2.5-14B-finetuning``:
``<image>\\n{question}`` in ``qwen_2_5``, float16 pixels with ``image_sizes``, attention mask and pad
id, greedy, at most 1024 new tokens (lmms-eval@7f9c482 ``lmms_eval/models/llava.py:334-398``).
Its vision tower is the SigLIP TokenFlow tokenizer ``tokenflow_siglip_32k.pt``, which
``VQTower.load_model`` requires as a local file (``i2t/llava/model/multimodal_encoder/
vision_tokenizer.py:142``): the plugin resolves ``und_tokenizer_path`` (local or ``owner/repo/file``)
and hands it to ``load_pretrained_model`` as ``overwrite_config={"mm_vision_tower": path}``
(``i2t/llava/model/builder.py:128-136``). The paper's table lists TokenFlow as 7B; which
understanding checkpoint it used is UNVERIFIED (``und_pretrained=`` to change it).
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded, to_pil
from facebench.envs.spec import EnvSpec, ExtraFile, UpstreamCode

from ._helpers import resolve_file
from ._llava_repo import ChatStyle, LlavaRepoChat
from ._upstream_shims import default_device

TOKENFLOW_COMMIT = "9812da01c0695f4989060cc4eea053715e9e4441"

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
    install_hint: ClassVar[str] = ("git clone https://github.com/ByteFlow-AI/TokenFlow, git checkout "
                                   f"{TOKENFLOW_COMMIT[:7]} and pass --model_args code_path=/path/to/TokenFlow")
    probe_module: ClassVar[str] = "llava_t2i"
    code_subdirs: ClassVar[tuple[str, ...]] = ("", "t2i", "i2t")
    reference_dtype: ClassVar[str] = "bfloat16"  # run_t2i.sh:9 (--mixed_precision bf16)
    default_args: ClassVar[dict[str, Any]] = {
        "tokenizer_path": "ByteFlow-AI/TokenFlow/tokenflow_clipb_32k_enhanced.pt",
        "und_pretrained": "ByteFlow-AI/Tokenflow-llava-qwen2.5-14B-finetuning",
        "und_tokenizer_path": "ByteFlow-AI/TokenFlow/tokenflow_siglip_32k.pt",
        "conv_mode": "qwen_2_5",
        "temperature": 0.0,
        "cfg": 7.5,
        "topk_list": [600],
        "topp_list": [0.6],
        "max_text_tokens": 128,
        "negative_prompt": NEGATIVE_PROMPT,
        "max_new_tokens": 1024,
    }
    settings_source: ClassVar[dict[str, str]] = {
        "cfg": "ByteVisionLab/TokenFlow@9812da0 t2i/scripts/run_t2i.sh:7",
        "topk_list/topp_list": "t2i/llava_t2i/eval/run_llava_samples.py:18-22,47-48 (--loop 1, run_t2i.sh:8)",
        "negative_prompt": "run_llava_samples.py:45",
        "max_text_tokens": "run_llava_samples.py:99,102",
        "dtype": "run_t2i.sh:9 (bf16 on GPU; float32 on CPU)",
        "g_seed": "run_llava_samples.py:110 passes None (global RNG); the plugin passes seed + k per image",
        "conv_mode": "GETTING_STARTED.md:100 (lmms-eval llava, conv_template=qwen_2_5)",
        "temperature": "lmms-eval@7f9c482 lmms_eval/models/llava.py:374-375,394 (greedy by default)",
        "max_new_tokens": "lmms_eval/models/llava.py:372-373 (task params win: desc 256, conv 128)",
    }
    environment: ClassVar[EnvSpec] = EnvSpec(
        name="tokenflow",
        python="3.11",
        requirements=(  # t2i/requirements.txt (unpinned there: ftfy, protobuf)
            "transformers==4.43.4", "accelerate==0.31.0", "huggingface-hub==0.24.5", "sentencepiece==0.1.99",
            "einops==0.6.1", "einops-exts==0.0.4", "timm==1.0.9", "datasets==2.20.0", "ftfy", "protobuf",
        ),
        upstream=UpstreamCode(repo="https://github.com/ByteVisionLab/TokenFlow", commit=TOKENFLOW_COMMIT,
                              subdirs=("", "t2i", "i2t")),
        files=(
            ExtraFile(name="tokenflow_clipb_32k_enhanced.pt", source="hf://ByteFlow-AI/TokenFlow/tokenflow_clipb_32k_enhanced.pt",
                      model_arg="tokenizer_path"),
            ExtraFile(name="tokenflow_siglip_32k.pt", source="hf://ByteFlow-AI/TokenFlow/tokenflow_siglip_32k.pt",
                      model_arg="und_tokenizer_path"),
        ),
        verified=None,
        notes=("Pins from t2i/requirements.txt (generation). The understanding half pins transformers 4.37.2 "
               "(i2t/pyproject.toml:17): extra['understanding_requirements']. Upstream pins torch 2.1.2; "
               "python 3.11 is the main environment's (untested for this family). Not yet run on the real code here: both halves build their image tokenizer at full "
               "size whatever the checkpoint (t2i/llava_t2i/model/multimodal_encoder/tokenflow.py:21-26, "
               "i2t/llava/model/multimodal_encoder/vision_tokenizer.py:144) and construct their teachers from "
               "downloads at build time — OpenAI CLIP ViT-B/16 into ./clip_model (tokenflow/tokenizer/"
               "vq_model.py:160-161) and google/siglip-so400m-patch14-384 from the hub (vq_model.py:167-169)."),
        extra={"understanding_requirements": (  # i2t/pyproject.toml:15-25
            "transformers==4.37.2", "accelerate==0.31.0", "huggingface-hub==0.24.5", "sentencepiece==0.1.99",
            "einops==0.6.1", "einops-exts==0.0.4", "timm==1.0.9", "datasets==2.20.0", "ftfy", "protobuf")},
    )

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
        with default_device(self._device):
            ids, _ = self._m_process.crop_and_encode_text_and_img(self._m_tok, prompt, image=None,
                                                                   max_text_token_num=n)
            neg, _ = self._m_process.crop_and_encode_text_and_img(
                self._m_tok, str(self.param(params, "negative_prompt")), image=None, max_text_token_num=n)
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
            vq = resolve_file(str(self.model_args["und_tokenizer_path"]), "TokenFlow und_tokenizer_path")
            style = ChatStyle(conv_mode=str(self.model_args["conv_mode"]),
                              temperature=float(self.model_args["temperature"]), image_sizes=True,
                              attention_mask=True)
            self._m_chat = LlavaRepoChat(self.research_module, str(self.model_args["und_pretrained"]), self._device,
                                         style, load_kwargs={"overwrite_config": {"mm_vision_tower": vq}})
        seeded(int(params.get("seed", 0)))
        return self._m_chat.answer(image, messages, int(self.param(params, "max_new_tokens")))

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["settings_source"] = dict(self.settings_source)
        if self._m_chat is not None:
            out["understanding_dtype"] = str(self._m_chat.dtype).replace("torch.", "")
        return out
