"""A driver for LLaVA-style research code (``llava.model.builder.load_pretrained_model``,
``llava.conversation.conv_templates``, ``llava.mm_utils``): the API that VILA1.5's repository and
TokenFlow's ``i2t`` package share with LLaVA.

The repositories disagree on the order of ``load_pretrained_model``'s first arguments — VILA
(NVlabs/VILA@6b941da ``llava/model/builder.py:39-48``): ``(model_path, model_name, model_base=None,
..., device="cuda")``; LLaVA and TokenFlow (ByteVisionLab/TokenFlow@9812da0
``i2t/llava/model/builder.py:26``): ``(model_path, model_base, model_name, ..., device="cuda",
overwrite_config=None)`` — so every argument is passed by name. ``device`` is passed too: both
builders place the model with ``device_map={"": device}`` when it is not ``"cuda"``.

Both builders load the model in float16 whatever the caller wants (VILA ``builder.py:65``, TokenFlow
``builder.py:43``), and the reference scripts cast pixels to float16 to match (VILA
``llava/eval/run_vila.py:107``; lmms-eval ``lmms_eval/models/llava.py:338`` at 7f9c482, which
TokenFlow's GETTING_STARTED.md uses for evaluation): pixels here take the loaded model's dtype.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class ChatStyle:
    """How a family's reference script calls ``model.generate`` (each field cites its source in the
    plugin that sets it)."""

    conv_mode: str
    temperature: float = 0.0  # 0 = greedy (do_sample = temperature > 0, as every reference script does)
    top_p: float | None = None
    num_beams: int = 1
    images_as_list: bool = False  # images=[tensor] (VILA run_vila.py) vs images=tensor (lmms-eval)
    image_sizes: bool = False  # pass image_sizes=[(w, h)] (lmms-eval; LLaVA's anyres)
    attention_mask: bool = False  # pass attention_mask + pad_token_id (lmms-eval)
    stopping_criteria: bool = False  # KeywordsStoppingCriteria on the template's separator (run_vila.py)


class LlavaRepoChat:
    def __init__(self, import_module: Callable[[str], Any], model_path: str, device: str, style: ChatStyle,
                 model_name: str | None = None, load_kwargs: dict[str, Any] | None = None):
        self.builder = import_module("llava.model.builder")
        self.mm = import_module("llava.mm_utils")
        self.conv = import_module("llava.conversation")
        self.const = import_module("llava.constants")
        if style.conv_mode not in self.conv.conv_templates:
            from facebench.errors import FacebenchError

            raise FacebenchError(f"conv_mode '{style.conv_mode}' is not a conversation template of this code; "
                                 f"known: {', '.join(sorted(self.conv.conv_templates))}")
        name = model_name or self.mm.get_model_name_from_path(model_path)
        self.tokenizer, self.model, self.image_processor, _ = self.builder.load_pretrained_model(
            model_path=model_path, model_base=None, model_name=name, device=device, **(load_kwargs or {}))
        self.model.eval()
        self.style = style
        self.device = device
        self.dtype = self.model.dtype

    def image_token(self) -> str:
        """``<image>``, wrapped in start/end tokens when the model was trained with them (VILA
        ``llava/eval/model_vqa.py:48-51``)."""
        tok = self.const.DEFAULT_IMAGE_TOKEN
        if getattr(self.model.config, "mm_use_im_start_end", False):
            tok = self.const.DEFAULT_IM_START_TOKEN + tok + self.const.DEFAULT_IM_END_TOKEN
        return tok

    def prompt(self, messages: list[dict[str, str]], with_image: bool) -> tuple[str, Any]:
        """The conversation prompt (image token + ``\\n`` before the first user turn, then the turns,
        then an open assistant turn) and the template object (for its separator)."""
        conv = self.conv.conv_templates[self.style.conv_mode].copy()
        attached = not with_image
        for m in messages:
            if m["role"] not in ("user", "assistant"):
                continue
            text = m["content"]
            if not attached and m["role"] == "user":
                text = self.image_token() + "\n" + text
                attached = True
            conv.append_message(conv.roles[0] if m["role"] == "user" else conv.roles[1], text)
        conv.append_message(conv.roles[1], None)
        return conv.get_prompt(), conv

    def stop_str(self, conv) -> str:
        two = getattr(self.conv.SeparatorStyle, "TWO", None)
        return conv.sep2 if two is not None and conv.sep_style == two else conv.sep

    def answer(self, image, messages: list[dict[str, str]], max_new_tokens: int) -> str:
        import torch

        prompt, conv = self.prompt(messages, image is not None)
        ids = self.mm.tokenizer_image_token(prompt, self.tokenizer, self.const.IMAGE_TOKEN_INDEX, return_tensors="pt")
        ids = ids.unsqueeze(0).to(self.device)
        s = self.style
        kwargs: dict[str, Any] = dict(do_sample=s.temperature > 0, temperature=s.temperature, top_p=s.top_p,
                                      num_beams=s.num_beams, max_new_tokens=max_new_tokens, use_cache=True)
        if image is not None:
            pix = self.mm.process_images([image], self.image_processor, self.model.config)
            pix = pix.to(self.device, dtype=self.dtype)
            kwargs["images"] = [pix] if s.images_as_list else pix
            if s.image_sizes:
                kwargs["image_sizes"] = [image.size]
        if s.attention_mask:
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
            kwargs["attention_mask"] = ids.ne(pad)
            kwargs["pad_token_id"] = pad
        stop = self.stop_str(conv)
        if s.stopping_criteria and stop:
            kwargs["stopping_criteria"] = [self.mm.KeywordsStoppingCriteria([stop], self.tokenizer, ids)]
        with torch.inference_mode():
            out = self.model.generate(ids, **kwargs)
        text = self.tokenizer.batch_decode(out, skip_special_tokens=True)[0].strip()
        if stop and text.endswith(stop):
            text = text[: -len(stop)]
        return text.strip()
