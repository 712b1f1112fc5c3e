"""LlamaGen text-to-image (LlamaGen-XL, 775M, stage-2 512²; "0.8B" in the paper) via its research code.

Code: https://github.com/FoundationVision/LlamaGen (pass ``code_path=/path/to/LlamaGen``; modules
``autoregressive``, ``tokenizer``, ``language``). The plugin mirrors
``autoregressive/sample/sample_t2i.py``: ``VQ_models['VQ-16']`` (codebook 16384, dim 8) from
``vq_ckpt``, ``GPT_models['GPT-XL']`` (t2i, 120 condition tokens) from the GPT checkpoint, FLAN-T5-XL
embeddings via ``language.t5.T5Embedder`` (left-padded, max 120 tokens) and
``autoregressive.models.generate.generate`` with CFG 7.5, top-k 1000, top-p 1.0, temperature 1.0
(the script's defaults). Checkpoints (``owner/repo/file`` on the hub or local paths):
``peizesun/llamagen_t2i/t2i_XL_stage2_512.pt`` and ``peizesun/llamagen_t2i/vq_ds16_t2i.pt``;
``t5_path`` is a local folder holding ``flan-t5-xl`` (as the repo expects). Each image is sampled
alone after seeding with ``seed + k``. Generation only.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded, to_pil
from facebench.errors import FacebenchError

from ._helpers import resolve_file


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
    reference_dtype: ClassVar[str] = "bfloat16"  # as the reference inference script runs it
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
        import torch

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
        ck = torch.load(resolve_file(str(a["vq_ckpt"]), "LlamaGen vq_ckpt"), map_location="cpu", weights_only=True)
        vq.load_state_dict(ck["model"])
        self._m_vq = vq.to(self._device).eval()
        self._latent = int(a["image_size"]) // int(a["downsample_size"])
        gpt = gpt_mod.GPT_models[a["gpt_model"]](block_size=self._latent ** 2, cls_token_num=int(a["t5_max_len"]),
                                                 model_type="t2i").to(device=self._device, dtype=self._dtype)
        ck = torch.load(resolve_file(self.pretrained, "LlamaGen checkpoint"), map_location="cpu", weights_only=True)
        weights = next((ck[k] for k in ("model", "module", "state_dict") if k in ck), None)
        if weights is None:
            raise FacebenchError(f"LlamaGen checkpoint {self.pretrained} has no model/module/state_dict entry")
        gpt.load_state_dict(weights, strict=False)
        self._m_gpt = gpt.eval()
        self._m_t5 = t5_mod.T5Embedder(device=self._device, local_cache=True, cache_dir=str(a["t5_path"]),
                                       dir_or_name=a["t5_model_type"], torch_dtype=self._dtype,
                                       model_max_length=int(a["t5_max_len"]))

    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        import torch

        seeded(seed)
        with torch.inference_mode():
            emb, mask = self._m_t5.get_text_embeddings([prompt])
            valid = int(mask[0].sum().item())  # left-pad, as sample_t2i.py does by default
            emb = torch.cat([emb[0][valid:], emb[0][:valid]]).unsqueeze(0)
            mask = torch.flip(mask, dims=[-1])
            cond = emb * mask[:, :, None]
            codes = self._m_generate(self._m_gpt, cond, self._latent ** 2, mask,
                                     cfg_scale=float(self.param(params, "cfg_scale")),
                                     temperature=float(self.param(params, "temperature")),
                                     top_k=int(self.param(params, "top_k")), top_p=float(self.param(params, "top_p")),
                                     sample_logits=True)
            shape = [1, int(self.model_args["codebook_embed_dim"]), self._latent, self._latent]
            img = self._m_vq.decode_code(codes, shape)
        return to_pil(img[0].float().clamp(-1, 1), value_range=(-1.0, 1.0))
