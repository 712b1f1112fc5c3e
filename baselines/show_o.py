"""Show-o (1.3B, Phi-1.5 + MAGVIT-v2 tokens, discrete diffusion for images) via its research code.

Code: https://github.com/showlab/Show-o (not on PyPI). Clone it, ``pip install -r requirements.txt``,
then ``--model_args code_path=/path/to/Show-o``. The plugin calls the same API as the repo's
``inference_t2i.py`` / ``inference_mmu.py``: ``models.Showo``, ``models.MAGVITv2``,
``models.get_mask_chedule``, ``training.prompting_utils.UniversalPrompting`` and
``create_attention_mask_predict_next`` / ``create_attention_mask_for_mmu``; ``Showo.t2i_generate``
and ``Showo.mmu_generate``.

Defaults (README "Text-to-Image Generation" for the 512×512 model, configs/showo_demo_512x512.yaml):
``showlab/show-o-512x512``, ``showlab/magvitv2``, LLM tokenizer ``microsoft/phi-1_5``, 1024 image
tokens (512², 16× downsampling), guidance 5, 50 generation timesteps, cosine mask schedule,
temperature 1; understanding: ``'USER: \\n' + question + ' ASSISTANT:'`` after the image tokens,
top_k=1 (greedy), max_new_tokens 100 (README). The settings the UniF²ace paper used for Show-o are
UNVERIFIED. Each image is sampled alone with its own ``torch.Generator`` (``t2i_generate`` takes
one generator per call), so batch size cannot change it.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.research import AttrDict, ResearchAdapter, seeded, to_pil

from ._helpers import last_user_text

SPECIAL_TOKENS = ("<|soi|>", "<|eoi|>", "<|sov|>", "<|eov|>", "<|t2i|>", "<|mmu|>", "<|t2v|>", "<|v2v|>", "<|lvg|>")


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
    reference_dtype: ClassVar[str] = "float32"  # as the reference inference script runs it
    default_args: ClassVar[dict[str, Any]] = {
        "vq_model": "showlab/magvitv2",
        "llm_model": "microsoft/phi-1_5",
        "resolution": 512,
        "guidance_scale": 5.0,
        "generation_timesteps": 50,
        "generation_temperature": 1.0,
        "mask_schedule": "cosine",
        "max_seq_length": 128,
        "llm_vocab_size": 50295,
        "codebook_size": 8192,
        "max_new_tokens": 100,
        "top_k": 1,
    }

    # -- loading --------------------------------------------------------------------------------
    def _config(self) -> AttrDict:
        a = self.model_args
        res = int(a["resolution"])
        return AttrDict(
            model={"showo": {"num_vq_tokens": (res // 16) ** 2, "llm_vocab_size": int(a["llm_vocab_size"]),
                             "codebook_size": int(a["codebook_size"]), "w_clip_vit": False,
                             "llm_model_path": a["llm_model"], "pretrained_model_path": self.pretrained},
                   "vq_model": {"type": "magvitv2", "vq_model_name": a["vq_model"]}},
            dataset={"params": {"resolution": res}, "preprocessing": {"max_seq_length": int(a["max_seq_length"]),
                                                                       "resolution": res}},
            training={"cond_dropout_prob": 0.1, "guidance_scale": float(a["guidance_scale"]),
                      "generation_timesteps": int(a["generation_timesteps"])},
        )

    def _load(self) -> None:
        import torch
        from transformers import AutoTokenizer

        models = self.research_module("models")
        pu = self.research_module("training.prompting_utils")
        vq_cls = getattr(models, "MAGVITv2", None) or getattr(models, "MAGViTv2")
        self._m_pu = pu
        self._m_schedule = models.get_mask_chedule(str(self.model_args["mask_schedule"]))
        self._m_config = self._config()
        tok = AutoTokenizer.from_pretrained(self.model_args["llm_model"], padding_side="left")
        self._m_uni = pu.UniversalPrompting(tok, max_text_len=int(self.model_args["max_seq_length"]),
                                            special_tokens=SPECIAL_TOKENS, ignore_id=-100, cond_dropout_prob=0.1)
        self._m_vq = vq_cls.from_pretrained(self.model_args["vq_model"]).to(self._device).eval()
        self._m_vq.requires_grad_(False)
        self._m_model = models.Showo.from_pretrained(self.pretrained).to(self._device).eval()
        if self._dtype != torch.float32:
            self._m_model = self._m_model.to(self._dtype)

    def _ids(self, name: str) -> int:
        return int(self._m_uni.sptids_dict[name])

    # -- generation -----------------------------------------------------------------------------
    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        import torch

        cfg = self._m_config
        n_tok = cfg.model.showo.num_vq_tokens
        guidance = float(self.param(params, "guidance_scale"))
        gen = seeded(seed, device=str(self._device))
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
        with torch.no_grad():
            codes = self._m_model.t2i_generate(
                input_ids=input_ids, uncond_input_ids=uncond, attention_mask=mask, guidance_scale=guidance,
                temperature=float(self.param(params, "generation_temperature")),
                timesteps=int(self.param(params, "generation_timesteps")), noise_schedule=self._m_schedule,
                noise_type="mask", seq_len=n_tok, uni_prompting=self._m_uni, config=cfg, generator=gen)
            codes = torch.clamp(codes, min=0, max=cfg.model.showo.codebook_size - 1)
            images = self._m_vq.decode_code(codes)
        return to_pil(images[0], value_range=(-1.0, 1.0))

    # -- understanding --------------------------------------------------------------------------
    def _image_tokens(self, image):
        import torch
        from torchvision import transforms

        res = int(self.model_args["resolution"])
        t = transforms.Compose([transforms.Resize(res, interpolation=transforms.InterpolationMode.BILINEAR),
                                transforms.CenterCrop((res, res)), transforms.ToTensor(),
                                transforms.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])])
        x = t(image).unsqueeze(0).to(self._device)
        with torch.no_grad():
            return self._m_vq.get_code(x) + len(self._m_uni.text_tokenizer)

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
            from facebench.errors import FacebenchError

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
