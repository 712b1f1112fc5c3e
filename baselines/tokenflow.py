"""TokenFlow (dual-codebook image tokenizer; 7B LlamaGen-style text-to-image model and a LLaVA-style
understanding model) via its research code, ByteVisionLab/TokenFlow@9812da0.

Code: ``code_path=/path/to/TokenFlow`` (its ``t2i/`` folder provides ``llava_t2i``, its ``i2t/``
folder the ``llava`` package, its root ``tokenflow``). Both halves run on transformers 4.43.4 (the
``environment`` below): ``t2i/requirements.txt`` pins it and ``t2i/llava_t2i/model/language_model/
modeling_llama.py:51-56`` calls ``exit()`` at import under any other version, so the plugin checks the
version before importing ``llava_t2i`` and raises a clear error instead of ending the process.
``i2t/pyproject.toml:17`` pins 4.37.2, but ``i2t/llava/model/__init__.py:12`` imports
``Qwen2MoeConfig``, which transformers only has from 4.40: on 4.37.2 the ``llava`` package cannot be
imported at all. The i2t pin was 4.43.4 until commit b5be1ff ("fix environment requirement"), and the
evaluation TokenFlow documents (lmms-eval, below) itself requires transformers >= 4.39.2; the
understanding half is verified on 4.43.4.

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
``g_seed = seed + k`` per image — a generator seeded with ``s`` draws what the global RNG draws after
``torch.manual_seed(s)``, so image k is the script's image under that seed, and never depends on batch
size or request order. Checkpoints: ``ByteFlow-AI/TokenFlow-t2i`` + tokenizer
``tokenflow_clipb_32k_enhanced.pt`` (from ``ByteFlow-AI/TokenFlow``; a local path or
``owner/repo/file`` with ``tokenizer_path=``); 256².

Building that tokenizer builds its CLIP teacher first: ``tokenflow/tokenizer/vq_model.py:160-161``
loads OpenAI's ``ViT-B/16`` TorchScript file from ``./clip_model`` — relative to the process's working
directory — downloading it there (335 MB, SHA-256 checked, ``tokenizer/clip/clip.py:42-71``) when it
is missing; the tokenizer checkpoint then overwrites those weights. Both halves read their tokenizer
with ``torch.load`` and no ``weights_only`` (``t2i/llava_t2i/model/multimodal_encoder/tokenflow.py:29``,
``i2t/llava/model/multimodal_encoder/tokenflow_vq.py:26``), i.e. the safe unpickler on torch >= 2.6;
TokenFlow's training script stores its ``argparse.Namespace`` in those checkpoints
(``tokenflow/tokenizer/vq_train.py:330-337``), which that unpickler rejects, so while the plugin loads
a model exactly that class is allowed (``torch.serialization.safe_globals``) and anything else a file
asks for is still refused.

Understanding follows the evaluation TokenFlow's GETTING_STARTED.md gives (line 100: lmms-eval's
``llava`` model with ``conv_template="qwen_2_5"``) on ``ByteFlow-AI/Tokenflow-llava-qwen2.5-14B-finetuning``,
i.e. lmms-eval@7f9c482 ``lmms_eval/models/llava.py``: loaded with ``attn_implementation="sdpa"`` (lines
43-46, 91-92); ``<image>\\n{question}`` in ``qwen_2_5`` (343-363), float16 pixels (338), ``image_sizes``,
attention mask and pad id (368, 380-395), greedy, at most 1024 new tokens (372-379). Its vision tower is
the SigLIP TokenFlow tokenizer ``tokenflow_siglip_32k.pt``, which ``VQTower.load_model`` requires as a
local file (``i2t/llava/model/multimodal_encoder/vision_tokenizer.py:142``) and builds around
``google/siglip-so400m-patch14-384`` from the hub cache (``vq_model.py:167-169``): the plugin resolves
``und_tokenizer_path`` (local or ``owner/repo/file``) and hands it to ``load_pretrained_model`` as
``overwrite_config={"mm_vision_tower": path}`` (``i2t/llava/model/builder.py:128-136``; lmms-eval
relies on the checkpoint's config, whose path is the authors' machine's). The paper's table lists
TokenFlow as 7B; which understanding checkpoint it used is UNVERIFIED (``und_pretrained=`` to change it).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded, to_pil
from facebench.envs.spec import EnvSpec, ExtraFile, UpstreamCode, Verified
from facebench.errors import FacebenchError

from ._helpers import resolve_file
from ._llava_repo import ChatStyle, LlavaRepoChat
from ._upstream_shims import default_device, patched

TOKENFLOW_COMMIT = "9812da01c0695f4989060cc4eea053715e9e4441"
#: the only transformers under which ``llava_t2i`` imports (modeling_llama.py:54-56 exits otherwise)
T2I_TRANSFORMERS = "4.43.4"

NEGATIVE_PROMPT = ("lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, fewer digits, "
                   "cropped, worst quality, low quality, normal quality, jpeg artifacts, signature, watermark, "
                   "username, blurry.")


@contextmanager
def training_namespace_allowed() -> Iterator[None]:
    """The safe unpickler accepts ``argparse.Namespace`` (TokenFlow's saved training options) too."""
    import argparse

    import torch

    with torch.serialization.safe_globals([argparse.Namespace]):
        yield


def _transformers_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("transformers")  # what upstream's check reads (pkg_resources, modeling_llama.py:51)
    except PackageNotFoundError:
        return "missing"


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
    probe_module: ClassVar[str] = "llava_t2i"  # located for the code identity; never imported at load
    code_subdirs: ClassVar[tuple[str, ...]] = ("", "t2i", "i2t")
    reference_dtype: ClassVar[str] = "bfloat16"  # run_t2i.sh:9 (--mixed_precision bf16)
    default_args: ClassVar[dict[str, Any]] = {
        "tokenizer_path": "ByteFlow-AI/TokenFlow/tokenflow_clipb_32k_enhanced.pt",
        "und_pretrained": "ByteFlow-AI/Tokenflow-llava-qwen2.5-14B-finetuning",
        "und_tokenizer_path": "ByteFlow-AI/TokenFlow/tokenflow_siglip_32k.pt",
        "conv_mode": "qwen_2_5",
        "temperature": 0.0,
        "attn_implementation": "sdpa",
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
        "attn_implementation": "lmms-eval@7f9c482 lmms_eval/models/llava.py:42-45,92-93 (sdpa on torch >= 2.1.2)",
        "temperature": "lmms_eval/models/llava.py:374-375,394 (greedy by default)",
        "max_new_tokens": "lmms_eval/models/llava.py:372-373 (task params win: desc 256, conv 128)",
    }
    environment: ClassVar[EnvSpec] = EnvSpec(
        name="tokenflow",
        python="3.11",
        requirements=(  # t2i/requirements.txt (unpinned there: ftfy, protobuf)
            "transformers==4.43.4", "accelerate==0.31.0", "huggingface-hub==0.24.5", "sentencepiece==0.1.99",
            "einops==0.6.1", "einops-exts==0.0.4", "timm==1.0.9", "datasets==2.20.0", "ftfy", "protobuf",
            # modeling_llama.py:48 and tokenizer/clip/clip.py:6 import pkg_resources (gone in setuptools 81);
            # 80.9.0 still has it (with pkg_resources.packaging) and satisfies torch 2.14's setuptools>=77
            "setuptools==80.9.0",
        ),
        upstream=UpstreamCode(repo="https://github.com/ByteVisionLab/TokenFlow", commit=TOKENFLOW_COMMIT,
                              subdirs=("", "t2i", "i2t")),
        files=(
            ExtraFile(name="tokenflow_clipb_32k_enhanced.pt",
                      source="hf://ByteFlow-AI/TokenFlow/tokenflow_clipb_32k_enhanced.pt", model_arg="tokenizer_path"),
            ExtraFile(name="tokenflow_siglip_32k.pt", source="hf://ByteFlow-AI/TokenFlow/tokenflow_siglip_32k.pt",
                      model_arg="und_tokenizer_path"),
            # the generation tokenizer's CLIP teacher, read from ./clip_model under the working directory
            # (tokenflow/tokenizer/vq_model.py:161; URL and SHA-256 from tokenizer/clip/clip.py:36)
            ExtraFile(name="clip_model/ViT-B-16.pt",
                      source="https://openaipublic.azureedge.net/clip/models/"
                             "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
                      sha256="5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f"),
        ),
        verified=Verified(
            commit=TOKENFLOW_COMMIT,
            how=("both halves on CPU (torch 2.14.1, transformers 4.43.4), through the plugin's own loading path, "
                 "with tiny random weights of upstream's classes: TokenFlow tokenizers built by upstream's "
                 "tokenflow_model()/TokenFlow with a 32-channel pixel encoder/decoder and a 1-layer semantic "
                 "decoder (test-only entry in VQ_models), a 1-layer ViT-B/16-shaped CLIP TorchScript file in "
                 "./clip_model and a 2-layer 1152-wide SigLIP in a hub-cache folder, 2-layer LlavaLlama / "
                 "LlavaQwen LLMs saved with save_pretrained. Generation equals t2i/llava_t2i/eval/"
                 "run_llava_samples.py run unchanged in a subprocess (float32 and bfloat16); understanding equals "
                 "lmms-eval@7f9c482's Llava.generate_until. Test-only stubs: clip._download skips the SHA-256 check "
                 "and the download (the tiny file is not OpenAI's), and nn.Module.cuda() is the identity for the "
                 "script's model.cuda() (line 64) on this CUDA-less machine; the reference script and lmms-eval get "
                 "the plugin's argparse.Namespace allowance for upstream's torch.load "
                 "(tests/test_upstream_tokenflow.py)"),
            date="2026-12-01",
        ),
        notes=("One environment for both halves: t2i/requirements.txt pins transformers 4.43.4 and llava_t2i exits "
               "at import under any other version (modeling_llama.py:54-56); i2t/pyproject.toml:17 pins 4.37.2, but "
               "i2t/llava/model/__init__.py:12 imports Qwen2MoeConfig (transformers >= 4.40), so the i2t package "
               "cannot be imported on 4.37.2 (its pin was 4.43.4 before commit b5be1ff). Upstream pins torch 2.1.2; "
               "verified with torch 2.14.1 on Python 3.11. Generation downloads OpenAI's CLIP ViT-B/16 into "
               "./clip_model of the working directory unless it is there (the clip_model/ViT-B-16.pt file above); "
               "understanding loads google/siglip-so400m-patch14-384 through the Hugging Face cache by id "
               "(vq_model.py:169)."),
    )

    # -- loading ----------------------------------------------------------------------------------
    def load(self) -> None:
        """``ResearchAdapter.load`` without importing the probe: ``llava_t2i`` ends the interpreter
        under any transformers but 4.43.4, so each half imports its package when first used, after
        the checks in ``_t2i_module`` / ``_i2t_module``."""
        if self._loaded:
            return
        with patched(self, "probe_module", ""):
            super().load()

    def _load(self) -> None:
        self._m_gen = None
        self._m_chat = None

    def _locate(self, top: str) -> bool:
        """Whether ``top`` is importable (code_path folders put on sys.path), without importing it."""
        import importlib.util

        from facebench.adapters.research import ResearchCodeMissing, _add_paths

        if self.code_path is not None:
            root = Path(str(self.code_path)).expanduser()
            if not root.is_dir():
                raise ResearchCodeMissing(f"{self.family}: code_path '{root}' is not a folder; "
                                          f"{self.install_message()}")
            _add_paths([root / s if s else root for s in self.code_subdirs])
        return importlib.util.find_spec(top) is not None

    def _t2i_module(self, name: str):
        if self._locate("llava_t2i"):  # when absent, research_module raises its "not found" error
            have = _transformers_version()
            if have != T2I_TRANSFORMERS:
                raise FacebenchError(
                    f"TokenFlow generation needs transformers=={T2I_TRANSFORMERS}, this environment has {have}: "
                    "t2i/llava_t2i/model/language_model/modeling_llama.py:54-56 calls exit() at import under any "
                    "other version; run it in TokenFlow's environment (the pins of TokenFlowAdapter.environment)")
        return self.research_module(name)

    def _i2t_module(self, name: str):
        try:
            return self.research_module(name)
        except ImportError as e:  # e.g. i2t/llava/model/__init__.py:12 on transformers < 4.40
            raise FacebenchError(f"TokenFlow understanding code failed to import on transformers "
                                 f"{_transformers_version()}: {e}; it runs on transformers {T2I_TRANSFORMERS} "
                                 "(TokenFlow's environment: the pins of TokenFlowAdapter.environment)") from None

    def _load_gen(self) -> None:
        llava_t2i_model = self._t2i_module("llava_t2i.model")
        self._m_process = self._t2i_module("llava_t2i.dataset.process")
        from transformers import AutoTokenizer

        vq = resolve_file(str(self.model_args["tokenizer_path"]), "TokenFlow tokenizer_path")
        with training_namespace_allowed():
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
            load_kwargs = {"overwrite_config": {"mm_vision_tower": vq},
                           "attn_implementation": str(self.model_args["attn_implementation"])}
            with training_namespace_allowed():
                self._m_chat = LlavaRepoChat(self._i2t_module, str(self.model_args["und_pretrained"]),
                                             self._device, style, load_kwargs=load_kwargs)
        seeded(int(params.get("seed", 0)))
        return self._m_chat.answer(image, messages, int(self.param(params, "max_new_tokens")))

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["settings_source"] = dict(self.settings_source)
        if self._m_chat is not None:
            out["understanding_dtype"] = str(self._m_chat.dtype).replace("torch.", "")
        return out
