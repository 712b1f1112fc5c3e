"""The floor: deterministic noise images and one fixed answer. Any real model must beat it."""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from facebench.adapters.base import ModelAdapter
from facebench.types import ChatRequest, GenRequest


class DummyAdapter(ModelAdapter):
    name: ClassVar[str] = "dummy"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand", "video"})
    description: ClassVar[str] = "floor baseline: seeded noise images, a fixed answer (to images and videos)"

    def __init__(self, device: str = "cpu", answer: str = "I cannot tell.", **model_args: Any):
        super().__init__(device=device, answer=answer, **model_args)
        self.fixed_answer = str(answer)
        self.calls = 0

    def generate_images(self, reqs: list[GenRequest]) -> list[list[Any]]:
        from PIL import Image

        self.calls += 1
        out = []
        for r in reqs:
            imgs = []
            for s in r.seeds():
                rng = np.random.default_rng(s)
                arr = rng.integers(0, 256, size=(r.height, r.width, 3), dtype=np.uint8)
                imgs.append(Image.fromarray(arr, "RGB"))
            out.append(imgs)
        return out

    def answer(self, reqs: list[ChatRequest]) -> list[str]:
        self.calls += 1
        return [self.fixed_answer for _ in reqs]
