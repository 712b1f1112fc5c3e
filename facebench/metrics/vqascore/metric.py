"""The ``vqascore`` metric: P("Yes") for ``Does this figure show "{prompt}"? Please answer yes or
no.`` per generated image, with a pluggable scorer.

Args:
  ``scorer``      clip-flant5 (VQAscore-CF5) | hf-vlm (VQAscore-LV with LLaVA-1.5, or any
                  transformers VLM) | openai (any OpenAI-compatible endpoint with logprobs)
  ``model``       hub id or local folder (clip-flant5, hf-vlm) / model name (openai)
  ``question_template``  default the VQAScore question; ``answer`` default "Yes"
  ``batch_size``  pairs per forward pass / request wave (does not change scores)
  ``attribute_questions``  also ask one question per attribute of the prompt (``"{phrase}"``, the
                  dataset's first phrasing of the value, e.g. "blonde hair"; "none" values are
                  skipped: VQA models read negations poorly) and report them as ``<key>_attr`` with a
                  per-family breakdown. Default on for local scorers, off for ``openai`` (cost).
  scorer-specific args are passed through (see each scorer's module: ``variant`` (hf-vlm:
  ``t2v_metrics`` | ``chat_first_token``), ``tokenizer``, ``vision_tower``, ``dtype``,
  ``t5_tokenizer``, ``resize_embeddings``, ``truncation``, ``prompt_style``, ``answer_mode``,
  ``vocab``, ``base_url``, ``api_key_env``, …). The paper's columns use the t2v_metrics-faithful
  defaults (tasks/vqa.yaml): CLIP-FlanT5 as ``clip_flant5.py`` documents, LLaVA-1.5 with
  ``variant=t2v_metrics``.

Scores are cached per (scorer fingerprint, image sha256, question) in
``cache_root()/vqascore.sqlite``: a rerun only scores what is missing; failed pairs are not cached.
An item's score is the mean over its images; an item with a failed image is a failed item (None).
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from facebench.cache import KVCache
from facebench.hashing import canonical_json, content_key, sha256_file, sha256_text
from facebench.metrics.base import Metric, MetricContext
from facebench.metrics.vqascore.base import (
    ANSWER,
    QUESTION_TEMPLATE,
    Scorer,
    ScorerError,
)
from facebench.paths import cache_root
from facebench.progress import progress
from facebench.types import MetricValue, Prediction

log = logging.getLogger(__name__)

SCORERS = {
    "clip-flant5": "facebench.metrics.vqascore.clip_flant5:CLIPFlanT5Scorer",
    "hf-vlm": "facebench.metrics.vqascore.hf_vlm:HFVLMScorer",
    "openai": "facebench.metrics.vqascore.openai_scorer:OpenAIScorer",
}
_METRIC_ONLY_ARGS = {"scorer", "question_template", "batch_size", "attribute_questions"}


def make_scorer(kind: str, **args: Any) -> Scorer:
    if kind not in SCORERS:
        raise ScorerError(f"unknown VQAScore scorer {kind!r}; fix: one of {', '.join(SCORERS)}")
    module, _, cls = SCORERS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)(**args)


def attribute_questions_for(attributes: dict[str, str]) -> dict[str, str]:
    """family → phrase for the attributes a dataset knows how to phrase (mini set for now)."""
    try:
        from facebench.data.mini import attribute_phrases
    except Exception:  # dataset module absent or broken: no attribute questions
        return {}
    phrases = attribute_phrases()
    out: dict[str, str] = {}
    for fam, val in attributes.items():
        opts = phrases.get(fam, {}).get(val)
        if opts and val != "none":
            out[fam] = opts[0]
    return out


class VQAScore(Metric):
    name = "vqascore"
    failures_are_final = False  # the openai scorer can fail transiently
    kind = "generation"
    higher_is_better = True
    version = "2"  # 2: t2v_metrics-faithful CLIP-FlanT5 loading and LLaVA variant

    def __init__(self, key: str | None = None, **args: Any):
        super().__init__(key, **args)
        self.scorer_kind = str(args.get("scorer", "clip-flant5"))
        self.template = str(args.get("question_template") or QUESTION_TEMPLATE)
        aq = args.get("attribute_questions")
        self.attribute_questions = (self.scorer_kind != "openai") if aq is None else _truthy(aq)

    @property
    def variant(self) -> str:
        named = self.args.get("variant")
        return f"{self.scorer_kind}:{self.args.get('model') or 'default'}" + (f":{named}" if named else "")

    def _scorer(self, ctx: MetricContext) -> Scorer:
        args = {k: v for k, v in self.args.items() if k not in _METRIC_ONLY_ARGS}
        args.setdefault("device", ctx.device)
        args.setdefault("answer", ANSWER)
        return make_scorer(self.scorer_kind, **args)

    def _fix(self, msg: str) -> str:
        return msg.replace("KEY.", f"{self.key}.")

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        from facebench.metrics.features.pipeline import prefetched

        items = [p for p in preds if p.images]
        if not items:
            return [self.skipped("no generated images to score; fix: run the predict phase for this task first")]
        try:
            scorer = self._scorer(ctx)
        except ScorerError as e:
            return [self.skipped(self._fix(str(e)))]
        fp = sha256_text(canonical_json([scorer.fingerprint(), self.template]))
        root = Path(ctx.cache_dir) if ctx.cache_dir else cache_root()
        cache = KVCache(root / "vqascore.sqlite")

        # jobs: (item_id, image path, question, family or None)
        jobs: list[tuple[str, Path, str, str | None]] = []
        for p in items:
            q = self.template.format(p.prompt)
            jobs += [(p.item_id, Path(img), q, None) for img in p.images]
            if self.attribute_questions:
                for fam, phrase in attribute_questions_for(p.attributes).items():
                    jobs += [(p.item_id, Path(img), self.template.format(phrase), fam) for img in p.images]
        digests: dict[Path, str | None] = {}
        for _, path, _, _ in jobs:
            if path not in digests:
                try:
                    digests[path] = sha256_file(path)
                except OSError:
                    digests[path] = None
        keys = [content_key("vqascore", fp, digests[path], q) if digests[path] else None for _, path, q, _ in jobs]
        cached = cache.get_many([k for k in keys if k])
        results: list[float | None] = [cached.get(k) if k else None for k in keys]
        todo = [i for i, k in enumerate(keys) if k and k not in cached]
        n_hits = len(jobs) - len(todo)
        if todo:
            try:
                getattr(scorer, "load", lambda: None)()
            except ScorerError as e:
                return [self.skipped(self._fix(str(e)))]
            bs = int(self.args.get("batch_size") or max(int(ctx.batch_size or 1), 1))
            ok_idx: list[int] = []
            images: list[Any] = []

            def flush() -> None:
                scores = scorer.score(images, [jobs[i][2] for i in ok_idx])
                fresh = {}
                for i, s in zip(ok_idx, scores):
                    results[i] = s
                    if s is not None and np.isfinite(s):
                        fresh[keys[i]] = float(s)
                cache.put_many(fresh)
                ok_idx.clear()
                images.clear()

            # the next pairs' images are decoded on threads while the scorer runs on these
            stream = prefetched([jobs[i][1] for i in todo], ahead=2 * bs)
            for j, _, image, err in progress(stream, len(todo), f"{self.key}: scoring"):
                if err is not None:  # unreadable image: failed pair
                    log.warning("vqascore: cannot read %s: %s", jobs[todo[j]][1], err)
                else:
                    ok_idx.append(todo[j])
                    images.append(image)
                if len(images) == bs or (j == len(todo) - 1 and images):
                    flush()

        main: dict[str, list[float | None]] = {}
        fams: dict[str, dict[str, list[float | None]]] = {}
        for (item, _, _, fam), r in zip(jobs, results):
            if fam is None:
                main.setdefault(item, []).append(r)
            else:
                fams.setdefault(item, {}).setdefault(fam, []).append(r)
        per_item = {p.item_id: _mean_or_none(main.get(p.item_id, [])) for p in items}
        details = {p.item_id: {"question": self.template.format(p.prompt), "per_image": main.get(p.item_id, [])}
                   for p in items}
        extra: dict[str, Any] = {
            "scorer": scorer.fingerprint(),
            "question_template": self.template,
            "n_images": sum(len(p.images) for p in items),
            "n_pairs": len(jobs),
            "cache_hits": n_hits,
            "n_failed_pairs": sum(r is None for r in results),
            "denominator": "all items with generated images; an item whose image could not be read or scored "
                           "is a failed item (n_failed), never a number",
        }
        errors = getattr(scorer, "errors", None)
        if errors:
            extra["errors"] = errors[:5]
        if hasattr(scorer, "n_not_in_top_k"):
            extra["n_yes_not_in_top_k"] = scorer.n_not_in_top_k
        out = [self.value(per_item=per_item, details=details, extra=extra)]
        if fams:
            out.append(self._attribute_value(items, fams))
        return out

    def _attribute_value(self, items: list[Prediction], fams: dict[str, dict[str, list[float | None]]]) -> MetricValue:
        per_item: dict[str, float | None] = {}
        details: dict[str, dict[str, Any]] = {}
        by_fam: dict[str, list[float]] = {}
        by_val: dict[str, dict[str, list[float]]] = {}
        for p in items:
            scores = {f: _mean_or_none(v) for f, v in fams.get(p.item_id, {}).items()}
            if not scores:
                continue
            good = [s for s in scores.values() if s is not None]
            per_item[p.item_id] = float(np.mean(good)) if len(good) == len(scores) else None
            details[p.item_id] = {"families": scores, "phrases": attribute_questions_for(p.attributes)}
            for f, s in scores.items():
                if s is not None:
                    by_fam.setdefault(f, []).append(s)
                    by_val.setdefault(f, {}).setdefault(p.attributes.get(f, "?"), []).append(s)
        per_attribute = {}
        for f in sorted(by_fam):
            entry = {"all": float(np.mean(by_fam[f])), "n": float(len(by_fam[f]))}
            entry.update({v: float(np.mean(s)) for v, s in sorted(by_val[f].items())})
            per_attribute[f] = entry
        extra = {"question": self.template.format("{phrase}"), "families": sorted(by_fam),
                 "note": "per item: mean P(Yes) over the item's attribute questions; 'none' values not asked"}
        return self.value(f"{self.key}_attr", per_item=per_item, details=details, per_attribute=per_attribute,
                          extra=extra)


def _mean_or_none(vals: list[float | None]) -> float | None:
    if not vals or any(v is None for v in vals):
        return None
    return float(np.mean(vals))


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "on")
