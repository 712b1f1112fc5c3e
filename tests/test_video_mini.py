"""The mini-video set end to end: built offline and byte-identically, labels that match what is
drawn, and dfer/vconv runs where the oracle > retrieval > dummy; the leaderboard's video section;
a DFEW-layout folder scored through a whole run (UAR/WAR against a hand count)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from facebench.runner import RunConfig, run  # noqa: E402

LIMIT = 20
MODELS = ("dummy", "retrieval", "oracle")


def test_build_is_byte_identical_and_labels_match_the_frames(tmp_path):
    from facebench.data.mini.video import BLINK_FRAMES, MANIFEST, build_mini_video, make_clip, render_clip

    a = build_mini_video(tmp_path / "a", n_test=3, n_gallery=2)
    b = build_mini_video(tmp_path / "b", n_test=3, n_gallery=2)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 3 + 2 + 3  # clips, two JSONL files, the manifest
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert json.loads((a / MANIFEST).read_text())["counts"] == {"test": 3, "gallery": 2}
    # the labels are the generator's: the DFER answer is the clip's end expression, etc.
    for i in range(1, 20):
        rec, clip = make_clip("test", i, seed=7)
        qa = {q["family"]: q["answer"] for q in rec["qa"]}
        assert qa["dfer"] == rec["attributes"]["expression"] == clip["expression"]
        assert qa["blink"] == ("yes" if clip["blink_at"] is not None else "no")
        assert qa["head_turn"] == clip["turn"] and qa["expression_change"] == ("yes" if clip["onset"] else "no")
    # and the events are in the frames, exactly where the labels say
    base = {**clip, "onset": None, "blink_at": None, "turn": "none", "turn_at": None, "talking": False}

    def diff(c, t):
        frames = [np.asarray(f, dtype=np.int16) for f in render_clip(c)]
        return int(np.abs(frames[t] - frames[0]).sum())

    assert all(diff(base, t) == 0 for t in range(1, 12))  # nothing happens: every frame is the first
    blink = {**base, "blink_at": 4}
    assert diff(blink, 3) == 0 and diff(blink, 4) > 0 and diff(blink, 4 + BLINK_FRAMES - 1) > 0
    assert diff(blink, 4 + BLINK_FRAMES) == 0  # the eyes open again
    onset = {**base, "expression": "sad", "onset": 5}
    assert diff(onset, 4) == 0 and diff(onset, 5) > 0 and diff(onset, 11) > 0
    turn = {**base, "turn": "left", "turn_at": 3}
    assert diff(turn, 2) == 0 and 0 < diff(turn, 3) < diff(turn, 11)  # a progressive turn


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("video-runs")
    # the oracle's truth and retrieval's text gallery from mini-video alone: the image mini set is not built
    args = {"oracle": {"dataset": "mini-video"}, "retrieval": {"gallery": "mini-video"}}
    return out, {m: run(RunConfig(model=m, model_args=args.get(m, {}), tasks=["video"], dataset="mini-video",
                                  limit=LIMIT, output_path=out)).results for m in MODELS}


@pytest.mark.parametrize("task, key", [("dfer", "uar"), ("dfer", "war"), ("vconv", "exact_match"),
                                       ("vconv", "attr_acc"), ("vdesc", "vdesc_attr_acc")])
def test_oracle_beats_retrieval_beats_dummy(runs, task, key):
    _, res = runs
    v = {m: res[m]["tasks"][task]["metrics"][key]["value"] for m in MODELS}
    assert v["oracle"] > v["retrieval"] > v["dummy"], (task, key, v)
    assert v["oracle"] == 1.0 and v["dummy"] == 0.0  # the truth, and a fixed non-answer


@pytest.mark.parametrize("task, key", [("vconv", "vconv_embed"), ("vdesc", "vdesc_embed")])
def test_offline_judge_orders_the_baselines(runs, task, key):
    _, res = runs
    v = {m: res[m]["tasks"][task]["metrics"][key]["value"] for m in MODELS}
    assert v["oracle"] > v["retrieval"] > v["dummy"], (task, key, v)


def test_results_record_the_policy_and_the_frames(runs):
    out, res = runs
    entry = res["retrieval"]["tasks"]["dfer"]
    assert entry["video"] == {"sampling": "uniform", "frames": 8}
    assert entry["n_items"] == LIMIT and "video" in res["retrieval"]["model"]["capabilities"]
    rows = [json.loads(line) for line in (out / "retrieval_mini-video" / entry["files"]["predictions"]).open()]
    assert rows[0]["request"]["video"]["policy"] == {"sampling": "uniform", "frames": 8}
    assert len(rows[0]["request"]["video"]["sha256"]) == 64
    assert rows[0]["meta"]["video"] == "videos/test/minivid-test-0001.mp4"  # relative to the dataset, like images
    assert res["retrieval"]["model"]["info"]["video_gallery_size"] == 120
    per_class = res["oracle"]["tasks"]["dfer"]["metrics"]["uar"]["extra"]["per_class"]
    assert sum(c["n"] for c in per_class.values()) == LIMIT


def test_leaderboard_has_a_video_section(runs):
    from facebench.report.leaderboard import build_leaderboard, render_markdown
    from facebench.report.loader import load_reported, load_runs

    out, _ = runs
    lb = build_leaderboard(load_runs([out], include_partial=True) + load_reported())
    video = [s for s in lb.sections if s.kind == "video"]
    assert {s.dataset for s in video} >= {"mini-video", "DFEW", "MAFW"}
    md = render_markdown(lb)
    assert "Video understanding (face video → text) · dataset `mini-video`" in md
    assert "0.6817" in md and "0.4907" in md  # FaVChat's reported UAR rows
    assert not any(s.kind == "understanding" and s.dataset == "mini-video" for s in lb.sections)


def test_a_dfew_folder_runs_dfer_end_to_end(tmp_path):
    from PIL import Image

    from facebench.videoinput import write_video

    root = tmp_path / "DFEW"
    labels = {1: 1, 2: 1, 3: 2, 4: 3}  # happy, happy, sad, neutral
    for i in labels:
        (root / "Clip" / "original").mkdir(parents=True, exist_ok=True)
        write_video(root / "Clip" / "original" / f"{i:05d}.mp4",
                    [Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8))] * 3, fps=3)
    for part in ("test", "train"):
        d = root / "EmoLabel_DataSplit" / f"{part}(single-labeled)"
        d.mkdir(parents=True)
        for k in range(1, 6):
            (d / f"set_{k}.csv").write_text("video_name,label\n" + "".join(f"{i},{lab}\n" for i, lab in labels.items()))
    res = run(RunConfig(model="dummy", model_args={"answer": "Happy."}, tasks=["dfer"], dataset=str(root),
                        output_path=tmp_path / "out")).results
    m = res["tasks"]["dfer"]["metrics"]
    assert m["war"]["value"] == pytest.approx(2 / 4)  # the two happy clips
    assert m["uar"]["value"] == pytest.approx((1 + 0 + 0) / 3)  # happy 2/2, sad 0/1, neutral 0/1
    assert m["uar"]["per_attribute"]["class"]["happy"] == 1.0


def test_video_task_on_an_image_dataset_is_a_clear_error(tmp_path):
    from facebench.errors import DatasetError

    from helpers import make_local_dataset

    images = make_local_dataset(tmp_path / "images", n=2)
    with pytest.raises(DatasetError, match="needs a video"):
        run(RunConfig(model="dummy", tasks=["vconv"], dataset=str(images), output_path=tmp_path / "out"))


def test_a_model_without_video_skips_video_tasks(tmp_path):
    from typing import ClassVar

    from facebench.adapters.base import ModelAdapter

    class ImagesOnly(ModelAdapter):
        name: ClassVar[str] = "images-only"
        capabilities: ClassVar[frozenset[str]] = frozenset({"understand"})

        def answer(self, reqs):
            raise AssertionError("must not be called")

    res = run(RunConfig(model=ImagesOnly(), tasks=["dfer"], dataset="mini-video", limit=2, output_path=tmp_path)).results
    assert res["tasks"]["dfer"]["skipped"] == "model 'images-only' has no 'video' capability"


def test_a_local_jsonl_video_dataset_with_a_column_mapping(tmp_path):
    """FaVChat-170K-style rows (a clip path under another name) through --columns, scored exactly."""
    from PIL import Image

    from facebench.videoinput import write_video

    root = tmp_path / "vids"
    (root / "clips").mkdir(parents=True)
    rows = []
    for i, ans in enumerate(["yes", "no", "yes"]):
        write_video(root / "clips" / f"{i}.mp4", [Image.fromarray(np.full((16, 16, 3), 50 * i, np.uint8))] * 2, fps=2)
        rows.append({"doc_id": f"v{i}", "path": f"clips/{i}.mp4", "caption": "a face",
                     "qa": [{"question": "Is the person talking?", "answer": ans, "kind": "closed",
                             "choices": ["yes", "no"]}]})
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = run(RunConfig(model="dummy", model_args={"answer": "Yes."}, tasks=["vconv"], dataset=str(root),
                        columns={"video": "path"}, output_path=tmp_path / "out")).results
    m = res["tasks"]["vconv"]["metrics"]
    assert m["exact_match"]["value"] == pytest.approx(2 / 3) and m["exact_match"]["n"] == 3
    assert m["vconv_gpt"]["skipped"]  # the GPT judge needs a key: skipped with the reason, never a number
