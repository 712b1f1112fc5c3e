"""LlamaGen text-to-image (LlamaGen-XL, 775M, stage-2 512²; "0.8B" in the paper) via its research code.

Code: https://github.com/FoundationVision/LlamaGen, verified at commit ce98ec4 (pass
``code_path=/path/to/LlamaGen``; modules ``autoregressive``, ``tokenizer``, ``language``; see
``environment``: it runs on facebench's own stack plus the two text-cleaning packages
``language/t5.py`` imports). The plugin follows ``autoregressive/sample/sample_t2i.py`` step by step:
``VQ_models['VQ-16']`` (codebook 16384, dim 8) from ``vq_ckpt`` (lines 29-35),
``GPT_models['GPT-XL']`` (t2i, 120 condition tokens, lines 41-58: weights from the checkpoint's
``model``/``module``/``state_dict`` entry, ``strict=False``), FLAN-T5-XL embeddings via
``language.t5.T5Embedder`` (lines 73-81, max 120 tokens), left-padding (lines 92-106),
``autoregressive.models.generate.generate`` with the script's defaults CFG 7.5, top-k 1000,
top-p 1.0, temperature 1.0 (lines 110-116 and 150-154), and the image written as ``save_image(...,
normalize=True, value_range=(-1, 1))`` does (line 125): clamp, map to [0, 1], ``·255 + 0.5``, to uint8
(rounded, not truncated). Checkpoints (``owner/repo/file`` on the hub or local paths):
``peizesun/llamagen_t2i/t2i_XL_stage2_512.pt`` and ``peizesun/llamagen_t2i/vq_ds16_t2i.pt``;
``t5_path`` is a local folder holding ``flan-t5-xl`` (the script's ``--t5-path``) or the
``flan-t5-xl`` model folder itself. Each image is sampled
alone, the global RNG seeded with ``seed + k`` right before sampling (the script seeds once per batch
at start, line 22). Generation only.

Checkpoints are read with ``torch.load(weights_only=True)``. LlamaGen's training scripts save their
``argparse.Namespace`` next to the weights (autoregressive/train/train_t2i.py:202-207,
tokenizer/tokenizer_image/vq_train.py:245-252), which the safe unpickler rejects; exactly that one
class is allowed (``torch.serialization.safe_globals([argparse.Namespace])``) — it only holds the
training options — and anything else a file asks for is still refused.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded
from facebench.envs.spec import EnvSpec, ExtraFile, UpstreamCode, Verified
from facebench.errors import FacebenchError

from ._helpers import resolve_file

LLAMAGEN_COMMIT = "ce98ec41803a74a90ce68c40ababa9eaeffeb4ec"


def load_checkpoint(path: str):
    """``torch.load`` with the safe unpickler, allowing only ``argparse.Namespace`` besides tensors
    (LlamaGen's training checkpoints store their options as one)."""
    import argparse

    import torch

    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(path, map_location="cpu", weights_only=True)


def save_image_pixels(x):
    """A [-1, 1] CHW tensor as ``torchvision.utils.save_image(x, normalize=True, value_range=(-1, 1))``
    writes it: clamp, shift to [0, 1], ``·255 + 0.5`` clamped, cast (so values round)."""
    import torch
    from PIL import Image

    x = x.detach().float().cpu().clamp(-1.0, 1.0)
    x = (x + 1.0) / 2.0
    x = x.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8)
    return Image.fromarray(x.numpy()).convert("RGB")


class LlamaGenAdapter(ResearchAdapter):
    name: ClassVar[str] = "llamagen"
    family: ClassVar[str] = "LlamaGen"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate"})
    default_checkpoint: ClassVar[str | None] = "peizesun/llamagen_t2i/t2i_XL_stage2_512.pt"
    requires: ClassVar[tuple[str, ...]] = ("torch", "autoregressive", "tokenizer.tokenizer_image")
    paper_model: ClassVar[str | None] = "LlamaGen"
    description: ClassVar[str] = "LlamaGen-XL t2i stage-2 512² (research code), CFG 7.5, top-k 1000"
    repo_url: ClassVar[str] = "https://github.com/FoundationVision/LlamaGen"
    probe_module: ClassVar[str] = "autoregressive.models.generate"
    reference_dtype: ClassVar[str] = "bfloat16"  # sample_t2i.py --precision default (line 141)
    environment: ClassVar[EnvSpec | None] = EnvSpec(
        name="llamagen",
        python="3.11",
        # requirements.txt asks only torch>=2.1.0; language/t5.py also imports ftfy and bs4.
        requirements=("ftfy==6.3.1", "beautifulsoup4==4.15.0"),
        upstream=UpstreamCode("https://github.com/FoundationVision/LlamaGen", LLAMAGEN_COMMIT),
        files=(ExtraFile("t2i_XL_stage2_512.pt", "hf://peizesun/llamagen_t2i/t2i_XL_stage2_512.pt",
                         model_arg="pretrained"),
               ExtraFile("vq_ds16_t2i.pt", "hf://peizesun/llamagen_t2i/vq_ds16_t2i.pt", model_arg="vq_ckpt"),
               ExtraFile("flan-t5-xl", "hf://google/flan-t5-xl", model_arg="t5_path")),
        verified=Verified(LLAMAGEN_COMMIT, "tiny random GPT (the repo's Transformer) + VQModel + T5 encoder, "
                                           "checkpoints saved as its training scripts save them (with "
                                           "argparse.Namespace), CPU: the image equals the repo's own "
                                           "sample_t2i.py (tests/test_upstream_llamagen.py)", "2026-12-01"),
        notes="Runs on facebench's own transformers/torch plus the two packages language/t5.py imports.",
    )
    default_args: ClassVar[dict[str, Any]] = {
        "vq_ckpt": "peizesun/llamagen_t2i/vq_ds16_t2i.pt",
        "t5_path": None,
        "t5_model_type": "flan-t5-xl",
        "t5_max_len": 120,
        "gpt_model": "GPT-XL",
        "vq_model": "VQ-16",
        "codebook_size": 16384,
        "codebook_embed_dim": 8,
        "image_size": 512,
        "downsample_size": 16,
        "cfg_scale": 7.5,
        "top_k": 1000,
        "top_p": 1.0,
        "temperature": 1.0,
    }

    def weights_revision(self) -> str:
        from facebench.adapters.hf_vlm import weights_revision

        if self._revision is None:
            parts = []
            for spec in (self.pretrained, str(self.model_args["vq_ckpt"])):
                rev, resolved = weights_revision(spec, None, str(self.model_args.get("weights_hash", "full")))
                if not resolved:
                    return "|".join([spec, rev])
                parts.append(rev)
            self._revision = "|".join(parts)
        return self._revision

    def _load(self) -> None:
        a = self.model_args
        if not a.get("t5_path"):
            raise FacebenchError("llamagen needs --model_args t5_path=<folder holding flan-t5-xl> (as LlamaGen's "
                                 "sample_t2i.py expects; download google/flan-t5-xl into it)")
        vq_mod = self.research_module("tokenizer.tokenizer_image.vq_model")
        gpt_mod = self.research_module("autoregressive.models.gpt")
        self._m_generate = self.research_module("autoregressive.models.generate").generate
        t5_mod = self.research_module("language.t5")
        vq = vq_mod.VQ_models[a["vq_model"]](codebook_size=int(a["codebook_size"]),
                                             codebook_embed_dim=int(a["codebook_embed_dim"]))
        ck = load_checkpoint(resolve_file(str(a["vq_ckpt"]), "LlamaGen vq_ckpt"))
        vq.load_state_dict(ck["model"])
        self._m_vq = vq.to(self._device).eval()
        self._latent = int(a["image_size"]) // int(a["downsample_size"])
        gpt = gpt_mod.GPT_models[a["gpt_model"]](block_size=self._latent ** 2, cls_token_num=int(a["t5_max_len"]),
                                                 model_type="t2i").to(device=self._device, dtype=self._dtype)
        ck = load_checkpoint(resolve_file(self.pretrained, "LlamaGen checkpoint"))
        weights = next((ck[k] for k in ("model", "module", "state_dict") if k in ck), None)
        if weights is None:
            raise FacebenchError(f"LlamaGen checkpoint {self.pretrained} has no model/module/state_dict entry")
        gpt.load_state_dict(weights, strict=False)
        self._m_gpt = gpt.eval()
        cache_dir, name = self._t5_location()
        self._m_t5 = t5_mod.T5Embedder(device=self._device, local_cache=True, cache_dir=cache_dir, dir_or_name=name,
                                       torch_dtype=self._dtype, model_max_length=int(a["t5_max_len"]))

    def _t5_location(self) -> tuple[str, str]:
        """``T5Embedder`` reads ``<cache_dir>/<dir_or_name>`` (language/t5.py:32-34): ``t5_path`` may be
        the folder holding ``flan-t5-xl/`` (as sample_t2i.py's --t5-path) or that model folder itself."""
        from pathlib import Path

        t5 = Path(str(self.model_args["t5_path"])).expanduser()
        if (t5 / "config.json").is_file():
            return str(t5.parent), t5.name
        return str(t5), str(self.model_args["t5_model_type"])

    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        import torch

        with torch.inference_mode():
            emb, mask = self._m_t5.get_text_embeddings([prompt])
            valid = int(mask[0].sum().item())  # left-pad, as sample_t2i.py does by default
            emb = torch.cat([emb[0][valid:], emb[0][:valid]]).unsqueeze(0)
            mask = torch.flip(mask, dims=[-1])
            cond = emb * mask[:, :, None]
            seeded(seed)
            codes = self._m_generate(self._m_gpt, cond, self._latent ** 2, mask,
                                     cfg_scale=float(self.param(params, "cfg_scale")),
                                     temperature=float(self.param(params, "temperature")),
                                     top_k=int(self.param(params, "top_k")), top_p=float(self.param(params, "top_p")),
                                     sample_logits=True)
            shape = [1, int(self.model_args["codebook_embed_dim"]), self._latent, self._latent]
            img = self._m_vq.decode_code(codes, shape)
        return save_image_pixels(img[0])
