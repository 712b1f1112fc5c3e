"""UniF²ace (1.8B: Show-o design — Phi-1.5 LLM, MAGVIT-v2 tokens — with token/sequence-level MoE
and D3Diff training), arXiv 2503.08120.

UniF²ace's weights and code are NOT public (its GitHub repository holds only a README, per
REFERENCE.md §1). This plugin therefore has no default checkpoint: it loads a checkpoint you give
(``pretrained=/path/to/checkpoint``) through Show-o-style research code you give
(``code_path=/path/to/code``: a Show-o checkout, or UniF²ace's code once released, exposing
``models.Showo``, ``models.MAGVITv2``, ``models.get_mask_chedule`` and
``training.prompting_utils``). Generation and understanding then run exactly as for ``show-o``.

Inference settings default to Show-o's 512² settings (guidance 5, 50 timesteps, greedy answers);
the values UniF²ace used are UNVERIFIED — set them with --model_args (e.g. resolution=256,
guidance_scale=..., generation_timesteps=...).
"""
from __future__ import annotations

from typing import Any, ClassVar

from .show_o import ShowoAdapter


class UniF2aceAdapter(ShowoAdapter):
    name: ClassVar[str] = "unif2ace"
    family: ClassVar[str] = "UniF²ace"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    default_checkpoint: ClassVar[str | None] = None
    needs_pretrained: ClassVar[bool] = True
    paper_model: ClassVar[str | None] = "UniF²ace"
    description: ClassVar[str] = ("UniF²ace — weights not public: give pretrained=<your checkpoint> and "
                                  "code_path=<Show-o-style code>")
    repo_url: ClassVar[str] = ""  # the public repository (README only) has no code to clone
    install_hint: ClassVar[str] = ("UniF²ace's code is not public: pass code_path=<a Show-o checkout "
                                   "(git clone https://github.com/showlab/Show-o) or UniF²ace's code> "
                                   "and pretrained=<your UniF²ace checkpoint>")
    default_args: ClassVar[dict[str, Any]] = dict(ShowoAdapter.default_args)
