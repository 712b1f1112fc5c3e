"""A video as a chat API sees it: the sampled frames as images in time order, introduced by one
line saying how many frames there are and at which seconds they were taken (chat APIs such as
OpenAI's take no video, so this is how GPT-4o-class models are given clips)."""
from __future__ import annotations

from typing import Any


def frames_intro(clip: Any) -> str:
    stamps = ", ".join(f"{t:.2f}" for t in clip.timestamps)
    return (f"The following {len(clip.frames)} images are frames of one video, in time order, taken at "
            f"{stamps} seconds.")


def frames_as_image_parts(clip: Any, detail: str = "auto") -> list[dict[str, Any]]:
    """OpenAI-style content parts: the intro text, then one ``image_url`` part per frame."""
    from facebench.adapters.openai_api import image_data_url

    parts: list[dict[str, Any]] = [{"type": "text", "text": frames_intro(clip)}]
    for frame in clip.frames:
        parts.append({"type": "image_url", "image_url": {"url": image_data_url(frame), "detail": detail}})
    return parts
