"""SDXL (base 1.0, 2.6B UNet) through the ``diffusers`` backend.

Defaults: ``stabilityai/stable-diffusion-xl-base-1.0`` at its native 1024×1024, 50 steps and
guidance 5.0 (the diffusers ``StableDiffusionXLPipeline`` defaults; the model card example uses the
pipeline defaults). Refiner not used. The paper's own SDXL settings are UNVERIFIED.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.diffusers_t2i import DiffusersAdapter


class SDXLAdapter(DiffusersAdapter):
    name: ClassVar[str] = "sdxl"
    default_checkpoint: ClassVar[str] = "stabilityai/stable-diffusion-xl-base-1.0"
    paper_model: ClassVar[str] = "SDXL"
    description: ClassVar[str] = "SDXL base 1.0, 50 steps, CFG 5.0, 1024² (diffusers defaults)"
    default_args: ClassVar[dict[str, Any]] = {"num_inference_steps": 50, "guidance_scale": 5.0, "resolution": 1024}
