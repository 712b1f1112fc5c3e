"""The LLaVA-Bench GPT review protocol, loaded from LLaVA's own repository on first use.

LLaVA-Bench (haotian-liu/LLaVA) reviews an answer by asking a judge to rate two assistants —
Assistant 1 the reference, Assistant 2 the model — with a per-category rule from
``llava/eval/table/rule.json`` (``llava_bench_conv``, ``llava_bench_detail``, ``llava_bench_complex``),
a system message, ``temperature`` and ``max_tokens`` from ``llava/eval/eval_gpt_review_bench.py``
(``get_eval`` and its ``--max-tokens`` default), and a message layout built there (``content = (...)``).
Their text is not copied into facebench: both files are fetched at a pinned commit, checked against
pinned sha256 digests and cached like weights, and the pieces are read out of them — the rule from
the JSON, the rest from the script's syntax tree (``ast``; nothing is executed).

Where the files come from, in order:
1. a local copy: metric arg ``llava_eval_dir=DIR`` or ``$FACEBENCH_LLAVA_EVAL_DIR`` — a LLaVA checkout
   (``DIR/llava/eval/...``) or a folder holding ``rule.json`` and ``eval_gpt_review_bench.py``;
2. facebench's cache (``<cache>/judge_protocols/llava-<commit>/``);
3. a download from ``https://raw.githubusercontent.com/haotian-liu/LLaVA/<commit>/<path>`` (base URL
   overridable with ``$FACEBENCH_LLAVA_EVAL_BASE_URL``, e.g. a mirror), only when not offline.
Every file is sha256-checked wherever it comes from; a mismatch is refused (never used), and an
offline run without a copy raises ``ProtocolUnavailable`` naming the URLs, the variable and the
metric arg — the judge metric reports it as skipped.

Aggregation (``llava_scores``/``llava_relative``): LLaVA reads each review's first line, commas as
spaces, split on single spaces, exactly two numbers (``parse_score`` in eval_gpt_review_bench.py), and
counts any other review as (−1, −1) in the means it divides (``summarize_gpt_review.py``:
``mean(tuples)``, relative = 100·mean₂/mean₁). facebench reports that as its own named number
beside its main score, which never counts a failed review as a number.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = "haotian-liu/LLaVA"
COMMIT = "c121f0432da27facab705978f83c4ada465e46fd"  # main, 2024-05-12 (rule.json last changed 2023-07-19)
RAW_BASE = "https://raw.githubusercontent.com"
ENV_DIR = "FACEBENCH_LLAVA_EVAL_DIR"
ENV_BASE_URL = "FACEBENCH_LLAVA_EVAL_BASE_URL"
ARG = "llava_eval_dir"
# flat name → (path in the repository, sha256 of the file at COMMIT)
FILES: dict[str, tuple[str, str]] = {
    "rule.json": ("llava/eval/table/rule.json",
                  "dd7345a44ce9f7a24e51a30ee030cdab32346f9d08e3359c80545ff1312b1e07"),
    "eval_gpt_review_bench.py": ("llava/eval/eval_gpt_review_bench.py",
                                 "fd6a2c3ed99b0b2881e056160c03aab17f7ea5879b9e03fd993381b4d47e63f2"),
}
CATEGORIES = ("llava_bench_conv", "llava_bench_detail", "llava_bench_complex")
TASK_CATEGORY = {"desc": "llava_bench_detail", "conv": "llava_bench_conv"}
# expressions of the review script's message layout → facebench's review fields
LAYOUT_FIELDS = {"cap_str": "context", 'ques["text"]': "question", 'ans1["text"]': "reference",
                 'ans2["text"]': "answer", "role": "role", "prompt": "rule"}
DOWNLOAD_TIMEOUT_S = 15.0


class ProtocolUnavailable(Exception):
    """The protocol files could not be obtained or verified. The message is the reason and the fix."""


@dataclass(frozen=True)
class LlavaProtocol:
    system: str
    temperature: float
    max_tokens: int
    layout: str  # a str.format template over context, question, reference, answer, role, rule
    rules: dict[str, dict[str, str]]
    source: dict[str, Any] = field(default_factory=dict)


def urls(base: str | None = None) -> dict[str, str]:
    base = (base or os.environ.get(ENV_BASE_URL) or RAW_BASE).rstrip("/")
    return {name: f"{base}/{REPO}/{COMMIT}/{path}" for name, (path, _) in FILES.items()}


def cache_dir() -> Path:
    from facebench.paths import cache_root

    return cache_root() / "judge_protocols" / f"llava-{COMMIT[:12]}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fix(key: str = "KEY") -> str:
    listing = " and ".join(urls().values())
    return (f"download {listing} into one folder (or clone {REPO} and check out {COMMIT[:12]}) and pass "
            f"--metric_args {key}.{ARG}=DIR or export {ENV_DIR}=DIR")


def _local_file(folder: Path, name: str) -> Path | None:
    for p in (folder / name, folder / FILES[name][0]):
        if p.is_file():
            return p
    return None


def _verified(path: Path, name: str, where: str, key: str) -> Path:
    got, want = _sha256(path), FILES[name][1]
    if got != want:
        raise ProtocolUnavailable(
            f"{where} {path} has sha256 {got}, not the pinned {want} of {REPO}@{COMMIT[:12]}:{FILES[name][0]} "
            f"(a different version of LLaVA's review protocol is not used); fix: {_fix(key)}")
    return path


def _download(url: str, dest: Path, name: str, key: str) -> Path:
    """Fetch to a temp file, check the digest, then move into the cache (a bad file never lands)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as r:
            shutil.copyfileobj(r, f)
        _verified(Path(tmp), name, "downloaded", key)
        os.replace(tmp, dest)
    except ProtocolUnavailable:
        raise
    except Exception as e:  # no network, HTTP error, timeout
        raise ProtocolUnavailable(f"LLaVA review protocol file {url} could not be downloaded "
                                  f"({type(e).__name__}: {e}); fix: {_fix(key)}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def locate(local_dir: str | os.PathLike | None = None, key: str = "KEY") -> dict[str, tuple[Path, str]]:
    """flat name → (verified local file, where it came from). See the module doc for the order."""
    from facebench.metrics.features.weights import offline

    folder = local_dir or os.environ.get(ENV_DIR)
    out: dict[str, tuple[Path, str]] = {}
    if folder:
        where = f"--metric_args {key}.{ARG}" if local_dir else f"${ENV_DIR}"
        for name in FILES:
            p = _local_file(Path(folder).expanduser(), name)
            if p is None:
                raise ProtocolUnavailable(f"{where}={folder} holds no {name} (nor {FILES[name][0]}); fix: {_fix(key)}")
            out[name] = (_verified(p, name, "local copy", key), str(p))
        return out
    links = urls()
    for name in FILES:
        cached = cache_dir() / name
        if cached.is_file() and _sha256(cached) == FILES[name][1]:
            out[name] = (cached, f"cache ({links[name]})")
            continue
        if offline():
            raise ProtocolUnavailable(f"LLaVA review protocol file {name} ({links[name]}) is not in the facebench "
                                      f"cache and the run is offline; fix: {_fix(key)}")
        out[name] = (_download(links[name], cached, name, key), links[name])
    return out


def _layout(node: ast.JoinedStr) -> str:
    parts = []
    for v in node.values:
        if isinstance(v, ast.Constant):
            parts.append(str(v.value).replace("{", "{{").replace("}", "}}"))
        elif isinstance(v, ast.FormattedValue):
            expr = ast.unparse(v.value).replace("'", '"')
            if expr not in LAYOUT_FIELDS:
                raise ValueError(f"unexpected field {expr!r} in the review layout")
            parts.append("{" + LAYOUT_FIELDS[expr] + "}")
    return "".join(parts)


def parse_review_script(source: str) -> tuple[str, float, int, str]:
    """(system message, temperature, max_tokens default, message layout) read from the review
    script's syntax tree: the ``'role': 'system'`` message of the chat call, its ``temperature=``,
    the ``--max-tokens`` default, and the f-string assigned to ``content``."""
    tree = ast.parse(source)
    system = temperature = max_tokens = layout = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            d = {k.value: v for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant)}
            if isinstance(d.get("role"), ast.Constant) and d["role"].value == "system" and \
                    isinstance(d.get("content"), ast.Constant):
                system = d["content"].value
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "temperature" and isinstance(kw.value, ast.Constant):
                    temperature = float(kw.value.value)
            args = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if "--max-tokens" in args:
                for kw in node.keywords:
                    if kw.arg == "default" and isinstance(kw.value, ast.Constant):
                        max_tokens = int(kw.value.value)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.JoinedStr) and \
                any(isinstance(t, ast.Name) and t.id == "content" for t in node.targets):
            layout = _layout(node.value)
    missing = [n for n, v in (("system message", system), ("temperature", temperature),
                              ("--max-tokens default", max_tokens), ("content layout", layout)) if v is None]
    if missing:
        raise ValueError(f"review script lacks: {', '.join(missing)}")
    return str(system), float(temperature), int(max_tokens), str(layout)  # type: ignore[arg-type]


def load(local_dir: str | os.PathLike | None = None, key: str = "KEY") -> LlavaProtocol:
    files = locate(local_dir, key)
    try:
        rules = json.loads(files["rule.json"][0].read_text(encoding="utf-8"))
        system, temperature, max_tokens, layout = parse_review_script(
            files["eval_gpt_review_bench.py"][0].read_text(encoding="utf-8"))
        for cat in CATEGORIES:
            if not {"role", "prompt"} <= set(rules.get(cat, {})):
                raise ValueError(f"rule.json has no role/prompt for {cat}")
    except (ValueError, SyntaxError) as e:  # only reachable with a file whose digest was overridden
        raise ProtocolUnavailable(f"LLaVA review protocol files do not have the expected shape ({e}); "
                                  f"fix: {_fix(key)}") from None
    source = {"repository": REPO, "commit": COMMIT,
              "files": {name: {"path": FILES[name][0], "sha256": FILES[name][1], "from": where}
                        for name, (_, where) in files.items()}}
    return LlavaProtocol(system, temperature, max_tokens, layout, rules, source)


def category_for(name: str, task: str) -> str:
    """``llava_bench`` picks the category of the task (desc → detail, conv → conv)."""
    if name in CATEGORIES:
        return name
    return TASK_CATEGORY["desc" if task.startswith("desc") else "conv"]


# -- LLaVA's aggregation --------------------------------------------------------------------------
def llava_parse(review: str | None) -> tuple[float, float]:
    """LLaVA-Bench's reading of a review (re-implemented from ``parse_score``): the first line,
    commas as spaces, split on single spaces; exactly two fields that are numbers, else (−1, −1)."""
    try:
        fields = (review or "").split("\n")[0].replace(",", " ").split(" ")
        if len(fields) == 2:
            return float(fields[0]), float(fields[1])
    except ValueError:
        pass
    return -1.0, -1.0


def llava_relative(reviews: list[str | None]) -> dict[str, Any]:
    """LLaVA's summary of a list of reviews: the means of the (reference, answer) tuples with
    unreadable reviews as (−1, −1), and 100·mean(answer)/mean(reference)."""
    tuples = [llava_parse(r) for r in reviews]
    n = len(tuples)
    ref = sum(t[0] for t in tuples) / n if n else float("nan")
    ans = sum(t[1] for t in tuples) / n if n else float("nan")
    return {"relative": 100.0 * ans / ref if n and ref else None, "reference_mean": ref, "answer_mean": ans,
            "n_reviews": n, "n_as_minus_one": sum(t == (-1.0, -1.0) for t in tuples)}
