"""SD3 (Stable Diffusion 3 Medium, 2B) through the ``diffusers`` backend.

Defaults follow the model card of ``stabilityai/stable-diffusion-3-medium-diffusers`` (example call:
``num_inference_steps=28, guidance_scale=7.0``, native 1024×1024). The UniF²ace paper does not state
the steps/guidance/resolution it used for SD3: UNVERIFIED, override with --model_args.
Images are generated at 1024² and resized (Lanczos) to the task's size.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.diffusers_t2i import DiffusersAdapter


class SD3Adapter(DiffusersAdapter):
    name: ClassVar[str] = "sd3"
    default_checkpoint: ClassVar[str] = "stabilityai/stable-diffusion-3-medium-diffusers"
    paper_model: ClassVar[str] = "SD3"
    description: ClassVar[str] = "Stable Diffusion 3 Medium (2B), 28 steps, CFG 7.0, 1024² (model card)"
    default_args: ClassVar[dict[str, Any]] = {"num_inference_steps": 28, "guidance_scale": 7.0, "resolution": 1024}
