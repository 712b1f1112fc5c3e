"""Attribute accuracy of generated faces on datasets with exact attributes (the mini set).

A k-nearest-neighbour probe on downsampled pixels, fitted on the gallery split's real images and
their known attributes, reads the attributes of each generated image; the score is the fraction
of the prompt's attributes it reads back. The probe's own accuracy on the held-out real test
images is reported beside it (``extra.probe_accuracy_on_real``): that is the ceiling, and a
score is only as trustworthy as the probe. This is a mini-set check, not a paper metric."""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import ClassVar

import numpy as np

from facebench.metrics.base import Metric, MetricContext
from facebench.types import MetricValue, Prediction, Sample

SIDE = 24


def _features(image) -> np.ndarray:
    from PIL import Image

    return np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.BILINEAR), dtype=np.float32).reshape(-1) / 255.0


class KNNAttributeProbe:
    def __init__(self, samples: list[Sample], k: int = 5):
        self.k = k
        self.feats = np.stack([_features(s.load_image()) for s in samples])
        self.attrs = [s.attributes for s in samples]
        # families can be absent for some faces (a bald face has no hair colour): use the union
        self.families = sorted({f for a in self.attrs for f in a})

    def predict(self, image) -> dict[str, str]:
        d = np.linalg.norm(self.feats - _features(image)[None, :], axis=1)
        nn = np.argsort(d, kind="stable")[: self.k]
        out = {}
        for fam in self.families:
            votes = [self.attrs[int(j)].get(fam) for j in nn]  # None: "not visible" is a vote too
            counts = Counter(votes)
            best = max(votes, key=lambda v: (counts[v], -votes.index(v)))
            if best is not None:
                out[fam] = best
        return out


class AttributeProbe(Metric):
    name: ClassVar[str] = "attr_probe"
    kind: ClassVar[str] = "generation"

    @property
    def variant(self) -> str:
        return f"knn{self.args.get('k', 5)}-pixel{SIDE}-gallery-probe"

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        if not ctx.gallery_samples or not any(s.attributes for s in ctx.gallery_samples):
            return [self.skipped("needs a gallery split with exact attributes (--dataset mini)")]
        from facebench.images import load_image

        probe = KNNAttributeProbe(ctx.gallery_samples, k=int(self.args.get("k", 5)))
        real = [s for s in ctx.reference_samples if s.image is not None and s.attributes]
        ceiling = None
        if real:
            hits = [np.mean([probe.predict(s.load_image()).get(f) == v for f, v in s.attributes.items()]) for s in real]
            ceiling = float(np.mean(hits))
        per_item: dict[str, float | None] = {}
        details: dict[str, dict] = {}
        fam_hits: dict[str, list[float]] = defaultdict(list)
        for p in preds:
            if not p.attributes or not p.images:
                continue
            scores = []
            for path in p.images:
                read = probe.predict(load_image(path))
                hits = {f: float(read.get(f) == v) for f, v in p.attributes.items()}
                for f, h in hits.items():
                    fam_hits[f].append(h)
                scores.append(np.mean(list(hits.values())))
                details[p.item_id] = {"read": read}
            per_item[p.item_id] = float(np.mean(scores))
        per_attr = {f: {"all": float(np.mean(h)), "n": float(len(h))} for f, h in sorted(fam_hits.items())}
        return [self.value(per_item=per_item, details=details, per_attribute=per_attr,
                           extra={"probe_accuracy_on_real": ceiling, "gallery_size": len(ctx.gallery_samples)})]
