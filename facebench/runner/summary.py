"""The end-of-run table (lm-eval's ``make_table`` style): this run's tasks only, one Markdown row
per metric, the run's key settings in the header, skip reasons as short numbered footnotes
(identical reasons share one), and the results file's path."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

MAX_HEAD = 100  # characters of the reason kept before its fix
MAX_FIX = 200


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _short(reason: str) -> str:
    """A skip reason cut to its gist and its fix (the full text is in the results file)."""
    reason = " ".join(reason.split())
    head, sep, fix = reason.partition("; fix: ")
    head = re.sub(r"\s*\([^()]{40,}\)", "", head)  # long parentheticals stay in the results file
    return _cut(head, MAX_HEAD) + (f"; fix: {_cut(fix, MAX_FIX)}" if sep else "")


def _num(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    a = abs(v)
    return f"{v:.4f}" if a < 10 else (f"{v:.3f}" if a < 1000 else f"{v:.1f}")


def _judge(cfg: dict[str, Any]) -> str:
    j = cfg.get("judge") or {}
    if not j:
        return "task default"
    parts = [str(j.get("judge") or "openai")]
    if j.get("judge_model"):
        parts.append(str(j["judge_model"]))
    if j.get("judge_base_url"):
        parts.append(f"@ {j['judge_base_url']}")
    return " ".join(parts)


def header(results: dict[str, Any]) -> str:
    cfg = results.get("config") or {}
    model = results.get("model") or {}
    bits = [f"model: {model.get('name')} ({model.get('fingerprint') or 'no fingerprint'})",
            f"dataset: {cfg.get('dataset') or 'task default'}",
            f"limit: {cfg.get('limit') if cfg.get('limit') is not None else 'none'}",
            f"seed: {cfg.get('seed')}", f"batch_size: {cfg.get('batch_size')}", f"judge: {_judge(cfg)}"]
    if cfg.get("model_args"):
        bits.insert(1, "model_args: " + ",".join(f"{k}={v}" for k, v in sorted(cfg["model_args"].items())))
    line = " · ".join(bits)
    if results.get("partial"):
        line += f"\npartial run ({', '.join(results['partial'])}): not taken as a full result"
    return line


def make_table(results: dict[str, Any], results_file: Path | str | None = None) -> str:
    with_bounds = any(m.get("bounds") for t in (results.get("tasks") or {}).values()
                      for m in (t.get("metrics") or {}).values())
    rows = ["| Task | Metric | Value | 95% CI | n | failed |" + (" floor – ceiling |" if with_bounds else ""),
            "|:--|:--|--:|--:|--:|--:|" + ("--:|" if with_bounds else "")]
    notes: dict[str, int] = {}

    def note(reason: str) -> str:
        text = _short(reason)
        if text not in notes:
            notes[text] = len(notes) + 1
        return f"[{notes[text]}]"

    for tname, t in (results.get("tasks") or {}).items():
        if t.get("skipped"):
            rows.append(f"| {tname} | – | – {note(t['skipped'])} | | | |")
            continue
        for mname, m in (t.get("metrics") or {}).items():
            if m.get("value") is None:
                rows.append(f"| {tname} | {mname} | – {note(m.get('skipped') or 'no value')} | | | |")
                continue
            ci = m.get("ci")
            ci_s = f"{_num(ci[0])}–{_num(ci[1])}" if ci else "–"
            b = m.get("bounds")
            b_s = f" {_num(b['floor'])} – {_num(b['ceiling'])} |" if b else (" |" if with_bounds else "")
            rows.append(f"| {tname} | {mname} | {_num(m['value'])} | {ci_s} | {m.get('n', 0)} | {m.get('n_failed', 0)} |{b_s}")
    out = [header(results), "", *rows]
    if with_bounds:
        out += ["", "floor – ceiling: the same metric for `dummy` (knows nothing) and `oracle` (the ground truth), "
                    "measured with this run's settings"]
    if notes:
        out += [""] + [f"[{i}] {text}" for text, i in notes.items()]
    if results_file is not None:
        out += ["", f"results: {results_file}"]
    return "\n".join(out)
