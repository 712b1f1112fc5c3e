"""Leaderboard Markdown: structure, bolding by direction, marks, skip notes, dataset grouping,
separability notes and byte-determinism (plus the repo's committed leaderboard.md)."""
from __future__ import annotations

import argparse
import re
import json
import shutil
from pathlib import Path

import pytest
from test_report_synthetic import make_results_tree, make_run

from facebench.report.commands import collect_runs, register
from facebench.report.leaderboard import build_leaderboard, render_markdown
from facebench.report.loader import load_reported, load_runs

REPO = Path(__file__).resolve().parent.parent


def md_tables(md: str) -> dict[str, list[list[str]]]:
    """title (### heading, prefixed by its ## section) → rows of cells (header first, separator dropped)."""
    out: dict[str, list[list[str]]] = {}
    section = title = ""
    for line in md.splitlines():
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith("### "):
            title = f"{section} / {line[4:]}"
        elif line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            out.setdefault(title, []).append(cells)
    return out


def table(tables, section_part: str, title_part: str):
    hits = [v for k, v in tables.items() if section_part in k.split(" / ")[0] and title_part in k.split(" / ")[1]]
    assert len(hits) == 1, (section_part, title_part, list(tables))
    return hits[0]


def col(rows, header_prefix: str) -> int:
    return next(i for i, h in enumerate(rows[0]) if h.startswith(header_prefix))


def row(rows, model: str) -> list[str]:
    return next(r for r in rows if r[0] == model)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb")
    res = make_results_tree(root)
    # a reproduced run on the paper's dataset, better than every paper row: it must not steal
    # the paper rows' bold, and the paper rows must keep theirs
    make_run(res, "ours_unif2ace", model="ours", dataset="unif2ace", quality=0.97, seed=9, fid=10.0,
             understanding=False)
    return res


@pytest.fixture(scope="module")
def md(tree):
    return render_markdown(build_leaderboard(load_reported() + load_runs([tree])))


def test_every_table_is_rectangular(md):
    tables = md_tables(md)
    assert len(tables) >= 8
    for title, rows in tables.items():
        assert len({len(r) for r in rows}) == 1, title
    assert md.endswith("\n") and not md.endswith("\n\n")
    assert not [ln for ln in md.splitlines() if ln != ln.rstrip()]  # nothing for an editor/hook to strip


def test_paper_column_order_and_arrows(md):
    t = md_tables(md)
    gen = table(t, "Generation (text → face) · dataset `mini`", "paper's columns")
    assert gen[0][:2] == ["Model", "Source"]
    assert [h for h in gen[0] if "↑" in h or "↓" in h] == ["VQAscore-CF5 ↑", "VQAscore-LV ↑", "FID ↓", "VLM-score ↑"]
    und = table(t, "Understanding (face → text) · dataset `unif2ace`", "paper's columns")
    assert [h for h in und[0] if "↑" in h] == ["Desc-GPT ↑", "Conv-GPT ↑", "Desc-DS ↑", "Conv-DS ↑"]


def test_bold_respects_direction_within_comparable_rows(md):
    t = md_tables(md)
    gen = table(t, "Generation (text → face) · dataset `unif2ace`", "paper's columns")
    fid, cf5 = col(gen, "FID"), col(gen, "VQAscore-CF5")
    # paper rows: lowest FID (UniF²ace 66.005) and highest CF5 (SD3 0.903) are bold, as in the paper
    assert row(gen, "UniF²ace")[fid] == "**66.005**"
    assert row(gen, "SD3")[cf5] == "**0.903**"
    assert row(gen, "LlamaGen")[fid] == "183.466"  # the largest FID is not bold
    # the reproduced row is alone in its class (different sample set/variant): nothing to beat, no bold
    ours = row(gen, "ours")
    assert ours[1] == "reproduced" and "**" not in ours[fid] and ours[fid].startswith("10.000 ± 4.000")
    mini = table(t, "Generation (text → face) · dataset `mini`", "paper's columns")
    mfid = col(mini, "FID")
    assert row(mini, "alpha")[mfid].startswith("**40.000")  # quality 0.8 → FID 40 (lower = better)
    assert "**" not in row(mini, "beta")[mfid]
    bold_counts = [sum("**" in r[j] for r in mini[1:]) for j in range(2, len(mini[0]) - 1)]
    assert all(c >= 1 for c in bold_counts)


def test_reported_vs_reproduced_marks_and_sources(md):
    t = md_tables(md)
    gen = table(t, "Generation (text → face) · dataset `unif2ace`", "paper's columns")
    assert row(gen, "UniF²ace")[1].startswith("paper v1 T1")
    assert row(gen, "Flux.1-dev")[1].startswith("paper ICLR")
    assert "Reported in arXiv 2503.08120v1, Table 1; copied from the paper, not re-measured." in md
    # Flux's missing VQAscore-LV is "–" with a note, not a number
    lv = col(gen, "VQAscore-LV")
    assert row(gen, "Flux.1-dev")[lv].startswith("–")
    und = table(t, "Understanding (face → text) · dataset `unif2ace`", "paper's columns")
    assert row(und, "OmniFlow")[col(und, "Conv-GPT")].startswith("–")
    assert "`ours_unif2ace`: model `ours`" in md  # the Inputs list names the run directory


def test_skipped_cells_are_dashes_with_reason(md):
    t = md_tables(md)
    und = table(t, "Understanding (face → text) · dataset `mini`", "paper's columns")
    cell = row(und, "gen_only")[col(und, "Desc-GPT")]
    assert cell.startswith("–")
    sup = cell[1:]
    num = sup.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789"))
    block = md.split("dataset `mini`", 2)[-1]
    assert re.search(rf"^- {re.escape(sup)} model 'gen_only' cannot answer", block, re.M), num
    assert "no OPENAI_API_KEY; fix: export OPENAI_API_KEY" in md


def test_datasets_are_grouped_not_ranked_together(md):
    sections = re.findall(r"^## (.*)$", md, re.M)
    assert sections[:2] == ["Generation (text → face) · dataset `unif2ace` (test)",
                            "Generation (text → face) · dataset `mini` (test)"]
    t = md_tables(md)
    mini = table(t, "Generation (text → face) · dataset `mini`", "paper's columns")
    assert {r[0] for r in mini[1:]} == {"alpha", "beta", "gen_only"}


def test_extra_and_attribute_tables(md):
    t = md_tables(md)
    other = table(t, "Generation (text → face) · dataset `mini`", "Other generation metrics")
    assert other[0][2:4] == ["KID ↓", "Attr-probe acc ↑"]
    und = table(t, "Understanding (face → text) · dataset `mini`", "Other understanding metrics")
    assert "Exact match ↑" in und[0]
    attr = table(t, "Generation (text → face) · dataset `mini`", "Per-attribute VQAscore-CF5")
    assert attr[0][:2] == ["Attribute", "n"] and set(attr[0][2:]) == {"alpha", "beta", "gen_only"}
    labels = [r[0] for r in attr[1:]]
    assert "hair_color" in labels and "· hair_color = blond" in labels
    # each model's weakest value is italic, and in the synthetic runs it is the planted weak hair colour
    weak = {"alpha": "blond", "beta": "brown", "gen_only": "black"}  # FAMILIES order, seed % 3
    for j, model in enumerate(attr[0][2:], start=2):
        italic = [r[0] for r in attr[1:] if r[j].startswith("*") and not r[j].startswith("**")
                  or r[j].startswith("***")]
        assert italic == [f"· hair_color = {weak[model]}"], (model, italic)


def test_not_separable_rows_are_marked(tmp_path):
    res = tmp_path / "results"
    make_run(res, "a", model="a", quality=0.7, seed=1)
    make_run(res, "b", model="b", quality=0.7, seed=4, fid=63.0)  # same quality, other noise: not separable
    shutil.copytree(res / "a", res / "a_copy")  # identical scores: a tie, both bold
    copy = json.loads((res / "a_copy" / "results.json").read_text())
    copy["model"]["fingerprint"] = "a-other-weights"  # same name, another model: its own row
    (res / "a_copy" / "results.json").write_text(json.dumps(copy))
    make_run(res, "far", model="far", quality=0.1, seed=2, noise=0.01)
    md = render_markdown(build_leaderboard(load_runs([res])))
    assert "a (a_copy)" in md and "a (a)" in md  # duplicate model names get their directory
    mini = table(md_tables(md), "Generation (text → face) · dataset `mini`", "paper's columns")
    cf5 = col(mini, "VQAscore-CF5")
    best = [r[0] for r in mini[1:] if r[cf5].startswith("**")]
    other = ({"a (a)", "a (a_copy)", "b"} - set(best)).pop()
    assert len(best) in (1, 2) and "far" not in best
    assert row(mini, other)[cf5].endswith("≈") and "≈" not in row(mini, "far")[cf5]
    line = next(x for x in md.splitlines() if x.startswith("VQAscore-CF5: not separable from the best"))
    assert f"{other} (paired bootstrap p=" in line and "n=12" in line and "far" not in line
    # FID is set-level (no per-item scores): separability falls back to CI overlap
    assert re.search(r"FID: not separable from the best .*\(95% CIs overlap\)", md)


def test_byte_deterministic_across_runs_paths_and_order(tree, tmp_path):
    runs1 = collect_runs([str(tree)], quiet=True)
    one = render_markdown(build_leaderboard(runs1))
    copy = tmp_path / "elsewhere" / "results"
    shutil.copytree(tree, copy)
    dirs = sorted((str(p) for p in copy.iterdir()), reverse=True)
    two = render_markdown(build_leaderboard(collect_runs(dirs, quiet=True)))
    assert one == two
    assert "2026-11-22" not in one and "02:30" not in one  # the results' "created" time is not printed


def test_cli_leaderboard_writes_all_formats(tree, tmp_path, monkeypatch, capsys):
    parser = argparse.ArgumentParser(prog="facebench")
    register(parser.add_subparsers(dest="command"))
    monkeypatch.chdir(tree.parent)  # default RESULT_DIRS: ./results/*/
    args = parser.parse_args(["leaderboard", "-o", str(tmp_path / "lb.md"), "--latex", str(tmp_path / "lb.tex"),
                              "--csv", str(tmp_path / "lb.csv")])
    assert args.func(args) == 0
    text = (tmp_path / "lb.md").read_text(encoding="utf-8")
    assert "`alpha_mini`" in text and "UniF²ace" in text
    assert (tmp_path / "lb.tex").read_text().count(r"\toprule") == len(md_tables(text))
    args = parser.parse_args(["leaderboard", "--no_reported", "-o", str(tmp_path / "mine.md"), str(tree / "beta_mini")])
    assert args.func(args) == 0
    mine = (tmp_path / "mine.md").read_text(encoding="utf-8")
    assert "UniF²ace" not in mine.replace("UniF²ace paper", "") and "`beta_mini`" in mine
    args = parser.parse_args(["leaderboard", "-o", str(tmp_path / "x.md"), str(tmp_path / "missing")])
    assert args.func(args) == 2
    assert "does not exist" in capsys.readouterr().err


def test_repo_leaderboard_is_regenerated_by_the_command(monkeypatch):
    committed = REPO / "leaderboard.md"
    if not committed.exists():
        pytest.skip("no leaderboard.md in the repo yet: generate it with `facebench leaderboard` from the repo root")
    monkeypatch.chdir(REPO)
    # only the committed runs: a user's own runs/ (the README's first command) must not make this fail
    fresh = render_markdown(build_leaderboard(collect_runs(["results"], quiet=True)))
    assert fresh == committed.read_text(encoding="utf-8"), (
        "leaderboard.md is stale: regenerate it with `facebench leaderboard results -o leaderboard.md` "
        "from the repo root")
