"""VQAScore through any OpenAI-compatible chat endpoint that returns logprobs (GPT-4o, vLLM, …).

One request per (image, question): the question as text plus the image as a base64 PNG data URL,
``max_tokens=1``, ``temperature=0``, ``logprobs=True``, ``top_logprobs=K`` (default 20, the API
maximum). Score = Σ exp(logprob) of the first generated token's alternatives whose text is one of
``answer_tokens`` ("Yes", "yes"; leading spaces ignored) — the probability that the answer starts
with yes. t2v_metrics uses only "Yes"; summing the case variants counts the same answer once each.
When neither appears among the top K the score is 0 (the true value is below the K-th logprob;
counted in ``extra["n_yes_not_in_top_k"]``). A failed request, or a reply without logprobs, gives
None (a failed item), never a number.

Args: ``model`` (default gpt-4o), ``base_url`` (default env ``OPENAI_BASE_URL`` / the OpenAI API),
``api_key_env`` (default ``OPENAI_API_KEY``), ``top_logprobs``, ``concurrency`` (4), ``timeout`` (60 s),
``max_retries`` (3).
"""
from __future__ import annotations

import base64
import io
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from facebench.metrics.vqascore.base import ANSWER, Scorer, ScorerError
from facebench.redact import redact, register_key_env

DEFAULT_MODEL = "gpt-4o"


def yes_probability(first_token: Any, answer_tokens: tuple[str, ...]) -> tuple[float, bool]:
    """(P(first token ∈ answer_tokens), found) from one ``logprobs.content[0]`` entry."""
    seen: dict[str, float] = {}
    alts = list(getattr(first_token, "top_logprobs", None) or [])
    for t in [first_token, *alts]:
        tok = getattr(t, "token", None)
        lp = getattr(t, "logprob", None)
        if tok is None or lp is None:
            continue
        if tok.strip() in answer_tokens and tok not in seen:
            seen[tok] = float(lp)
    return float(sum(math.exp(lp) for lp in seen.values())), bool(seen)


class OpenAIScorer(Scorer):
    kind = "openai"

    def __init__(self, model: str = DEFAULT_MODEL, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 top_logprobs: int = 20, concurrency: int = 4, timeout: float = 60.0, max_retries: int = 3,
                 answer: str = ANSWER, answer_tokens: tuple[str, ...] | list[str] | str | None = None, **_: Any):
        self.model = str(model)
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.api_key_env = api_key_env
        register_key_env(api_key_env)  # its value is redacted from errors and logs
        self.top_logprobs = int(top_logprobs)
        self.concurrency = max(1, int(concurrency))
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        if isinstance(answer_tokens, str):
            answer_tokens = tuple(t.strip() for t in answer_tokens.split(",") if t.strip())
        self.answer_tokens = tuple(answer_tokens or (answer, answer.lower()))
        self.n_not_in_top_k = 0
        self.errors: list[str] = []
        self._client = None

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "base_url": self.base_url or "https://api.openai.com/v1",
                "top_logprobs": self.top_logprobs, "answer_tokens": list(self.answer_tokens), "version": 1}

    def load(self) -> None:
        if self._client is not None:
            return
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ScorerError(f"no {self.api_key_env} for the OpenAI-compatible VQAScore scorer; "
                              f"fix: export {self.api_key_env}=... (and KEY.base_url=URL for a local server)")
        try:
            import openai
        except ImportError:
            raise ScorerError("package openai is not installed; fix: pip install 'facebench[judge]'") from None
        self._client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout,
                                     max_retries=self.max_retries)

    @staticmethod
    def data_url(image) -> str:
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

    def _one(self, image, question: str) -> float | None:
        try:
            r = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": [
                    {"type": "text", "text": question},
                    {"type": "image_url", "image_url": {"url": self.data_url(image)}},
                ]}],
                max_tokens=1, temperature=0, logprobs=True, top_logprobs=self.top_logprobs,
            )
            content = r.choices[0].logprobs.content if r.choices and r.choices[0].logprobs else None
            if not content:
                self.errors.append("reply without logprobs (the endpoint must support logprobs)")
                return None
        except Exception as e:  # API error after the client's retries: a failed item
            self.errors.append(redact(f"{type(e).__name__}: {e}")[:300])  # redact before cutting
            return None
        p, found = yes_probability(content[0], self.answer_tokens)
        if not found:
            self.n_not_in_top_k += 1
        return p

    def score(self, images: list, questions: list[str]) -> list[float | None]:
        self.load()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._one, images, questions))
