"""Show-o (1.3B, Phi-1.5 + MAGVIT-v2 tokens, discrete diffusion for images) via its research code.

Code: https://github.com/showlab/Show-o (not on PyPI), verified at commit 45a5a2d (see
``environment``): its own environment (diffusers 0.30.1, transformers 4.41.1), the checkout passed
as ``--model_args code_path=/path/to/Show-o``. The plugin drives the same API, in the same order,
as the repo's ``inference_t2i.py`` (mode ``t2i``, lines 286-341) and ``inference_mmu.py`` (the
MAGVIT option (a), lines 152-175): ``models.Showo`` / ``models.MAGVITv2`` / ``get_mask_chedule``,
``training.prompting_utils.UniversalPrompting`` + ``create_attention_mask_predict_next`` /
``create_attention_mask_for_mmu``, ``training.utils.image_transform`` (bicubic resize, centre crop,
[-1, 1]), ``Showo.t2i_generate`` and ``Showo.mmu_generate``. Checkpoints with a CLIP-ViT
understanding tower (option (c), ``w_clip_vit``) are not supported.

Settings (upstream's, each recorded in results through ``info()['settings']``):

- generation: guidance 5 and 50 timesteps for the 512² model (README.md:177-180), temperature 1.0
  and the cosine mask schedule (the script's fallbacks, inference_t2i.py:318 and :326), 128 text
  tokens (configs/showo_demo_512x512.yaml:40); the unconditional prompt is ``''``
  (inference_t2i.py:299);
- understanding: ``'USER: \\n' + question + ' ASSISTANT:'`` after ``<|mmu|><|soi|>`` image tokens
  ``<|eoi|><|sot|>`` (inference_mmu.py:153-164), top_k 1, i.e. greedy (inference_mmu.py:81; the
  ``temperature = 0.8`` of line 80 is never passed to ``mmu_generate``, whose default 1.0 applies,
  and cannot matter under top_k 1), 100 new tokens (README.md:170).
- the configuration values ``t2i_generate`` reads (``llm_vocab_size``, ``codebook_size``,
  ``num_vq_tokens``, ``num_new_special_tokens``; configs/showo_demo_512x512.yaml:19-24, read at
  models/modeling_showo.py:123-129) come from the checkpoint's own config and the tokenizer, and are
  checked against each other, so a tokenizer that does not match the checkpoint is an error, not
  silently shifted token ids.

Each image is sampled alone right after seeding the global RNGs with its seed (``t2i_generate``
draws from the global RNG when given no generator, as the reference script calls it), so batch
size and request order cannot change an image. The settings the UniF²ace paper used for Show-o are
UNVERIFIED.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

from facebench.adapters.research import AttrDict, ResearchAdapter, seeded, to_pil
from facebench.envs.spec import EnvSpec, ExtraFile, UpstreamCode, Verified
from facebench.errors import FacebenchError

from ._helpers import last_user_text

SPECIAL_TOKENS = ("<|soi|>", "<|eoi|>", "<|sov|>", "<|eov|>", "<|t2i|>", "<|mmu|>", "<|t2v|>", "<|v2v|>", "<|lvg|>")
SHOWO_COMMIT = "45a5a2de01d1ebd10cd5864d29310a76476cdf23"


class ShowoAdapter(ResearchAdapter):
    name: ClassVar[str] = "show-o"
    family: ClassVar[str] = "Show-o"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    default_checkpoint: ClassVar[str | None] = "showlab/show-o-512x512"
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers", "models", "training")
    paper_model: ClassVar[str | None] = "Show-o"
    description: ClassVar[str] = "Show-o 512² (research code: code_path=<Show-o repo>), guidance 5, 50 steps"
    repo_url: ClassVar[str] = "https://github.com/showlab/Show-o"
    probe_module: ClassVar[str] = "training.prompting_utils"
    reference_dtype: ClassVar[str] = "float32"  # inference_t2i.py never casts the model
    environment: ClassVar[EnvSpec | None] = EnvSpec(
        name="show-o",
        python="3.11",
        # requirements.txt pins transformers 4.41.1 / diffusers 0.30.1 (the modules import
        # diffusers' ModelMixin internals and transformers' Phi internals of those versions);
        # omegaconf, einops, jaxtyping and typeguard are imported by models/ and training/utils.py.
        requirements=("transformers==4.41.1", "tokenizers==0.19.1", "diffusers==0.30.1", "huggingface-hub==0.23.2",
                      "omegaconf==2.3.0", "einops==0.6.0", "jaxtyping==0.2.28", "typeguard==2.13.3"),
        upstream=UpstreamCode("https://github.com/showlab/Show-o", SHOWO_COMMIT),
        files=(ExtraFile("show-o-512x512", "hf://showlab/show-o-512x512", model_arg="pretrained"),
               ExtraFile("magvitv2", "hf://showlab/magvitv2", model_arg="vq_model"),
               ExtraFile("phi-1_5", "hf://microsoft/phi-1_5", model_arg="llm_model")),
        verified=Verified(SHOWO_COMMIT, "tiny random Showo/Phi + MAGVITv2, CPU: generation and understanding "
                                        "equal the repo's own inference_t2i.py / inference_mmu.py "
                                        "(tests/test_upstream_show_o.py)", "2026-12-01"),
        notes="Python 3.11 instead of the repo's 3.8-era stack: the pinned libraries import on it unchanged.",
    )
    default_args: ClassVar[dict[str, Any]] = {
        "vq_model": "showlab/magvitv2",
        "llm_model": "microsoft/phi-1_5",
        "resolution": 512,
        "guidance_scale": 5.0,
        "generation_timesteps": 50,
        "generation_temperature": 1.0,
        "mask_schedule": "cosine",
        "max_seq_length": 128,
        "max_new_tokens": 100,
        "top_k": 1,
    }

    # -- loading --------------------------------------------------------------------------------
    def _config(self, model_config: Any, tokenizer_len: int) -> AttrDict:
        """The slice of the repo's OmegaConf config that ``t2i_generate`` reads, from the checkpoint."""
        a = self.model_args
        res = int(a["resolution"])
        get = (lambda k: model_config[k]) if isinstance(model_config, dict) else (lambda k: getattr(model_config, k))
        llm_vocab, codebook, n_vq = int(get("llm_vocab_size")), int(get("codebook_size")), int(get("num_vq_tokens"))
        new_special = tokenizer_len - llm_vocab  # [PAD] + the 9 task/modality tokens UniversalPrompting adds
        if int(get("vocab_size")) != llm_vocab + new_special + codebook + 1:
            raise FacebenchError(
                f"{self.name}: tokenizer '{a['llm_model']}' does not match checkpoint '{self.pretrained}': "
                f"{tokenizer_len} text tokens + {codebook} image codes + mask != vocab_size {get('vocab_size')} "
                f"(llm_vocab_size {llm_vocab}); pass llm_model=<the tokenizer the checkpoint was trained with>")
        if (res // 16) ** 2 != n_vq:
            side = math.isqrt(n_vq) * 16
            raise FacebenchError(f"{self.name}: checkpoint '{self.pretrained}' makes {n_vq} image tokens "
                                 f"({side}x{side}), not resolution={res}: pass --model_args resolution={side}")
        return AttrDict(
            model={"showo": {"num_vq_tokens": n_vq, "llm_vocab_size": llm_vocab, "codebook_size": codebook,
                             "num_new_special_tokens": new_special, "w_clip_vit": False,
                             "llm_model_path": a["llm_model"], "pretrained_model_path": self.pretrained},
                   "vq_model": {"type": "magvitv2", "vq_model_name": a["vq_model"]}},
            dataset={"params": {"resolution": res}, "preprocessing": {"max_seq_length": int(a["max_seq_length"]),
                                                                       "resolution": res}},
            training={"guidance_scale": float(a["guidance_scale"]),
                      "generation_timesteps": int(a["generation_timesteps"])},
        )

    def _load(self) -> None:
        import torch
        from transformers import AutoTokenizer

        models = self.research_module("models")
        pu = self.research_module("training.prompting_utils")
        self._m_transform = self.research_module("training.utils").image_transform
        self._m_pu = pu
        self._m_schedule = models.get_mask_chedule(str(self.model_args["mask_schedule"]))
        tok = AutoTokenizer.from_pretrained(self.model_args["llm_model"], padding_side="left")
        self._m_uni = pu.UniversalPrompting(tok, max_text_len=int(self.model_args["max_seq_length"]),
                                            special_tokens=SPECIAL_TOKENS, ignore_id=-100, cond_dropout_prob=0.1)
        model = models.Showo.from_pretrained(self.pretrained)
        if model.config.w_clip_vit:
            raise FacebenchError(f"{self.name}: '{self.pretrained}' is a CLIP-ViT (w_clip_vit) checkpoint; this plugin "
                                 "runs the MAGVIT checkpoints (e.g. showlab/show-o-512x512)")
        self._m_config = self._config(model.config, len(tok))
        self._m_vq = models.MAGVITv2.from_pretrained(self.model_args["vq_model"]).to(self._device).eval()
        self._m_vq.requires_grad_(False)
        self._m_model = model.to(self._device).eval()
        if self._dtype != torch.float32:
            self._m_model = self._m_model.to(self._dtype)

    def _ids(self, name: str) -> int:
        return int(self._m_uni.sptids_dict[name])

    def info(self) -> dict[str, Any]:
        """Adds what ``t2i_generate`` was told about the checkpoint (read from it, once loaded)."""
        out = super().info()
        if self._loaded:
            out["checkpoint_config"] = {k: self._m_config.model.showo[k] for k in
                                        ("llm_vocab_size", "codebook_size", "num_vq_tokens", "num_new_special_tokens")}
        return out

    # -- generation -----------------------------------------------------------------------------
    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        import torch

        cfg = self._m_config
        n_tok = cfg.model.showo.num_vq_tokens
        guidance = float(self.param(params, "guidance_scale"))
        mask_id = int(self._m_model.config.mask_token_id)
        image_tokens = torch.full((1, n_tok), mask_id, dtype=torch.long, device=self._device)
        input_ids, _ = self._m_uni(([prompt], image_tokens), "t2i_gen")
        uncond = None
        both = input_ids
        if guidance > 0:
            uncond, _ = self._m_uni(([""], image_tokens), "t2i_gen")
            both = torch.cat([input_ids, uncond], dim=0)
        mask = self._m_pu.create_attention_mask_predict_next(
            both, pad_id=self._ids("<|pad|>"), soi_id=self._ids("<|soi|>"), eoi_id=self._ids("<|eoi|>"),
            rm_pad_in_image=True)
        if self._dtype != torch.float32:
            mask = mask.to(self._dtype)
        seeded(seed)
        with torch.no_grad():
            codes = self._m_model.t2i_generate(
                input_ids=input_ids, uncond_input_ids=uncond, attention_mask=mask, guidance_scale=guidance,
                temperature=float(self.param(params, "generation_temperature")),
                timesteps=int(self.param(params, "generation_timesteps")), noise_schedule=self._m_schedule,
                noise_type="mask", seq_len=n_tok, uni_prompting=self._m_uni, config=cfg)
            codes = torch.clamp(codes, min=0, max=cfg.model.showo.codebook_size - 1)
            images = self._m_vq.decode_code(codes)
        return to_pil(images[0], value_range=(-1.0, 1.0))

    # -- understanding --------------------------------------------------------------------------
    def _image_tokens(self, image):
        import torch

        x = self._m_transform(image.convert("RGB"), resolution=int(self.model_args["resolution"]))
        with torch.no_grad():
            return self._m_vq.get_code(x.unsqueeze(0).to(self._device)) + len(self._m_uni.text_tokenizer)

    @staticmethod
    def _dialogue(messages: list[dict[str, str]]) -> str:
        """Show-o's MMU prompt ('USER: \\n{q} ASSISTANT:'), earlier turns kept in the same style."""
        parts, first = [], True
        for m in messages:
            if m["role"] == "user":
                parts.append(("USER: \n" if first else "USER: ") + m["content"] + " ASSISTANT:")
                first = False
            elif m["role"] == "assistant":
                parts.append(" " + m["content"] + " ")
        return "".join(parts) if parts else "USER: \n" + last_user_text(messages) + " ASSISTANT:"

    def _answer_one(self, image, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        import torch

        if image is None:
            raise FacebenchError(f"{self.name} answers questions about an image: the request has none")
        seeded(int(params.get("seed", 0)))
        tokens = self._image_tokens(image)
        tok = self._m_uni.text_tokenizer
        text_ids = torch.tensor(tok([self._dialogue(messages)])["input_ids"], device=self._device)

        def col(name: str):
            return torch.full((1, 1), self._ids(name), dtype=torch.long, device=self._device)

        parts = [col("<|mmu|>"), col("<|soi|>"), tokens, col("<|eoi|>"), col("<|sot|>"), text_ids]
        input_ids = torch.cat(parts, dim=1).long()
        mask = self._m_pu.create_attention_mask_for_mmu(input_ids, eoi_id=self._ids("<|eoi|>"))
        if self._dtype != torch.float32:
            mask = mask.to(self._dtype)
        with torch.no_grad():
            out = self._m_model.mmu_generate(input_ids, attention_mask=mask,
                                             max_new_tokens=int(self.param(params, "max_new_tokens")),
                                             top_k=int(self.param(params, "top_k")), eot_token=self._ids("<|eot|>"))
        if not out:
            return ""
        ids = torch.stack([torch.as_tensor(t) for t in out]).reshape(1, -1)
        return tok.batch_decode(ids, skip_special_tokens=True)[0]
