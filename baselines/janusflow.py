"""JanusFlow (1.3B: autoregressive LLM + rectified flow in the SDXL-VAE latent space) via DeepSeek's
research code.

Code: https://github.com/deepseek-ai/Janus (``janus.janusflow.models``); install with
``git clone https://github.com/deepseek-ai/Janus && pip install -e Janus`` or pass
``code_path=/path/to/Janus``. Do NOT ``pip install janus``: that PyPI name is an unrelated asyncio
library. Needs ``diffusers`` for the SDXL VAE (``stabilityai/sdxl-vae``).

Generation follows the JanusFlow README / ``demo/app_janusflow.py``: the prompt in the ``deepseek``
SFT template (empty system prompt) + ``image_gen_tag``; an unconditional twin where every token but
the first is pad; Euler steps of the rectified-flow ODE from Gaussian latents (4×48×48 → 384²):
``v = w·v_cond − (w−1)·v_uncond``; decode with the SDXL VAE. Defaults: 30 steps, CFG weight 2.0
(demo defaults; the paper's values are UNVERIFIED). The reference code's KV-cache reuse is a no-op
(it iterates an empty list), so every step runs the full sequence; this plugin does the same
explicitly. The starting latent comes from a per-image CPU generator seeded with ``seed + k``.

Understanding follows the README: ``<image_placeholder>\\n{question}`` in a User turn,
``prepare_inputs_embeds`` and ``language_model.generate`` (greedy, max_new_tokens 512).
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded, to_pil

from ._helpers import last_user_text


class JanusFlowAdapter(ResearchAdapter):
    name: ClassVar[str] = "janusflow"
    family: ClassVar[str] = "JanusFlow"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    default_checkpoint: ClassVar[str | None] = "deepseek-ai/JanusFlow-1.3B"
    requires: ClassVar[tuple[str, ...]] = ("torch", "diffusers", "janus.janusflow")
    paper_model: ClassVar[str | None] = "JanusFlow"
    description: ClassVar[str] = "JanusFlow-1.3B (research code: deepseek-ai/Janus), 30 steps, CFG 2, 384²"
    repo_url: ClassVar[str] = "https://github.com/deepseek-ai/Janus"
    install_hint: ClassVar[str] = ("git clone https://github.com/deepseek-ai/Janus && pip install -e Janus "
                                   "(or pass code_path=/path/to/Janus); note 'pip install janus' is an "
                                   "unrelated package")
    probe_module: ClassVar[str] = "janus.janusflow.models"
    reference_dtype: ClassVar[str] = "bfloat16"  # as the reference inference script runs it
    default_args: ClassVar[dict[str, Any]] = {
        "vae": "stabilityai/sdxl-vae",
        "guidance_scale": 2.0,
        "num_inference_steps": 30,
        "resolution": 384,
        "max_new_tokens": 512,
    }

    def _load(self) -> None:
        import torch
        from diffusers.models import AutoencoderKL

        jf = self.research_module("janus.janusflow.models")
        self._m_proc = jf.VLChatProcessor.from_pretrained(self.pretrained)
        model = jf.MultiModalityCausalLM.from_pretrained(self.pretrained)
        self._m_model = model.to(self._dtype).to(self._device).eval()
        vae_dtype = torch.float32 if self._dtype == torch.float16 else self._dtype  # the SDXL VAE overflows in fp16
        self._m_vae = AutoencoderKL.from_pretrained(self.model_args["vae"]).to(vae_dtype).to(self._device).eval()

    # -- generation -----------------------------------------------------------------------------
    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        import torch

        proc, model, vae = self._m_proc, self._m_model, self._m_vae
        cfg_w = float(self.param(params, "guidance_scale"))
        steps = int(self.param(params, "num_inference_steps"))
        latent = int(self.model_args["resolution"]) // 8
        seeded(seed)
        conv = [{"role": "User", "content": prompt}, {"role": "Assistant", "content": ""}]
        text = proc.apply_sft_template_for_multi_turn_prompts(conversations=conv, sft_format=proc.sft_format,
                                                             system_prompt="")
        # README: `sft_format + image_gen_tag`; some forks name it image_start_tag (UNVERIFIED which is current)
        text = text + (getattr(proc, "image_gen_tag", None) or proc.image_start_tag)
        ids = torch.LongTensor(proc.tokenizer.encode(text))
        tokens = torch.stack([ids, ids]).to(self._device)
        tokens[1:, 1:] = proc.pad_id  # unconditional row keeps only the first token
        with torch.inference_mode():
            prefix = model.language_model.get_input_embeddings()(tokens)[:, :-1, :]  # last token → t_emb
            gen = torch.Generator(device="cpu").manual_seed(int(seed))
            z = torch.randn((1, 4, latent, latent), generator=gen).to(self._device, self._dtype)
            n_img = (latent // 2) ** 2
            attn = torch.ones((2, prefix.shape[1] + n_img + 1), dtype=torch.long, device=self._device)
            attn[1:, 1:prefix.shape[1]] = 0
            dt = 1.0 / steps
            for step in range(steps):
                z_in = torch.cat([z, z], dim=0)
                t = torch.full((2,), step / steps * 1000.0, device=self._device, dtype=self._dtype)
                z_emb, t_emb, hs = model.vision_gen_enc_model(z_in, t)[:3]
                z_emb = z_emb.view(z_emb.shape[0], z_emb.shape[1], -1).permute(0, 2, 1)
                z_emb = model.vision_gen_enc_aligner(z_emb)
                llm_in = torch.cat([prefix, t_emb.unsqueeze(1), z_emb], dim=1)
                hidden = model.language_model.model(inputs_embeds=llm_in, attention_mask=attn,
                                                    use_cache=False).last_hidden_state
                hidden = model.vision_gen_dec_aligner(model.vision_gen_dec_aligner_norm(hidden[:, -n_img:, :]))
                side = int(math.isqrt(n_img))
                hidden = hidden.reshape(2, side, side, -1).permute(0, 3, 1, 2)
                v = model.vision_gen_dec_model(hidden, hs, t_emb)
                v_cond, v_uncond = torch.chunk(v, 2)
                z = z + dt * (cfg_w * v_cond - (cfg_w - 1.0) * v_uncond)
            dec = vae.decode((z / vae.config.scaling_factor).to(vae.dtype)).sample
        return to_pil(dec[0].float().clamp(-1, 1), value_range=(-1.0, 1.0))

    # -- understanding --------------------------------------------------------------------------
    def _answer_one(self, image, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        import torch

        proc, model = self._m_proc, self._m_model
        tok = proc.tokenizer
        seeded(int(params.get("seed", 0)))
        conv: list[dict[str, Any]] = []
        attached = image is None
        for m in messages:
            role = {"user": "User", "assistant": "Assistant"}.get(m["role"], m["role"].capitalize())
            content = m["content"]
            turn: dict[str, Any] = {"role": role, "content": content}
            if not attached and m["role"] == "user":
                turn = {"role": role, "content": f"<image_placeholder>\n{content}", "images": ["<in memory>"]}
                attached = True
            conv.append(turn)
        if not conv:
            conv = [{"role": "User", "content": last_user_text(messages)}]
        conv.append({"role": "Assistant", "content": ""})
        inputs = proc(conversations=conv, images=[image] if image is not None else [], force_batchify=True)
        inputs = inputs.to(self._device)
        with torch.inference_mode():
            embeds = model.prepare_inputs_embeds(**inputs)
            out = model.language_model.generate(
                inputs_embeds=embeds.to(self._dtype), attention_mask=inputs.attention_mask,
                pad_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                max_new_tokens=int(self.param(params, "max_new_tokens")), do_sample=False, use_cache=True)
        return tok.decode(out[0].cpu().tolist(), skip_special_tokens=True)
