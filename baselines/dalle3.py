"""DALL-E 3 through the ``openai-api`` backend (images API, ``b64_json``).

One request per image (DALL-E 3 accepts only ``n=1``), 1024×1024, ``quality=standard``,
``style=vivid`` (the API defaults) — the paper's settings are UNVERIFIED. The API takes no seed, so
generations are not reproducible (recorded in ``info()``). API prompts may be rewritten by the
service (``revised_prompt``). Key from ``$OPENAI_API_KEY`` (or ``api_key_env=NAME``).
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.openai_api import OpenAIAPIAdapter


class DallE3Adapter(OpenAIAPIAdapter):
    name: ClassVar[str] = "dall-e-3"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate"})
    default_checkpoint: ClassVar[str] = "dall-e-3"
    paper_model: ClassVar[str] = "DALL-E 3"
    description: ClassVar[str] = "DALL-E 3 via the OpenAI images API, 1024², standard quality (not seedable)"
    default_args: ClassVar[dict[str, Any]] = {"image_model": "dall-e-3", "image_size": "1024x1024",
                                              "quality": "standard", "style": "vivid"}
