"""VLM-score: a vision-language judge rates prompt–image agreement from 0 to 100.

The paper's VLM-score judge model and prompt are UNVERIFIED (docs/reference.md §1), so both are
configurable and recorded: the prompt is the versioned ``vlm_score`` template (name + hash in
results), the judge is whatever vision model the judge settings name (``--judge_model``,
``--judge_base_url``; e.g. gpt-4o-2024-08-06 or a local vLLM/Ollama VLM). Each generated image is
sent as a PNG data URL through the same client as the text judge (bounded concurrency, retries,
budget, cache keyed on the image's sha256). An item's score is the mean over its images; an item
with any failed or unparsable review is missing (never a partial mean). No judge configured or
reachable → skipped, with the fix.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from facebench.hashing import sha256_bytes
from facebench.judge.cache import JudgeCache
from facebench.judge.parse import parse_single
from facebench.judge.prompts import TEMPLATES, get_template
from facebench.judge.session import JudgeSession, Review, ReviewJob, image_data_url
from facebench.judge.settings import resolve_settings
from facebench.metrics.base import Metric, MetricContext
from facebench.metrics.judge import budget_for, missing_key_reason, model_from_server, unreachable_reason
from facebench.types import MetricValue, Prediction

_FIX = ("pass --judge_model <a vision model> (e.g. gpt-4o-2024-08-06 with OPENAI_API_KEY set) and, for a "
        "local OpenAI-compatible VLM server, --judge_base_url http://127.0.0.1:PORT/v1")


class VLMScore(Metric):
    name: ClassVar[str] = "vlm_score"
    failures_are_final: ClassVar[bool] = False  # a failed call may succeed on a rerun
    kind: ClassVar[str] = "generation"
    version: ClassVar[str] = "1"

    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        s = resolve_settings(ctx.judge, self.args, default_template="vlm_score")
        if s.backend == "embedding":
            return [self.skipped("the embedding judge cannot look at images; fix: " + _FIX)]
        if s.backend == "llama-cpp" and not s.base_url:
            return [self.skipped("the bundled llama.cpp judge (Gemma 3 270M) is text-only; fix: " + _FIX)]
        if not s.model and not s.base_url:
            return [self.skipped("no VLM judge configured; fix: " + _FIX)]
        if not ctx.dry_run and s.backend == "openai":
            reason = missing_key_reason(s) or model_from_server(s)
            if reason:
                return [self.skipped(reason)]
        if not s.model:
            return [self.skipped("no VLM judge configured; fix: " + _FIX)]
        template = get_template(s.template if s.template in TEMPLATES else "vlm_score")  # llava_bench*: text judges
        if template.scale != (0.0, 100.0):
            template = get_template("vlm_score")  # a text-judge template (desc/conv) from the CLI does not apply
        variant = s.identity

        jobs: list[ReviewJob] = []
        owners: dict[str, tuple[str, int]] = {}
        pre_failed: dict[str, str] = {}
        n_images: dict[str, int] = {}
        for p in preds:
            if not p.images:
                pre_failed[p.item_id] = "no generated image"
                continue
            n_images[p.item_id] = len(p.images)
            for k, path in enumerate(p.images):
                try:
                    data = Path(path).read_bytes()
                except OSError as e:
                    pre_failed[p.item_id] = f"cannot read image {path}: {e.strerror or e}"
                    break
                jid = f"{p.item_id}#img{k}"
                text = template.user.format(prompt=p.prompt or "", rule=template.rule)
                messages: list[dict[str, Any]] = [
                    {"role": "system", "content": template.system},
                    {"role": "user", "content": [{"type": "text", "text": text},
                                                 {"type": "image_url", "image_url": {"url": image_data_url(data)}}]},
                ]
                jobs.append(ReviewJob(jid, inputs={"prompt": p.prompt or "", "image_sha256": sha256_bytes(data)},
                                      messages=messages, n_images=1))
                owners[jid] = (p.item_id, k)
        jobs = [j for j in jobs if owners[j.item_id][0] not in pre_failed]

        cache = JudgeCache(ctx.cache_dir / "judge.sqlite" if ctx.cache_dir else None)
        session = JudgeSession(s, template, lambda r: [parse_single(r, template.scale)], cache=cache,
                               budget=budget_for(s, ctx), seed=ctx.seed)
        try:
            if ctx.dry_run:
                return [self.skipped(session.dry_run_reason(jobs))]
            reason = missing_key_reason(s)
            if reason:
                return [self.skipped(reason)]
            reviews = session.run(jobs, s.api_key())
        finally:
            cache.close()
        reason = unreachable_reason(s, reviews, session.fatal)
        if reason:
            return [self.value(skipped=reason, variant=variant, extra=session.extra())]
        return [self._value(preds, reviews, owners, pre_failed, n_images, variant, session.extra())]

    def _value(self, preds: list[Prediction], reviews: dict[str, Review], owners: dict[str, tuple[str, int]],
               pre_failed: dict[str, str], n_images: dict[str, int], variant: str,
               extra: dict[str, Any]) -> MetricValue:
        by_item: dict[str, list[Review | None]] = {p.item_id: [None] * n_images.get(p.item_id, 0) for p in preds}
        for jid, (item_id, k) in owners.items():
            if jid in reviews:
                by_item[item_id][k] = reviews[jid]
        per_item: dict[str, float | None] = {}
        details: dict[str, dict[str, Any]] = {}
        for p in preds:
            if p.item_id in pre_failed:
                per_item[p.item_id] = None
                details[p.item_id] = {"review": None, "score": None, "error": pre_failed[p.item_id]}
                continue
            revs = by_item[p.item_id]
            scores = [r.scores[0] if r is not None and r.scores else None for r in revs]
            errors = [(r.error if r is not None else "no review") for r in revs]
            ok = bool(scores) and all(x is not None for x in scores)
            per_item[p.item_id] = float(np.mean(scores)) if ok else None
            details[p.item_id] = {"review": revs[0].review if revs and revs[0] is not None else None,
                                  "reviews": [r.review if r is not None else None for r in revs],
                                  "scores": scores, "score": per_item[p.item_id],
                                  "error": None if ok else "; ".join(e for e in errors if e) or "unscored image"}
        extra = {**extra, "aggregation": "mean over an item's images; an item with any failed image is missing",
                 "image_transport": "PNG data URL (image_url content part)"}
        return self.value(per_item=per_item, details=details, variant=variant, extra=extra)
