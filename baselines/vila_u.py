"""VILA-U (7B, one vision tower for understanding and VQ image generation) via its research code.

Code: https://github.com/mit-han-lab/vila-u (``pip install -e .`` in the clone, or
``code_path=/path/to/vila-u``). The plugin uses the package API shown in the repo README /
``inference.py``: ``vila_u.load(model_path)``, ``model.generate_image_content(prompt, cfg,
generation_nums)`` (returns N×C×H×W in 0..255) and ``model.generate_content([vila_u.Image(path),
question])``. Defaults: ``mit-han-lab/vila-u-7b-256`` (256²), CFG 3.0 (``inference.py`` default).
VILA-U is not in the UniF²ace paper's tables (no paper row); settings otherwise UNVERIFIED.
Each image is generated alone after seeding the global RNGs with ``seed + k``.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded, to_pil

from ._helpers import first_text


class VilaUAdapter(ResearchAdapter):
    name: ClassVar[str] = "vila-u"
    family: ClassVar[str] = "VILA-U"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    default_checkpoint: ClassVar[str | None] = "mit-han-lab/vila-u-7b-256"
    requires: ClassVar[tuple[str, ...]] = ("torch", "vila_u")
    paper_model: ClassVar[str | None] = None
    description: ClassVar[str] = "VILA-U 7B 256² (research code: pip install -e mit-han-lab/vila-u), CFG 3"
    repo_url: ClassVar[str] = "https://github.com/mit-han-lab/vila-u"
    probe_module: ClassVar[str] = "vila_u"
    default_args: ClassVar[dict[str, Any]] = {"cfg": 3.0, "max_new_tokens": 256}

    def _load(self) -> None:
        self._m_lib = self.research_module("vila_u")
        self._m_model = self._m_lib.load(self.pretrained)

    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        import torch

        seeded(seed)
        with torch.inference_mode():
            out = self._m_model.generate_image_content(prompt, float(self.param(params, "cfg")), 1)
        return to_pil(out[0], value_range=(0.0, 255.0))

    def _answer_one(self, image, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        seeded(int(params.get("seed", 0)))
        question = "\n".join(m["content"] for m in messages if m["role"] == "user")
        parts: list[Any] = []
        with tempfile.TemporaryDirectory() as tmp:
            if image is not None:
                path = Path(tmp) / "image.png"
                image.save(path)
                parts.append(self._m_lib.Image(str(path)))
            parts.append(question)
            config = getattr(self._m_model, "default_generation_config", None)
            kwargs: dict[str, Any] = {}
            if config is not None:
                import copy

                config = copy.deepcopy(config)
                config.max_new_tokens = int(self.param(params, "max_new_tokens"))
                config.do_sample = False
                kwargs["generation_config"] = config
            return first_text(self._m_model.generate_content(parts, **kwargs))
