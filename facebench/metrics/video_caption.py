"""Attribute recall of a video description: which of the clip's static face attributes (hair,
eyes, eyewear, hat, ...) the description states correctly, read back with the mini set's phrase
parser. The time-dependent labels (expression onset, blink, head turn, talking) are left out: no
parser here reads them reliably from free text (negations, timing), so they are not scored rather
than scored wrongly; ``vconv`` asks about them as closed questions instead."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

from facebench.metrics.base import MetricContext
from facebench.metrics.qa import CaptionAttributeRecall
from facebench.types import MetricValue, Prediction


class VideoCaptionAttributeRecall(CaptionAttributeRecall):
    name: ClassVar[str] = "video_caption_attr_recall"
    version: ClassVar[str] = "1"

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        from facebench.data.mini import ATTRIBUTE_FAMILIES

        static = set(ATTRIBUTE_FAMILIES) - {"expression"}
        trimmed = [dataclasses.replace(p, attributes={k: v for k, v in p.attributes.items() if k in static})
                   for p in preds]
        out = super().compute(trimmed, ctx)
        for mv in out:
            if mv.skipped is None:
                mv.extra["scored"] = "static attributes only (the mini families except expression)"
        return out
