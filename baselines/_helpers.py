"""Small helpers shared by the research-code baseline plugins."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def resolve_file(spec: str, what: str) -> str:
    """A local file, or ``owner/repo/path/in/repo`` fetched with huggingface_hub (cached; offline
    it must already be in the HF cache)."""
    p = Path(spec).expanduser()
    if p.exists():
        return str(p)
    if spec.startswith(("/", "./", "../", "~")):  # a path, not a hub id: say so instead of asking the hub
        from facebench.errors import FacebenchError

        raise FacebenchError(f"{what} '{spec}' does not exist; give a local file or 'owner/repo/file' on the hub")
    parts = spec.split("/")
    if len(parts) >= 3:
        from huggingface_hub import hf_hub_download

        return hf_hub_download("/".join(parts[:2]), "/".join(parts[2:]))
    from facebench.errors import FacebenchError

    raise FacebenchError(f"{what} '{spec}' is neither a local file nor 'owner/repo/file' on the hub")


def last_user_text(messages: list[dict[str, str]]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def first_image(obj: Any):
    """The first image in a research pipeline's return value (PIL, array/tensor, list/tuple nests,
    objects with ``.images``)."""
    from PIL import Image

    if isinstance(obj, Image.Image):
        return obj
    if hasattr(obj, "images"):
        return first_image(obj.images)
    if isinstance(obj, (list, tuple)) and obj:
        return first_image(obj[0])
    return obj  # array/tensor: to_pil handles it


def first_text(obj: Any) -> str:
    """The first string in a research pipeline's return value (str, list/tuple nests, dict 'text')."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        for k in ("text", "caption", "output"):
            if k in obj:
                return first_text(obj[k])
    if isinstance(obj, (list, tuple)):
        for x in obj:
            t = first_text(x)
            if t:
                return t
    return ""
