"""Synthetic run directories following RESULTS_SCHEMA.md v1 (used by every test_report_* file),
and tests of the loader on them.

Aggregates are made by the harness's own ``finalize`` (mean, bootstrap CI, per-attribute
breakdown) from per-item scores, so the fixtures look exactly like what the runner writes.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facebench.metrics.aggregate import finalize
from facebench.types import QA, MetricValue, Prediction

FAMILIES = {
    "hair_color": ["black", "blond", "brown"],
    "eyeglasses": ["yes", "no"],
    "smile": ["yes", "no"],
    "gender": ["female", "male"],
}
NO_KEY = "no OPENAI_API_KEY; fix: export OPENAI_API_KEY=... or use --judge embedding"


def _attributes(doc: int) -> dict[str, str]:
    return {f: vals[(doc // (i + 1)) % len(vals)] for i, (f, vals) in enumerate(FAMILIES.items())}


def _face(color: tuple[int, int, int], doc: int, size: int = 64):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), (235, 235, 240))
    d = ImageDraw.Draw(img)
    d.ellipse([10, 6, size - 10, size - 4], fill=color)
    d.ellipse([22, 24, 28, 30], fill=(30, 30, 30))
    d.ellipse([size - 28, 24, size - 22, 30], fill=(30, 30, 30))
    mouth = 2 + doc % 6
    d.arc([22, 34, size - 22, 34 + mouth * 2 + 4], 0, 180, fill=(120, 20, 20), width=2)
    return img


def _summary(mv: MetricValue, preds: list[Prediction]) -> dict:
    return finalize(mv, preds).summary()


def _mv(key: str, per_item: dict, hib: bool = True, variant: str = "") -> MetricValue:
    return MetricValue(name=key, value=None, higher_is_better=hib, variant=variant or key, per_item=per_item)


def make_run(root: Path, name: str, *, model: str = "model_a", dataset: str = "mini", n_docs: int = 12,
             quality: float = 0.7, seed: int = 0, generation: bool = True, understanding: bool = True,
             understand_skipped: str | None = None, fid: float | None = None, noise: float = 0.08,
             scores_override: dict | None = None) -> Path:
    """Write a run directory ``root/name`` with generation tasks (fid, vqa) and understanding tasks
    (desc, conv). Per-item scores ~ quality + noise; ``scores_override`` maps metric key → per-item
    list to plant exact scores."""
    rng = np.random.default_rng(seed)
    run = root / name
    run.mkdir(parents=True, exist_ok=True)
    docs = [f"d{i:03d}" for i in range(n_docs)]
    tasks: dict = {}
    color = tuple(int(c) for c in rng.integers(60, 230, size=3))
    weak_hair = FAMILIES["hair_color"][seed % 3]

    def samples(task: str, preds: list[Prediction], mvs: list[MetricValue], extra: dict | None = None) -> None:
        with (run / f"samples_{task}.jsonl").open("w", encoding="utf-8") as f:
            for p in preds:
                rec = {"item_id": p.item_id, "doc_id": p.doc_id, "prompt": p.prompt, "reference": p.reference,
                       "output": p.output, "images": [str(i) for i in p.images], "attributes": p.attributes,
                       "source_image": str(p.source_image) if p.source_image else None,
                       "qa": p.qa.to_dict() if p.qa else None,
                       "scores": {m.name: m.per_item.get(p.item_id) for m in mvs if m.per_item},
                       "details": (extra or {}).get(p.item_id, {})}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")

    def per_item(key: str, ids: list[str], lo: float, hi: float, scale: float = 1.0) -> dict:
        if scores_override and key in scores_override:
            return dict(zip(ids, scores_override[key]))
        # a model-specific weak attribute value, so per-attribute tables have something to show
        weak = [0.25 if _attributes(int(i.split("#")[0][1:]))["hair_color"] == weak_hair else 0.0 for i in ids]
        vals = np.clip(quality - np.asarray(weak) + rng.normal(0, noise, size=len(ids)), 0, 1) * (hi - lo) + lo
        return {i: round(float(v) * scale, 6) for i, v in zip(ids, vals)}

    ds = {"name": dataset, "split": "test", "n_samples": n_docs, "hash": "abcdef0123456789"}
    src = {}
    for i, d in enumerate(docs):  # the dataset's real faces (absolute paths, outside the run dir)
        src[d] = root.parent / "_dataset" / f"{d}.png"
        if not src[d].exists():
            src[d].parent.mkdir(parents=True, exist_ok=True)
            _face((200, 170, 140), i).save(src[d])
    if generation:
        gen_key = "g" + name[:6]
        preds = []
        for i, doc in enumerate(docs):
            rel = f"images/{gen_key}/{doc}_0.png"
            (run / rel).parent.mkdir(parents=True, exist_ok=True)
            _face(color, i).save(run / rel)
            preds.append(Prediction(item_id=doc, doc_id=doc, task="vqa", prompt=f"A person {i} with {_attributes(i)['hair_color']} hair",
                                    images=[Path(rel)], attributes=_attributes(i), source_image=src[doc]))
        ids = [p.item_id for p in preds]
        vq = [_mv("vqascore_cf5", per_item("vqascore_cf5", ids, 0, 1), variant="clip-flant5-xxl"),
              _mv("vqascore_lv", per_item("vqascore_lv", ids, 0, 1), variant="llava-1.5-13b"),
              _mv("vlm_score", per_item("vlm_score", ids, 0, 100), variant="vlm-judge"),
              _mv("attr_probe_acc", per_item("attr_probe_acc", ids, 0, 1), variant="attr-probe")]
        tasks["vqa"] = {"kind": "generation", "task_hash": "0" * 16, "dataset": ds, "n_items": len(preds),
                        "skipped": None, "metrics": {m.name: _summary(m, preds) for m in vq}}
        samples("vqa", preds, vq)
        fid_v = fid if fid is not None else round(200 * (1 - quality), 3)
        fmv = MetricValue(name="fid", value=fid_v, higher_is_better=False, variant="clean-fid inception clean",
                          ci=(fid_v - 4.0, fid_v + 4.0), n=n_docs, aggregate="set")
        kmv = MetricValue(name="kid", value=round(0.05 * (1 - quality), 5), higher_is_better=False,
                          variant="clean-fid kid", n=n_docs, aggregate="set")
        tasks["fid"] = {"kind": "generation", "task_hash": "1" * 16, "dataset": ds, "n_items": len(preds),
                        "skipped": None, "metrics": {"fid": fmv.summary(), "kid": kmv.summary()}}
        samples("fid", [Prediction(**{**p.__dict__, "task": "fid"}) for p in preds], [])
    if understanding:
        if understand_skipped:
            for t in ("desc", "conv"):
                tasks[t] = {"kind": "understanding", "task_hash": "2" * 16, "dataset": ds, "n_items": 0,
                            "skipped": understand_skipped, "metrics": {}}
        else:
            dpreds = [Prediction(item_id=d, doc_id=d, task="desc", prompt="Describe this face.",
                                 reference=f"A face with {_attributes(i)['hair_color']} hair.",
                                 output=f"{model} says: a face, {_attributes(i)['hair_color']} hair.",
                                 attributes=_attributes(i), source_image=src[d]) for i, d in enumerate(docs)]
            ids = [p.item_id for p in dpreds]
            dm = [_mv("desc_embed", per_item("desc_embed", ids, 1, 10), variant="embedding-judge minilm"),
                  MetricValue(name="desc_gpt", value=None, higher_is_better=True, variant="gpt-4o-2024-08-06",
                              skipped=NO_KEY)]
            reviews = {p.item_id: {"desc_embed": {"review": f"Similarity judged {dm[0].per_item[p.item_id]:.1f}/10."}}
                       for p in dpreds}
            tasks["desc"] = {"kind": "understanding", "task_hash": "3" * 16, "dataset": ds, "n_items": len(dpreds),
                             "skipped": None, "metrics": {m.name: _summary(m, dpreds) for m in dm}}
            samples("desc", dpreds, dm, reviews)
            cpreds = []
            for i, d in enumerate(docs):
                for q, fam in enumerate(("hair_color", "eyeglasses")):
                    ans = _attributes(i)[fam]
                    cpreds.append(Prediction(item_id=f"{d}#q{q}", doc_id=d, task="conv", prompt=f"What about {fam}?",
                                             reference=ans, output=ans if rng.random() < quality else "unsure",
                                             qa=QA(question=f"What about {fam}?", answer=ans, kind="closed", family=fam),
                                             attributes=_attributes(i), source_image=src[d]))
            cids = [p.item_id for p in cpreds]
            em = {p.item_id: float(p.output == p.reference) for p in cpreds}
            if scores_override and "exact_match" in scores_override:
                em = dict(zip(cids, scores_override["exact_match"]))
            cm = [_mv("exact_match", em, variant="exact_match"),
                  _mv("conv_embed", per_item("conv_embed", cids, 1, 10), variant="embedding-judge minilm"),
                  MetricValue(name="conv_gpt", value=None, higher_is_better=True, variant="gpt-4o-2024-08-06",
                              skipped=NO_KEY)]
            tasks["conv"] = {"kind": "understanding", "task_hash": "4" * 16, "dataset": ds, "n_items": len(cpreds),
                             "skipped": None, "metrics": {m.name: _summary(m, cpreds) for m in cm}}
            samples("conv", cpreds, cm)
    results = {
        "schema_version": 1, "facebench_version": "0.1.0", "created": "2026-11-22T02:30:00Z",
        "model": {"name": model, "fingerprint": f"{model}-0123abcd", "args": {}, "capabilities": ["generate", "understand"],
                  "info": {}, "paper_model": None},
        "config": {"tasks": sorted(tasks), "dataset": dataset, "limit": None, "batch_size": 8, "seed": 0,
                   "device": "cpu", "mode": "all", "use_cache": True, "metric_args": {}, "judge": {}},
        "environment": {"python": "3.11", "platform": "linux", "git_hash": "abc123", "versions": {}},
        "tasks": tasks,
    }
    (run / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return run


def make_results_tree(root: Path) -> Path:
    """A results/ folder with three runs on `mini`: two full models and a generation-only one."""
    res = root / "results"
    make_run(res, "alpha_mini", model="alpha", quality=0.8, seed=1)
    make_run(res, "beta_mini", model="beta", quality=0.5, seed=2)
    make_run(res, "gen_only_mini", model="gen_only", quality=0.79, seed=3,
             understand_skipped="model 'gen_only' cannot answer (no 'understand' capability)")
    return res


# -- loader tests ---------------------------------------------------------------------------------
def test_load_run_reads_schema(tmp_path):
    from facebench.report.loader import item_scores, load_run

    run = load_run(make_run(tmp_path, "r1", quality=0.6))
    assert run.model == "model_a" and run.dataset == "mini" and run.source == "reproduced"
    gen = run.metrics_of("generation")
    assert set(gen) >= {"vqascore_cf5", "fid", "kid"}
    assert gen["fid"].higher_is_better is False and gen["fid"].ci == (gen["fid"].value - 4, gen["fid"].value + 4)
    und = run.metrics_of("understanding")
    assert und["desc_gpt"].skipped and not und["desc_gpt"].ok
    scores = item_scores(run, "vqa", "vqascore_cf5")
    assert len(scores) == 12
    assert gen["vqascore_cf5"].value == pytest.approx(np.mean(list(scores.values())))
    assert gen["vqascore_cf5"].per_attribute["hair_color"]["n"] == 12


def test_loader_errors(tmp_path):
    from facebench.report.loader import ResultsError, expand_result_paths, load_run

    with pytest.raises(ResultsError, match="does not exist"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match="holds no runs"):
        load_run(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text("{not json")
    with pytest.raises(ResultsError, match="cannot read"):
        load_run(bad)
    (bad / "results.json").write_text(json.dumps({"schema_version": 99, "tasks": {}}))
    with pytest.raises(ResultsError, match="schema_version 99"):
        load_run(bad)
    res = make_results_tree(tmp_path)
    assert [p.parent.name for p in expand_result_paths([res])] == ["alpha_mini", "beta_mini", "gen_only_mini"]


def test_reported_rows_match_reference():
    """The YAML rows are the paper's numbers (docs/reference.md §1), '–' as null, each with a source."""
    from facebench.report.loader import load_reported

    rows = load_reported()
    gen = {r.model: r for r in rows if r.has_kind("generation")}
    und = {r.model: r for r in rows if r.has_kind("understanding")}
    assert len(gen) == 10 and len(und) == 9
    u = gen["UniF²ace"].metrics_of("generation")
    assert (u["vqascore_cf5"].value, u["vqascore_lv"].value, u["fid"].value, u["vlm_score"].value) == (0.894, 0.679, 66.005, 88.049)
    assert gen["UniF²ace"].source_detail == "arXiv 2503.08120v1, Table 1"
    flux = gen["Flux.1-dev"].metrics_of("generation")
    assert flux["vqascore_lv"].value is None and flux["fid"].value == 76.427
    assert "ICLR" in gen["Flux.1-dev"].source_detail
    omni = und["OmniFlow"].metrics_of("understanding")
    assert omni["conv_gpt"].value is None and omni["conv_ds"].value is None and omni["desc_gpt"].value == 1.62
    assert und["UniF²ace"].metrics_of("understanding")["desc_ds"].value == 7.38
    assert all(r.source_detail.startswith("arXiv 2503.08120") for r in rows if not r.has_kind("video"))
    video = {(r.model, r.dataset): r.metrics_of("video") for r in rows if r.has_kind("video")}
    assert {k: (m["uar"].value, "war" in m) for k, m in video.items()} == {
        ("FaVChat", "DFEW"): (0.6817, False), ("FaVChat", "MAFW"): (0.4907, False)}  # FaVChat, arXiv 2503.09158


def test_dataframe_helper(tmp_path):
    pd = pytest.importorskip("pandas")
    from facebench.report.loader import load_runs, to_dataframe

    runs = load_runs([make_results_tree(tmp_path)])
    df = to_dataframe(runs)
    assert isinstance(df, pd.DataFrame)
    main = df[(df.attribute == "") & (df.metric == "vqascore_cf5")]
    assert sorted(main.model) == ["alpha", "beta", "gen_only"]
    assert (df[df.attribute == "hair_color"].attribute_value.isin(["all", "black", "blond", "brown"])).all()


def test_report_imports_stay_light():
    """`facebench --help` must not pay for torch, matplotlib or pandas through the report package."""
    import subprocess
    import sys

    code = ("import sys, facebench.report.commands, facebench.report.leaderboard, facebench.report.compare, "
            "facebench.report.html, facebench.report.latex, facebench.report.csv, facebench.report.plots; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
