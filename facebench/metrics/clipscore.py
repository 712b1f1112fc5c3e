"""CLIPScore: cosine similarity of CLIP image and text embeddings, in its two published variants.

``variant=hessel`` (Hessel et al. 2021, reported as ``clipscore_hessel``):
    2.5 · max(cos(E_img, E_txt), 0) per image, text prefixed "A photo depicts ", ViT-B/32 (OpenAI),
    truncation ``keep_end_token`` (Hessel's clipscore.py tokenises with OpenAI's
    ``clip.tokenize(..., truncate=True)``).
``variant=clip_t`` (torchmetrics ``CLIPScore`` / "CLIP-T", reported as ``clip_t``):
    100 · cos per image, ViT-L/14 (OpenAI), no prefix, truncation ``torchmetrics``. torchmetrics
    clamps at 0 *after* averaging (``max(mean, 0)``); per-item values here are the unclamped 100·cos,
    the runner averages them, and ``extra["torchmetrics_value"]`` holds max(mean over images, 0) —
    identical whenever the mean is positive, which it is for any trained CLIP.

Truncation (``truncation``; CLIP's text encoder reads 77 tokens and UniF²ace captions are ~120, so
this decides the score of almost every item):
``torchmetrics``   torchmetrics-exact: the tokenised caption (start token, BPE tokens, end token) is cut
                   to its first 77 ids, so a long caption loses its end token
                   (torchmetrics/functional/multimodal/clip_score.py ``_get_features`` slices
                   ``input_ids[..., :max_position_embeddings]``). CLIP pools the text feature at the
                   largest token id (OpenAI checkpoints: argmax pooling, the end token when present),
                   so for a cut caption it reads whichever word has the largest BPE id — an arbitrary
                   word. The argmax is over integer ids (first occurrence on ties), not over floats:
                   no float noise can move it.
``keep_end_token`` end-token-preserving: the first 75 BPE tokens, then the end token (OpenAI
                   ``clip.tokenize(truncate=True)``, clip/clip.py; open_clip's tokenizer).
Captions of ≤ 77 tokens score identically under both. How many captions were cut, and by how
much, is in ``extra["truncation"]`` and per item in ``details``.

Args: ``variant``, ``model`` (any open_clip name, ``hf-hub:…`` or ``local-dir:/path``),
``pretrained`` (open_clip tag or checkpoint file), ``weights`` (checkpoint file; also env
``FACEBENCH_CLIP_CHECKPOINT_<MODEL>``, see ``features/clip.py``), ``prefix`` (override),
``truncation`` (override), ``batch_size``. An item with several images scores the mean over its images.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facebench.metrics.base import Metric, MetricContext
from facebench.types import MetricValue, Prediction

VARIANTS: dict[str, dict[str, Any]] = {
    "hessel": {"model": "ViT-B-32", "pretrained": "openai", "prefix": "A photo depicts ", "scale": 2.5,
               "truncation": "keep_end_token"},
    "clip_t": {"model": "ViT-L-14", "pretrained": "openai", "prefix": "", "scale": 100.0,
               "truncation": "torchmetrics"},
}
TRUNCATIONS: dict[str, str] = {
    "torchmetrics": "torchmetrics-exact: first 77 token ids kept (start + 76 BPE tokens), end token dropped; "
                    "the feature is pooled at the largest token id, an arbitrary word of a cut caption",
    "keep_end_token": "end-token-preserving: first 75 BPE tokens + end token (OpenAI clip.tokenize(truncate=True), "
                      "open_clip)",
}


def tokenize(tokenizer: Any, texts: list[str], context_length: int, truncation: str):
    """Token ids (n, context_length) under the named truncation (module doc)."""
    if truncation == "keep_end_token":
        return tokenizer(texts)
    if truncation == "torchmetrics":
        longest = max(token_count(tokenizer, t) for t in texts)
        full = tokenizer(texts, context_length=max(longest, context_length))  # nothing cut yet
        return full[:, :context_length]
    raise ValueError(f"unknown truncation {truncation!r}; choose one of {', '.join(TRUNCATIONS)}")


def token_count(tokenizer: Any, text: str) -> int:
    from facebench.metrics.features.clip import token_count as _count

    return _count(tokenizer, text)


def clip_scores(image_emb: np.ndarray, text_emb: np.ndarray, variant: str) -> np.ndarray:
    """Per-pair scores from (unnormalised) paired embeddings (n, d): hessel → 2.5·max(cos, 0),
    clip_t → 100·cos (unclamped; torchmetrics clamps the mean, see module doc)."""
    a = np.asarray(image_emb, dtype=np.float64)
    b = np.asarray(text_emb, dtype=np.float64)
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    if variant == "hessel":
        return 2.5 * np.maximum(cos, 0.0)
    if variant == "clip_t":
        return 100.0 * cos
    raise ValueError(f"unknown CLIPScore variant {variant!r}; choose one of {', '.join(VARIANTS)}")


class CLIPScore(Metric):
    name = "clipscore"
    kind = "generation"
    higher_is_better = True
    version = "2"  # 2: named truncation (clip_t now torchmetrics-exact)

    def __init__(self, key: str | None = None, **args: Any):
        super().__init__(key, **args)
        self.variant_name = str(args.get("variant", "hessel"))
        if self.variant_name not in VARIANTS:
            raise ValueError(f"unknown CLIPScore variant {self.variant_name!r}; choose one of {', '.join(VARIANTS)}")
        d = VARIANTS[self.variant_name]
        self.model_name = str(args.get("model") or d["model"])
        schema = self.model_name.startswith(("local-dir:", "hf-hub:"))
        self.pretrained = None if schema else args.get("pretrained", d["pretrained"])
        self.prefix = str(args["prefix"]) if args.get("prefix") is not None else d["prefix"]
        self.truncation = str(args.get("truncation") or d["truncation"])
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"unknown CLIPScore truncation {self.truncation!r}; choose one of {', '.join(TRUNCATIONS)}")

    @property
    def variant(self) -> str:
        return f"{self.variant_name}:{self.model_name}/{self.pretrained or 'local'}:{self.truncation}"

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        import torch

        from facebench.errors import MissingDependencyError
        from facebench.images import load_image
        from facebench.metrics.features.clip import load_open_clip
        from facebench.metrics.features.weights import WeightsUnavailable

        items = [p for p in preds if p.images]
        if not items:
            return [self.skipped("no generated images to score; fix: run the predict phase for this task first")]
        try:
            clip = load_open_clip(self.model_name, self.pretrained, self.args.get("weights"), ctx.device,
                                  arg_hint=f"{self.key}.weights=PATH")
        except (WeightsUnavailable, MissingDependencyError) as e:
            return [self.skipped(str(e))]
        bs = int(self.args.get("batch_size") or max(int(ctx.batch_size or 1), 1))
        model, device = clip.model, ctx.device

        # text side: one embedding per distinct caption
        texts = sorted({self.prefix + p.prompt for p in items})
        n_tokens = {t: token_count(clip.tokenizer, t) for t in texts}
        ctx_len = clip.context_length
        text_emb: dict[str, np.ndarray] = {}
        with torch.no_grad():
            for i in range(0, len(texts), bs):
                chunk = texts[i : i + bs]
                ids = tokenize(clip.tokenizer, chunk, ctx_len, self.truncation)
                e = model.encode_text(ids.to(device)).float()
                e = e / e.norm(dim=-1, keepdim=True)
                text_emb.update(zip(chunk, e.cpu().numpy()))

        # image side, streamed in batches
        pairs = [(p.item_id, Path(img), self.prefix + p.prompt) for p in items for img in p.images]
        scores: dict[str, list[float]] = {}
        all_scores: list[float] = []
        n_failed_images = 0
        with torch.no_grad():
            for i in range(0, len(pairs), bs):
                chunk = pairs[i : i + bs]
                ok, tensors = [], []
                for pair in chunk:
                    try:
                        tensors.append(clip.preprocess(load_image(pair[1])))
                        ok.append(pair)
                    except Exception:
                        n_failed_images += 1  # unreadable image → failed item, never a score
                        scores.setdefault(pair[0], [])
                if not ok:
                    continue
                e = model.encode_image(torch.stack(tensors).to(device)).float().cpu().numpy()
                t = np.stack([text_emb[pair[2]] for pair in ok])
                s = clip_scores(e, t, self.variant_name)
                for pair, v in zip(ok, s):
                    scores.setdefault(pair[0], []).append(float(v))
                    all_scores.append(float(v))

        per_item: dict[str, float | None] = {}
        details: dict[str, dict[str, Any]] = {}
        for p in items:
            vals = scores.get(p.item_id) or []
            per_item[p.item_id] = float(np.mean(vals)) if vals and len(vals) == len(p.images) else None
            nt = n_tokens[self.prefix + p.prompt]
            details[p.item_id] = {"per_image": vals, "n_tokens": nt, "truncated": nt > ctx_len}
        counts = np.array([n_tokens[self.prefix + p.prompt] for p in items])
        truncated = counts > ctx_len
        extra: dict[str, Any] = {
            "variant": self.variant_name,
            "model": self.model_name,
            "pretrained": self.pretrained,
            "checkpoint_sha256": clip.weights_sha256,
            "prefix": self.prefix,
            "formula": "2.5*max(cos,0) per image" if self.variant_name == "hessel" else "100*cos per image (unclamped)",
            "denominator": "all items with generated images (an unreadable image makes its item a failed item)",
            "n_images": len(pairs),
            "n_truncated": int(truncated.sum()),
            "n_failed_images": n_failed_images,
            "truncation": {
                "context_length": ctx_len,
                "policy": self.truncation,
                "description": TRUNCATIONS[self.truncation],
                "n_items": int(len(items)),
                "n_truncated": int(truncated.sum()),
                "fraction_truncated": float(truncated.mean()) if len(items) else 0.0,
                "max_tokens": int(counts.max()) if len(items) else 0,
                "mean_tokens": float(counts.mean()) if len(items) else 0.0,
                "mean_tokens_dropped": float(np.clip(counts - ctx_len, 0, None).mean()) if len(items) else 0.0,
            },
        }
        if self.variant_name == "clip_t" and all_scores:
            extra["torchmetrics_value"] = max(float(np.mean(all_scores)), 0.0)
        return [self.value(per_item=per_item, details=details, extra=extra)]
