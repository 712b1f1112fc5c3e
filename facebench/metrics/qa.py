"""Exact scores that need no model: exact-match QA accuracy, attribute accuracy per family, and
which attributes a caption states correctly. They need datasets with exact answers (the mini set)."""
from __future__ import annotations

import re
from collections import defaultdict
from typing import ClassVar

import numpy as np

from facebench.metrics.aggregate import BOOTSTRAP_RESAMPLES, CI_LEVEL
from facebench.metrics.base import Metric, MetricContext
from facebench.types import QA, MetricValue, Prediction

_WS = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s-]")


def normalize(text: str) -> str:
    return _WS.sub(" ", _PUNCT.sub(" ", text.lower())).strip()


def closed_answer(output: str, qa: QA) -> str | None:
    """The choice an answer commits to: the whole answer if it is a choice, else the single
    choice it mentions (whole words); None when it mentions none or several (no credit).

    Yes/no questions follow the same rule: "Yes, she does" → yes, "No, there is no beard" → no,
    but "Yes and no" names both and gets no credit (a first-word rule used to read it as yes)."""
    out = normalize(output)
    choices = [normalize(c) for c in qa.choices] or [normalize(qa.answer)]
    if set(choices) == {"yes"} or set(choices) == {"no"}:  # a yes/no question stored without choices
        choices = ["yes", "no"]
    if out in choices:
        return out
    hits = {c for c in choices if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", out)}
    # a longer choice containing a shorter one ("dark brown" vs "brown") wins
    hits = {c for c in hits if not any(c != h and c in h for h in hits)}
    return hits.pop() if len(hits) == 1 else None


def is_correct(output: str | None, qa: QA) -> bool:
    """An empty or whitespace-only answer is an answer, and a wrong one (it stays in every
    denominator); ``None`` (no output at all) is also scored wrong here."""
    if not output or not output.strip():
        return False
    return closed_answer(output, qa) == normalize(qa.answer)


def _closed(preds: list[Prediction]) -> list[Prediction]:
    return [p for p in preds if p.qa is not None and p.qa.kind == "closed"]


class ExactMatch(Metric):
    """Accuracy on closed questions (yes/no and multiple choice); open questions are not scored."""

    name: ClassVar[str] = "exact_match"
    kind: ClassVar[str] = "understanding"
    version: ClassVar[str] = "2"  # 2: "yes and no" gets no credit; denominator stated

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        closed = _closed(preds)
        if not closed:
            return [self.skipped("no closed questions with exact answers in this dataset (exact match needs e.g. --dataset mini)")]
        per_item = {p.item_id: float(is_correct(p.output, p.qa)) for p in closed}
        details = {p.item_id: {"parsed": closed_answer(p.output or "", p.qa)} for p in closed}
        n_empty = sum(1 for p in closed if not (p.output or "").strip())
        return [self.value(per_item=per_item, details=details, extra={
            "denominator": "all closed questions (empty answers count as wrong)",
            "n_closed": len(closed), "n_empty_answers": n_empty, "n_open_skipped": len(preds) - len(closed)})]


class AttributeAccuracy(Metric):
    """Macro accuracy over attribute families (each family weighs the same, however many
    questions probe it); the bootstrap resamples questions."""

    name: ClassVar[str] = "attr_accuracy"
    kind: ClassVar[str] = "understanding"
    version: ClassVar[str] = "2"  # 2: "yes and no" gets no credit; denominator stated

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        items = [p for p in _closed(preds) if p.qa.family]
        if not items:
            return [self.skipped("no closed questions tagged with an attribute family (needs e.g. --dataset mini)")]
        fams = sorted({p.qa.family for p in items})
        fam_idx = np.array([fams.index(p.qa.family) for p in items])
        correct = np.array([float(is_correct(p.output, p.qa)) for p in items])

        def macro(idx: np.ndarray) -> float:
            f, c = fam_idx[idx], correct[idx]
            accs = [c[f == k].mean() for k in range(len(fams)) if (f == k).any()]
            return float(np.mean(accs))

        value = macro(np.arange(len(items)))
        rng = np.random.default_rng(0)
        boots = [macro(rng.integers(0, len(items), len(items))) for _ in range(BOOTSTRAP_RESAMPLES)]
        a = (1 - CI_LEVEL) / 2
        ci = tuple(float(x) for x in np.quantile(boots, [a, 1 - a]))
        per_attr: dict[str, dict[str, float]] = {}
        for k, fam in enumerate(fams):
            mask = fam_idx == k
            entry = {"all": float(correct[mask].mean()), "n": float(mask.sum())}
            by_val: dict[str, list[float]] = defaultdict(list)
            for p, c in zip(np.array(items, dtype=object)[mask], correct[mask]):
                by_val[p.attributes.get(fam, "?")].append(c)
            entry.update({v: float(np.mean(cs)) for v, cs in sorted(by_val.items())})
            per_attr[fam] = entry
        return [self.value(value=value, ci=ci, n=len(items), aggregate="set", per_attribute=per_attr,
                           per_item={p.item_id: float(c) for p, c in zip(items, correct)},
                           extra={"families": len(fams), "average": "macro over families",
                                  "denominator": "all closed questions tagged with an attribute family, averaged per "
                                                 "family then over families (empty answers count as wrong)",
                                  "n_closed": len(items),
                                  "n_empty_answers": sum(1 for p in items if not (p.output or "").strip())})]


class CaptionAttributeRecall(Metric):
    """Fraction of a face's attributes that the model's description states correctly, read back
    with the mini set's phrase parser; per family: how often that attribute is right."""

    name: ClassVar[str] = "caption_attr_recall"
    kind: ClassVar[str] = "understanding"
    version: ClassVar[str] = "2"  # 2: denominator stated

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        items = [p for p in preds if p.attributes]
        if not items:
            return [self.skipped("samples carry no attributes (needs e.g. --dataset mini)")]
        from facebench.data.mini import attributes_in_text

        per_item: dict[str, float | None] = {}
        details: dict[str, dict] = {}
        fam_hits: dict[str, list[float]] = defaultdict(list)
        for p in items:
            stated = attributes_in_text(p.output or "")
            hits = {fam: float(stated.get(fam) == val) for fam, val in p.attributes.items()}
            for fam, h in hits.items():
                fam_hits[fam].append(h)
            per_item[p.item_id] = float(np.mean(list(hits.values())))
            details[p.item_id] = {"stated": stated}
        per_attr = {fam: {"all": float(np.mean(h)), "n": float(len(h))} for fam, h in sorted(fam_hits.items())}
        return [self.value(per_item=per_item, details=details, per_attribute=per_attr, extra={
            "denominator": "all faces with attributes: per face, its attributes stated correctly / its attributes "
                           "(an empty description states none)",
            "n_empty_answers": sum(1 for p in items if not (p.output or "").strip())})]
