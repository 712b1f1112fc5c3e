"""Attribute accuracy of generated faces on datasets with exact attributes (the mini set).

A linear probe reads the attributes of each generated image; the score of an item is the fraction
of its prompt's attributes read back. The probe is scikit-learn's ``LogisticRegression`` (L2,
``C=0.1``, lbfgs) on standardised 32×32 RGB pixels, one classifier per attribute family, fitted on
the gallery split's real images and their known attributes ("not visible", e.g. no hair colour on a
bald head, is a class of its own). Pixels suffice because the mini renderer places every part of
the face at a known spot up to a few pixels of jitter; a linear model over them reads colours
(hair, skin, eyes, shirt, lipstick) and shapes (hats, glasses, beard, mouth) alike.

How trustworthy the probe is, recorded with every value (``extra``), all measured in the run:

- ``probe_accuracy_on_real``: per-face accuracy on the held-out real test faces (the ceiling a
  perfect generator reaches); ``probe_macro_accuracy_on_real``: the same as a macro average over
  families, ``probe_accuracy_on_real_by_family`` per family;
- ``probe_accuracy_on_noise``: the same read-out on uniform-noise images (what the ``dummy`` floor
  draws), beside ``majority_class_accuracy`` (always answering the gallery's most frequent value)
  and ``uniform_chance`` (1/number of values): noise must not score above the majority level.

Stable across machines: features are PIL-resized uint8 pixels (integer arithmetic); the fit runs
with BLAS limited to one thread (summation order does not depend on the machine's core count, and
it is much faster than an oversubscribed pool); a prediction is the first class (sorted labels)
among those with the highest decision value, so ties break the same way everywhere. Per-item
float noise of 1e-5 in the features can only flip a read-out whose top two decision values are
that close; ``extra.near_ties`` counts read-outs closer than 1e-3 (each flip would move the value
by 1/(items × families), far below the 0.02 gate). This is a mini-set check, not a paper metric."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar, Sequence

import numpy as np

from facebench.metrics.base import Metric, MetricContext
from facebench.types import MetricValue, Prediction, Sample

SIDE = 32
C_REG = 0.1
NOT_VISIBLE = "<not visible>"
NOISE_IMAGES = 150
NEAR_TIE = 1e-3


def pixel_features(image) -> np.ndarray:
    """The image as 32×32 RGB pixels in [0, 1] (PIL bilinear resize: integer arithmetic)."""
    from PIL import Image

    small = image.convert("RGB").resize((SIDE, SIDE), Image.BILINEAR)
    return np.asarray(small, dtype=np.float64).reshape(-1) / 255.0


def noise_image(seed: int, size: int = 128):
    """A uniform-noise image exactly as the ``dummy`` adapter draws one."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8), "RGB")


class LinearAttributeProbe:
    """One logistic-regression classifier per attribute family over pixel features."""

    def __init__(self, samples: Sequence[Sample], c: float = C_REG):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from threadpoolctl import threadpool_limits

        attrs = [s.attributes for s in samples]
        # families can be absent for some faces (a bald face has no hair colour): use the union
        self.families = sorted({f for a in attrs for f in a})
        x = np.stack([pixel_features(s.load_image()) for s in samples])
        self.models: dict[str, Any] = {}
        self.constant: dict[str, str] = {}
        self.majority: dict[str, str] = {}
        with threadpool_limits(limits=1):
            for fam in self.families:
                y = np.array([a.get(fam, NOT_VISIBLE) for a in attrs])
                values, counts = np.unique(y[y != NOT_VISIBLE], return_counts=True)
                self.majority[fam] = str(values[int(np.argmax(counts))])  # np.unique sorts: ties → first value
                if len(set(y)) == 1:
                    self.constant[fam] = str(y[0])
                    continue
                self.models[fam] = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000)).fit(x, y)
        self.near_ties = 0

    def predict_many(self, images: Sequence[Any]) -> list[dict[str, str]]:
        from threadpoolctl import threadpool_limits

        if not images:
            return []
        x = np.stack([pixel_features(im) for im in images])
        out: list[dict[str, str]] = [{} for _ in images]
        with threadpool_limits(limits=1):
            for fam in self.families:
                if fam in self.constant:
                    labels = [self.constant[fam]] * len(images)
                else:
                    labels = self._argmax(self.models[fam], x)
                for row, label in zip(out, labels):
                    if label != NOT_VISIBLE:
                        row[fam] = label
        return out

    def predict(self, image) -> dict[str, str]:
        return self.predict_many([image])[0]

    def _argmax(self, model, x: np.ndarray) -> list[str]:
        scores = np.asarray(model.decision_function(x), dtype=np.float64)
        classes = [str(c) for c in model.classes_]
        if scores.ndim == 1:  # binary: one decision value, positive → classes_[1]
            scores = np.stack([-scores, scores], axis=1) / 2.0
        top = np.argmax(scores, axis=1)  # first maximum: ties → the first class in sorted order
        part = np.sort(scores, axis=1)
        self.near_ties += int(np.sum(part[:, -1] - part[:, -2] < NEAR_TIE))
        return [classes[int(i)] for i in top]


def read_accuracy(probe: LinearAttributeProbe, reads: list[dict[str, str]], truths: list[dict[str, str]]
                  ) -> dict[str, Any]:
    """Per-face mean, macro over families and per-family accuracy of read-outs against truths."""
    per_face = [float(np.mean([r.get(f) == v for f, v in t.items()])) for r, t in zip(reads, truths) if t]
    fam: dict[str, list[float]] = defaultdict(list)
    for r, t in zip(reads, truths):
        for f, v in t.items():
            fam[f].append(float(r.get(f) == v))
    by_family = {f: float(np.mean(h)) for f, h in sorted(fam.items())}
    return {"per_face": float(np.mean(per_face)) if per_face else None,
            "macro": float(np.mean(list(by_family.values()))) if by_family else None, "by_family": by_family}


class AttributeProbe(Metric):
    name: ClassVar[str] = "attr_probe"
    kind: ClassVar[str] = "generation"
    version: ClassVar[str] = "2"

    @property
    def variant(self) -> str:
        return f"logreg-C{self.args.get('c', C_REG)}-pixel{SIDE}-gallery-probe"

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        if not ctx.gallery_samples or not any(s.attributes for s in ctx.gallery_samples):
            return [self.skipped("needs a gallery split with exact attributes (--dataset mini)")]
        from facebench.images import load_image

        probe = LinearAttributeProbe(ctx.gallery_samples, c=float(self.args.get("c", C_REG)))
        extra: dict[str, Any] = {"gallery_size": len(ctx.gallery_samples), "classifier": "sklearn LogisticRegression "
                                 f"(L2, C={self.args.get('c', C_REG)}) on standardised {SIDE}x{SIDE} RGB pixels"}
        real = [s for s in ctx.reference_samples if s.image is not None and s.attributes]
        if real:
            truths = [s.attributes for s in real]
            acc = read_accuracy(probe, probe.predict_many([s.load_image() for s in real]), truths)
            size = real[0].load_image().size[0]
            noise = read_accuracy(probe, probe.predict_many([noise_image(i, size) for i in range(NOISE_IMAGES)]),
                                  [truths[i % len(truths)] for i in range(NOISE_IMAGES)])
            majority = read_accuracy(probe, [dict(probe.majority) for _ in truths], truths)
            n_values: dict[str, set[str]] = defaultdict(set)
            for s in ctx.gallery_samples:
                for f, v in s.attributes.items():
                    n_values[f].add(v)
            extra.update({
                "probe_accuracy_on_real": acc["per_face"], "probe_macro_accuracy_on_real": acc["macro"],
                "probe_accuracy_on_real_by_family": acc["by_family"],
                "probe_accuracy_on_noise": noise["per_face"], "probe_macro_accuracy_on_noise": noise["macro"],
                "majority_class_accuracy": majority["per_face"], "majority_class_macro_accuracy": majority["macro"],
                "uniform_chance_macro": float(np.mean([1.0 / len(v) for v in n_values.values()])),
                "n_real": len(real), "n_noise": NOISE_IMAGES,
            })
        per_item: dict[str, float | None] = {}
        details: dict[str, dict] = {}
        fam_hits: dict[str, list[float]] = defaultdict(list)
        items = [p for p in preds if p.attributes and p.images]
        flat = [(p, path) for p in items for path in p.images]
        reads = probe.predict_many([load_image(path) for _, path in flat])
        by_item: dict[str, list[dict[str, str]]] = defaultdict(list)
        for (p, _), read in zip(flat, reads):
            by_item[p.item_id].append(read)
        for p in items:
            scores = []
            for read in by_item[p.item_id]:
                hits = {f: float(read.get(f) == v) for f, v in p.attributes.items()}
                for f, h in hits.items():
                    fam_hits[f].append(h)
                scores.append(float(np.mean(list(hits.values()))))
            details[p.item_id] = {"read": by_item[p.item_id][-1]}
            per_item[p.item_id] = float(np.mean(scores))
        extra["near_ties"] = probe.near_ties
        per_attr = {f: {"all": float(np.mean(h)), "n": float(len(h))} for f, h in sorted(fam_hits.items())}
        return [self.value(per_item=per_item, details=details, per_attribute=per_attr, extra=extra)]
