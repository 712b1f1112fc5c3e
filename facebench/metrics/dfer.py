"""Dynamic facial expression recognition scores: UAR and WAR over a closed expression question.

WAR (weighted average recall) is plain accuracy: every clip weighs the same, so frequent classes
dominate. UAR (unweighted average recall) is the mean over classes of each class's recall, so a
model that always answers the majority class scores 1/K, not the majority share; DFEW and MAFW
are reported with both. An answer counts when it names exactly the reference class among the
question's choices (``facebench.metrics.qa.closed_answer``); empty or ambiguous answers are wrong
and stay in every denominator. Classes with no clip in the split are listed, never averaged in.
The per-class table (recall, n) goes to ``per_attribute`` under the family ``class``, the
confusion counts to ``extra``.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from facebench.metrics.aggregate import BOOTSTRAP_RESAMPLES, CI_LEVEL
from facebench.metrics.base import Metric, MetricContext
from facebench.metrics.qa import closed_answer, is_correct, normalize
from facebench.types import MetricValue, Prediction


def recalls(refs: list[str], correct: list[float], classes: list[str]) -> dict[str, tuple[float, int]]:
    """class → (recall, n) for the classes present in ``refs``."""
    out = {}
    r = np.array(refs, dtype=object)
    c = np.array(correct, dtype=np.float64)
    for k in classes:
        mask = r == k
        if mask.any():
            out[k] = (float(c[mask].mean()), int(mask.sum()))
    return out


def uar(refs: list[str], correct: list[float], classes: list[str]) -> float:
    rec = recalls(refs, correct, classes)
    return float(np.mean([v for v, _ in rec.values()]))


class _DFERScore(Metric):
    kind: ClassVar[str] = "understanding"
    weighted: ClassVar[bool] = False

    def _items(self, preds: list[Prediction]) -> list[Prediction]:
        family = self.args.get("family", "dfer")
        return [p for p in preds if p.qa is not None and p.qa.kind == "closed" and p.qa.family == family]

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        items = self._items(preds)
        family = self.args.get("family", "dfer")
        if not items:
            return [self.skipped(f"no closed '{family}' expression questions in this dataset (needs a DFER dataset: "
                                 "--dataset mini-video or a DFEW/MAFW folder)")]
        classes: list[str] = []
        for p in items:  # the union of the questions' choices, in first-seen order
            for c in (p.qa.choices or (p.qa.answer,)):
                if normalize(c) not in classes:
                    classes.append(normalize(c))
        refs = [normalize(p.qa.answer) for p in items]
        correct = [float(is_correct(p.output, p.qa)) for p in items]
        parsed = [closed_answer(p.output or "", p.qa) for p in items]

        def score(idx: np.ndarray) -> float:
            if self.weighted:
                return float(np.mean([correct[i] for i in idx]))
            return uar([refs[i] for i in idx], [correct[i] for i in idx], classes)

        n = len(items)
        value = score(np.arange(n))
        rng = np.random.default_rng(0)
        boots = [score(rng.integers(0, n, n)) for _ in range(BOOTSTRAP_RESAMPLES)]
        a = (1 - CI_LEVEL) / 2
        ci = tuple(float(x) for x in np.quantile(boots, [a, 1 - a])) if n > 1 else None
        rec = recalls(refs, correct, classes)
        per_class = {"all": value, "n": float(n), **{k: v for k, (v, _) in rec.items()}}
        confusion: dict[str, dict[str, int]] = {k: {} for k in rec}
        for ref, got in zip(refs, parsed):
            key = got if got is not None else "(no class)"
            confusion[ref][key] = confusion[ref].get(key, 0) + 1
        return [self.value(value=value, ci=ci, n=n, aggregate="set", per_attribute={"class": per_class},
                           per_item={p.item_id: c for p, c in zip(items, correct)},
                           details={p.item_id: {"parsed": g} for p, g in zip(items, parsed)},
                           extra={"average": "overall accuracy (clips weigh the same)" if self.weighted
                                  else "mean of per-class recalls (classes weigh the same)",
                                  "classes": classes, "per_class": {k: {"recall": v, "n": m} for k, (v, m) in rec.items()},
                                  "classes_without_clips": [k for k in classes if k not in rec],
                                  "confusion": confusion, "n_empty_answers": sum(1 for p in items
                                                                                 if not (p.output or "").strip())})]


class UAR(_DFERScore):
    """Unweighted average recall: the mean of per-class recalls."""

    name: ClassVar[str] = "uar"
    weighted: ClassVar[bool] = False


class WAR(_DFERScore):
    """Weighted average recall: overall accuracy."""

    name: ClassVar[str] = "war"
    weighted: ClassVar[bool] = True
