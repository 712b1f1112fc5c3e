"""A driver for LLaVA-style research code (``llava.model.builder.load_pretrained_model``,
``llava.conversation.conv_templates``, ``llava.mm_utils``) — the API shared by LLaVA, VILA1.5's
repository and TokenFlow's ``i2t`` package, following their ``run_llava.py`` / ``run_vila.py``."""
from __future__ import annotations

from typing import Any, Callable


class LlavaRepoChat:
    def __init__(self, import_module: Callable[[str], Any], model_path: str, conv_mode: str, device: str, dtype,
                 images_as_list: bool = False, model_name: str | None = None):
        self.builder = import_module("llava.model.builder")
        self.mm = import_module("llava.mm_utils")
        self.conv = import_module("llava.conversation")
        self.const = import_module("llava.constants")
        name = model_name or self.mm.get_model_name_from_path(model_path)
        self.tokenizer, self.model, self.image_processor, _ = self.builder.load_pretrained_model(model_path, None, name)
        self.model = self.model.to(device).eval()
        self.conv_mode = conv_mode
        self.device = device
        self.dtype = dtype
        self.images_as_list = images_as_list

    def prompt(self, messages: list[dict[str, str]], with_image: bool) -> str:
        conv = self.conv.conv_templates[self.conv_mode].copy()
        attached = not with_image
        for m in messages:
            text = m["content"]
            if not attached and m["role"] == "user":
                text = self.const.DEFAULT_IMAGE_TOKEN + "\n" + text
                attached = True
            role = conv.roles[0] if m["role"] == "user" else conv.roles[1]
            if m["role"] in ("user", "assistant"):
                conv.append_message(role, text)
        conv.append_message(conv.roles[1], None)
        return conv.get_prompt()

    def answer(self, image, messages: list[dict[str, str]], max_new_tokens: int) -> str:
        import torch

        prompt = self.prompt(messages, image is not None)
        ids = self.mm.tokenizer_image_token(prompt, self.tokenizer, self.const.IMAGE_TOKEN_INDEX, return_tensors="pt")
        ids = ids.unsqueeze(0).to(self.device)
        kwargs: dict[str, Any] = {}
        if image is not None:
            pix = self.mm.process_images([image], self.image_processor, self.model.config)
            pix = pix.to(self.device, dtype=self.dtype)
            kwargs["images"] = [pix] if self.images_as_list else pix
            if not self.images_as_list:
                kwargs["image_sizes"] = [image.size]
        with torch.inference_mode():
            out = self.model.generate(ids, do_sample=False, max_new_tokens=max_new_tokens, use_cache=True, **kwargs)
        return self.tokenizer.batch_decode(out, skip_special_tokens=True)[0].strip()
