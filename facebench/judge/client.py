"""Async client for any OpenAI-compatible endpoint, with the robustness a judge run needs.

- bounded concurrency (one ``asyncio.Semaphore``; retries of a call reuse its slot, so the server
  never sees more than ``concurrency`` requests in flight);
- retries with exponential backoff and jitter on 429, 408/409/425, 5xx, timeouts, dropped
  connections and garbled (truncated / wrong-schema) replies, honouring ``Retry-After``; the
  ``openai`` package's own retries are switched off so every attempt is counted here;
- fatal errors (401/403/404: bad key, no access, unknown model) stop the run at once instead of
  failing thousands of calls one by one;
- a per-run ``Budget`` (max HTTP requests, max prompt+completion tokens) that stops cleanly: calls
  already answered are kept, calls not yet started return an error and are never sent;
- usage (requests, calls, retries, tokens) for cost reports;
- a total deadline per request (``timeout`` covers connect + the whole reply: httpx's own timeout
  only bounds the wait *between* bytes, so a server trickling one byte a second would never time
  out); a request past it is cancelled and retried like any other timeout;
- every reply text, model name and error message is passed through ``facebench.redact`` before it
  leaves the client (a server that echoes the ``Authorization`` header cannot plant the key in
  caches, results or logs).

A call never raises for an API problem: it returns an outcome with ``error`` set, so one bad item
can never abort (or be scored in) a run. Reusable by any component that talks to an
OpenAI-compatible server (e.g. the ``openai-api`` adapter): see ``JudgeClient.map``.
"""
from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Generic, Sequence, TypeVar

from facebench.errors import MissingDependencyError
from facebench.redact import redact, register_secret

T = TypeVar("T")
Item = TypeVar("Item")

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 521, 522, 524, 529})
FATAL_STATUS = frozenset({401, 403, 404})
NO_KEY_PLACEHOLDER = "facebench-no-key"  # sent to loopback servers that need no key


class BudgetExhausted(Exception):
    """Raised inside the client when the run's budget allows no further request."""


class FatalJudgeError(Exception):
    """An error that will repeat for every call (bad key, no access, unknown model)."""


class Budget:
    """Per-run limits shared by every judge metric of a run (thread- and task-safe).

    ``max_calls`` bounds HTTP requests (retries included: each one may be billed);
    ``max_tokens`` bounds prompt + completion tokens. Token use is only known after a reply, so
    with ``concurrency`` > 1 the calls already in flight can overshoot ``max_tokens`` by at most
    ``concurrency - 1`` replies; ``max_calls`` is never exceeded.
    """

    def __init__(self, max_calls: int | None = None, max_tokens: int | None = None):
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.requests = 0
        self.tokens = 0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Reserve one request, or raise ``BudgetExhausted``."""
        with self._lock:
            reason = self._exhausted()
            if reason:
                raise BudgetExhausted(reason)
            self.requests += 1

    def add_tokens(self, n: int) -> None:
        with self._lock:
            self.tokens += int(n)

    def _exhausted(self) -> str | None:
        if self.max_calls is not None and self.requests >= self.max_calls:
            return f"judge budget exhausted: max_calls={self.max_calls} requests sent"
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return f"judge budget exhausted: max_tokens={self.max_tokens} ({self.tokens} tokens used)"
        return None

    @property
    def exhausted(self) -> str | None:
        with self._lock:
            return self._exhausted()

    def describe(self) -> dict[str, Any]:
        return {"max_calls": self.max_calls, "max_tokens": self.max_tokens, "requests_used": self.requests,
                "tokens_used": self.tokens, "exhausted": self.exhausted}


_RUN_BUDGETS: dict[tuple[str, int | None, int | None], Budget] = {}
_RUN_BUDGETS_LOCK = threading.Lock()


def run_budget(run_id: str, max_calls: int | None, max_tokens: int | None) -> Budget:
    """The one ``Budget`` of a run (keyed by run id, e.g. the run dir), shared by its metrics."""
    with _RUN_BUDGETS_LOCK:
        key = (str(run_id), max_calls, max_tokens)
        if key not in _RUN_BUDGETS:
            _RUN_BUDGETS[key] = Budget(max_calls, max_tokens)
        return _RUN_BUDGETS[key]


@dataclass
class Usage:
    """Counters of one client (or of one metric's run)."""

    requests: int = 0  # HTTP requests sent (retries included)
    calls: int = 0  # logical calls that got a reply
    retries: int = 0
    failures: int = 0  # logical calls that finally failed (incl. not sent because of budget/fatal)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_hits: int = 0
    usage_missing: int = 0  # replies without a usage block (their tokens count as 0)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Outcome(Generic[T]):
    """Result of one logical call: ``value`` or ``error`` (never both)."""

    value: T | None = None
    error: str | None = None
    attempts: int = 0
    latency_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ChatResult:
    """The parts of a chat completion a judge needs."""

    content: str | None
    model: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    logprobs: list[dict[str, Any]] | None = None  # [{"token", "logprob", "top_logprobs": [{"token","logprob"}]}]
    error: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


class _BadResponse(Exception):
    """A 200 reply whose body is not a usable completion (retryable: often a truncated body)."""


class CallTimeout(asyncio.TimeoutError):
    """A request did not complete (connect + full reply) within the client's ``timeout``."""


class JudgeRequestError(Exception):
    """A request outside ``map`` (e.g. ``GET /models``) failed; the message is already redacted."""


def _status_of(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None)


def _retry_after(exc: BaseException) -> float | None:
    resp = getattr(exc, "response", None)
    headers = getattr(resp, "headers", None)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000.0
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None  # an HTTP-date Retry-After: fall back to our own backoff
    return None


def _describe(exc: BaseException) -> str:
    """``HTTP 401: <first line>`` — redacted *before* it is cut to 200 characters."""
    status = _status_of(exc)
    text = redact(str(exc)).strip()
    msg = text.splitlines()[0] if text else ""
    head = f"HTTP {status}" if status else type(exc).__name__
    return f"{head}: {msg[:200]}" if msg else head


def classify(exc: BaseException) -> str:
    """'retry', 'fatal' or 'fail' for an exception raised by one request."""
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, _BadResponse,
                        json.JSONDecodeError, openai.APIResponseValidationError, asyncio.TimeoutError)):
        return "retry"
    status = _status_of(exc)
    if status is not None:
        if status in RETRYABLE_STATUS or status >= 500:
            return "retry"
        if status in FATAL_STATUS:
            return "fatal"
        return "fail"
    if isinstance(exc, (ConnectionError, OSError)):
        return "retry"
    return "fail"


def list_models(base_url: str | None, api_key: str | None, timeout: float = 10.0) -> list[str]:
    """Model ids a server offers (``GET /models``), within ``timeout`` seconds in total; raises
    ``JudgeRequestError`` (redacted message) when the server is unreachable, slow or refuses."""
    try:
        import openai
    except ImportError:
        raise MissingDependencyError("openai", "judge", "the LLM judge") from None
    register_secret(api_key)

    async def fetch() -> list[str]:
        client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or NO_KEY_PLACEHOLDER, max_retries=0,
                                    timeout=timeout)
        try:
            page = await asyncio.wait_for(client.models.list(), timeout)
            return [redact(str(m.id)) for m in page.data]
        finally:
            await client.close()

    try:
        return run_sync(fetch())
    except asyncio.TimeoutError:
        raise JudgeRequestError(f"no complete reply within {timeout:g} s") from None
    except Exception as e:  # noqa: BLE001 - every failure becomes one redacted line
        raise JudgeRequestError(_describe(e)) from None


def run_sync(coro: Awaitable[T]) -> T:
    """Run a coroutine from sync code, also when an event loop is already running (notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["v"] = asyncio.run(coro)  # type: ignore[arg-type]
        except BaseException as e:  # re-raised in the caller's thread
            box["e"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["v"]


class JudgeClient:
    """Bounded-concurrency, retrying, budgeted caller of an OpenAI-compatible API.

    ``map(items, fn)`` runs ``await fn(openai_async_client, item)`` for every item (at most
    ``concurrency`` at a time) and returns one ``Outcome`` per item, in order; ``on_result(i,
    outcome)`` is called as each finishes (persist there). ``chat_many`` is the judge's use of it.
    ``api_key`` is only handed to the ``openai`` client, never stored in results or logs.
    """

    def __init__(self, base_url: str | None, api_key: str | None, *, concurrency: int = 8, timeout: float = 60.0,
                 max_retries: int = 6, retry_base_delay: float = 1.0, retry_max_delay: float = 60.0,
                 budget: Budget | None = None, seed: int | None = None, default_headers: dict[str, str] | None = None):
        if concurrency < 1:
            raise ValueError("concurrency must be ≥ 1")
        if not (timeout > 0 and timeout < float("inf")):
            raise ValueError("timeout must be a positive number of seconds")
        self.base_url = base_url
        self._api_key = api_key or NO_KEY_PLACEHOLDER
        register_secret(api_key)  # whatever the server echoes back, this value is never written
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.retry_base_delay = float(retry_base_delay)
        self.retry_max_delay = float(retry_max_delay)
        self.budget = budget or Budget()
        self.usage = Usage()
        self.models_returned: set[str] = set()
        self.fatal: str | None = None
        self._rng = random.Random(seed)
        self._headers = default_headers

    def __repr__(self) -> str:  # never show the key
        return f"JudgeClient(base_url={self.base_url!r}, concurrency={self.concurrency})"

    # -- plumbing -------------------------------------------------------------------------------
    def _make_openai(self):
        try:
            import openai
        except ImportError:
            raise MissingDependencyError("openai", "judge", "the LLM judge") from None
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=self._api_key, max_retries=0,
                                  timeout=self.timeout, default_headers=self._headers)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with equal jitter: ``d/2 + U(0, d/2)``, ``d = base·2^(attempt-1)``
        capped at ``retry_max_delay``; a server's ``Retry-After`` is a lower bound."""
        d = min(self.retry_max_delay, self.retry_base_delay * (2 ** max(0, attempt - 1)))
        delay = d / 2 + self._rng.uniform(0, d / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_max_delay))
        return delay

    async def _with_deadline(self, aw: Awaitable[T]) -> T:
        """``aw`` bounded by ``timeout`` seconds in total (connect + every byte of the reply)."""
        try:
            return await asyncio.wait_for(aw, self.timeout)
        except asyncio.TimeoutError:
            raise CallTimeout(f"no complete reply within {self.timeout:g} s (total deadline)") from None

    async def _call_one(self, oc: Any, fn: Callable[[Any, Item], Awaitable[T]], item: Item,
                        sem: asyncio.Semaphore) -> Outcome[T]:
        out: Outcome[T] = Outcome()
        async with sem:
            t0 = time.perf_counter()
            while True:
                if self.fatal:
                    out.error = f"not sent: {self.fatal}"
                    break
                try:
                    self.budget.acquire()
                except BudgetExhausted as e:
                    out.error = f"not sent: {e}"
                    break
                out.attempts += 1
                self.usage.requests += 1
                try:
                    out.value = await self._with_deadline(fn(oc, item))
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # every API problem becomes an outcome, never an abort
                    kind = classify(e)
                    if kind == "fatal":
                        self.fatal = f"fatal judge error ({_describe(e)}); remaining calls stopped"
                        out.error = _describe(e)
                        break
                    if kind == "fail" or out.attempts > self.max_retries:
                        suffix = f" (after {out.attempts} attempts)" if out.attempts > 1 else ""
                        out.error = _describe(e) + suffix
                        break
                    self.usage.retries += 1
                    await asyncio.sleep(self.backoff(out.attempts, _retry_after(e)))
            out.latency_s = time.perf_counter() - t0
        if out.error is None:
            self.usage.calls += 1
        else:
            self.usage.failures += 1
        return out

    async def amap(self, items: Sequence[Item], fn: Callable[[Any, Item], Awaitable[T]],
                   on_result: Callable[[int, Outcome[T]], None] | None = None) -> list[Outcome[T]]:
        sem = asyncio.Semaphore(self.concurrency)
        oc = self._make_openai()
        results: list[Outcome[T] | None] = [None] * len(items)

        async def run(i: int, item: Item) -> None:
            res = await self._call_one(oc, fn, item, sem)
            results[i] = res
            if on_result is not None:
                on_result(i, res)

        try:
            await asyncio.gather(*(run(i, it) for i, it in enumerate(items)))
        finally:
            await oc.close()
        return [r if r is not None else Outcome(error="not run") for r in results]

    def map(self, items: Sequence[Item], fn: Callable[[Any, Item], Awaitable[T]],
            on_result: Callable[[int, Outcome[T]], None] | None = None) -> list[Outcome[T]]:
        """Sync wrapper of ``amap`` (runs its own event loop)."""
        return run_sync(self.amap(items, fn, on_result))

    # -- chat -----------------------------------------------------------------------------------
    async def _chat(self, oc: Any, request: dict[str, Any]) -> ChatResult:
        resp = await oc.chat.completions.create(**request)
        choices = getattr(resp, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise _BadResponse("reply has no choices[0].message")
        choice = choices[0]
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else 0
        ct = int(getattr(usage, "completion_tokens", 0) or 0) if usage else 0
        if usage is None:
            self.usage.usage_missing += 1
        self.usage.prompt_tokens += pt
        self.usage.completion_tokens += ct
        self.budget.add_tokens(pt + ct)
        model = getattr(resp, "model", None)
        model = redact(str(model)) if model else None
        if model:
            self.models_returned.add(model)
        lp = None
        if getattr(choice, "logprobs", None) is not None and getattr(choice.logprobs, "content", None):
            lp = [{"token": t.token, "logprob": t.logprob,
                   "top_logprobs": [{"token": a.token, "logprob": a.logprob} for a in (t.top_logprobs or [])]}
                  for t in choice.logprobs.content]
        content = choice.message.content
        finish = getattr(choice, "finish_reason", None)
        return ChatResult(content=redact(content) if isinstance(content, str) else content, model=model,
                          prompt_tokens=pt, completion_tokens=ct,
                          finish_reason=redact(finish) if isinstance(finish, str) else finish, logprobs=lp)

    def chat_many(self, requests: Sequence[dict[str, Any]],
                  on_result: Callable[[int, ChatResult], None] | None = None) -> list[ChatResult]:
        """``requests``: kwargs for ``chat.completions.create`` (``model``, ``messages``, ...)."""

        def wrap(i: int, o: Outcome[ChatResult]) -> None:
            if on_result is not None:
                on_result(i, _to_chat(o))

        outs = self.map(requests, self._chat, wrap)
        return [_to_chat(o) for o in outs]


def _to_chat(o: Outcome[ChatResult]) -> ChatResult:
    if o.ok and o.value is not None:
        o.value.attempts = o.attempts
        return o.value
    return ChatResult(content=None, model=None, error=redact(o.error or "no reply"), attempts=o.attempts)
