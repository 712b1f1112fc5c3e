"""The *slow* T5 tokenizer that t2v_metrics' CLIP-FlanT5 scorer uses, on the ``sentencepiece`` model.

t2v_metrics loads its tokenizer with ``AutoTokenizer.from_pretrained(tokenizer_path, use_fast=False)``
(t2v_metrics/models/vqascore_models/mm_utils.py ``load_pretrained_model``, linzhiqiu/t2v_metrics
@10d549b), i.e. transformers 4.x's sentencepiece ``T5Tokenizer`` (``legacy=True``, flan-t5's config
sets no ``legacy``). transformers 5 has no slow T5 tokenizer any more (``use_fast`` is ignored), and
its fast one differs where it matters here: a chunk that ends with a space (``"... USER: "`` before
the image, ``"... ASSISTANT: "`` at the end) gets a trailing ``▁`` token from the fast tokenizer's
Metaspace pre-tokeniser, while sentencepiece drops trailing whitespace
(``remove_extra_whitespaces``). So the slow tokenizer is rebuilt here from its definition:

    ids(text) = sentencepiece.encode(text) + [</s>]

which is what the legacy slow ``T5Tokenizer`` returns for text holding no special-token strings
(``</s>``, ``<pad>``, ``<unk>``, ``<extra_id_N>``: such strings, which no VQAScore prompt contains,
are encoded here as plain characters instead of being split out). Its length (what the reference
resizes the model's embeddings to) is the sentencepiece vocabulary plus ``extra_ids`` sentinel tokens
(``tokenizer_config.json``; 100 for Flan-T5: 32,000 + 100 = 32,100, while the checkpoints carry 32,128
embedding rows).
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from facebench.metrics.vqascore.base import ScorerError

SPM_FILE = "spiece.model"


class SentencePieceT5Tokenizer:
    """Minimal slow-T5 tokenizer: ``tok(text).input_ids``, ``len(tok)``, ``eos_token_id``, ``pad_token_id``."""

    def __init__(self, folder: str | Path):
        try:
            import sentencepiece as spm
        except ImportError:
            raise ScorerError("package sentencepiece is not installed (the slow T5 tokenizer t2v_metrics uses); "
                              "fix: pip install sentencepiece, or pass KEY.t5_tokenizer=fast (not t2v_metrics' "
                              "tokenisation)") from None
        path = Path(folder) / SPM_FILE
        if not path.is_file():
            raise ScorerError(f"no {SPM_FILE} in the T5 tokenizer folder {folder} (the slow T5 tokenizer needs it); "
                              "fix: use a tokenizer folder with spiece.model (google/flan-t5-xxl has one), or pass "
                              "KEY.t5_tokenizer=fast")
        self.path = path
        self.sp = spm.SentencePieceProcessor(model_file=str(path))
        cfg_file = Path(folder) / "tokenizer_config.json"
        cfg: dict[str, Any] = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
        self.extra_ids = int(cfg.get("extra_ids", 100))  # transformers' T5Tokenizer default
        self.eos_token_id = int(self.sp.eos_id())
        self.pad_token_id = int(self.sp.pad_id())
        if self.eos_token_id < 0:
            raise ScorerError(f"{path} defines no </s> piece; fix: use the T5 tokenizer's spiece.model")

    def __len__(self) -> int:
        return int(self.sp.get_piece_size()) + self.extra_ids

    def encode(self, text: str) -> list[int]:
        return [int(i) for i in self.sp.encode(text)] + [self.eos_token_id]

    def __call__(self, text: str) -> Any:
        """Like a transformers tokenizer call: ``.input_ids``."""
        return SimpleNamespace(input_ids=self.encode(text))
