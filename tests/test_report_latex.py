"""LaTeX output checked structurally: booktabs rules, balanced braces, escaped specials, the same
number of columns in every row as the column spec; compiled when a TeX engine is installed."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from test_report_synthetic import make_results_tree, make_run

from facebench.report.latex import escape, inline, render_latex
from facebench.report.leaderboard import build_leaderboard
from facebench.report.loader import load_reported, load_runs

HOSTILE = "sd3_turbo 100% & co #1 {x} ~^$"


@pytest.fixture(scope="module")
def tex(tmp_path_factory):
    res = make_results_tree(tmp_path_factory.mktemp("tex"))
    make_run(res, "hostile", model=HOSTILE, quality=0.6, seed=5)
    return render_latex(build_leaderboard(load_reported() + load_runs([res])))


def _unescaped(text: str, ch: str) -> list[int]:
    return [m.start() for m in re.finditer(r"(?<!\\)" + re.escape(ch), text)]


def _body(tex: str) -> list[str]:
    return [line for line in tex.splitlines() if not line.startswith("%")]


def test_booktabs_structure(tex):
    lines = _body(tex)
    n = sum(line == r"\begin{table}[t]" for line in lines)
    assert n >= 8 and n == sum(line == r"\end{table}" for line in lines)
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}", r"\end{tabular}", r"\caption{", r"\label{tab:"):
        assert sum(line.startswith(rule) for line in lines) == n, rule
    # per table: begin{tabular} < toprule < midrule < bottomrule < end{tabular}
    for block in tex.split(r"\begin{table}[t]")[1:]:
        pos = [block.index(k) for k in (r"\begin{tabular}", r"\toprule", r"\midrule", r"\bottomrule", r"\end{tabular}")]
        assert pos == sorted(pos)
    assert r"\hline" not in tex  # booktabs rules only
    labels = re.findall(r"\\label\{(tab:[^}]*)\}", tex)
    assert len(labels) == len(set(labels))


def test_braces_balanced(tex):
    depth = 0
    for line in _body(tex):
        stripped = re.sub(r"\\[{}]", "", line)
        for ch in stripped:
            depth += ch == "{"
            depth -= ch == "}"
            assert depth >= 0, line
    assert depth == 0


def test_specials_escaped(tex):
    body = "\n".join(_body(tex))
    assert not _unescaped(body, "_")
    assert not _unescaped(body, "%")
    assert not _unescaped(body, "#")
    assert escape(HOSTILE) in tex  # the hostile model name appears escaped
    assert escape(HOSTILE) == r"sd3\_turbo 100\% \& co \#1 \{x\} \textasciitilde{}\textasciicircum{}\$"
    assert "UniF\\textsuperscript{2}ace" in tex
    assert r"$\uparrow$" in tex and r"$\downarrow$" in tex


def test_same_column_count_in_every_row(tex):
    for block in tex.split(r"\begin{tabular}{")[1:]:
        spec, rest = block.split("}", 1)
        assert re.fullmatch(r"[lr]+", spec)
        inner = rest.split(r"\end{tabular}")[0]
        rows = [ln for ln in inner.splitlines() if ln.endswith(r"\\")]
        assert rows, "tabular without rows"
        for ln in rows:
            assert len(_unescaped(ln, "&")) == len(spec) - 1, ln
    # no stray unescaped & outside tabulars
    outside = re.sub(r"\\begin\{tabular\}.*?\\end\{tabular\}", "", "\n".join(_body(tex)), flags=re.S)
    assert not _unescaped(outside, "&")


def test_bold_and_notes(tex):
    assert r"\textbf{66.005}" in tex and r"\textbf{0.903}" in tex
    assert r"\textsuperscript{1}~Reported in arXiv 2503.08120v1, Table 1" in tex
    assert inline("**b** `x_y` *i*") == r"\textbf{b} \texttt{x\_y} \emph{i}"


def test_compiles_when_tex_is_installed(tex, tmp_path):
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-extra); structure is checked above")
    doc = "\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{booktabs}\n" \
          "\\begin{document}\n" + tex + "\n\\end{document}\n"
    (tmp_path / "t.tex").write_text(doc, encoding="utf-8")
    r = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:]
