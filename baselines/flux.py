"""FLUX.1-dev (12B, guidance-distilled) through the ``diffusers`` backend.

Defaults follow the ``black-forest-labs/FLUX.1-dev`` model card example: 50 steps,
``guidance_scale=3.5`` (the distilled guidance embedding, not CFG), ``max_sequence_length=512``,
1024×1024. Gated weights: accept the licence on the hub first. Settings used by the paper (ICLR
version) are UNVERIFIED. ``cpu_offload=true`` helps on GPUs under ~40 GB.
"""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.diffusers_t2i import DiffusersAdapter


class FluxAdapter(DiffusersAdapter):
    name: ClassVar[str] = "flux-dev"
    default_checkpoint: ClassVar[str] = "black-forest-labs/FLUX.1-dev"
    paper_model: ClassVar[str] = "Flux.1-dev"
    description: ClassVar[str] = "FLUX.1-dev (12B), 50 steps, guidance 3.5, 1024² (model card)"
    default_args: ClassVar[dict[str, Any]] = {"num_inference_steps": 50, "guidance_scale": 3.5,
                                              "max_sequence_length": 512, "resolution": 1024}
