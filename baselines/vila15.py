"""VILA1.5-3B via NVIDIA's VILA research code (LLaVA-style ``llava`` package).

transformers has no native VILA class, and the ``Efficient-Large-Model/VILA1.5-3b`` checkpoint
(``llava_llama`` architecture, separate llm/vision_tower/mm_projector folders) loads only through the
VILA repository at its VILA1.5 release (branch ``vila1.5``, NVlabs/VILA@6b941da; newer main branches
moved to the NVILA API): ``facebench env build vila-1.5``, or a checkout given with
``code_path=/path/to/VILA`` in an environment set up as in its ``environment_setup.sh`` (transformers
4.36.2 with the repository's ``llava/train/transformers_replace`` files copied in; ``environment``
lists the exact pins).

Settings (VILA@6b941da): LLaVA-Bench-in-the-wild — the GPT-judged description/conversation benchmark
closest to Desc/Conv — runs ``llava/eval/model_vqa.py`` with ``--temperature 0`` and ``vicuna_v1``
(``scripts/v1_5/eval/llavabench.sh:4,16``), which is also the mode the README gives for the 3B model
(``README.md:225``): greedy decoding, prompt ``<image>\\n{question}`` in the ``vicuna_v1`` template
(``model_vqa.py:48-56``). Images go through ``process_images`` and are passed as a list, with a
stopping criterion on the template's separator and the separator stripped from the answer, as
``llava/eval/run_vila.py:107-134`` does. ``max_new_tokens`` defaults to ``model_vqa.py:76``'s 1024;
facebench's tasks set their own (desc 256, conv 128) for every model alike, and those win.

Running unmodified upstream code on a CPU needs two call-time shims (recorded in ``info()``):
``builder.py:258-260`` forces ``device_map="cuda"`` for SigLIP towers, which the plugin turns back
into ``{"": device}`` for non-CUDA devices while ``load_pretrained_model`` runs; and flash-attn, which
the replaced ``modeling_llama.py`` (``LlamaFlashAttention2`` hard-coded, lines 607-610) and VILA's
InternViT module (``llava/model/multimodal_encoder/intern/flash_attention.py:7-12``) import at module
level, is stood in for by a PyTorch reference where it is not installed
(``_upstream_shims.flash_attn_placeholder``).
The builder loads in float16 whatever the device (``builder.py:65``): that is the dtype used.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded
from facebench.envs.spec import EnvSpec, UpstreamCode, Verified

from ._llava_repo import ChatStyle, LlavaRepoChat
from ._upstream_shims import flash_attn_placeholder, is_cuda, patched

VILA_COMMIT = "6b941da19e31ddfdfaa60160908ccf0978d96615"


class Vila15Adapter(ResearchAdapter):
    name: ClassVar[str] = "vila-1.5"
    family: ClassVar[str] = "VILA1.5"
    capabilities: ClassVar[frozenset[str]] = frozenset({"understand"})
    default_checkpoint: ClassVar[str | None] = "Efficient-Large-Model/VILA1.5-3b"
    requires: ClassVar[tuple[str, ...]] = ("torch", "llava")
    paper_model: ClassVar[str | None] = "VILA1.5"
    description: ClassVar[str] = "VILA1.5-3B (research code: NVlabs/VILA vila1.5), vicuna_v1 template, greedy"
    repo_url: ClassVar[str] = "https://github.com/NVlabs/VILA"
    install_hint: ClassVar[str] = ("facebench env build vila-1.5, or git clone https://github.com/NVlabs/VILA, "
                                   f"git checkout {VILA_COMMIT[:7]} and pass --model_args code_path=/path/to/VILA")
    probe_module: ClassVar[str] = "llava.model.builder"
    default_args: ClassVar[dict[str, Any]] = {"conv_mode": "vicuna_v1", "temperature": 0.0, "max_new_tokens": 1024}
    settings_source: ClassVar[dict[str, str]] = {
        "conv_mode": "NVlabs/VILA@6b941da scripts/v1_5/eval/llavabench.sh:4; README.md:225",
        "temperature": "scripts/v1_5/eval/llavabench.sh:16 (--temperature 0 → greedy, model_vqa.py:71)",
        "max_new_tokens": "llava/eval/model_vqa.py:76 (task params win: desc 256, conv 128)",
        "prompt": "llava/eval/model_vqa.py:48-56 (<image>\\n{question}, vicuna_v1)",
        "images": "llava/eval/run_vila.py:107-127 (process_images, float16, images=[tensor], stopping criteria)",
    }
    environment: ClassVar[EnvSpec] = EnvSpec(
        name="vila-1.5",
        python="3.11",
        requirements=(
            "transformers==4.36.2", "tokenizers==0.15.2", "accelerate==0.27.2", "huggingface-hub==0.36.2",
            "sentencepiece==0.2.3", "protobuf==4.25.3", "einops==0.6.1", "einops-exts==0.0.4",
            "datasets==2.16.1",
            "s2wrapper @ git+https://github.com/bfshi/scaling_on_scales@9c008a37540e761f53574b488979db6e49a64312",
        ),
        upstream=UpstreamCode(repo="https://github.com/NVlabs/VILA", commit=VILA_COMMIT, subdirs=("",)),
        verified=Verified(
            commit=VILA_COMMIT,
            how=("tiny random weights built with upstream's LlavaLlamaModel / SigLIP / MultimodalProjector and "
                 "saved with its save_pretrained, loaded through load_pretrained_model on CPU (torch 2.14.1, "
                 "transformers 4.36.2 + the repo's transformers_replace files, flash-attn reference): "
                 "tests/test_upstream_und.py"),
            date="2026-12-01",
        ),
        notes=("After installing, copy <checkout>/llava/train/transformers_replace/* over the environment's "
               "transformers package (environment_setup.sh:18-20). That modeling_llama.py hard-codes "
               "LlamaFlashAttention2 (transformers_replace/models/llama/modeling_llama.py:607-610) and flash-attn "
               "is a CUDA-only wheel (environment_setup.sh:13-14): where it is missing, facebench stands in with "
               "a PyTorch reference of the flash-attn functions (baselines/_upstream_shims.py). On the tiny "
               "test checkpoint, answers with the replaced files + that reference equal those of stock "
               "transformers 4.36.2 (eager attention). Upstream pins torch 2.0.1 and Python 3.10 "
               "(pyproject.toml, environment_setup.sh:4); verified with the main environment's torch 2.14.1 "
               "on Python 3.11."),
        extra={"copy_into_site_packages": {"llava/train/transformers_replace": "transformers"}},
    )

    def load(self) -> None:
        # before ResearchAdapter.load imports the probe module: importing VILA's llava.model pulls in
        # the replaced modeling_llama and its InternViT module, both of which import flash-attn
        self._flash_placeholder = flash_attn_placeholder()
        super().load()

    def _load(self) -> None:
        builder = self.research_module("llava.model.builder")
        style = ChatStyle(conv_mode=str(self.model_args["conv_mode"]),
                          temperature=float(self.model_args["temperature"]), images_as_list=True,
                          stopping_criteria=True)
        with _siglip_device_map_follows(builder, self._device):
            self._m_chat = LlavaRepoChat(self.research_module, self.pretrained, self._device, style)
        self._dtype = self._m_chat.dtype

    def _answer_one(self, image, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        seeded(int(params.get("seed", 0)))
        return self._m_chat.answer(image, messages, int(self.param(params, "max_new_tokens")))

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["settings_source"] = dict(self.settings_source)
        if self._loaded:
            out["shims"] = [s for s, used in (
                ("flash-attn PyTorch reference (flash-attn not installed)", self._flash_placeholder),
                ("SigLIP device_map='cuda' → {'': device}", not is_cuda(self._device))) if used]
        return out


@contextmanager
def _siglip_device_map_follows(builder, device: str):
    """On a non-CUDA device, VILA's ``prepare_config_for_eval`` (``builder.py:248-260``) overrides the
    caller's ``device_map`` with ``"cuda"`` for SigLIP towers; put ``{"": device}`` back after it runs,
    as ``builder.py:51-52`` sets it for every other non-CUDA device."""
    original = getattr(builder, "prepare_config_for_eval", None)
    if is_cuda(device) or original is None:
        yield
        return

    def prepare(config, kwargs):
        original(config, kwargs)
        if kwargs.get("device_map") == "cuda":
            kwargs["device_map"] = {"": device}

    with patched(builder, "prepare_config_for_eval", prepare):
        yield
