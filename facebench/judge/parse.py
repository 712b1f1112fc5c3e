"""Turn a judge's free-text review into scores, or refuse.

The rule (REFERENCE.md §2): a review that cannot be read is a *missing* value, never a number.
lmms-eval turned unparsable reviews into −1/−1, which later became a relative score of 100; here
every parser raises ``ReviewParseError`` instead, and scores outside the template's scale are
rejected too.
"""
from __future__ import annotations

import re

_NUM = r"(-?\d+(?:\.\d+)?)"  # the sign is kept so "-1 -1" is refused, not read as 1 1
# "8/10" → 8 ; "8 out of 10" → 8 (the denominator must not be read as a second score)
_OUT_OF = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*(?:10|100)\b", re.I)
_MARKUP = re.compile(r"[*_`#>]+")
_LABELLED = re.compile(r"assistant\s*([12])\s*(?:'s)?\s*(?:score|rating)?\s*[:=\-]?\s*" + _NUM, re.I)
_SCORE = re.compile(r"\b(?:overall\s+)?(?:score|rating)\s*(?:is|of)?\s*[:=]?\s*" + _NUM, re.I)


class ReviewParseError(ValueError):
    """The review holds no readable score (empty, wrong format, or out of range)."""


def _clean(line: str) -> str:
    return _OUT_OF.sub(r"\1", _MARKUP.sub("", line)).strip()


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return _clean(line)
    return ""


def _check(values: list[float], scale: tuple[float, float]) -> list[float]:
    lo, hi = scale
    for v in values:
        if not lo <= v <= hi:
            raise ReviewParseError(f"score {v:g} outside the scale {lo:g}–{hi:g}")
    return values


def _require_text(review: str | None) -> str:
    if review is None or not review.strip():
        raise ReviewParseError("empty review")
    return review


def parse_pair(review: str | None, scale: tuple[float, float] = (1.0, 10.0)) -> tuple[float, float]:
    """Scores ``(reference, answer)`` from a LLaVA-Bench-style review.

    Accepted: a first line with exactly two numbers ("7 5", "7, 5", "**7 5**", "7/10 5/10") and no
    "Assistant N" label, or labelled scores anywhere ("Assistant 1: 7 ... Assistant 2: 5").
    Anything else (one or three numbers, a lone label, a negative or out-of-scale score) is refused.
    """
    text = _require_text(review)
    first = _first_line(text)
    if "assistant" not in first.lower():  # "Assistant 1: 9" must not be read as the pair (1, 9)
        nums = [float(x) for x in re.findall(_NUM, first)]
        if len(nums) == 2:
            a, b = _check(nums, scale)
            return a, b
    labelled: dict[str, float] = {}
    for who, val in _LABELLED.findall(_clean(text.replace("\n", " "))):
        labelled.setdefault(who, float(val))
    if set(labelled) == {"1", "2"}:
        a, b = _check([labelled["1"], labelled["2"]], scale)
        return a, b
    raise ReviewParseError(f"no score pair in review (first line: {_first_line(text)[:80]!r})")


def parse_single(review: str | None, scale: tuple[float, float] = (1.0, 10.0)) -> float:
    """One score from "Score: N" (anywhere, first occurrence), or a first line that is one number."""
    text = _require_text(review)
    m = _SCORE.search(_clean(text.replace("\n", " \n ")))
    if m:
        return _check([float(m.group(1))], scale)[0]
    nums = [float(x) for x in re.findall(_NUM, _first_line(text))]
    if len(nums) == 1:
        return _check(nums, scale)[0]
    raise ReviewParseError(f"no score in review (first line: {_first_line(text)[:80]!r})")
