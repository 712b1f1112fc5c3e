"""Desc-GPT / Conv-GPT / -DS: an LLM judge scores each caption or answer 1–10 against the reference.

One review per prediction (LLaVA-Bench-style: context, question, reference, answer → scores and a
short rationale; see ``facebench.judge.prompts``). With a *paired* template the judge rates the
reference and the answer together, which adds ``<key>_ref_mean`` (the reference's mean) and
``<key>_relative`` (100 · mean answer / mean reference) as separately named numbers.
On datasets with exact answers (the mini set) ``<key>_exact_agreement`` is the point-biserial
correlation (Pearson r of the score with 0/1 correctness) between the judge's score and exact-match
correctness on closed questions — a cheap sanity check of any judge, and stable under float noise.

Backends: ``openai`` (any OpenAI-compatible endpoint: OpenAI, DeepSeek, vLLM, Ollama, llama.cpp),
``llama-cpp`` (a local ``llama_cpp.server`` started on loopback; see ``facebench.judge.llama_server``)
and ``embedding`` (offline cosine similarity, not an LLM; see ``facebench.judge.embedding``).
A failed call, an empty or an unparsable review is a missing value (``None``), never a number.

Templates (metric arg / task YAML ``template``; recorded beside every score: ``extra["prompt"]`` in
results, ``template`` in every sample row): facebench's own ``desc``/``conv`` (the default; the
variant is the judge identity) or LLaVA-Bench's protocol ``llava_bench`` (``llava_bench_detail`` for
desc, ``llava_bench_conv`` for conv), loaded from LLaVA's repository at a pinned commit with its
system message, temperature 0.2 and max_tokens 1024 (``facebench.judge.llava_protocol``; offline
without a copy the metric is skipped with the URLs and ``llava_eval_dir=``/``$FACEBENCH_LLAVA_EVAL_DIR``
as the fix). A non-default template is appended to the variant (``openai:gpt-4o|llava_bench_detail@…``),
so rows judged differently never compete in one leaderboard column.
LLaVA's aggregation — unreadable reviews (by LLaVA's own parsing rule) counted as (−1, −1) in the two
means it divides — is reported as ``<key>_llava_relative`` (arg ``llava_aggregate``; on by default
with LLaVA's templates), a separately named number; the main score never counts a failed review.

Denominators: the main score averages every item with a reference and an output, an empty answer
scoring the scale's lowest (1) without a call; failed calls and unparsable reviews are missing
values (``n_failed``), never numbers.

Whether the paper's GPT-4o judge saw the face image is UNVERIFIED: by default the judge is
text-only (the reference caption stands in for the image, as it must for DeepSeek-V3); the metric
arg ``send_image: true`` also attaches the source image (PNG data URL) for vision judges, and is
part of the cache key and the recorded settings.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from facebench.hashing import sha256_bytes
from facebench.judge.cache import JudgeCache
from facebench.judge.client import Budget, run_budget
from facebench.judge.parse import parse_pair, parse_single
from facebench.judge.llava_protocol import ProtocolUnavailable, llava_relative
from facebench.judge.prompts import TEMPLATES, Template, resolve_template
from facebench.judge.session import JudgeSession, Review, ReviewJob, image_data_url
from facebench.judge.settings import DEFAULT_API_KEY_ENV, JudgeSettings, resolve_settings
from facebench.metrics.base import Metric, MetricContext
from facebench.types import MetricValue, Prediction

NO_CONTEXT = "(no description of the image is available: judge against the reference answer)"
OFFLINE_FIX = "run with --judge embedding for an offline, non-GPT judge"


def default_template(task: str) -> str:
    return "desc" if task.startswith("desc") else "conv"


def resolve_for_metric(args: dict[str, Any], ctx: MetricContext, default_tpl: str) -> JudgeSettings:
    return resolve_settings(ctx.judge, args, default_template=default_tpl)


def missing_key_reason(s: JudgeSettings) -> str | None:
    """The skip reason when an API judge has no key (loopback servers need none)."""
    if s.backend != "openai" or s.is_local or s.api_key() is not None:
        return None
    env = s.api_key_env
    where = env if env == DEFAULT_API_KEY_ENV else f"{env} (api_key_env of this judge)"
    return f"no API key in {where}; fix: export it, or {OFFLINE_FIX}"


def model_from_server(s: JudgeSettings) -> str | None:
    """With only ``--judge_base_url`` given, take the one model the server serves (llama.cpp, vLLM,
    Ollama with one model) and record it as coming from the server. Returns a skip reason or None."""
    if s.model or not s.base_url:
        return None
    from facebench.judge.client import list_models

    try:
        ids = list_models(s.base_url, s.api_key(), timeout=min(s.timeout, 15.0))
    except Exception as e:  # unreachable / not OpenAI-compatible: one clear line
        return (f"judge unreachable at {s.base_url} ({type(e).__name__}: {str(e)[:120]}); fix: start the server or "
                f"check --judge_base_url, or {OFFLINE_FIX}")
    if len(ids) != 1:
        return (f"the judge server at {s.base_url} serves {len(ids)} models ({', '.join(ids[:5])}); "
                "fix: choose one with --judge_model")
    s.model = ids[0]
    s.sources["model"] = "server (GET /models)"
    return None


def budget_for(s: JudgeSettings, ctx: MetricContext) -> Budget:
    if s.max_calls is None and s.max_tokens is None:
        return Budget()
    return run_budget(str(ctx.run_dir), s.max_calls, s.max_tokens)


def unreachable_reason(s: JudgeSettings, reviews: dict[str, Review], fatal: str | None) -> str | None:
    """A skip reason when not a single review came back (judge unreachable or unusable)."""
    if not reviews or any(r.review is not None or r.scores is not None for r in reviews.values()):
        return None
    first = next((r.error for r in reviews.values() if r.error), "no reply")
    where = s.base_url or "the OpenAI API"
    if fatal:
        return f"judge {s.identity} at {where} refused every call ({fatal}); fix: check the key, the model name and --judge_base_url"
    return f"judge {s.identity} unreachable at {where} ({first}); fix: start the server or check --judge_base_url, or {OFFLINE_FIX}"


def paired_ratio_ci(ans: np.ndarray, ref: np.ndarray, seed: int, resamples: int = 1000,
                    level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap CI of 100·Σans/Σref, resampling items (pairs stay together)."""
    if ans.size < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, ans.size, size=(resamples, ans.size))
    den = ref[idx].sum(axis=1)
    ratios = 100.0 * ans[idx].sum(axis=1) / np.where(den == 0, np.nan, den)
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size == 0:
        return None
    a = (1 - level) / 2
    lo, hi = np.quantile(ratios, [a, 1 - a])
    return float(lo), float(hi)


def point_biserial(x: list[float], y: list[float]) -> tuple[float | None, float | None]:
    """Pearson correlation of a score with 0/1 correctness (the point-biserial r) and its p-value;
    None when undefined (fewer than 3 items or a constant side).

    Chosen over Spearman's rho because it is continuous in the scores: per-item scores that differ
    in their last bits between machines (e.g. 10.0 vs 9.9999995 from another BLAS) move r by about
    that much, while a rank statistic over heavily tied scores can jump when ties reorder."""
    if len(x) < 3:
        return None, None
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if float(np.ptp(xa)) < 1e-6 or float(np.ptp(ya)) == 0.0:  # constant up to float noise
        return None, None
    from scipy.stats import pearsonr

    res = pearsonr(xa, ya)
    r, p = float(res.statistic), float(res.pvalue)
    return (r if math.isfinite(r) else None), (p if math.isfinite(p) else None)


class JudgeScore(Metric):
    """Per-item 1–10 judge score (``per_item``), raw reviews in ``details``."""

    name: ClassVar[str] = "judge"
    failures_are_final: ClassVar[bool] = False  # a failed call may succeed on a rerun
    kind: ClassVar[str] = "understanding"
    version: ClassVar[str] = "3"  # 2: template recorded per item, LLaVA-Bench protocol; 3: embedding judge v2 scores

    def __init__(self, key: str | None = None, **args: Any):
        super().__init__(key, **args)

    # -- inputs ---------------------------------------------------------------------------------
    @staticmethod
    def review_fields(pred: Prediction, template: Template) -> dict[str, str]:
        """What the judge sees. The reference caption stands in for the image (text-only judges);
        conv items use the image's caption from ``pred.meta['caption']`` when the runner gives it."""
        caption = pred.meta.get("caption") if isinstance(pred.meta, dict) else None
        if not caption and template.name.startswith("desc"):
            caption = pred.reference
        return {"context": caption or NO_CONTEXT, "question": pred.prompt or "",
                "reference": pred.reference or "", "answer": pred.output or ""}

    @staticmethod
    def is_empty_answer(pred: Prediction) -> bool:
        """An empty or whitespace-only answer gets the scale's lowest score without a call: it is
        an answer (it stays in the denominator), and the worst one."""
        return pred.output is not None and not pred.output.strip() and bool((pred.reference or "").strip())

    @staticmethod
    def input_error(pred: Prediction) -> str | None:
        if pred.output is None:
            return "no model output"
        if not (pred.reference or "").strip():
            return "no reference to judge against"
        return None

    # -- compute --------------------------------------------------------------------------------
    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        s = resolve_for_metric(self.args, ctx, default_template(ctx.task))
        if s.backend == "embedding":
            return self._embedding(preds, ctx, s)
        return self._llm(preds, ctx, s)

    def _llm(self, preds: list[Prediction], ctx: MetricContext, s: JudgeSettings) -> list[MetricValue]:
        try:
            template = resolve_template(s.template, ctx.task, self.args.get("llava_eval_dir"), key=self.key)
        except ProtocolUnavailable as e:
            return [self.skipped(str(e))]
        if not ctx.dry_run and s.backend == "openai" and (s.model or s.base_url):
            reason = missing_key_reason(s) or model_from_server(s)
            if reason:
                return [self.skipped(reason)]
        variant = s.identity
        if s.template != default_template(ctx.task) or template.name not in TEMPLATES:
            variant += f"|{template.name}@{template.version}"
        if not s.model:
            return [self.skipped("no judge model set; fix: pass --judge_model (e.g. gpt-4o-2024-08-06) or set "
                                 "model in the task YAML", )]
        send_image = bool(self.args.get("send_image", False))
        parse = (lambda r: parse_pair(r, template.scale)) if template.paired else (lambda r: [parse_single(r, template.scale)])
        pre_failed: dict[str, str] = {}
        jobs: list[ReviewJob] = []
        empty = {p.item_id for p in preds if self.is_empty_answer(p)}
        for p in preds:
            err = self.input_error(p)
            if err:
                pre_failed[p.item_id] = err
                continue
            if p.item_id in empty:
                continue
            fields = self.review_fields(p, template)
            messages: list[dict[str, Any]] = template.messages(**fields)
            inputs: dict[str, Any] = dict(fields)
            if send_image:
                try:
                    data = Path(p.source_image).read_bytes() if p.source_image else None
                except OSError as e:
                    pre_failed[p.item_id] = f"cannot read source image: {e.strerror or e}"
                    continue
                if data is None:
                    pre_failed[p.item_id] = "no source image to send to the judge"
                    continue
                messages[-1] = {"role": "user", "content": [
                    {"type": "text", "text": messages[-1]["content"]},
                    {"type": "image_url", "image_url": {"url": image_data_url(data)}}]}
                inputs["image_sha256"] = sha256_bytes(data)
            jobs.append(ReviewJob(p.item_id, inputs=inputs, messages=messages, n_images=int(send_image)))
        server = None
        cache_url = None
        if s.backend == "llama-cpp" and not s.base_url:
            from facebench.judge.llama_server import LlamaServer, llama_cpp_usable_reason, llama_server_python

            reason = llama_cpp_usable_reason()
            if reason and not ctx.dry_run:
                return [self.skipped(reason)]
            server = LlamaServer(python=llama_server_python(), model_alias=s.model or "gemma-3-270m-q4_k_m")
            cache_url = f"llama-cpp://{server.model_alias}"
            # llama_cpp.server answers one request at a time: queued requests would only hit the timeout
            if s.sources.get("concurrency") == "default":
                s.concurrency, s.sources["concurrency"] = 1, "default (llama-cpp: 1)"
            if s.sources.get("timeout") == "default":
                s.timeout, s.sources["timeout"] = 600.0, "default (llama-cpp: 600)"
        cache = JudgeCache(ctx.cache_dir / "judge.sqlite" if ctx.cache_dir else None)
        session = JudgeSession(s, template, parse, cache=cache, budget=budget_for(s, ctx),
                               cache_base_url=cache_url, seed=ctx.seed)
        if ctx.dry_run:
            cache.close()
            return [self.skipped(session.dry_run_reason(jobs))]
        reason = missing_key_reason(s)
        if reason:
            cache.close()
            return [self.skipped(reason)]
        try:
            if server is not None:
                server.start()
                s.base_url = server.base_url
            reviews = session.run(jobs, s.api_key())
        finally:
            if server is not None:
                server.stop()
            cache.close()
        reason = unreachable_reason(s, reviews, session.fatal)
        if reason:
            return [self.value(skipped=reason, variant=variant, extra=session.extra())]
        extra = session.extra()
        extra["judge"]["send_image"] = send_image
        extra["denominator"] = ("all items with a reference and an output; an empty answer scores the scale's lowest "
                                "without a call; failed calls and unparsable reviews are missing (n_failed)")
        if server is not None:
            extra["judge"]["server"] = server.describe()
        return self._values(preds, reviews, pre_failed, template, variant, extra, ctx, empty)

    def _values(self, preds: list[Prediction], reviews: dict[str, Review], pre_failed: dict[str, str],
                template: Template, variant: str, extra: dict[str, Any], ctx: MetricContext,
                empty: set[str] | frozenset[str] = frozenset()) -> list[MetricValue]:
        per_item: dict[str, float | None] = {}
        ref_item: dict[str, float | None] = {}
        details: dict[str, dict[str, Any]] = {}
        for p in preds:
            if p.item_id in pre_failed:
                per_item[p.item_id] = ref_item[p.item_id] = None
                details[p.item_id] = {"review": None, "score": None, "error": pre_failed[p.item_id],
                                      "template": template.label}
                continue
            if p.item_id in empty:
                per_item[p.item_id], ref_item[p.item_id] = float(template.scale[0]), None
                details[p.item_id] = {"review": None, "score": per_item[p.item_id], "error": None,
                                      "note": "empty answer: the scale's lowest score, no judge call",
                                      "template": template.label}
                continue
            r = reviews.get(p.item_id) or Review(p.item_id, error="no review")
            ok = r.scores is not None
            per_item[p.item_id] = r.scores[-1] if ok else None
            ref_item[p.item_id] = r.scores[0] if ok and template.paired else None
            d = {"review": r.review, "score": per_item[p.item_id], "error": r.error, "cached": r.cached,
                 "template": template.label}
            if template.paired:
                d["ref_score"] = ref_item[p.item_id]
            details[p.item_id] = d
        n_failed = sum(v is None for v in per_item.values())
        extra = {**extra, "n_failed_reasons": _count_reasons(details)}
        out = [self.value(per_item=per_item, details=details, variant=variant, extra=extra)]
        if template.paired:
            out += self._paired_values(per_item, ref_item, variant, extra, ctx.seed, n_failed)
            if self._llava_aggregate(template):
                out.append(self._llava_value(preds, reviews, pre_failed, empty, variant, extra, ctx.seed))
        out += self._agreement(preds, per_item, variant, extra)
        return out

    def _llava_aggregate(self, template: Template) -> bool:
        arg = self.args.get("llava_aggregate")
        if arg is None:
            return template.extra.get("wording") == "LLaVA-Bench"
        return str(arg).strip().lower() in ("1", "true", "yes", "on")

    def _llava_value(self, preds: list[Prediction], reviews: dict[str, Review], pre_failed: dict[str, str],
                     empty: set[str] | frozenset[str], variant: str, extra: dict[str, Any], seed: int) -> MetricValue:
        """LLaVA-Bench's relative score: every review the judge returned, read with LLaVA's parsing
        rule, an unreadable one counted as (−1, −1) in both means. Items with no review (a failed
        call, which LLaVA would retry until it got one; an empty answer, scored without a call; no
        reference) are left out and counted."""
        from facebench.judge.llava_protocol import llava_parse

        name = f"{self.key}_llava_relative"
        got = [reviews[p.item_id].review for p in preds
               if p.item_id not in pre_failed and p.item_id not in empty
               and p.item_id in reviews and reviews[p.item_id].review is not None]
        info = {"judge": extra["judge"], "prompt": extra["prompt"], "of": self.key,
                "definition": "LLaVA-Bench aggregation (summarize_gpt_review.py): 100 * mean(answer) / mean(reference) "
                              "over the returned reviews, each read with LLaVA's parse_score; an unreadable review "
                              "counts as (-1, -1) in both means",
                "n_excluded_no_review": sum(1 for p in preds if p.item_id not in pre_failed and p.item_id not in empty
                                            and (p.item_id not in reviews or reviews[p.item_id].review is None)),
                "n_excluded_empty_answer": len(empty), "n_excluded_no_input": len(pre_failed)}
        if not got:
            return self.value(name, skipped="no review came back to aggregate", variant=variant, extra=info)
        summary = llava_relative(got)
        info.update({k: summary[k] for k in ("reference_mean", "answer_mean", "n_as_minus_one")})
        info["as_printed_by_llava"] = {"reference_x10": 10 * summary["reference_mean"],
                                       "answer_x10": 10 * summary["answer_mean"]}
        if summary["relative"] is None:
            return self.value(name, skipped="the reference mean is 0", variant=variant, extra=info)
        pairs = np.array([llava_parse(r) for r in got], dtype=np.float64)
        return self.value(name, value=float(summary["relative"]), ci=paired_ratio_ci(pairs[:, 1], pairs[:, 0], seed),
                          n=summary["n_reviews"], n_failed=len(preds) - summary["n_reviews"], aggregate="set",
                          variant=variant, extra=info)

    def _paired_values(self, per_item: dict[str, float | None], ref_item: dict[str, float | None], variant: str,
                       extra: dict[str, Any], seed: int, n_failed: int) -> list[MetricValue]:
        common = {"variant": variant, "extra": {"judge": extra["judge"], "prompt": extra["prompt"], "of": self.key}}
        ref_mv = self.value(f"{self.key}_ref_mean", per_item=dict(ref_item), **common)
        both = [(per_item[k], ref_item[k]) for k in per_item if per_item[k] is not None and ref_item[k] is not None]
        rel_name = f"{self.key}_relative"
        if not both:
            return [ref_mv, self.value(rel_name, skipped="no item has both an answer and a reference score", **common)]
        ans = np.array([a for a, _ in both], dtype=np.float64)
        ref = np.array([r for _, r in both], dtype=np.float64)
        if ref.sum() == 0:
            return [ref_mv, self.value(rel_name, skipped="reference scores sum to 0", **common)]
        rel = self.value(rel_name, value=float(100.0 * ans.sum() / ref.sum()), ci=paired_ratio_ci(ans, ref, seed),
                         n=len(both), n_failed=n_failed, aggregate="set",
                         extra={**common["extra"], "definition": "100 * mean(answer score) / mean(reference score), "
                                "over items where both were scored (LLaVA-Bench relative score)"}, variant=variant)
        return [ref_mv, rel]

    def _agreement(self, preds: list[Prediction], per_item: dict[str, float | None], variant: str,
                   extra: dict[str, Any]) -> list[MetricValue]:
        closed = [p for p in preds if p.qa is not None and p.qa.kind == "closed" and p.qa.answer]
        if not closed:
            return []
        from facebench.metrics.qa import is_correct

        xs, ys = [], []
        for p in closed:
            v = per_item.get(p.item_id)
            if v is not None:
                xs.append(float(v))
                ys.append(1.0 if is_correct(p.output, p.qa) else 0.0)
        name = f"{self.key}_exact_agreement"
        info = {"judge": extra["judge"], "prompt": extra.get("prompt"), "of": self.key, "n_closed": len(closed),
                "n_closed_correct": int(sum(ys)),
                "definition": "point-biserial r (Pearson) between the judge score and exact-match correctness (0/1, "
                              "facebench.metrics.qa.is_correct) over closed questions the judge scored"}
        rho, pval = point_biserial(xs, ys)
        if rho is None:
            why = "fewer than 3 scored closed questions" if len(xs) < 3 else "judge scores or correctness are constant"
            return [self.value(name, skipped=f"agreement undefined: {why}", variant=variant, extra=info)]
        # accuracy agreement: judge "passes" an answer when its score is in the top half of the scale
        passed = [x > 5.5 for x in xs]
        acc = float(np.mean([pz == (y == 1.0) for pz, y in zip(passed, ys)]))
        info.update({"p_value": pval, "accuracy_agreement_at_5.5": acc})
        return [self.value(name, value=rho, n=len(xs), n_failed=len(closed) - len(xs), aggregate="set",
                           variant=variant, extra=info)]

    # -- offline embedding judge ----------------------------------------------------------------
    def _embedding(self, preds: list[Prediction], ctx: MetricContext, s: JudgeSettings) -> list[MetricValue]:
        """Offline, non-GPT scores (see ``facebench.judge.embedding``): closed answers gated by
        exact correctness, open answers compared sentence by sentence and calibrated against
        random pairs."""
        from facebench.judge import embedding as emb
        from facebench.metrics.qa import closed_answer, normalize

        model = s.model or emb.MODEL_NAME
        variant = f"embedding-v{emb.VERSION}:{model}"
        todo = [p for p in preds if self.input_error(p) is None]
        if ctx.dry_run:
            return [self.skipped(f"dry run: 0 calls, est. $0 (offline embedding judge: {len(todo)} comparisons)")]
        judge = emb.EmbeddingJudge(model, device=ctx.device, batch_size=max(64, ctx.batch_size))
        cos = judge.cosine([p.output or "" for p in todo], [p.reference or "" for p in todo])
        cos_by = {p.item_id: c for p, c in zip(todo, cos)}
        closed = {p.item_id for p in todo if p.qa is not None and p.qa.kind == "closed" and p.qa.answer}
        opened = [p for p in todo if p.item_id not in closed]
        pool, pool_source = self._random_pair_pool(opened, ctx)
        sent = judge.sentence_qs([p.output or "" for p in opened], [p.reference or "" for p in opened], pool)
        sent_by = {p.item_id: r for p, r in zip(opened, sent)}
        per_item: dict[str, float | None] = {}
        details: dict[str, dict[str, Any]] = {}
        for p in preds:
            err = self.input_error(p)
            c = cos_by.get(p.item_id)
            d: dict[str, Any] = {"review": None, "cosine": c, "error": err}
            score = None
            if err is None and self.is_empty_answer(p):
                score, d["note"] = 1.0, "empty answer: the scale's lowest score"
            elif err is None and p.item_id in closed:
                choice = closed_answer(p.output or "", p.qa)
                truth = normalize(p.qa.answer)
                verdict = ("none" if choice is None else "wrong" if choice != truth
                           else "exact" if normalize(p.output or "") == truth else "right")
                score, d["verdict"], d["choice"] = emb.closed_score(c, verdict), verdict, choice
            elif err is None:
                qs, level = sent_by[p.item_id]
                score, d["sentence_q"], d["random_pair_level"] = emb.open_score(qs), qs, level
            d["score"] = score
            per_item[p.item_id] = score
            details[p.item_id] = d
        bases = [b for _, b in sent if b is not None]
        extra = {"judge": {**s.describe(), "model_requested": model, "model_returned": [model], "base_url": None,
                           "not_gpt": True, "note": "embedding similarity gated by exact correctness, not an LLM "
                                                    "judge: not comparable with Desc-GPT/Conv-GPT"},
                 "prompt": {"name": "embedding", "version": emb.VERSION, "hash": None, "mapping": emb.MAPPING},
                 "temperature": None, "concurrency": None,
                 "usage": {"requests": 0, "calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cached_hits": 0},
                 "cost": {"usd": 0.0, "price": None, "note": "offline"},
                 "n_closed": len(closed), "n_open": len(opened),
                 "random_pair_pool": {"source": pool_source, "size": len(set(pool)),
                                      "mean_random_pair_cosine": float(np.mean(bases)) if bases else None},
                 "n_failed_reasons": _count_reasons(details)}
        out = [self.value(per_item=per_item, details=details, variant=variant, extra=extra)]
        out += self._agreement(preds, per_item, variant, extra)
        out += self._attr_agreement(preds, per_item, variant, extra)
        return out

    @staticmethod
    def _random_pair_pool(opened: list[Prediction], ctx: MetricContext) -> tuple[list[str], str]:
        """Texts that answer *other* items: the gallery's captions for descriptions (a fixed pool,
        whatever ``--limit``), else the references of the other open items."""
        captions = [s.caption for s in ctx.gallery_samples if s.caption]
        if opened and captions and all(p.qa is None for p in opened):
            return captions, f"gallery captions ({len(captions)})"
        refs = [p.reference for p in opened if p.reference]
        return refs, "references of the other items"

    def _attr_agreement(self, preds: list[Prediction], per_item: dict[str, float | None], variant: str,
                        extra: dict[str, Any]) -> list[MetricValue]:
        """Descriptions of faces with exact attributes: Pearson r between the judge score and the
        fraction of the face's attributes the description states correctly."""
        from facebench.data.mini import ATTRIBUTE_FAMILIES, attributes_in_text

        items = [p for p in preds if p.qa is None and p.attributes and set(p.attributes) <= set(ATTRIBUTE_FAMILIES)
                 and per_item.get(p.item_id) is not None]  # attributes the mini phrase parser can read
        if not items:
            return []
        xs = [float(per_item[p.item_id]) for p in items]
        ys = []
        for p in items:
            stated = attributes_in_text(p.output or "")
            ys.append(float(np.mean([stated.get(f) == v for f, v in p.attributes.items()])))
        name = f"{self.key}_attr_agreement"
        info = {"judge": extra["judge"], "of": self.key,
                "definition": "Pearson r between the judge score and caption attribute accuracy (the fraction of "
                              "the face's attributes the description states, as caption_attr_acc reads them)"}
        xa, ya = np.asarray(xs), np.asarray(ys)
        if len(xs) < 3 or float(np.ptp(xa)) < 1e-6 or float(np.ptp(ya)) == 0.0:
            return [self.value(name, skipped="agreement undefined: fewer than 3 items, or scores or attribute "
                                             "accuracy are constant", variant=variant, extra=info)]
        from scipy.stats import pearsonr

        res = pearsonr(xa, ya)
        info["p_value"] = float(res.pvalue)
        return [self.value(name, value=float(res.statistic), n=len(xs), aggregate="set", variant=variant, extra=info)]

def _count_reasons(details: dict[str, dict[str, Any]]) -> dict[str, int]:
    """How many items failed for which reason (first words of the error, e.g. 'unparsable review')."""
    out: dict[str, int] = {}
    for d in details.values():
        err = d.get("error")
        if err:
            head = err.split(":")[0].split("(")[0].strip()
            out[head] = out.get(head, 0) + 1
    return out
