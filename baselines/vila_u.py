"""VILA-U (7B, one vision tower for understanding and VQ image generation) via its research code.

Code: mit-han-lab/vila-u@096623c (``facebench env build vila-u``, or a checkout given with
``code_path=/path/to/vila-u`` in an environment set up as in its ``environment_setup.sh``:
transformers 4.36.2 with ``vila_u/train/transformers_replace`` copied over it — that copy holds the
image-generation decoding loop, so it is required). The plugin uses the package API of the repo's
``inference.py``: ``vila_u.load(model_path)`` (passing ``device`` and ``model_dtype``, which
``vila_u/model/builder.py:14-28`` accepts), ``model.generate_image_content(prompt, cfg, 1)``
(N×3×H×W in 0..255) and ``model.generate_content([image, question], generation_config)``.

Settings (vila-u@096623c):
- generation: CFG 3.0 (``inference.py:39``), one image per call after seeding the global RNGs with
  ``seed + k`` (upstream samples from them); the token sampler is fixed inside upstream (RQ-Transformer
  temperature 1.0, top-k 900, top-p 0.96, ``rqtransformer/modeling_rqtransformer.py:142,170``);
  256² for the default ``vila-u-7b-256`` checkpoint.
- understanding: the evaluation path — ``vila_u-eval -c vicuna_v1`` (``README.md:87``) runs lmms-eval
  through ``vila_u/eval/lmms/models/vila_u.py``, which sets the ``vicuna_v1`` conversation (line 40),
  passes PIL images (66-73) and updates ``model.default_generation_config`` with the task's generation
  kwargs (76-77); for LLaVA-Bench-in-the-wild, the GPT-judged free-form task closest to Desc/Conv,
  those are greedy (``do_sample: false``, temperature 0, top-p 1.0, one beam; lmms-eval@7f9c482
  ``lmms_eval/tasks/llava-in-the-wild/llava-in-the-wild.yaml:14-18``) with 4096 new tokens at most.
  ``inference.py:34-35``'s temperature 0.9 / top-p 0.6 are a demo's sampling settings, not an
  evaluation's. facebench's tasks set ``max_new_tokens`` (desc 256, conv 128) for every model alike.

- dtype: bfloat16 on every device, CPU included: upstream's default (``vila_u/model/builder.py:16``),
  and its image decoder casts activations to bfloat16 itself (``rqvaesiglip/modules.py:32``,
  ``modeling_rqvaesiglip.py:74``), so a float32 model fails there.

VILA-U is not in the UniF²ace paper's tables (no paper row).

On a CPU the plugin applies call-time shims (recorded in ``info()``): ``Tensor.cuda()`` becomes a
move to the adapter's device while upstream's calls run (``vila_u_arch.py:604,619-628``
hard-code it), flash-attn is stood in for by a PyTorch reference where it is not installed (the
replaced ``modeling_llama.py`` hard-codes ``LlamaFlashAttention2``, lines 607-610), and on Python
3.11+ its Python-3.10 dataclass defaults are accepted while it is imported
(``configuration_rqtransformer.py:15-18``; ``environment_setup.sh:9`` creates a 3.10 environment).
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded, to_pil
from facebench.envs.spec import EnvSpec, UpstreamCode, Verified

from ._upstream_shims import flash_attn_placeholder, is_cuda, python310_dataclass_defaults, tensor_cuda_goes_to

VILA_U_COMMIT = "096623cef36a57c707d4bdc5cdfeec823b58d223"


class VilaUAdapter(ResearchAdapter):
    name: ClassVar[str] = "vila-u"
    family: ClassVar[str] = "VILA-U"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    default_checkpoint: ClassVar[str | None] = "mit-han-lab/vila-u-7b-256"
    requires: ClassVar[tuple[str, ...]] = ("torch", "vila_u")
    paper_model: ClassVar[str | None] = None
    description: ClassVar[str] = "VILA-U 7B 256² (research code: mit-han-lab/vila-u), CFG 3, greedy vicuna_v1 answers"
    repo_url: ClassVar[str] = "https://github.com/mit-han-lab/vila-u"
    install_hint: ClassVar[str] = ("facebench env build vila-u, or git clone https://github.com/mit-han-lab/vila-u, "
                                   f"git checkout {VILA_U_COMMIT[:7]} and pass --model_args code_path=/path/to/vila-u")
    probe_module: ClassVar[str] = "vila_u"
    reference_dtype: ClassVar[str] = "bfloat16"  # vila_u/model/builder.py:16
    default_args: ClassVar[dict[str, Any]] = {"cfg": 3.0, "conv_mode": "vicuna_v1", "temperature": 0.0,
                                              "max_new_tokens": 4096, "dtype": "bfloat16"}
    settings_source: ClassVar[dict[str, str]] = {
        "cfg": "mit-han-lab/vila-u@096623c inference.py:39",
        "image sampler": "rqtransformer/modeling_rqtransformer.py:142,170 (temperature 1.0, top-k 900, top-p 0.96)",
        "conv_mode": "README.md:87 (vila_u-eval -c vicuna_v1); vila_u/eval/lmms/models/vila_u.py:40",
        "temperature": ("vila_u/eval/lmms/models/vila_u.py:76-77 + lmms-eval@7f9c482 "
                        "tasks/llava-in-the-wild/llava-in-the-wild.yaml:14-18 (greedy)"),
        "max_new_tokens": "llava-in-the-wild.yaml:14 (task params win: desc 256, conv 128)",
        "dtype": ("vila_u/model/builder.py:16 (bfloat16); the image decoder casts to bfloat16 itself "
                  "(rqvaesiglip/modules.py:32, modeling_rqvaesiglip.py:74), so it is kept on CPU too"),
    }
    environment: ClassVar[EnvSpec] = EnvSpec(
        name="vila-u",
        python="3.11",
        requirements=(
            "transformers==4.36.2", "tokenizers==0.15.2", "accelerate==0.34.2", "huggingface-hub==0.36.2",
            "sentencepiece==0.2.3", "protobuf==4.25.3", "einops==0.6.1", "einops-exts==0.0.4",
            "opencv-python-headless==4.14.0.94", "loguru==0.7.3",
        ),
        upstream=UpstreamCode(repo="https://github.com/mit-han-lab/vila-u", commit=VILA_U_COMMIT, subdirs=("",)),
        verified=Verified(
            commit=VILA_U_COMMIT,
            how=("tiny random weights built with upstream's VILAULlamaModel / RQVAESIGLIPTransformer (256² tower, "
                 "RQ-VAE SigLIP + RQ-Transformer) and saved with its save_pretrained, loaded through vila_u.load on "
                 "CPU (torch 2.14.1, transformers 4.36.2 + the repo's transformers_replace files, flash-attn "
                 "reference, Python 3.11 dataclass shim): tests/test_upstream_und.py"),
            date="2026-12-01",
        ),
        notes=("After installing, copy <checkout>/vila_u/train/transformers_replace/* over the environment's "
               "transformers package (environment_setup.sh:31-32): the replaced modeling_llama.py holds the "
               "image-generation loop. Upstream pins torch 2.3.0 on Python 3.10 (pyproject.toml, "
               "environment_setup.sh:9) with flash-attn 2.5.8 (line 21); verified with the main environment's "
               "torch 2.14.1 on Python 3.11. Loading also reads the SigLIP config named in the checkpoint's "
               "vision_tower config (google/siglip-large-patch16-256 for the released models) through the "
               "Hugging Face cache."),
        extra={"copy_into_site_packages": {"vila_u/train/transformers_replace": "transformers"}},
    )

    def load(self) -> None:
        self._flash_placeholder = flash_attn_placeholder()
        with python310_dataclass_defaults("vila_u") as self._dataclass_shim:
            super().load()

    def _load(self) -> None:
        self._m_lib = self.research_module("vila_u")
        conv = self.research_module("vila_u.conversation")
        mode = str(self.model_args["conv_mode"])
        if mode not in conv.conv_templates:
            from facebench.errors import FacebenchError

            raise FacebenchError(f"conv_mode '{mode}' is not a VILA-U conversation template; known: "
                                 f"{', '.join(sorted(conv.conv_templates))}")
        self._m_model = self._m_lib.load(self.pretrained, device=self._device, model_dtype=self._dtype)
        # after load: vila_u.load sets the mode from the checkpoint's name (entry.py:23); the eval
        # wrapper then sets the one it was given (vila_u/eval/lmms/models/vila_u.py:40)
        conv.default_conversation = conv.conv_templates[mode].copy()

    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        import torch

        seeded(seed)
        with torch.inference_mode(), tensor_cuda_goes_to(self._device):
            out = self._m_model.generate_image_content(prompt, float(self.param(params, "cfg")), 1)
        return to_pil(out[0], value_range=(0.0, 255.0))

    def _answer_one(self, image, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        seeded(int(params.get("seed", 0)))
        question = "\n".join(m["content"] for m in messages if m["role"] == "user")
        parts: list[Any] = ([image] if image is not None else []) + [question]
        config = self._m_model.default_generation_config
        temperature = float(self.param(params, "temperature"))
        config.update(do_sample=temperature > 0, temperature=temperature, top_p=1.0, num_beams=1,
                      max_new_tokens=int(self.param(params, "max_new_tokens")))
        with tensor_cuda_goes_to(self._device):
            return self._m_model.generate_content(parts, generation_config=config)

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["settings_source"] = dict(self.settings_source)
        if self._loaded:
            gc = self._m_model.llm.generation_config
            out["llm_generation_config"] = {k: getattr(gc, k, None) for k in ("do_sample", "temperature", "top_p",
                                                                                "top_k")}
            out["shims"] = [s for s, used in (
                ("flash-attn PyTorch reference (flash-attn not installed)", self._flash_placeholder),
                ("Python 3.10 dataclass defaults accepted while importing vila_u", self._dataclass_shim),
                ("Tensor.cuda() → .to(device) during upstream calls", not is_cuda(self._device))) if used]
        return out
