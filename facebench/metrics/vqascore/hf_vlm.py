"""VQAScore with any transformers image-text-to-text model (LLaVA-1.5 → VQAscore-LV, Qwen2-VL, …).

Named variants (``variant``; each setting below can still be overridden one by one, and the
resolved settings are recorded in the scorer fingerprint — ``extra["scorer"]`` — and cache key):

``t2v_metrics`` — t2v_metrics' LLaVA-1.5 scorer, the one the paper's VQAscore-LV column names
  (linzhiqiu/t2v_metrics@10d549b ``t2v_metrics/models/vqascore_models/llava_model.py``
  ``LLaVAModel.forward``, ``mm_utils.py`` ``tokenizer_image_token`` / ``load_pretrained_model``):
  - text ``SYSTEM + " USER: <image>\n" + question + " ASSISTANT: " + "Yes" + eos`` (``</s>``), tokenised
    as the reference does: split at ``<image>``, each chunk tokenised on its own (BOS kept on the
    first only), the image standing as one placeholder id; the labels are the ids after the
    question's ids minus one (the question's trailing space merges into ``▁Yes``), i.e. ``▁Yes </s>``;
    ids and labels cut to 2,048 before the image is expanded;
  - score = exp(−mean cross-entropy over the labels) (``answer_mode=sequence``);
  - the softmax runs over the tokenizer's base vocabulary (``vocab=tokenizer``): the original
    LLaVA-1.5 has 32,000 output rows, the llava-hf port adds ``<image>``/``<pad>`` and pads its output
    layer to 32,064 rows that the reference never normalises over;
  - ``dtype=bfloat16``, ``cast=model``: ``load_pretrained_model`` loads in float32 and casts the whole
    model with ``model.to(dtype=torch.bfloat16)`` on every device — buffers included, so Llama's RoPE
    ``inv_freq`` is rounded to bfloat16 too (a plain bfloat16 load keeps it in float32; 2.5e-3
    relative apart on the tiny test model); CUDA autocast as in the reference; the cross-entropy in
    float32 from the logits, as autocast does on CUDA.
  Use it with the LLaVA-1.5 weights (``llava-hf/llava-1.5-13b-hf`` is the HF port of
  ``liuhaotian/llava-v1.5-13b``, the reference's default).
``chat_first_token`` (default for any other VLM) — the processor's chat template with one user
  turn [image, question] and the generation prompt, score = softmax probability of the answer's
  first token (``"Yes"`` → ``▁Yes``) after the prompt, over all output rows, ``dtype=auto``
  (float32 on CPU, float16 on accelerators). Not t2v_metrics' number.

Settings: ``prompt_style`` (``llava_t2v`` | ``chat_template``), ``answer_mode`` (``sequence`` |
``first_token``), ``vocab`` (``tokenizer`` | ``model``), ``dtype``, ``cast`` (``model`` | ``weights``). Images are padded to a square
with the processor's mean colour first (``pad_square``, LLaVA-1.5's 'pad' mode, as the reference).
``llava_t2v`` batches are right-padded as the reference's; ``chat_template`` batches are left-padded
by the processor; either way a padded row scores as it would alone up to float round-off.
"""
from __future__ import annotations

from typing import Any

from facebench.metrics.vqascore.base import (
    ANSWER,
    IMAGE_TOKEN,
    SYSTEM_MSG,
    Scorer,
    ScorerError,
    expand2square,
    hub_or_local,
    local_fingerprint,
    mean_colour,
    quiet_transformers,
    torch_dtype,
)

DEFAULT_MODEL = "llava-hf/llava-1.5-13b-hf"
PROMPT_STYLES = ("chat_template", "llava_t2v")
ANSWER_MODES = ("first_token", "sequence")
VOCABS = ("model", "tokenizer")
CASTS = ("weights", "model")
VARIANTS: dict[str, dict[str, str]] = {
    "t2v_metrics": {"prompt_style": "llava_t2v", "answer_mode": "sequence", "vocab": "tokenizer", "dtype": "bfloat16",
                    "cast": "model"},
    "chat_first_token": {"prompt_style": "chat_template", "answer_mode": "first_token", "vocab": "model",
                         "dtype": "auto", "cast": "weights"},
}
DEFAULT_VARIANT = "chat_first_token"
CONTEXT_LEN = 2048  # t2v_metrics CONTEXT_LEN / LLaVA-1.5's model_max_length
IMAGE_PLACEHOLDER = -200  # t2v_metrics' IMAGE_TOKEN_INDEX


def _torch_dtype(name: str | None, device: str):
    return torch_dtype(name, device, gpu_default="float16")


class HFVLMScorer(Scorer):
    kind = "hf-vlm"

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", dtype: str | None = None,
                 answer: str = ANSWER, prompt_style: str | None = None, answer_mode: str | None = None,
                 vocab: str | None = None, cast: str | None = None, variant: str | None = None,
                 pad_square: bool = True,
                 revision: str | None = None, **_: Any):
        name = variant or DEFAULT_VARIANT
        if name not in VARIANTS:
            raise ScorerError(f"unknown VQAScore variant {name!r}; fix: one of {', '.join(VARIANTS)}")
        preset = VARIANTS[name]
        self.prompt_style = prompt_style or preset["prompt_style"]
        self.answer_mode = answer_mode or preset["answer_mode"]
        self.vocab = vocab or preset["vocab"]
        self.dtype_name = dtype or preset["dtype"]
        self.cast = cast or preset["cast"]
        if self.cast not in CASTS:
            raise ScorerError(f"unknown cast {self.cast!r}; fix: one of {', '.join(CASTS)}")
        if self.prompt_style not in PROMPT_STYLES:
            raise ScorerError(f"unknown prompt_style {self.prompt_style!r}; fix: one of {', '.join(PROMPT_STYLES)}")
        if self.answer_mode not in ANSWER_MODES:
            raise ScorerError(f"unknown answer_mode {self.answer_mode!r}; fix: one of {', '.join(ANSWER_MODES)}")
        if self.vocab not in VOCABS:
            raise ScorerError(f"unknown vocab {self.vocab!r}; fix: one of {', '.join(VOCABS)}")
        resolved = {"prompt_style": self.prompt_style, "answer_mode": self.answer_mode, "vocab": self.vocab,
                    "dtype": self.dtype_name, "cast": self.cast}
        self.variant = name if resolved == preset else f"{name}+overrides"
        self.model_id = str(model)
        self.device = device
        self.answer = answer
        self.pad_square = str(pad_square).strip().lower() not in ("0", "false", "no", "off")
        self.revision = revision
        self._loaded = False

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model_id, "revision": self.revision,
                "local": local_fingerprint(self.model_id), "variant": self.variant,
                "prompt_style": self.prompt_style, "answer_mode": self.answer_mode, "vocab": self.vocab,
                "cast": self.cast,
                "pad_square": self.pad_square, "answer": self.answer,
                "dtype": str(_torch_dtype(self.dtype_name, self.device)), "version": 2}

    def load(self) -> None:
        if self._loaded:
            return
        fix = f"download {self.model_id} into the HF cache while online, or pass --metric_args KEY.model=/local/folder"
        model_dir = hub_or_local(self.model_id, "VLM", fix, revision=self.revision)
        from transformers import AutoModelForImageTextToText, AutoProcessor

        with quiet_transformers():
            self.processor = AutoProcessor.from_pretrained(model_dir)
            dtype = _torch_dtype(self.dtype_name, self.device)
            self.model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=dtype)
            if self.cast == "model":  # as model.to(dtype=...) after a float32 load: buffers too (RoPE inv_freq)
                self.model.to(dtype=dtype)
            self.model.to(self.device).eval()
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.unk_token or self.tokenizer.eos_token
        ids = self.tokenizer(self.answer, add_special_tokens=False).input_ids
        if not ids:
            raise ScorerError(f"answer {self.answer!r} tokenizes to nothing; fix: pass KEY.answer=Yes")
        self.answer_ids = list(ids)
        self.dtype = _torch_dtype(self.dtype_name, self.device)
        # the base vocabulary (without added tokens such as <image>/<pad>): LLaVA-1.5's own 32,000
        self.n_vocab = int(self.tokenizer.vocab_size) if self.vocab == "tokenizer" else None
        self._n_image_tokens: int | None = None
        self._loaded = True

    # -- pieces (exposed for tests) -------------------------------------------------------------
    def prompt(self, question: str) -> str:
        """The prompt text (for ``llava_t2v`` without the answer: ``t2v_text`` adds it)."""
        if self.prompt_style == "llava_t2v":
            return f"{SYSTEM_MSG} USER: {IMAGE_TOKEN}\n{question} ASSISTANT: "
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def prepare_images(self, images: list) -> list:
        ims = [im.convert("RGB") for im in images]
        if self.pad_square:
            ip = getattr(self.processor, "image_processor", None)
            mean = getattr(ip, "image_mean", None) or (0.5, 0.5, 0.5)
            ims = [expand2square(im, mean_colour(mean)) for im in ims]
        return ims

    # t2v_metrics' construction (llava_t2v) ----------------------------------------------------
    def chunk_ids(self, text: str) -> list[int]:
        """``tokenizer_image_token``: each side of ``<image>`` tokenised alone, BOS kept only at the
        start, the image as one placeholder id."""
        chunks = [self.tokenizer(c).input_ids for c in text.split(IMAGE_TOKEN)]
        bos = self.tokenizer.bos_token_id
        offset = 1 if chunks and chunks[0] and bos is not None and chunks[0][0] == bos else 0
        out: list[int] = [bos] if offset else []
        for i, c in enumerate(chunks):
            if i:
                out.append(IMAGE_PLACEHOLDER)
            out.extend(c[offset:])
        return out

    def t2v_ids(self, question: str) -> tuple[list[int], int]:
        """(ids of question + answer with the image as one placeholder, index of the first label),
        both cut to 2,048 ids as the reference does before the image is expanded."""
        q = self.prompt(question)
        full = q + self.answer + (self.tokenizer.eos_token or "")
        ids = self.chunk_ids(full)
        start = len(self.chunk_ids(q)) - (1 if q.endswith(" ") else 0)  # the trailing space merges into ▁Yes
        return ids[:CONTEXT_LEN], start

    def n_image_tokens(self, image) -> int:
        """How many image-token ids the processor expands one image to (576 for LLaVA-1.5 at 336 px)."""
        if self._n_image_tokens is None:
            ids = self.processor(images=[image], text=[self.image_token()], return_tensors="pt")["input_ids"][0]
            self._n_image_tokens = int((ids == self.image_token_id()).sum())
        return self._n_image_tokens

    def image_token(self) -> str:
        return getattr(self.processor, "image_token", None) or IMAGE_TOKEN

    def image_token_id(self) -> int:
        return int(self.tokenizer.convert_tokens_to_ids(self.image_token()))

    def inputs(self, images: list, questions: list[str]):
        """The batch and, per row, the positions of the label tokens and their ids.

        ``llava_t2v``: t2v_metrics' ids (see ``t2v_ids``) with the placeholder expanded to the image
        tokens, right-padded as the reference pads (a row keeps its RoPE positions, so in bfloat16
        it scores as alone up to matmul round-off; left padding shifted positions and moved
        bfloat16 scores by ~3% on the tiny test model); the labels are the answer (+ eos) — in
        ``first_token`` mode only its first token.
        ``chat_template``: the processor's batch; in ``sequence`` mode the answer ids (as the model
        would generate them) and the end-of-sequence id are appended as token ids."""
        import torch

        ims = self.prepare_images(images)
        if self.prompt_style == "llava_t2v":
            pixel = self.processor.image_processor(images=ims, return_tensors="pt")["pixel_values"]
            n_img = self.n_image_tokens(ims[0])
            rows, labels = [], []
            for q in questions:
                ids, start = self.t2v_ids(q)
                expanded: list[int] = []
                pos: list[int] = []
                for i, t in enumerate(ids):
                    if i >= start and t != IMAGE_PLACEHOLDER:
                        pos.append(len(expanded))
                    expanded.extend([self.image_token_id()] * n_img if t == IMAGE_PLACEHOLDER else [t])
                if self.answer_mode == "first_token":
                    pos = pos[:1]
                rows.append(expanded)
                labels.append((pos, [expanded[p] for p in pos]))
            width = max(len(r) for r in rows)
            pad = self.tokenizer.pad_token_id
            input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for k, r in enumerate(rows):  # right-padded like the reference (pad_sequence): every row keeps
                input_ids[k, : len(r)] = torch.tensor(r, dtype=torch.long)  # the positions it has alone
                mask[k, : len(r)] = 1
            batch = {"input_ids": input_ids, "attention_mask": mask, "pixel_values": pixel}
            return {k: v.to(self.device) for k, v in batch.items()}, labels
        texts = [self.prompt(q) for q in questions]
        batch = self.processor(images=ims, text=texts, padding=True, return_tensors="pt")
        width = batch["input_ids"].shape[1]
        if self.answer_mode == "sequence":
            target = self.target_ids()
            tail = torch.tensor(target, dtype=batch["input_ids"].dtype).expand(len(texts), -1)
            batch["input_ids"] = torch.cat([batch["input_ids"], tail], dim=1)
            batch["attention_mask"] = torch.cat([batch["attention_mask"], torch.ones_like(tail)], dim=1)
            labels = [(list(range(width, width + len(target))), target) for _ in texts]
        else:
            labels = [([width], self.answer_ids[:1]) for _ in texts]
        return batch.to(self.device), labels

    def target_ids(self) -> list[int]:
        eos = self.tokenizer.eos_token_id
        return self.answer_ids + ([eos] if eos is not None else [])

    def score(self, images: list, questions: list[str]) -> list[float | None]:
        import contextlib

        import torch

        self.load()
        on_cuda = str(self.device).startswith("cuda")
        autocast = torch.autocast("cuda", dtype=self.dtype) if on_cuda and self.dtype == torch.bfloat16 \
            else contextlib.nullcontext()  # t2v_metrics runs LLaVA under CUDA autocast in bfloat16
        with torch.no_grad(), autocast:
            batch, labels = self.inputs(images, questions)
            if "pixel_values" in batch and batch["pixel_values"].is_floating_point():
                batch["pixel_values"] = batch["pixel_values"].to(self.dtype)
            logits = self.model(**batch).logits.float()
        if self.n_vocab is not None:
            logits = logits[..., : self.n_vocab]
        logp = torch.log_softmax(logits, dim=-1)
        out: list[float | None] = []
        for k, (pos, ids) in enumerate(labels):
            if not pos:  # every label was cut off by the 2,048-id limit
                out.append(None)
                continue
            # the logits at position p - 1 predict the token at p
            lp = logp[k, torch.tensor(pos, device=logp.device) - 1].gather(
                -1, torch.tensor(ids, device=logp.device).view(-1, 1)).squeeze(-1)
            out.append(float(lp.mean().exp()))
        return out
