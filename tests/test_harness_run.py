"""End-to-end runs on the mini set: outputs independent of batch size, cache hits on rerun,
phases runnable separately, images made elsewhere, the results schema, and retrieval > dummy."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facebench.runner import RunConfig, run
from tests.helpers import PLUGIN_PATH, latest_results, run_file


@pytest.fixture()
def plugin_tasks():
    return [str(PLUGIN_PATH / "fbtest_plugin" / "tasks")]


def _images(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "images").rglob("*.png"))}


def test_batch_size_does_not_change_outputs(tmp_path, plugin_tasks):
    outs = {}
    for bs in (1, 3):
        cfg = RunConfig(model="dummy", tasks=["genlite", "convlite"], dataset="mini", limit=5, batch_size=bs,
                        output_path=tmp_path / f"bs{bs}", include_path=plugin_tasks, use_cache=False)
        outs[bs] = run(cfg)
    a, b = outs[1].run_dir, outs[3].run_dir
    assert _images(a) == _images(b) and len(_images(a)) == 10  # 5 prompts × n=2
    assert outs[1].predict_stats["genlite"].model_calls == 5 and outs[3].predict_stats["genlite"].model_calls == 2
    # image k of a prompt uses its own seed: the two images of one prompt differ
    imgs = sorted((a / "images").rglob("*_0.png"))[0], sorted((a / "images").rglob("*_1.png"))[0]
    assert imgs[0].read_bytes() != imgs[1].read_bytes()


def test_rerun_hits_cache_and_makes_no_model_call(tmp_path, plugin_tasks):
    cfg = dict(model="retrieval", tasks=["genlite", "convlite"], dataset="mini", limit=6, output_path=tmp_path,
               include_path=plugin_tasks)
    first = run(RunConfig(**cfg))
    assert first.model_calls > 0
    second = run(RunConfig(**cfg))
    assert second.model_calls == 0
    assert all(s.cached == s.items for s in second.predict_stats.values())
    for t in ("genlite", "convlite"):
        m1, m2 = first.results["tasks"][t]["metrics"], second.results["tasks"][t]["metrics"]
        assert {k: v["value"] for k, v in m1.items()} == {k: v["value"] for k, v in m2.items()}
    # --no_cache recomputes
    third = run(RunConfig(**cfg, use_cache=False))
    assert third.model_calls > 0


def test_generation_is_shared_across_generation_tasks(tmp_path):
    out = run(RunConfig(model="dummy", tasks=["fid", "clip"], dataset="mini", limit=3, output_path=tmp_path))
    assert out.predict_stats["fid"].computed == 3
    assert out.predict_stats["clip"].computed == 0 and out.predict_stats["clip"].cached == 3
    assert len(list((out.run_dir / "images").iterdir())) == 1  # one shared image folder


def test_predict_then_score_equals_all(tmp_path, plugin_tasks):
    common = dict(model="retrieval", tasks=["convlite"], dataset="mini", limit=5, include_path=plugin_tasks)
    whole = run(RunConfig(**common, output_path=tmp_path / "a"))
    run(RunConfig(**common, output_path=tmp_path / "b", mode="predict"))
    scored = run(RunConfig(**common, output_path=tmp_path / "b", mode="score"))
    assert scored.model_calls == 0
    assert (whole.results["tasks"]["convlite"]["metrics"]["exact_match"]["value"]
            == scored.results["tasks"]["convlite"]["metrics"]["exact_match"]["value"])


def test_score_images_made_elsewhere(tmp_path, plugin_tasks):
    made = run(RunConfig(model="retrieval", tasks=["genlite"], dataset="mini", limit=4, output_path=tmp_path / "gen",
                         include_path=plugin_tasks))
    byo = tmp_path / "my_images"
    byo.mkdir()
    for p in (made.run_dir / "images").rglob("*.png"):
        (byo / p.name).write_bytes(p.read_bytes())
    out = run(RunConfig(model="my-model", tasks=["genlite"], dataset="mini", limit=4, mode="score", images=byo,
                        output_path=tmp_path / "byo", include_path=plugin_tasks))
    a = made.results["tasks"]["genlite"]["metrics"]["attr_probe_acc"]["value"]
    b = out.results["tasks"]["genlite"]["metrics"]["attr_probe_acc"]["value"]
    assert a == pytest.approx(b) and a is not None
    assert out.results["model"]["name"] == "my-model"


def test_results_schema(tmp_path, plugin_tasks):
    out = run(RunConfig(model="retrieval", tasks=["convlite"], dataset="mini", limit=4, output_path=tmp_path,
                        include_path=plugin_tasks))
    res = latest_results(out.run_dir)
    assert res["schema_version"] == 2
    assert {"model", "config", "environment", "tasks", "created", "facebench_version", "run_id", "status",
            "partial", "finished"} <= set(res)
    assert res["status"] == "partial" and res["partial"] == ["--limit 4"] and out.results_file.name == f"results_{res['run_id']}.json"
    assert res["model"]["fingerprint"].startswith("retrieval-")
    assert res["model"]["info"]["text_backend"] in ("minilm", "lexical")
    assert res["environment"]["versions"]["numpy"]
    t = res["tasks"]["convlite"]
    assert t["dataset"]["name"] == "mini" and len(t["dataset"]["hash"]) == 16 and len(t["task_hash"]) == 16
    m = t["metrics"]["exact_match"]
    for key in ("value", "ci", "n", "n_failed", "higher_is_better", "variant", "version", "skipped", "per_attribute"):
        assert key in m
    assert m["ci"][0] <= m["value"] <= m["ci"][1] and m["higher_is_better"] is True
    rows = [json.loads(line) for line in run_file(out.run_dir, "samples", "convlite").read_text().splitlines()]
    assert len(rows) == t["n_items"] == m["n"]
    assert all("exact_match" in r["scores"] and r["qa"]["answer"] for r in rows)


def test_capability_mismatch_is_marked_skipped(tmp_path, plugin_tasks):
    from facebench.adapters.dummy import DummyAdapter

    class GenOnly(DummyAdapter):
        name = "gen-only"
        capabilities = frozenset({"generate"})

    out = run(RunConfig(model=GenOnly(), tasks=["convlite"], dataset="mini", limit=2, output_path=tmp_path,
                        include_path=plugin_tasks))
    assert "no 'understand' capability" in out.results["tasks"]["convlite"]["skipped"]


def test_retrieval_beats_dummy_on_exact_and_attribute_accuracy(tmp_path):
    vals = {}
    for model in ("dummy", "retrieval"):
        out = run(RunConfig(model=model, tasks=["conv", "desc"], dataset="mini", limit=40, output_path=tmp_path))
        conv = out.results["tasks"]["conv"]["metrics"]
        desc = out.results["tasks"]["desc"]["metrics"]
        vals[model] = (conv["exact_match"], conv["attr_acc"], desc["caption_attr_acc"])
    for d, r in zip(vals["dummy"], vals["retrieval"]):
        assert r["value"] > d["value"]
        assert r["ci"][0] > d["ci"][1]  # clearly: the confidence intervals do not overlap


def test_score_cache_reuses_unchanged_and_recomputes_changed_inputs(tmp_path, plugin_tasks):
    import facebench.metrics.probe as probe

    made = run(RunConfig(model="retrieval", tasks=["genlite"], dataset="mini", limit=4, output_path=tmp_path / "gen",
                         include_path=plugin_tasks))
    byo = tmp_path / "imgs"
    byo.mkdir()
    for p in sorted((made.run_dir / "images").rglob("*.png")):
        (byo / p.name).write_bytes(p.read_bytes())
    calls = []
    original = probe.AttributeProbe.compute

    def counting(self, preds, ctx):
        calls.append(1)
        return original(self, preds, ctx)

    probe.AttributeProbe.compute = counting
    try:
        cfg = dict(model="mine", tasks=["genlite"], dataset="mini", limit=4, mode="score", images=byo,
                   output_path=tmp_path / "byo", include_path=plugin_tasks)
        first = run(RunConfig(**cfg))
        again = run(RunConfig(**cfg))
        assert len(calls) == 1  # unchanged inputs: read back, not recomputed
        assert first.results["tasks"]["genlite"]["metrics"] == again.results["tasks"]["genlite"]["metrics"]
        victim = sorted(byo.glob("*.png"))[0]
        from PIL import Image

        Image.new("RGB", (48, 48), (0, 255, 0)).save(victim)
        run(RunConfig(**cfg))
        assert len(calls) == 2  # a changed image is scored again
        run(RunConfig(**cfg, use_cache=False))
        assert len(calls) == 3  # --no_cache recomputes scores too
    finally:
        probe.AttributeProbe.compute = original


def test_retrieval_gallery_index_is_kept_in_the_cache_and_recomputed_when_damaged():
    """Deciding image_backend=auto runs dlib over the whole gallery: done once per machine."""
    from facebench.adapters.retrieval import RetrievalAdapter
    from facebench.paths import cache_root

    first = RetrievalAdapter()
    feats = first._image_idx()
    stored = sorted((cache_root() / "retrieval").glob(f"{first.gallery_fp}-*.npz"))
    assert len(stored) == 1
    again = RetrievalAdapter()
    assert np.array_equal(again._image_idx(), feats) and again.image_backend == first.image_backend
    stored[0].write_bytes(b"not an npz")
    healed = RetrievalAdapter()
    assert np.array_equal(healed._image_idx(), feats)
    with np.load(stored[0]) as z:  # rewritten whole
        assert np.array_equal(z["feats"], feats)
