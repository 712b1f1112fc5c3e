"""JanusFlow (1.3B: autoregressive LLM + rectified flow in the SDXL-VAE latent space) via DeepSeek's
research code.

Code: https://github.com/deepseek-ai/Janus (``janus.janusflow.models``), verified at commit 1daa72f
(see ``environment``: transformers 4.38.2 — ``janus`` does not import on transformers 5, whose
config dataclasses reject its mutable ``params: AttrDict = {}`` class defaults). Install with
``git clone https://github.com/deepseek-ai/Janus && pip install -e Janus`` or pass
``code_path=/path/to/Janus``. Do NOT ``pip install janus``: that PyPI name is an unrelated asyncio
library. Needs ``diffusers`` for the SDXL VAE (``stabilityai/sdxl-vae``).

Generation follows the README's "Text-to-Image Generation" example (README.md:575-698): the prompt
in the ``deepseek`` SFT template with an empty system prompt + ``image_gen_tag`` (README.md:606-612;
``demo/app_janusflow.py:170`` appends ``image_start_tag`` instead — the README is followed); an
unconditional twin where every token but the first is pad (README.md:628-629); the last prompt
token's embedding replaced by the time embedding (README.md:630-633); Euler steps of the
rectified-flow ODE from Gaussian latents, ``dt`` a tensor in the latents' dtype (README.md:637-640),
``v = w·v_cond − (w−1)·v_uncond`` (README.md:680-682); decode with the SDXL VAE, then
``((x+1)/2·255)`` truncated to uint8 as the demo does (demo/app_janusflow.py:136-137). Defaults: 30
steps, CFG weight 2.0 (README.md:690-697, also the demo's slider defaults at app_janusflow.py:215-216;
the paper's values are UNVERIFIED), 384² (4×48×48 latents, README.md:637). The reference code's
KV-cache reuse is a no-op (it iterates an empty list, README.md:664-667), so every step runs the full
sequence; this plugin does the same explicitly. The starting latent comes from a per-image CPU
generator seeded with ``seed + k`` (the README draws a batch of 5 from the global RNG).

Understanding follows the README (README.md:525-572): ``<image_placeholder>\\n{question}`` in a User
turn, the processor's default system prompt, ``prepare_inputs_embeds`` and
``language_model.generate`` greedy with max_new_tokens 512. The processor output's ``.to(device)``
casts pixels to bfloat16 unless told otherwise (janus/janusflow/models/processing_vlm.py:63-68), so
the plugin passes the model's dtype. The reference scripts run the model in bfloat16 on GPU; on CPU
facebench runs float32 unless ``dtype=bfloat16`` is given.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded, to_pil
from facebench.envs.spec import EnvSpec, ExtraFile, UpstreamCode, Verified

from ._helpers import last_user_text

JANUS_COMMIT = "1daa72fa409002d40931bd7b36a9280362469ead"


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
    reference_dtype: ClassVar[str] = "bfloat16"  # README.md:537 and :592, demo/app_janusflow.py:16
    environment: ClassVar[EnvSpec | None] = EnvSpec(
        name="janusflow",
        python="3.11",
        # pyproject.toml asks transformers>=4.38.2 (the floor is pinned: transformers 5 cannot import
        # janus), timm>=0.9.16, einops, attrdict; the README adds diffusers for the VAE.
        # attrdict 2.0.1 imports collections.Mapping, gone since Python 3.10: attrdict3 is the
        # same module made importable on 3.10+.
        requirements=("transformers==4.38.2", "tokenizers==0.15.2", "huggingface-hub==0.26.2", "diffusers==0.31.0",
                      "attrdict3==2.0.2", "einops==0.8.2", "timm==1.0.31"),
        upstream=UpstreamCode("https://github.com/deepseek-ai/Janus", JANUS_COMMIT),
        files=(ExtraFile("JanusFlow-1.3B", "hf://deepseek-ai/JanusFlow-1.3B", model_arg="pretrained"),
               ExtraFile("sdxl-vae", "hf://stabilityai/sdxl-vae", model_arg="vae")),
        verified=Verified(JANUS_COMMIT, "tiny random MultiModalityCausalLM (SigLIP/UViT/Llama classes of the repo) "
                                        "+ tiny SDXL-style VAE, CPU, float32 and bfloat16: generation (ODE step "
                                        "checked against the README formula) and understanding (equal to the "
                                        "README example) (tests/test_upstream_janusflow.py)", "2026-12-01"),
        notes="attrdict3 stands in for attrdict (same module; attrdict 2.0.1 cannot import on Python >= 3.10).",
    )
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
        text = text + proc.image_gen_tag  # README.md:612
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
            dt = torch.zeros_like(z) + 1.0 / steps
            for step in range(steps):
                z_in = torch.cat([z, z], dim=0)
                t = torch.tensor([step / steps * 1000.0] * 2).to(dt)
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
        inputs = inputs.to(self._device, dtype=self._dtype)  # its default dtype is bfloat16
        with torch.inference_mode():
            embeds = model.prepare_inputs_embeds(**inputs)
            out = model.language_model.generate(
                inputs_embeds=embeds, attention_mask=inputs.attention_mask,
                pad_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                max_new_tokens=int(self.param(params, "max_new_tokens")), do_sample=False, use_cache=True)
        return tok.decode(out[0].cpu().tolist(), skip_special_tokens=True)
