"""LLM/VLM judge: an OpenAI-compatible async client (bounded concurrency, retries with backoff and
jitter, budget, usage and cost), its own cache, versioned prompts, strict review parsing, and two
offline backends (sentence-embedding similarity; a local llama.cpp server).

Public API (stable; the ``openai-api`` adapter reuses the client):

- ``JudgeClient(base_url, api_key, concurrency=, timeout=, max_retries=, retry_base_delay=, budget=)``
  with ``map(items, fn, on_result)`` / ``amap`` (generic: ``await fn(openai.AsyncOpenAI, item)``),
  ``chat_many(requests, on_result)`` → ``ChatResult``; ``usage``; ``Budget``; ``run_budget``.
- ``JudgeCache`` (``cache_root()/judge.sqlite``), ``JudgeSettings`` / ``resolve_settings``,
  ``Template`` / ``get_template`` / ``TEMPLATES``, ``parse_pair`` / ``parse_single`` /
  ``ReviewParseError``, ``JudgeSession`` / ``ReviewJob`` / ``Review``, ``price_for``.

Nothing here imports torch or the ``openai`` package at import time.
"""
from facebench.judge.cache import JudgeCache, normalize_base_url
from facebench.judge.client import (Budget, BudgetExhausted, ChatResult, JudgeClient, Outcome, Usage, classify,
                                    run_budget, run_sync)
from facebench.judge.parse import ReviewParseError, parse_pair, parse_single
from facebench.judge.pricing import PRICES, Price, price_for
from facebench.judge.prompts import TEMPLATES, Template, get_template
from facebench.judge.session import JudgeSession, Review, ReviewJob
from facebench.judge.settings import JudgeSettings, load_config_file, resolve_settings

__all__ = [
    "Budget", "BudgetExhausted", "ChatResult", "JudgeCache", "JudgeClient", "JudgeSession", "JudgeSettings",
    "Outcome", "PRICES", "Price", "Review", "ReviewJob", "ReviewParseError", "TEMPLATES", "Template", "Usage",
    "classify", "get_template", "load_config_file", "normalize_base_url", "parse_pair", "parse_single",
    "price_for", "resolve_settings", "run_budget", "run_sync",
]
