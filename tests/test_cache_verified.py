"""The cache verifies what it returns: checksummed rows, damaged databases, stale adapter code,
dataset content hashes, and exact ``--images`` matching."""
from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facebench.cache import CacheError, KVCache, row_checksum
from facebench.errors import DatasetError
from facebench.runner import RunConfig, run
from facebench.runner.byo import match_images
from tests.helpers import PLUGIN_PATH, cli_env, make_local_dataset, run_cli

TASKS = str(PLUGIN_PATH / "fbtest_plugin" / "tasks")


def _flip_a_digit(db: Path) -> str:
    """Change one digit inside one stored value (as bit rot or a hand edit would); return its key."""
    con = sqlite3.connect(db)
    for key, value in con.execute("SELECT key, value FROM kv ORDER BY key"):
        for i, ch in enumerate(value):
            if ch.isdigit():
                new = value[:i] + str((int(ch) + 1) % 10) + value[i + 1:]
                con.execute("UPDATE kv SET value=? WHERE key=?", (new, key))
                con.commit()
                con.close()
                return key
    raise AssertionError(f"no digit in any value of {db}")


def test_checksum_binds_value_to_key(tmp_path, caplog):
    kv = KVCache(tmp_path / "c.sqlite")
    kv.put_many({"a": {"x": 1.25}, "b": {"x": 2.5}})
    assert kv.get("a") == {"x": 1.25}
    con = sqlite3.connect(tmp_path / "c.sqlite")
    # a row moved under another key fails: the checksum covers the key
    va, sa = con.execute("SELECT value, sha FROM kv WHERE key='a'").fetchone()
    con.execute("UPDATE kv SET value=?, sha=? WHERE key='b'", (va, sa))
    con.commit()
    con.close()
    with caplog.at_level(logging.WARNING, logger="facebench"):
        assert kv.get("b") is None and kv.get_many(["a", "b"]) == {"a": {"x": 1.25}}
    assert "fails its checksum" in caplog.text
    assert sa == row_checksum("a", va)


@pytest.mark.parametrize("db", ["predictions.sqlite", "scores.sqlite"])
def test_a_flipped_digit_in_a_cache_database_is_recomputed(tmp_path, monkeypatch, caplog, db):
    cache = tmp_path / "cache"
    monkeypatch.setenv("FACEBENCH_CACHE_DIR", str(cache))
    cfg = dict(model="retrieval", tasks=["convlite"], dataset="mini", limit=4, output_path=tmp_path / "o",
               include_path=[TASKS])
    first = run(RunConfig(**cfg))
    _flip_a_digit(cache / db)
    with caplog.at_level(logging.WARNING, logger="facebench"):
        second = run(RunConfig(**cfg))
    assert "fails its checksum" in caplog.text
    assert second.results["tasks"]["convlite"]["metrics"] == first.results["tasks"]["convlite"]["metrics"]
    if db == "predictions.sqlite":
        assert second.predict_stats["convlite"].computed == 1  # exactly the damaged item was redone


def test_a_flipped_digit_in_the_judge_cache_is_asked_again(tmp_path):
    from facebench.judge.cache import JudgeCache

    jc = JudgeCache(tmp_path / "judge.sqlite")
    key = JudgeCache.key("openai", "m", None, "tpl", {"q": 1})
    jc.put(key, "8 9\nfine", [8.0, 9.0], "m")
    assert jc.get_many([key])
    jc.close()
    _flip_a_digit(tmp_path / "judge.sqlite")
    assert JudgeCache(tmp_path / "judge.sqlite").get_many([key]) == {}


def test_truncated_database_is_moved_aside_and_rebuilt(tmp_path, caplog):
    db = tmp_path / "predictions.sqlite"
    kv = KVCache(db)
    kv.put_many({f"k{i}": {"v": "x" * 3000} for i in range(50)})
    kv.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(db.read_bytes()[:1000])  # truncated mid-page
    with caplog.at_level(logging.WARNING, logger="facebench"):
        kv2 = KVCache(db)
        assert kv2.get("k1") is None
        kv2.put("new", 1)
        assert kv2.get("new") == 1
    assert "is damaged" in caplog.text
    assert list(tmp_path.glob("predictions.sqlite.damaged-*"))


def test_garbage_database_through_the_cli_is_rebuilt(tmp_path):
    env = cli_env()
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "predictions.sqlite").write_bytes(b"this is not a database" * 100)
    r = run_cli("run", "--model", "dummy", "--task", "convlite", "--dataset", "mini", "--limit", "2",
                "--output_path", str(tmp_path / "o"), "--include_path", TASKS, env=env)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "is damaged" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unreadable_database_is_one_line(tmp_path):  # pragma: no cover - CI runs as root
    env = cli_env()
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    KVCache(tmp_path / "cache" / "predictions.sqlite").put("a", 1)
    os.chmod(tmp_path / "cache" / "predictions.sqlite", 0)
    r = run_cli("run", "--model", "dummy", "--task", "convlite", "--dataset", "mini", "--limit", "2",
                "--output_path", str(tmp_path / "o"), "--include_path", TASKS, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "chmod" in r.stderr.strip().splitlines()[-1]


def test_unopenable_database_is_one_line_with_the_fix(tmp_path):
    """A database path that is a folder cannot be opened: one line naming the file and the fix."""
    env = cli_env()
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    (tmp_path / "cache" / "predictions.sqlite").mkdir(parents=True)
    r = run_cli("run", "--model", "dummy", "--task", "convlite", "--dataset", "mini", "--limit", "2",
                "--output_path", str(tmp_path / "o"), "--include_path", TASKS, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-1500:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("facebench: error:") and "predictions.sqlite" in last and "fix:" in last


def test_full_disk_is_one_line(tmp_path, monkeypatch):
    kv = KVCache(tmp_path / "c.sqlite")

    class Full:
        in_transaction = True

        def execute(self, sql, *a):
            if sql.startswith("INSERT") or sql == "COMMIT":
                raise sqlite3.OperationalError("database or disk is full")
            if sql == "ROLLBACK":
                raise sqlite3.OperationalError("cannot rollback - no transaction is active")

        executemany = execute

    monkeypatch.setattr(kv, "_conn", lambda: Full())
    with pytest.raises(CacheError, match="disk holding the cache .* is full; fix: free space"):
        kv.put("a", 1)


PLUGIN_V1 = '''
from facebench.adapters.dummy import DummyAdapter

class MyUMM(DummyAdapter):
    name = "my-umm"
    capabilities = frozenset({"understand"})

    def answer(self, reqs):
        return ["ANSWER_V" + "1" for _ in reqs]
'''


def test_editing_a_user_adapter_never_returns_stale_answers(tmp_path):
    pkg = tmp_path / "proj" / "my_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(PLUGIN_V1)
    env = cli_env()
    env["FACEBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = str(tmp_path / "proj") + os.pathsep + env.get("PYTHONPATH", "")
    args = ["run", "--model", "my_pkg.mod:MyUMM", "--task", "convlite", "--dataset", "mini", "--limit", "1",
            "--output_path", str(tmp_path / "o"), "--include_path", TASKS]

    def answers() -> tuple[set[str], str]:
        r = run_cli(*args, env=env)
        assert r.returncode == 0, r.stderr[-1500:]
        samples = sorted((tmp_path / "o").rglob("samples_convlite_*.jsonl"))[-1]
        return {json.loads(x)["output"] for x in samples.read_text().splitlines()}, r.stderr

    first, _ = answers()
    assert first == {"ANSWER_V1"}
    (pkg / "mod.py").write_text(PLUGIN_V1.replace('"1"', '"2"'))
    second, log = answers()
    assert second == {"ANSWER_V2"}
    assert "0 from the cache" in log  # the console says where outputs came from
    third, log = answers()
    assert third == {"ANSWER_V2"} and re.search(r"convlite: (\d+) items: \1 from the cache", log)


def test_swapped_images_change_the_recorded_dataset_hash(tmp_path):
    data = make_local_dataset(tmp_path / "faces", n=4)
    cfg = dict(model="dummy", tasks=["convlite"], dataset=str(data), output_path=tmp_path / "o", include_path=[TASKS])
    a = run(RunConfig(**cfg))
    one, two = data / "images" / "1.png", data / "images" / "2.png"
    tmp = data / "images" / "tmp.png"
    os.rename(one, tmp)
    os.rename(two, one)
    os.rename(tmp, two)  # renames keep mtimes: only inode/content tell
    b = run(RunConfig(**cfg))
    ha = a.results["tasks"]["convlite"]["dataset"]["hash"]
    hb = b.results["tasks"]["convlite"]["dataset"]["hash"]
    assert ha != hb
    os.rename(one, tmp)
    os.rename(two, one)
    os.rename(tmp, two)
    c = run(RunConfig(**cfg))
    assert c.results["tasks"]["convlite"]["dataset"]["hash"] == ha


# -- --images matches exactly -------------------------------------------------------------------
def _png(path: Path) -> None:
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)


def test_images_match_exact_names_only(tmp_path):
    for name in ("face.png", "face_1.png", "img[12].png", "img1.png", "other_0.png", "other_1.png"):
        _png(tmp_path / name)
    got = match_images(tmp_path, ["face", "face_1", "img[12]", "other", "absent"])
    assert got["face"] == [tmp_path / "face.png"]  # not face_1.png, which is doc face_1's
    assert got["face_1"] == [tmp_path / "face_1.png"]
    assert got["img[12]"] == [tmp_path / "img[12].png"]  # literal, not a glob matching img1.png
    assert got["other"] == [tmp_path / "other_0.png", tmp_path / "other_1.png"]
    assert "absent" not in got


def test_ambiguous_images_folder_is_an_error_naming_the_files(tmp_path):
    for name in ("face_0.png", "face_1.png"):
        _png(tmp_path / name)
    with pytest.raises(DatasetError, match=r"face_1\.png could be the image of doc 'face_1' or image 1 of doc 'face'"):
        match_images(tmp_path, ["face", "face_1"])
    _png(tmp_path / "solo.png")
    _png(tmp_path / "solo_0.png")
    with pytest.raises(DatasetError, match=r"doc 'solo' has both solo\.png and solo_0\.png"):
        match_images(tmp_path, ["solo"])


def test_images_through_the_cli_score_exactly_the_named_files(tmp_path):
    """--mode score --images with glob characters and _k names, end to end."""
    from facebench.data.mini import MiniDataset

    docs = [s.doc_id for s in MiniDataset().load("test", 2)]
    byo = tmp_path / "imgs"
    byo.mkdir()
    for d in docs:
        for k in range(2):
            _png(byo / f"{d}_{k}.png")
    r = run_cli("run", "--model", "mine", "--task", "genlite", "--dataset", "mini", "--limit", "2", "--mode", "score",
                "--images", str(byo), "--output_path", str(tmp_path / "o"), "--include_path", TASKS)
    assert r.returncode == 0, r.stderr[-1500:]
    res = json.loads(sorted((tmp_path / "o").rglob("results_*.json"))[-1].read_text())
    assert res["tasks"]["genlite"]["n_items"] == 2
    assert res["model"]["fingerprint"].startswith("images-") and str(tmp_path) not in json.dumps(res["model"])
