"""Checks for hostile or careless dataset input: every bad field is one ``DatasetError`` line
naming the file, the line (or row) and the field, never a traceback.

- files: only regular files are read (a ``test.jsonl`` that is a FIFO would block forever, one
  that is a symlink to ``/dev/zero`` would be read until memory runs out), opened non-blocking and
  checked again on the open descriptor (no swap between check and open), and read up to
  ``max_dataset_bytes()`` (``FACEBENCH_MAX_DATASET_BYTES``, default 4 GiB);
- fields: ``doc_id`` a string or integer without control characters or path separators, at
  most ``MAX_DOC_ID_CHARS`` characters (it names files); ``caption`` a string; ``image`` a
  relative path string without NUL; ``qa`` a list of {question, answer, ...} objects (or a JSON
  string of one); ``attributes`` an object of scalar values (or a JSON string of one), no
  attribute called ``caption`` (the prompt template's own field); JSON nested deeper than
  Python's parser allows is refused, not a RecursionError.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from facebench.errors import DatasetError
from facebench.types import QA

DEFAULT_MAX_DATASET_BYTES = 4 << 30
MAX_DOC_ID_CHARS = 128
RESERVED_ATTRIBUTES = ("caption",)  # fields the prompt templates fill themselves
_SCALAR = (str, int, float, bool)


class FieldError(ValueError):
    """A bad field inside one record; the loader adds the file and line."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"field '{field}': {problem}")
        self.field = field


def max_dataset_bytes() -> int:
    raw = os.environ.get("FACEBENCH_MAX_DATASET_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_DATASET_BYTES
    try:
        n = int(raw)
    except ValueError:
        raise DatasetError(f"FACEBENCH_MAX_DATASET_BYTES must be a whole number of bytes, got {raw!r}") from None
    if n < 1:
        raise DatasetError(f"FACEBENCH_MAX_DATASET_BYTES must be ≥ 1, got {raw!r}")
    return n


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular_file(path: str | Path, what: str = "dataset file") -> os.stat_result:
    """``stat`` of ``path`` (symlinks followed) if it is a regular file within the size limit."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise DatasetError(f"{what} {p} does not exist") from None
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read {what} {p}: {getattr(e, 'strerror', None) or e}") from None
    if not stat.S_ISREG(st.st_mode):
        target = f" (it points to {os.path.realpath(p)})" if p.is_symlink() else ""
        raise DatasetError(f"{what} {p} is {_kind(st.st_mode)}{target}, not a regular file: refused")
    limit = max_dataset_bytes()
    if st.st_size > limit:
        raise DatasetError(f"{what} {p} is {st.st_size:,} bytes, over the {limit:,}-byte limit "
                           "(FACEBENCH_MAX_DATASET_BYTES)")
    return st


def read_text_capped(path: str | Path, what: str = "dataset file") -> str:
    """UTF-8 text of a regular file, at most ``max_dataset_bytes()`` bytes (checked while reading
    too: a file that grows, or a ``/proc`` file that claims size 0, cannot exceed it)."""
    p = Path(path)
    check_regular_file(p, what)
    limit = max_dataset_bytes()
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise DatasetError(f"cannot read {what} {p}: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):  # swapped for a FIFO/device after the first check
            raise DatasetError(f"{what} {p} is {_kind(st.st_mode)}, not a regular file: refused")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise DatasetError(f"{what} {p} is over the {limit:,}-byte limit (FACEBENCH_MAX_DATASET_BYTES)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DatasetError(f"{p} is not UTF-8 text") from None


def loads(text: str, field: str = "row") -> Any:
    """``json.loads`` with too-deep nesting as a FieldError (Python raises RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise FieldError(field, "JSON nested too deeply") from None


def doc_id_of(value: Any, default: str) -> str:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FieldError("doc_id", f"must be a string or an integer, got {_type(value)}")
    doc_id = str(value)
    if not doc_id.strip():
        raise FieldError("doc_id", "is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in doc_id):
        raise FieldError("doc_id", "contains a control character (e.g. NUL)")
    if len(doc_id) > MAX_DOC_ID_CHARS:
        raise FieldError("doc_id", f"is {len(doc_id)} characters, over the {MAX_DOC_ID_CHARS} limit (it names files)")
    return doc_id


def text_of(value: Any, field: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise FieldError(field, f"must be a string, got {_type(value)}")
    return value


def image_ref_of(value: Any, field: str = "image") -> str | None:
    """A relative image path (string) or None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FieldError(field, f"must be a path string, got {_type(value)}")
    if "\x00" in value:
        raise FieldError(field, "contains a NUL character")
    return value


def qa_list_of(raw: Any, field: str = "qa") -> list[QA]:
    """QA pairs from a list of objects (or a JSON string of one)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        try:
            raw = loads(raw, field)
        except json.JSONDecodeError as e:
            raise FieldError(field, f"is a string that is not JSON ({e.msg})") from None
    if not isinstance(raw, list):
        raise FieldError(field, f"must be a list of {{question, answer}} objects, got {_type(raw)}")
    out = []
    for k, q in enumerate(raw):
        where = f"{field}[{k}]"
        if not isinstance(q, dict) or "question" not in q or "answer" not in q:
            raise FieldError(where, "must be an object with 'question' and 'answer'")
        question = q["question"]
        if not isinstance(question, str):
            raise FieldError(f"{where}.question", f"must be a string, got {_type(question)}")
        answer = q["answer"]
        if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
            raise FieldError(f"{where}.answer", f"must be a string or a number, got {_type(answer)}")
        kind = q.get("kind") or "open"  # "closed" = exact answers; any other name is scored as open
        if not isinstance(kind, str):
            raise FieldError(f"{where}.kind", f"must be a string, got {_type(kind)}")
        family = q.get("family")
        if family is not None and not isinstance(family, str):
            raise FieldError(f"{where}.family", f"must be a string, got {_type(family)}")
        choices = q.get("choices") or ()
        if not isinstance(choices, (list, tuple)) or not all(isinstance(c, str) for c in choices):
            raise FieldError(f"{where}.choices", "must be a list of strings")
        out.append(QA(question=question, answer=str(answer), kind=kind, family=family, choices=tuple(choices)))
    return out


def attributes_of(raw: Any, field: str = "attributes") -> dict[str, str]:
    """``{family: value}`` from an object of scalars (or a JSON string of one)."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = loads(raw, field)
        except json.JSONDecodeError as e:
            raise FieldError(field, f"is a string that is not JSON ({e.msg})") from None
    if not isinstance(raw, dict):
        raise FieldError(field, f"must be an object {{family: value}}, got {_type(raw)}")
    out: dict[str, str] = {}
    for k, v in raw.items():
        if str(k) in RESERVED_ATTRIBUTES:
            raise FieldError(f"{field}.{k}", "is reserved (the prompt template fills it from the caption); rename it")
        if v is not None and not isinstance(v, _SCALAR):
            raise FieldError(f"{field}.{k}", f"must be a string or a number, got {_type(v)}")
        out[str(k)] = str(v)
    return out


def _type(v: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null", int: "a number",
            float: "a number", str: "a string"}.get(type(v), type(v).__name__)
