"""``janus``: Janus / Janus-Pro through transformers' native Janus classes — a unified model that
both answers questions about a face and draws one.

Understanding is the ``hf-vlm`` path (Janus's processor and chat template, left-padded batches,
greedy). Image generation follows DeepSeek's reference ``generation_inference.py`` (Janus repo):
the prompt is wrapped in the chat template and ``<begin_of_image>`` appended; an unconditional
twin keeps only BOS/BOI (everything else becomes pad); 576 VQ tokens are drawn one at a time
from ``uncond + cfg·(cond − uncond)`` at ``temperature``; the VQ decoder turns them into a
384×384 image (``(x+1)/2·255``). The loop is written here rather than calling
``model.generate(generation_mode="image")`` because that draws every row from one global RNG:
here image k of a request samples from its own ``torch.Generator(seed + k)``, so batch size and
the order of requests cannot change an image.

Extra model_args (besides the ``hf-vlm`` ones):
  guidance_scale  CFG weight (default 5.0, the Janus-Pro reference value)
  temperature     sampling temperature for image tokens (default 1.0; 0 → argmax)
  gen_batch_size  images per generation forward pass (default: batch_size)
A request's ``params`` may override ``guidance_scale`` and ``temperature``. Images are generated
at the model's native size and resized (Lanczos) to the requested width×height if they differ;
``info()`` records both sizes.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.hf_vlm import HFVLMAdapter
from facebench.types import GenRequest


class JanusAdapter(HFVLMAdapter):
    name: ClassVar[str] = "janus"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    video_input: ClassVar[bool] = False  # Janus's processor takes images only
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")
    description: ClassVar[str] = "Janus / Janus-Pro (transformers native): CFG image generation + understanding"
    default_args: ClassVar[dict[str, Any]] = {}
    extra_model_args: ClassVar[tuple[str, ...]] = ("guidance_scale", "temperature", "gen_batch_size")

    def __init__(self, device: str = "cpu", **model_args: Any):
        super().__init__(device=device, **model_args)
        self.guidance_scale = float(self.model_args.get("guidance_scale", 5.0))
        self.temperature = float(self.model_args.get("temperature", 1.0))
        self.gen_batch_size = int(self.model_args.get("gen_batch_size", self.batch_size))
        self._native_size: tuple[int, int] | None = None

    def _model_class(self):
        if self.model_args.get("model_class"):
            return super()._model_class()
        from facebench.adapters.hf_vlm import require

        return require("transformers", "hf", self.name).JanusForConditionalGeneration

    def load(self) -> None:
        """Load, then make the processor expand ``<image_placeholder>`` into as many tokens as the
        checkpoint's vision encoder yields: transformers 4.57's ``JanusProcessor`` hard-codes 576
        (``processing_janus.py:72``, right for the released 384 px / patch 16 Janus models, wrong for
        any other size), 5.x reads it from the processor config. A no-op where they agree."""
        first = self._model is None
        super().load()
        if first:
            want = getattr(getattr(self._model.config, "vision_config", None), "num_image_tokens", None)
            if want and getattr(self._processor, "num_image_tokens", want) != want:
                self._processor.num_image_tokens = int(want)

    def info(self) -> dict[str, Any]:
        out = super().info()
        out.update(guidance_scale=self.guidance_scale, temperature=self.temperature)
        if self._native_size is not None:
            out["native_size"] = list(self._native_size)
        return out

    # -- generation -----------------------------------------------------------------------------
    def _gen_prompt(self, text: str) -> str:
        msgs = [{"role": "user", "content": [{"type": "text", "text": text}]}]
        return self._processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)

    def _special_ids(self) -> tuple[int, int, int]:
        tok = self._processor.tokenizer
        boi = tok.convert_tokens_to_ids(self._processor.image_start_token)
        pad = tok.pad_token_id if tok.pad_token_id is not None else self._model.generation_config.pad_token_id
        bos = tok.bos_token_id if tok.bos_token_id is not None else self._model.generation_config.bos_token_id
        return int(bos), int(boi), int(pad)

    def _sample_tokens(self, prompts: list[str], seeds: list[int], cfg: float, temperature: float):
        """Draw ``num_image_tokens`` VQ codes for each (prompt, seed) row; returns (rows, N) ids."""
        import torch
        from transformers import DynamicCache

        model = self._model
        device = model.device
        enc = self._processor(text=prompts, generation_mode="image", return_tensors="pt", padding=True)
        ids = enc["input_ids"].to(device)
        mask = enc["attention_mask"].to(device)
        bos, boi, pad = self._special_ids()
        uncond = ids.clone()
        uncond[(uncond != bos) & (uncond != boi)] = pad
        tokens = torch.cat([ids, uncond], dim=0)
        attn = torch.cat([mask, mask], dim=0)
        rows = ids.shape[0]
        n_tokens = model.model.vision_model.config.num_image_tokens
        gens = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        lm = model.model.language_model
        embeds = model.get_input_embeddings()(tokens)
        position = (attn.long().cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=lm.config)
        out = torch.zeros((rows, n_tokens), dtype=torch.long, device=device)
        with torch.inference_mode():
            for i in range(n_tokens):
                res = lm(inputs_embeds=embeds, attention_mask=attn, position_ids=position,
                         past_key_values=cache, use_cache=True)
                cache = res.past_key_values
                logits = model.model.generation_head(res.last_hidden_state[:, -1, :]).float()
                cond, unc = logits[:rows], logits[rows:]
                logits = unc + cfg * (cond - unc)
                if temperature > 0:
                    probs = torch.softmax(logits / temperature, dim=-1).cpu()
                    nxt = torch.stack([torch.multinomial(probs[r], 1, generator=gens[r])[0] for r in range(rows)])
                    nxt = nxt.to(device)
                else:
                    nxt = logits.argmax(dim=-1)
                out[:, i] = nxt
                embeds = model.prepare_embeddings_for_image_generation(torch.cat([nxt, nxt]).unsqueeze(-1))
                attn = torch.cat([attn, attn.new_ones((attn.shape[0], 1))], dim=-1)
                position = position[:, -1:] + 1
        return out

    def _decode(self, codes) -> list[Any]:
        import numpy as np
        import torch
        from PIL import Image

        with torch.inference_mode():
            pix = self._model.decode_image_tokens(codes).float().cpu().numpy()  # (B, H, W, C) in [-1, 1]
        arr = np.clip((pix + 1.0) / 2.0 * 255.0, 0, 255).astype(np.uint8)
        return [Image.fromarray(a, "RGB") for a in arr]

    def generate_images(self, reqs: list[GenRequest]) -> list[list[Any]]:
        from PIL import Image

        if not reqs:
            return []
        self.load()
        out: list[list[Any]] = [[None] * r.n for r in reqs]
        groups: dict[tuple[float, float], list[tuple[int, int, int]]] = {}
        for i, r in enumerate(reqs):
            cfg = float(r.params.get("guidance_scale", self.guidance_scale))
            temp = float(r.params.get("temperature", self.temperature))
            for k, seed in enumerate(r.seeds()):
                groups.setdefault((cfg, temp), []).append((i, k, seed))
        for (cfg, temp), rows in groups.items():
            for s in range(0, len(rows), self.gen_batch_size):
                chunk = rows[s : s + self.gen_batch_size]
                codes = self._sample_tokens([self._gen_prompt(reqs[i].prompt) for i, _, _ in chunk],
                                            [seed for _, _, seed in chunk], cfg, temp)
                for (i, k, _), img in zip(chunk, self._decode(codes)):
                    self._native_size = img.size
                    want = (reqs[i].width, reqs[i].height)
                    out[i][k] = img if img.size == want else img.resize(want, Image.LANCZOS)
        return out
