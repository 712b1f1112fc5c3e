"""DFER scoring against a hand count, and the DFEW / MAFW loaders on tiny folders laid out like
the official releases (a few mp4 clips written with PyAV)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facebench.errors import DatasetError
from facebench.metrics.base import MetricContext
from facebench.types import QA, Prediction

CLASSES = ("happy", "sad", "neutral")


def _pred(i: int, ref: str, out: str) -> Prediction:
    q = QA("Which expression? Answer happy, sad or neutral.", ref, "closed", "dfer", CLASSES)
    return Prediction(item_id=f"c{i}#q0", doc_id=f"c{i}", task="dfer", prompt=q.question, reference=ref, output=out,
                      qa=q)


def test_uar_war_match_a_hand_count(tmp_path):
    from facebench.metrics.dfer import UAR, WAR

    # happy: 4 clips, 3 right; sad: 2 clips, 1 right ("Sad." parses); neutral: 1 clip, 0 right (empty answer);
    # one answer names two classes (no credit)
    rows = [("happy", "happy"), ("happy", "Happy!"), ("happy", "I think happy"), ("happy", "sad"),
            ("sad", "Sad."), ("sad", "happy or sad"), ("neutral", "")]
    preds = [_pred(i, r, o) for i, (r, o) in enumerate(rows)]
    ctx = MetricContext(task="dfer", dataset="x", run_dir=tmp_path, cache_dir=tmp_path)
    war = WAR(key="war").compute(preds, ctx)[0]
    uar = UAR(key="uar").compute(preds, ctx)[0]
    assert war.value == pytest.approx(4 / 7)  # 4 right of 7 clips
    assert uar.value == pytest.approx((3 / 4 + 1 / 2 + 0 / 1) / 3)  # mean of per-class recalls
    assert uar.per_attribute["class"]["happy"] == pytest.approx(0.75)
    assert uar.per_attribute["class"]["sad"] == pytest.approx(0.5)
    assert uar.per_attribute["class"]["neutral"] == 0.0
    assert uar.extra["confusion"]["happy"] == {"happy": 3, "sad": 1}
    assert uar.extra["confusion"]["sad"] == {"sad": 1, "(no class)": 1}
    assert uar.extra["n_empty_answers"] == 1 and uar.n == 7
    lo, hi = uar.ci
    assert lo <= uar.value <= hi
    # a class without clips is listed, not averaged in
    only = [p for p in preds if p.qa.answer != "neutral"]
    u2 = UAR(key="uar").compute(only, ctx)[0]
    assert u2.value == pytest.approx((3 / 4 + 1 / 2) / 2) and u2.extra["classes_without_clips"] == ["neutral"]
    # always answering the majority class: WAR = its share, UAR = 1/K
    maj = [_pred(i, r, "happy") for i, (r, _) in enumerate(rows)]
    assert WAR(key="war").compute(maj, ctx)[0].value == pytest.approx(4 / 7)
    assert UAR(key="uar").compute(maj, ctx)[0].value == pytest.approx(1 / 3)
    skipped = UAR(key="uar").compute([], ctx)[0]
    assert skipped.value is None and "DFER" in skipped.skipped


# ------------------------------------------------------------------------------- official layouts
def _clip(path: Path, level: int) -> None:
    from PIL import Image

    from facebench.videoinput import write_video

    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, [Image.fromarray(np.full((16, 16, 3), level + 10 * t, np.uint8)) for t in range(4)], fps=4)


@pytest.fixture(scope="module")
def dfew(tmp_path_factory) -> Path:
    pytest.importorskip("av")
    root = tmp_path_factory.mktemp("DFEW")
    for i in (1, 2, 3, 4, 5, 6):
        _clip(root / "Clip" / "original" / f"{i:05d}.mp4", 20 * i)
    split = root / "EmoLabel_DataSplit"
    for k in range(1, 6):  # fold k's test set: clip k (clip 6 only in train sets); labels 1..7
        (split / "test(single-labeled)").mkdir(parents=True, exist_ok=True)
        (split / "train(single-labeled)").mkdir(parents=True, exist_ok=True)
        (split / "test(single-labeled)" / f"set_{k}.csv").write_text(f"video_name,label\n{k},{k}\n")
        (split / "train(single-labeled)" / f"set_{k}.csv").write_text("video_name,label\n6,7\n")
    (split / "test(single-labeled)" / "set_1.csv").write_text("video_name,label\n1,1\n2,3\n")
    return root


def test_dfew_loader_reads_the_official_split_files(dfew):
    from facebench.data.base import resolve_dataset
    from facebench.data.dfer_sets import DFEWDataset

    ds = resolve_dataset(str(dfew))
    assert isinstance(ds, DFEWDataset)
    test = ds.load("test")  # fold 1
    assert [s.doc_id for s in test] == ["dfew-00001", "dfew-00002"]
    assert [s.qa[0].answer for s in test] == ["happy", "neutral"]  # labels 1 and 3
    assert test[0].video == dfew / "Clip" / "original" / "00001.mp4" and test[0].image is None
    q = test[0].qa[0]
    assert q.kind == "closed" and q.family == "dfer" and len(q.choices) == 7 and "fear" in q.question
    assert [s.qa[0].answer for s in ds.load("test_4")] == ["angry"]
    assert [s.qa[0].answer for s in ds.load("train_2")] == ["fear"]
    all_ = ds.load("all")
    assert [s.doc_id for s in all_] == [f"dfew-0000{i}" for i in (1, 2, 3, 4, 5)]  # each clip once
    assert ds.fingerprint("test") != ds.fingerprint("test_2")
    with pytest.raises(DatasetError, match="no split 'test_9'"):
        ds.load("test_9")


def test_dfew_bad_rows_and_missing_clips_are_one_line_errors(dfew, tmp_path):
    import shutil

    from facebench.data.dfer_sets import DFEWDataset

    bad = tmp_path / "DFEW"
    shutil.copytree(dfew, bad)
    f = bad / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_1.csv"
    f.write_text("video_name,label\n1,9\n")
    with pytest.raises(DatasetError, match=r"set_1\.csv:2: expected '<clip>,<label 1-7>'"):
        DFEWDataset(bad).load("test")
    f.write_text("video_name,label\n77,1\n")
    with pytest.raises(DatasetError, match="clip '77' of split 'test' is not under"):
        DFEWDataset(bad).load("test")


def test_mafw_loader_reads_the_official_split_files(tmp_path):
    pytest.importorskip("av")
    from facebench.data.base import resolve_dataset
    from facebench.data.dfer_sets import MAFWDataset

    root = tmp_path / "MAFW"
    for i in (1, 2, 3):
        _clip(root / "data" / "clips" / f"{i:05d}.mp4", 30 * i)
    for k in range(1, 6):
        d = root / "Train & Test Set" / "single" / "no_caption" / f"set_{k}"
        d.mkdir(parents=True)
        (d / "test.txt").write_text("00001.mp4 contempt\n00002.mp4 helplessness\n" if k == 1 else "00003.mp4 anger\n")
        (d / "train.txt").write_text("00003.mp4 anger\n")
    ds = resolve_dataset(str(root))
    assert isinstance(ds, MAFWDataset) and len(ds.classes) == 11
    test = ds.load("test")
    assert [(s.doc_id, s.qa[0].answer) for s in test] == [("mafw-00001", "contempt"), ("mafw-00002", "helplessness")]
    assert test[1].video == root / "data" / "clips" / "00002.mp4"
    assert "disappointment" in test[0].qa[0].question
    (root / "Train & Test Set" / "single" / "no_caption" / "set_1" / "test.txt").write_text("00001.mp4 joy\n")
    with pytest.raises(DatasetError, match=r"test\.txt:1: expected '<clip file> <one of anger"):
        ds.load("test")
