"""VQAScore with any transformers image-text-to-text model (LLaVA-1.5 → VQAscore-LV, Qwen2-VL, …).

Prompt (``prompt_style``):
- ``chat_template`` (default): the processor's chat template with one user turn
  [image, question] and the generation prompt appended;
- ``llava_t2v``: the text t2v_metrics feeds LLaVA-1.5, ``SYSTEM + " USER: <image>\\n" + question +
  " ASSISTANT:"`` (the image token is the processor's).

Score (``answer_mode``):
- ``first_token`` (default): softmax probability of the answer's first token (``"Yes"`` →
  ``▁Yes`` for Llama tokenizers) at the position after the prompt;
- ``sequence``: exp(−mean CE) over the answer tokens followed by the end-of-sequence token, the
  formula t2v_metrics uses for LLaVA (``"Yes</s>"``).
To reproduce t2v_metrics' VQAscore-LV use ``prompt_style=llava_t2v answer_mode=sequence`` with the
same LLaVA-1.5 weights (``llava-hf/llava-1.5-13b-hf`` is the HF port of ``liuhaotian/llava-v1.5-13b``).

Images are padded to a square with the processor's mean colour first (``pad_square``, LLaVA-1.5's
'pad' mode, as the reference). Batches are left-padded; a padded row scores as it would alone
(up to float round-off).
"""
from __future__ import annotations

from typing import Any

from facebench.metrics.vqascore.base import (
    ANSWER,
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


def _torch_dtype(name: str | None, device: str):
    return torch_dtype(name, device, gpu_default="float16")


class HFVLMScorer(Scorer):
    kind = "hf-vlm"

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", dtype: str | None = None,
                 answer: str = ANSWER, prompt_style: str = "chat_template", answer_mode: str = "first_token",
                 pad_square: bool = True, revision: str | None = None, **_: Any):
        if prompt_style not in PROMPT_STYLES:
            raise ScorerError(f"unknown prompt_style {prompt_style!r}; fix: one of {', '.join(PROMPT_STYLES)}")
        if answer_mode not in ANSWER_MODES:
            raise ScorerError(f"unknown answer_mode {answer_mode!r}; fix: one of {', '.join(ANSWER_MODES)}")
        self.model_id = str(model)
        self.device = device
        self.dtype_name = dtype or "auto"
        self.answer = answer
        self.prompt_style = prompt_style
        self.answer_mode = answer_mode
        self.pad_square = bool(pad_square)
        self.revision = revision
        self._loaded = False

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model_id, "revision": self.revision,
                "local": local_fingerprint(self.model_id), "prompt_style": self.prompt_style,
                "answer_mode": self.answer_mode, "pad_square": self.pad_square, "answer": self.answer,
                "dtype": str(_torch_dtype(self.dtype_name, self.device)), "version": 1}

    def load(self) -> None:
        if self._loaded:
            return
        fix = f"download {self.model_id} into the HF cache while online, or pass --metric_args KEY.model=/local/folder"
        model_dir = hub_or_local(self.model_id, "VLM", fix, revision=self.revision)
        from transformers import AutoModelForImageTextToText, AutoProcessor

        with quiet_transformers():
            self.processor = AutoProcessor.from_pretrained(model_dir)
            self.model = AutoModelForImageTextToText.from_pretrained(
                model_dir, dtype=_torch_dtype(self.dtype_name, self.device)
            ).to(self.device).eval()
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.unk_token or self.tokenizer.eos_token
        ids = self.tokenizer(self.answer, add_special_tokens=False).input_ids
        if not ids:
            raise ScorerError(f"answer {self.answer!r} tokenizes to nothing; fix: pass KEY.answer=Yes")
        self.answer_ids = list(ids)
        self._loaded = True

    # -- pieces (exposed for tests) -------------------------------------------------------------
    def prompt(self, question: str) -> str:
        if self.prompt_style == "llava_t2v":
            image_token = getattr(self.processor, "image_token", None) or "<image>"
            return f"{SYSTEM_MSG} USER: {image_token}\n{question} ASSISTANT:"
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def prepare_images(self, images: list) -> list:
        ims = [im.convert("RGB") for im in images]
        if self.pad_square:
            ip = getattr(self.processor, "image_processor", None)
            mean = getattr(ip, "image_mean", None) or (0.5, 0.5, 0.5)
            ims = [expand2square(im, mean_colour(mean)) for im in ims]
        return ims

    def inputs(self, images: list, questions: list[str]):
        """Left-padded processor batch; in ``sequence`` mode the answer ids (as the model would
        generate them: ``"Yes"`` → ``▁Yes`` for Llama) and the end-of-sequence id are appended as
        token ids, so no re-tokenisation of prompt + answer can shift the boundary."""
        import torch

        texts = [self.prompt(q) for q in questions]
        batch = self.processor(images=self.prepare_images(images), text=texts, padding=True, return_tensors="pt")
        if self.answer_mode == "sequence":
            tail = torch.tensor(self.target_ids(), dtype=batch["input_ids"].dtype).expand(len(texts), -1)
            batch["input_ids"] = torch.cat([batch["input_ids"], tail], dim=1)
            batch["attention_mask"] = torch.cat([batch["attention_mask"], torch.ones_like(tail)], dim=1)
        return batch.to(self.device)

    def target_ids(self) -> list[int]:
        eos = self.tokenizer.eos_token_id
        return self.answer_ids + ([eos] if eos is not None else [])

    def score(self, images: list, questions: list[str]) -> list[float | None]:
        import torch

        self.load()
        with torch.no_grad():
            batch = self.inputs(images, questions)
            logits = self.model(**batch).logits.float()
            logp = torch.log_softmax(logits, dim=-1)
            if self.answer_mode == "first_token":
                return [float(v) for v in logp[:, -1, self.answer_ids[0]].exp().cpu()]
            k = len(self.target_ids())
            ids = batch["input_ids"][:, -k:]
            # positions -k-1 .. -2 predict the last k tokens (left padding keeps them aligned)
            lp = logp[:, -k - 1 : -1, :].gather(-1, ids.unsqueeze(-1)).squeeze(-1)
            return [float(v) for v in lp.mean(dim=-1).exp().cpu()]
