"""The paper's column spec: which metric keys make up each leaderboard table, in which order,
with which label, direction (↑/↓) and number format.

Keys not listed here (plugins, ``<key>_<suffix>`` values) still get a column: their label is the
key, their direction comes from ``higher_is_better`` in results.json and their precision is
chosen from the magnitude of the column's values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

GENERATION = "generation"
UNDERSTANDING = "understanding"
VIDEO = "video"  # understanding tasks on clips (a results entry with a "video" policy): their own section


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    higher_is_better: bool
    decimals: int | None  # None: chosen from the values (see ``column_decimals``)
    kind: str  # GENERATION or UNDERSTANDING
    description: str = ""

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def header(self) -> str:
        return f"{self.label} {self.arrow}"


def _c(key: str, label: str, hib: bool, decimals: int | None, kind: str, description: str = "") -> Column:
    return Column(key, label, hib, decimals, kind, description)


# The paper's tables (arXiv 2503.08120 v1 Table 1 and Table 2), in the paper's column order.
PAPER_GENERATION: tuple[Column, ...] = (
    _c("vqascore_cf5", "VQAscore-CF5", True, 3, GENERATION, "VQAScore with the CLIP-FlanT5 scorer"),
    _c("vqascore_lv", "VQAscore-LV", True, 3, GENERATION, "VQAScore with a LLaVA-1.5 scorer"),
    _c("fid", "FID", False, 3, GENERATION, "Fréchet Inception distance to the split's real faces"),
    _c("vlm_score", "VLM-score", True, 3, GENERATION, "0–100 prompt–image agreement from a VLM judge"),
)
PAPER_UNDERSTANDING: tuple[Column, ...] = (
    _c("desc_gpt", "Desc-GPT", True, 2, UNDERSTANDING, "caption judged by GPT-4o, 1–10"),
    _c("conv_gpt", "Conv-GPT", True, 2, UNDERSTANDING, "VQA answer judged by GPT-4o, 1–10"),
    _c("desc_ds", "Desc-DS", True, 2, UNDERSTANDING, "caption judged by DeepSeek-V3, 1–10"),
    _c("conv_ds", "Conv-DS", True, 2, UNDERSTANDING, "VQA answer judged by DeepSeek-V3, 1–10"),
)

# Further metrics facebench computes (shown in "other metrics" tables, in this order).
EXTRA: tuple[Column, ...] = (
    _c("kid", "KID", False, 4, GENERATION, "kernel Inception distance"),
    _c("fd_dlib", "FD-dlib", False, 3, GENERATION, "Fréchet distance of dlib face embeddings"),
    _c("clipscore_hessel", "CLIPScore (Hessel)", True, 4, GENERATION, "2.5·max(cos,0), ViT-B/32"),
    _c("clip_t", "CLIP-T", True, 2, GENERATION, "100·cos, ViT-L/14"),
    _c("face_detect_rate", "Face detect rate", True, 3, GENERATION, "share of images with a detected face"),
    _c("identity_diversity", "Identity diversity", True, 3, GENERATION, "mean pairwise face-embedding distance"),
    _c("attr_probe_acc", "Attr-probe acc", True, 3, GENERATION, "attributes of the prompt recognised in the image"),
    _c("desc_embed", "Desc-Embed", True, 2, UNDERSTANDING, "offline embedding judge on captions"),
    _c("conv_embed", "Conv-Embed", True, 2, UNDERSTANDING, "offline embedding judge on VQA answers"),
    _c("exact_match", "Exact match", True, 3, UNDERSTANDING, "closed questions answered exactly"),
    _c("attr_acc", "Attr acc", True, 3, UNDERSTANDING, "attribute questions answered correctly"),
    _c("caption_attr_acc", "Caption attr acc", True, 3, UNDERSTANDING, "reference attributes named in the caption"),
    _c("vconv_embed", "VConv-Embed", True, 2, VIDEO, "offline embedding judge on video QA answers"),
    _c("vconv_gpt", "VConv-GPT", True, 2, VIDEO, "video QA answer judged by GPT-4o, 1–10"),
    _c("vdesc_embed", "VDesc-Embed", True, 2, VIDEO, "offline embedding judge on video descriptions"),
    _c("vdesc_gpt", "VDesc-GPT", True, 2, VIDEO, "video description judged by GPT-4o, 1–10"),
    _c("vdesc_attr_acc", "VDesc attr acc", True, 3, VIDEO, "static attributes stated correctly in the description"),
)

# FaVChat's (arXiv 2503.09158) DFER columns, UAR and WAR, as DFEW/MAFW results are reported (as fractions
# here; papers print %).
PAPER_VIDEO: tuple[Column, ...] = (
    _c("uar", "UAR", True, 4, VIDEO, "dynamic expression recognition: mean per-class recall"),
    _c("war", "WAR", True, 4, VIDEO, "dynamic expression recognition: overall accuracy"),
)

PAPER_COLUMNS: dict[str, tuple[Column, ...]] = {GENERATION: PAPER_GENERATION, UNDERSTANDING: PAPER_UNDERSTANDING,
                                                 VIDEO: PAPER_VIDEO}
KNOWN: dict[str, Column] = {c.key: c for c in (*PAPER_GENERATION, *PAPER_UNDERSTANDING, *PAPER_VIDEO, *EXTRA)}
KINDS: tuple[str, ...] = (GENERATION, UNDERSTANDING, VIDEO)
KIND_TITLES = {GENERATION: "Generation (text → face)", UNDERSTANDING: "Understanding (face → text)",
               VIDEO: "Video understanding (face video → text)"}


def column_for(key: str, kind: str, higher_is_better: bool | None = None) -> Column:
    """The spec column for ``key``, or an ad-hoc one. ``higher_is_better`` from results.json wins
    over the spec (the metric plugin knows its own direction)."""
    col = KNOWN.get(key)
    if col is None:
        return Column(key, key, True if higher_is_better is None else bool(higher_is_better), None, kind)
    if higher_is_better is not None and bool(higher_is_better) != col.higher_is_better:
        return Column(col.key, col.label, bool(higher_is_better), col.decimals, col.kind, col.description)
    return col


def is_paper_key(key: str) -> bool:
    return any(key == c.key for cols in PAPER_COLUMNS.values() for c in cols)


def order_extra(keys: Iterable[str]) -> list[str]:
    """Known extra keys in spec order, then unknown keys alphabetically."""
    keys = set(keys)
    known = [c.key for c in EXTRA if c.key in keys]
    return known + sorted(k for k in keys if k not in KNOWN)


def column_decimals(col: Column, values: Sequence[float | None]) -> int:
    """Fixed decimals for a column; for ad-hoc columns about four significant digits of the
    largest magnitude (so a column of KID-like values is not printed as 0.00)."""
    if col.decimals is not None:
        return col.decimals
    mags = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    if not mags:
        return 3
    top = max(mags)
    return int(min(6, max(1, 3 - math.floor(math.log10(top)))))


def fmt(value: float | None, decimals: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{decimals}f}"
