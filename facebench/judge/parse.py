"""Turn a judge's free-text review into scores, or refuse.

The rule (docs/reference.md §2): a review that cannot be read is a *missing* value, never a number.
lmms-eval turned unparsable reviews into −1/−1, which later became a relative score of 100; here
every parser raises ``ReviewParseError`` instead, and scores outside the template's scale are
rejected too.

Strict on scales: a fraction is read only when its denominator is the template's top score
("8/10" on 1–10, "87/100" on 0–100); any other denominator ("5/100" on 1–10, "8/10" on 0–100)
makes that number unreadable, so a reply on the wrong scale is refused, never rescaled by
accident. A number must stand alone: "1e9", "8x", "7th" and "1,000" are not scores (the
digits inside them are never picked out one by one).
"""
from __future__ import annotations

import re

# a standalone number: not glued to letters, digits or a decimal point on either side, and not
# the mantissa of an exponent ("1e9"). The sign is kept so "-1 -1" is refused, not read as 1 1.
_NUM = r"(?<![\w.])(-?\d+(?:\.\d+)?)(?![\w]|\.\d|[eE][+-]?\d)"
# "8/10", "8 out of 10": read as 8 only when 10 is the scale's top (see _fractions)
_FRACTION = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out\s+of)\s*(\d+(?:\.\d+)?)(?![\w]|\.\d)", re.I)
_THOUSANDS = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?![\w]|\.\d)")
_UNREADABLE = "\u27c2"  # stands in for a number that must not be read as a score
_MARKUP = re.compile(r"[*_`#>]+")
_LABELLED = re.compile(r"assistant\s*([12])\s*(?:'s)?\s*(?:score|rating)?\s*[:=\-]?\s*" + _NUM, re.I)
_SCORE = re.compile(r"\b(?:overall\s+)?(?:score|rating)\s*(?:is|of)?\s*[:=]?\s*" + _NUM, re.I)


class ReviewParseError(ValueError):
    """The review holds no readable score (empty, wrong format, or out of range)."""


def _fractions(text: str, scale: tuple[float, float]) -> str:
    """"N/top" → "N"; a fraction over any other denominator → an unreadable mark."""
    def sub(m: re.Match[str]) -> str:
        return m.group(1) if float(m.group(2)) == float(scale[1]) else _UNREADABLE

    return _FRACTION.sub(sub, text)


def _clean(line: str, scale: tuple[float, float]) -> str:
    return _fractions(_THOUSANDS.sub(_UNREADABLE, _MARKUP.sub("", line)), scale).strip()


def _first_line(text: str, scale: tuple[float, float]) -> str:
    for line in text.splitlines():
        if line.strip():
            return _clean(line, scale)
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
    first = _first_line(text, scale)
    if "assistant" not in first.lower():  # "Assistant 1: 9" must not be read as the pair (1, 9)
        nums = [float(x) for x in re.findall(_NUM, first)]
        if len(nums) == 2:
            a, b = _check(nums, scale)
            return a, b
    labelled: dict[str, float] = {}
    for who, val in _LABELLED.findall(_clean(text.replace("\n", " "), scale)):
        labelled.setdefault(who, float(val))
    if set(labelled) == {"1", "2"}:
        a, b = _check([labelled["1"], labelled["2"]], scale)
        return a, b
    raise ReviewParseError(f"no score pair in review (first line: {_first_line(text, scale)[:80]!r})")


def parse_single(review: str | None, scale: tuple[float, float] = (1.0, 10.0)) -> float:
    """One score from "Score: N" (anywhere, first occurrence), or a first line that is one number."""
    text = _require_text(review)
    cleaned = _clean(text.replace("\n", " \n "), scale)
    m = _SCORE.search(cleaned)
    if m:
        return _check([float(m.group(1))], scale)[0]
    if re.search(r"\b(?:score|rating)\s*(?:is|of)?\s*[:=]?\s*" + _UNREADABLE, cleaned, re.I):
        raise ReviewParseError(f"score is not a plain number on the template's {scale[0]:g}–{scale[1]:g} scale "
                               f"(first line: {text.strip().splitlines()[0][:80]!r})")
    nums = [float(x) for x in re.findall(_NUM, _first_line(text, scale))]
    if len(nums) == 1:
        return _check(nums, scale)[0]
    raise ReviewParseError(f"no score in review (first line: {_first_line(text, scale)[:80]!r})")
