"""One judge pass over a list of items: cache lookup, calls for what is missing, parsing, usage.

Shared by the text judge (``JudgeScore``) and the VLM judge (``VLMScore``). Each answered and
parsed review is written to the judge cache the moment it arrives; a failed call, an empty or an
unparsable review is returned as an error and never cached, so the next run asks again.

Sizes are bounded (``JudgeSettings.max_prompt_chars`` / ``max_reference_chars`` /
``max_reply_chars``): a job whose prompt or reference is over its limit is never sent (a failed
item, "input too long: ..."; the dry run counts them apart and leaves them out of the estimate),
and a reply over its limit is a failed item whose stored text is cut to ``REPLY_HEAD_CHARS``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from facebench.judge.cache import JudgeCache, normalize_base_url
from facebench.judge.client import Budget, ChatResult, JudgeClient, Usage
from facebench.judge.parse import ReviewParseError
from facebench.judge.pricing import Price, estimate_tokens, price_for
from facebench.judge.prompts import Template
from facebench.judge.settings import JudgeSettings
from facebench.redact import redact

# Dry-run assumptions (documented in the estimate): a review is a score line plus ≤3 sentences.
EST_REVIEW_TOKENS = 120
# gpt-4o "high detail" cost of one ≤512×512 image: 85 base + 170 per 512-px tile.
EST_IMAGE_TOKENS = 255
# how much of an over-long reply is kept in the details (to see what the server sent)
REPLY_HEAD_CHARS = 500


@dataclass
class ReviewJob:
    """One review to obtain. ``inputs`` go into the cache key; ``messages`` go to the judge."""

    item_id: str
    inputs: dict[str, Any]
    messages: list[dict[str, Any]]
    n_images: int = 0


@dataclass
class Review:
    item_id: str
    scores: list[float] | None = None
    review: str | None = None
    error: str | None = None
    cached: bool = False
    model: str | None = None
    attempts: int = 0

    def detail(self) -> dict[str, Any]:
        return {"review": self.review, "scores": self.scores, "error": self.error, "cached": self.cached,
                "attempts": self.attempts}


@dataclass
class JudgeSession:
    settings: JudgeSettings
    template: Template
    parse: Callable[[str | None], Sequence[float]]
    cache: JudgeCache | None = None
    budget: Budget | None = None
    cache_base_url: str | None = None  # identity of the server in cache keys (stable across ports)
    seed: int = 0
    client_factory: Callable[..., JudgeClient] = JudgeClient
    usage: Usage = field(default_factory=Usage)
    models_returned: set[str] = field(default_factory=set)
    cached_cost_usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})
    fatal: str | None = None

    # -- planning -------------------------------------------------------------------------------
    @property
    def price(self) -> Price | None:
        s = self.settings
        override = {"judge_price_in": s.price_in, "judge_price_out": s.price_out}
        return price_for(s.model, local=s.is_local or s.backend == "llama-cpp", override=override)

    def key(self, job: ReviewJob) -> str:
        s = self.settings
        return JudgeCache.key(s.backend, s.model, self.cache_base_url or s.base_url, self.template.hash, job.inputs)

    def lookup(self, jobs: Sequence[ReviewJob]) -> dict[str, Review]:
        """Cached reviews by item id (re-parsed, so a stricter parser re-asks what it now refuses)."""
        if self.cache is None:
            return {}
        keys = {job.item_id: self.key(job) for job in jobs}
        found = self.cache.get_many(keys.values())
        out: dict[str, Review] = {}
        for job in jobs:
            entry = found.get(keys[job.item_id])
            if entry is None:
                continue
            try:
                scores = [float(x) for x in self.parse(entry["review"])]
            except ReviewParseError:
                continue
            out[job.item_id] = Review(job.item_id, scores, entry["review"], cached=True, model=entry.get("model"))
            u = entry.get("usage") or {}
            self.cached_cost_usage["prompt_tokens"] += int(u.get("prompt_tokens", 0))
            self.cached_cost_usage["completion_tokens"] += int(u.get("completion_tokens", 0))
            if entry.get("model"):
                self.models_returned.add(entry["model"])
        return out

    def input_error(self, job: ReviewJob) -> str | None:
        """Why ``job`` must not be sent (an over-long reference or prompt), or None."""
        s = self.settings
        ref = job.inputs.get("reference")
        if isinstance(ref, str) and s.max_reference_chars is not None and len(ref) > s.max_reference_chars:
            return (f"input too long: the reference is {len(ref):,} characters, over "
                    f"judge_max_reference_chars={s.max_reference_chars:,}")
        n = sum(len(_text(m.get("content"))) for m in job.messages)
        if s.max_prompt_chars is not None and n > s.max_prompt_chars:
            return f"input too long: the judge prompt is {n:,} characters, over judge_max_prompt_chars={s.max_prompt_chars:,}"
        return None

    def estimate(self, jobs: Sequence[ReviewJob]) -> tuple[int, float | None, dict[str, int]]:
        """(calls, est. USD or None, est. tokens) for ``jobs`` not in the cache and not over a size
        limit (``too_long`` counts those: they will fail without a call)."""
        too_long = [j for j in jobs if self.input_error(j)]
        jobs = [j for j in jobs if not self.input_error(j)]
        cached = self.lookup(jobs)
        self.cached_cost_usage = {"prompt_tokens": 0, "completion_tokens": 0}
        todo = [j for j in jobs if j.item_id not in cached]
        pt = sum(sum(estimate_tokens(_text(m.get("content"))) for m in j.messages) + EST_IMAGE_TOKENS * j.n_images
                 for j in todo)
        ct = EST_REVIEW_TOKENS * len(todo)
        price = self.price
        cost = price.cost(pt, ct) if price is not None else None
        return len(todo), cost, {"prompt_tokens": pt, "completion_tokens": ct, "cached": len(cached),
                                 "too_long": len(too_long)}

    def dry_run_reason(self, jobs: Sequence[ReviewJob]) -> str:
        n, cost, toks = self.estimate(jobs)
        usd = f"${cost:.4f}" if cost is not None else f"unknown (no price for model {self.settings.model!r})"
        msg = (f"dry run: {n} calls, est. {usd} ({self.settings.identity}; ~{toks['prompt_tokens']} prompt + "
               f"~{toks['completion_tokens']} completion tokens at ~4 chars/token and {EST_REVIEW_TOKENS} tokens/review; "
               f"{toks['cached']} cached)")
        if toks["too_long"]:
            first = next(e for e in map(self.input_error, jobs) if e)
            msg += (f"; {toks['too_long']} item(s) over a size limit will fail without a call "
                    f"(e.g. {first.split(': ', 1)[1]})")
        msg = redact(msg)
        print(f"[facebench judge] {msg}", file=sys.stderr)
        return msg

    @property
    def temperature(self) -> float:
        """The template's (LLaVA-Bench: 0.2), else 0."""
        t = self.template.temperature
        return float(t) if t is not None else 0.0

    @property
    def reply_max_tokens(self) -> int:
        """A reply length the user set wins; else the template's (LLaVA-Bench: 1024); else the setting's."""
        s = self.settings
        if self.template.max_tokens is not None and s.sources.get("reply_max_tokens", "default") == "default":
            return int(self.template.max_tokens)
        return int(s.reply_max_tokens)

    # -- running --------------------------------------------------------------------------------
    def run(self, jobs: Sequence[ReviewJob], api_key: str | None) -> dict[str, Review]:
        """Reviews for every job: cached ones first, then calls for the rest (persisted as they land).
        Over-long jobs fail without a call (counted in ``usage.failures``)."""
        too_long: dict[str, Review] = {}
        for j in jobs:
            err = self.input_error(j)
            if err:
                too_long[j.item_id] = Review(j.item_id, error=err)
        jobs = [j for j in jobs if j.item_id not in too_long]
        self.usage.failures += len(too_long)
        reviews = self.lookup(jobs)
        self.usage.cached_hits += len(reviews)
        reviews.update(too_long)
        todo = [j for j in jobs if j.item_id not in reviews]
        if not todo:
            return reviews
        s = self.settings
        client = self.client_factory(s.base_url, api_key, concurrency=s.concurrency, timeout=s.timeout,
                                     max_retries=s.max_retries, retry_base_delay=s.retry_base_delay,
                                     budget=self.budget, seed=self.seed)
        base: dict[str, Any] = {"model": s.model, "temperature": self.temperature, "max_tokens": self.reply_max_tokens}
        requests = [{**base, "messages": j.messages} for j in todo]

        def on_result(i: int, res: ChatResult) -> None:
            job = todo[i]
            reviews[job.item_id] = rev = self._review(job, res)
            if rev.scores is not None and self.cache is not None:
                self.cache.put(self.key(job), redact(rev.review or ""), rev.scores, res.model,
                               {"prompt_tokens": res.prompt_tokens, "completion_tokens": res.completion_tokens})

        client.chat_many(requests, on_result)
        u = client.usage
        for k in ("requests", "calls", "retries", "failures", "prompt_tokens", "completion_tokens", "usage_missing"):
            setattr(self.usage, k, getattr(self.usage, k) + getattr(u, k))
        self.models_returned |= client.models_returned
        self.fatal = self.fatal or client.fatal
        return reviews

    def _review(self, job: ReviewJob, res: ChatResult) -> Review:
        rev = Review(job.item_id, review=redact(res.content) if res.content else res.content,
                     model=res.model, attempts=res.attempts)
        if not res.ok:
            rev.error = redact(res.error or "")
            return rev
        limit = self.settings.max_reply_chars
        if res.content is not None and limit is not None and len(res.content) > limit:
            rev.review = rev.review[:REPLY_HEAD_CHARS] + f"… [cut: {len(res.content):,} characters]"
            rev.error = f"reply too long: {len(res.content):,} characters, over judge_max_reply_chars={limit:,}"
            return rev
        if res.content is None or not res.content.strip():
            rev.error = "empty review" + (" (reply cut at reply_max_tokens)" if res.finish_reason == "length" else "")
            return rev
        try:
            rev.scores = [float(x) for x in self.parse(res.content)]
        except ReviewParseError as e:
            rev.error = f"unparsable review: {e}"
            if res.finish_reason == "length":
                rev.error += " (reply cut at reply_max_tokens)"
        return rev

    # -- reporting ------------------------------------------------------------------------------
    def extra(self) -> dict[str, Any]:
        """Everything results.json records about this judge pass (never the API key)."""
        s = self.settings
        price = self.price
        cost = price.cost(self.usage.prompt_tokens, self.usage.completion_tokens) if price is not None else None
        cost_all = (price.cost(self.usage.prompt_tokens + self.cached_cost_usage["prompt_tokens"],
                               self.usage.completion_tokens + self.cached_cost_usage["completion_tokens"])
                    if price is not None else None)
        return {
            "judge": {**s.describe(), "model_requested": s.model, "model_returned": sorted(self.models_returned),
                      "base_url": s.base_url or normalize_base_url(None), "temperature": self.temperature,
                      "reply_max_tokens": self.reply_max_tokens},
            "prompt": self.template.describe(),
            "temperature": self.temperature,
            "reply_max_tokens": self.reply_max_tokens,
            "concurrency": s.concurrency,
            "usage": self.usage.as_dict(),
            "cost": {"usd": cost, "usd_including_cached": cost_all,
                     "price": price.describe() if price is not None else None,
                     "note": None if price is not None else f"no price known for model {s.model!r}"},
            "budget": self.budget.describe() if self.budget is not None else None,
            "fatal_error": self.fatal,
        }


def image_data_url(data: bytes) -> str:
    """A ``data:`` URL for an ``image_url`` content part (PNG/JPEG/WebP as is; anything else → PNG)."""
    import base64

    if data.startswith(b"\x89PNG"):
        mime = "image/png"
    elif data.startswith(b"\xff\xd8"):
        mime = "image/jpeg"
    elif data[8:12] == b"WEBP":
        mime = "image/webp"
    else:
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").save(buf, format="PNG")
        data, mime = buf.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""
