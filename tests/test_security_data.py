"""Hostile datasets: fields of the wrong type, NUL bytes, reserved names, deep nesting, special
files (a FIFO, a symlink to /dev/zero) and oversize files. Each is one line through the real CLI
(exit 2, no traceback) naming the file, the line (or row) and the field; real FIFOs and symlinks."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import cli_env, make_local_dataset, run_cli


def _rows(ds: Path) -> list:
    return [json.loads(x) for x in (ds / "test.jsonl").read_text().splitlines()]


def _write(ds: Path, rows: list, raw_line: str | None = None) -> None:
    lines = [json.dumps(r) for r in rows]
    if raw_line is not None:
        lines[2] = raw_line
    (ds / "test.jsonl").write_text("\n".join(lines) + "\n")


def _run(tmp_path: Path, dataset: Path, timeout: float = 120, **env_extra: str):
    env = dict(cli_env(), FACEBENCH_CACHE_DIR=str(tmp_path / "cache"), **env_extra)
    return run_cli("run", "--model", "dummy", "--task", "conv", "--dataset", str(dataset), "--judge", "embedding",
                   "--output_path", str(tmp_path / "out"), env=env, timeout=timeout)


def _one_line(r, *needles: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout[-1000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("facebench: error: "), r.stderr[-2000:]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


BAD_FIELDS = {
    "qa_int": (lambda r: r.update(qa=5), "field 'qa': must be a list"),
    "qa_bool": (lambda r: r.update(qa=True), "field 'qa': must be a list"),
    "qa_str": (lambda r: r.update(qa="5"), "field 'qa': must be a list"),
    "qa_question_obj": (lambda r: r.update(qa=[{"question": {"q": 1}, "answer": "x"}]), "field 'qa[0].question'"),
    "qa_entry_str": (lambda r: r.update(qa=["what?"]), "field 'qa[0]'"),
    "attributes_list": (lambda r: r.update(attributes=["blond"]), "field 'attributes': must be an object"),
    "attributes_bad_json": (lambda r: r.update(attributes="{hair: "), "field 'attributes': is a string that is not JSON"),
    "attributes_nested": (lambda r: r.update(attributes={"hair": {"colour": "red"}}), "field 'attributes.hair'"),
    "attribute_caption": (lambda r: r.update(attributes={"caption": "x"}), "field 'attributes.caption': is reserved"),
    "image_int": (lambda r: r.update(image=7), "field 'image': must be a path string"),
    "image_nul": (lambda r: r.update(image="images/\x00evil.png"), "field 'image': contains a NUL"),
    "doc_id_nul": (lambda r: r.update(doc_id="d\x00x"), "field 'doc_id': contains a control character"),
    "doc_id_obj": (lambda r: r.update(doc_id={"a": 1}), "field 'doc_id': must be a string or an integer"),
    "caption_list": (lambda r: r.update(caption=["a", "b"]), "field 'caption': must be a string"),
}


@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
def test_wrong_field_types_are_one_line_with_file_line_and_field(tmp_path, case):
    ds = make_local_dataset(tmp_path / "ds", n=4)
    rows = _rows(ds)
    change, needle = BAD_FIELDS[case]
    change(rows[2])
    _write(ds, rows)
    _one_line(_run(tmp_path, ds), f"{ds / 'test.jsonl'}:3: ", needle)


@pytest.mark.parametrize("raw,needle", [
    ("[1, 2, 3]", "field 'row': must be a JSON object, got list"),
    ('"just a string"', "field 'row': must be a JSON object"),
    ('{"doc_id": "x", "qa": ' + "[" * 100_000 + "]" * 100_000 + "}", "JSON nested too deeply"),
])
def test_rows_that_are_not_objects_or_nest_too_deep(tmp_path, raw, needle):
    ds = make_local_dataset(tmp_path / "ds", n=4)
    _write(ds, _rows(ds), raw_line=raw)
    _one_line(_run(tmp_path, ds), f"{ds / 'test.jsonl'}:3: ", needle)


# -- 5. special files ---------------------------------------------------------------------------
def test_split_file_symlinked_to_dev_zero_is_refused(tmp_path):
    ds = make_local_dataset(tmp_path / "ds", n=2)
    (ds / "test.jsonl").unlink()
    os.symlink("/dev/zero", ds / "test.jsonl")
    _one_line(_run(tmp_path, ds, timeout=60), "is a character device", "points to /dev/zero", "not a regular file")


def test_split_file_that_is_a_fifo_does_not_hang(tmp_path):
    ds = make_local_dataset(tmp_path / "ds", n=2)
    (ds / "test.jsonl").unlink()
    os.mkfifo(ds / "test.jsonl")
    _one_line(_run(tmp_path, ds, timeout=60), "is a FIFO (named pipe)", "not a regular file")
    fifo = tmp_path / "direct.jsonl"  # a FIFO given as the dataset itself
    os.mkfifo(fifo)
    _one_line(_run(tmp_path, fifo, timeout=60), "is a FIFO")


def test_image_that_is_a_fifo_does_not_hang(tmp_path):
    ds = make_local_dataset(tmp_path / "ds", n=3)
    (ds / "images" / "1.png").unlink()
    os.mkfifo(ds / "images" / "1.png")
    _one_line(_run(tmp_path, ds, timeout=60), f"{ds / 'test.jsonl'}:2: ", "image", "is a FIFO")


def test_dataset_size_is_capped(tmp_path):
    ds = make_local_dataset(tmp_path / "ds", n=3)
    _one_line(_run(tmp_path, ds, FACEBENCH_MAX_DATASET_BYTES="100"), "over the 100-byte limit",
              "FACEBENCH_MAX_DATASET_BYTES")


def test_symlinked_regular_files_still_load(tmp_path):
    from facebench.data.local import LocalDataset

    import shutil

    real = make_local_dataset(tmp_path / "real", n=3)
    ds = tmp_path / "ds"
    ds.mkdir()
    os.symlink(real / "test.jsonl", ds / "test.jsonl")  # a symlink to a regular file is read
    shutil.copytree(real / "images", ds / "images")  # (a symlinked image folder escapes ds: refused, as before)
    samples = LocalDataset(ds).load("test")
    assert [s.doc_id for s in samples] == ["d0", "d1", "d2"] and samples[0].qa[0].answer == "black"
    assert samples[0].attributes == {"hair_color": "black"}


# -- the Hugging Face / parquet loader ------------------------------------------------------------
@pytest.mark.parametrize("column,value,needle", [
    ("qa", "5", "field 'qa': must be a list"),
    ("qa", "{not json", "field 'qa': is a string that is not JSON"),
    ("attributes", '["blond"]', "field 'attributes': must be an object"),
    ("attributes", '{"caption": "x"}', "field 'attributes.caption': is reserved"),
])
def test_parquet_rows_with_wrong_types(tmp_path, column, value, needle):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pytest.importorskip("datasets")
    good = {"qa": json.dumps([{"question": "Hair?", "answer": "red"}]), "attributes": json.dumps({"hair": "red"})}
    rows = [dict(doc_id=f"p{i}", caption=f"a face {i}", **good) for i in range(3)]
    rows[1][column] = value
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    r = _run(tmp_path, path)
    _one_line(r, f"{path} (split 'test') row 1: ", needle)


def test_parquet_symlinked_to_dev_zero_is_refused(tmp_path):
    link = tmp_path / "data.parquet"
    os.symlink("/dev/zero", link)
    _one_line(_run(tmp_path, link, timeout=60), "is a character device")
