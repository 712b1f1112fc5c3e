"""Video requests for transformers processors (``hf-vlm``): the clip's frames, sampled by
facebench's policy, go in as ``videos=`` (one (T, H, W, 3) array per request).

The processor must not sample again (``do_sample_frames=False``): the frames a model sees are the
ones the request's policy names, which is what the cache key and the results record."""
from __future__ import annotations

from typing import Any

from facebench.errors import FacebenchError
from facebench.types import ChatRequest


def takes_video(processor: Any) -> bool:
    return getattr(processor, "video_processor", None) is not None


def video_inputs(processor: Any, reqs: list[ChatRequest], model_name: str) -> dict[str, Any]:
    """Processor keyword arguments for the video requests ``reqs`` (in order)."""
    if not takes_video(processor):
        raise FacebenchError(f"model '{model_name}': its processor ({type(processor).__name__}) takes no video; "
                             "use a video-capable checkpoint (e.g. Qwen2-VL, LLaVA-OneVision) for video tasks")
    clips = [r.load_video() for r in reqs]
    out: dict[str, Any] = {"videos": [c.as_array() for c in clips], "do_sample_frames": False}
    return out
