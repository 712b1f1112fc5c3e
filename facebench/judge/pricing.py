"""Judge price table (USD per 1M tokens) for cost estimates.

Prices change: every figure carries the date it was read and where. A model not in the table gets
a cost of ``None`` (shown as unknown), never a guess. Unlisted models on a loopback server cost nothing.
Users can pass their own prices with ``judge_price_in``/``judge_price_out`` in the judge config.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRICE_TABLE_DATE = "2025-06"


@dataclass(frozen=True)
class Price:
    input_per_m: float
    output_per_m: float
    source: str
    date: str = PRICE_TABLE_DATE

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / 1e6

    def describe(self) -> dict[str, Any]:
        return {"input_usd_per_1m": self.input_per_m, "output_usd_per_1m": self.output_per_m,
                "source": self.source, "date": self.date}


_OPENAI = "OpenAI API pricing page (platform.openai.com/docs/pricing), standard tier"
_DEEPSEEK = "DeepSeek API pricing page (api-docs.deepseek.com/quick_start/pricing), cache-miss input"

# Exact model ids first; prefix matches (a dated snapshot of a listed family) second.
PRICES: dict[str, Price] = {
    "gpt-4o-2024-08-06": Price(2.50, 10.00, _OPENAI),
    "gpt-4o-2024-11-20": Price(2.50, 10.00, _OPENAI),
    "gpt-4o-2024-05-13": Price(5.00, 15.00, _OPENAI),
    "gpt-4o": Price(2.50, 10.00, _OPENAI),
    "gpt-4o-mini": Price(0.15, 0.60, _OPENAI),
    "gpt-4o-mini-2024-07-18": Price(0.15, 0.60, _OPENAI),
    "gpt-4.1": Price(2.00, 8.00, _OPENAI),
    "gpt-4.1-mini": Price(0.40, 1.60, _OPENAI),
    "gpt-4-turbo": Price(10.00, 30.00, _OPENAI),
    "deepseek-chat": Price(0.27, 1.10, _DEEPSEEK),
}


def price_for(model: str | None, local: bool = False, override: dict[str, Any] | None = None) -> Price | None:
    """The price of ``model``: a user override, else the table (a listed model behind a local proxy
    still costs money), else free for a loopback server, else None (unknown)."""
    if override and override.get("judge_price_in") is not None and override.get("judge_price_out") is not None:
        return Price(float(override["judge_price_in"]), float(override["judge_price_out"]), "user-supplied (judge config)", "user")
    if model and model in PRICES:
        return PRICES[model]
    if local:
        return Price(0.0, 0.0, "local server on loopback (no charge)", "n/a")
    return None


def estimate_tokens(text: str) -> int:
    """Rough token count for dry-run estimates: ~4 characters per token (English BPE rule of thumb)."""
    return max(1, (len(text) + 3) // 4)
