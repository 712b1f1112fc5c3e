"""VILA1.5-3B via NVIDIA's VILA research code (LLaVA-style ``llava`` package).

transformers has no native VILA class, and the ``Efficient-Large-Model/VILA1.5-3b`` checkpoint
(``llava_llama`` architecture, separate llm/vision_tower/mm_projector folders) loads only through the
VILA repository: ``git clone https://github.com/NVlabs/VILA`` at a VILA1.5-era release (newer main
branches moved to the NVILA API) and ``pip install -e .``, or pass ``code_path=/path/to/VILA``.
Prompting follows the repo's ``llava/eval/run_vila.py``: ``<image>\\n{question}`` in the
``vicuna_v1`` conversation template (the mode the VILA README gives for the 3B model; UNVERIFIED for
the paper), images passed as a list, greedy decoding.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded

from ._llava_repo import LlavaRepoChat


class Vila15Adapter(ResearchAdapter):
    name: ClassVar[str] = "vila-1.5"
    family: ClassVar[str] = "VILA1.5"
    capabilities: ClassVar[frozenset[str]] = frozenset({"understand"})
    default_checkpoint: ClassVar[str | None] = "Efficient-Large-Model/VILA1.5-3b"
    requires: ClassVar[tuple[str, ...]] = ("torch", "llava")
    paper_model: ClassVar[str | None] = "VILA1.5"
    description: ClassVar[str] = "VILA1.5-3B (research code: NVlabs/VILA), vicuna_v1 template, greedy"
    repo_url: ClassVar[str] = "https://github.com/NVlabs/VILA"
    probe_module: ClassVar[str] = "llava.model.builder"
    default_args: ClassVar[dict[str, Any]] = {"conv_mode": "vicuna_v1", "max_new_tokens": 256}

    def _load(self) -> None:
        self._m_chat = LlavaRepoChat(self.research_module, self.pretrained, str(self.model_args["conv_mode"]),
                                     self._device, self._dtype, images_as_list=True)

    def _answer_one(self, image, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        seeded(int(params.get("seed", 0)))
        return self._m_chat.answer(image, messages, int(self.param(params, "max_new_tokens")))
