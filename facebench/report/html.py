"""A self-contained HTML report (one file, no scripts, no network): the leaderboard tables, the
plots as embedded PNGs, a gallery of the same prompts side by side across models with their
scores, and for understanding tasks the question, reference, each model's answer and the judge's
review. The PNGs are also written next to the page (``plots/``)."""
from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path
from typing import Any, Sequence

from facebench.images import atomic_write_text
from facebench.report.columns import KIND_TITLES, PAPER_COLUMNS, column_decimals, column_for, is_paper_key, order_extra
from facebench.report.leaderboard import group_rows, slug, build_leaderboard
from facebench.report.loader import RunRecord, load_samples
from facebench.report.tables import Cell, Leaderboard, Table

GALLERY_ITEMS = 8
QA_ITEMS = 6
THUMB = 160
TEXT_LIMIT = 700

CSS = """
:root { --fg:#1d232b; --muted:#5b6672; --line:#dde3ea; --head:#f3f6f9; --accent:#3b6ea8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg);
       margin: 0; background: #fafbfc; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 24px 0 8px; }
h4 { font-size: 14px; margin: 18px 0 6px; color: var(--muted); }
p.lead, .preamble p { color: var(--muted); margin: 4px 0; }
nav { margin: 14px 0 6px; padding: 10px 14px; background: var(--head); border-radius: 6px; font-size: 13px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
table { border-collapse: collapse; margin: 6px 0 4px; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--head); text-align: left; font-weight: 600; white-space: nowrap; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.paper td { color: #46505a; background: #fcfcfd; }
tbody tr:hover td { background: #f5f8fb; }
tr.fam td { font-weight: 600; background: #f8fafc; }
details { margin: 4px 0 8px; }
details summary { cursor: pointer; font-weight: 600; padding: 3px 0; color: var(--accent); }
td .mark { color: #a06000; }
sup { color: var(--muted); font-size: 9px; }
.tag { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11px; }
.tag.rep { background: #e3edf8; color: #24507f; }
.tag.pap { background: #eceff2; color: #4b5560; }
ol.notes, .legend { font-size: 12px; color: var(--muted); margin: 4px 0 12px; }
ol.notes { padding-left: 22px; }
code { font-size: 12px; background: #f1f3f5; padding: 0 3px; border-radius: 3px; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 14px; }
.plots figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px; background: #fff; }
.plots img { display: block; width: 100%; height: auto; }
.plots figcaption { margin: 4px 2px 0; }
.gallery td { min-width: 170px; }
table.qa { width: 100%; table-layout: fixed; }
table.qa th:first-child { width: 250px; }
table.qa td { min-width: 0; overflow-wrap: anywhere; }
.gallery td.prompt { max-width: 300px; font-size: 12.5px; }
.gallery img.thumb { display: block; width: 160px; height: auto; border-radius: 4px; border: 1px solid var(--line); }
.scores { font-size: 11.5px; color: var(--muted); margin-top: 3px; font-variant-numeric: tabular-nums; }
.scores b { color: var(--fg); font-weight: 600; }
.attrs { font-size: 11px; color: var(--muted); margin-top: 4px; }
.answer { font-size: 12.5px; white-space: pre-wrap; }
.review { font-size: 11.5px; color: var(--muted); border-left: 3px solid var(--line); padding-left: 6px; margin-top: 4px;
          white-space: pre-wrap; }
.ref { font-size: 12.5px; color: #1f5130; }
.missing { color: #a0a0a0; font-size: 12px; }
footer { margin-top: 40px; font-size: 12px; color: var(--muted); }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """Escape, then the leaderboard's light Markdown: `code`, **bold**, *italic*."""
    out = []
    for k, part in enumerate(re.split(r"`([^`]*)`", text)):
        if k % 2:
            out.append(f"<code>{_e(part)}</code>")
            continue
        s = _e(part)
        s = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)
        s = re.sub(r"\*([^*]+)\*", r"<i>\1</i>", s)
        out.append(s)
    return "".join(out)


def _short(text: Any, limit: int = TEXT_LIMIT) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= limit else s[:limit - 1].rstrip() + "…"


def _cell_html(c: Cell, align: str, source: bool = False) -> str:
    text = _e(c.text)
    if source:
        text = f'<span class="tag {"pap" if c.text.startswith("paper") else "rep"}">{text}</span>'
    if c.bold:
        text = f"<b>{text}</b>"
    if c.italic:
        text = f"<i>{text}</i>"
    if c.mark:
        text += f' <span class="mark" title="not separable from the best">{_e(c.mark)}</span>'
    if c.notes:
        text += "<sup>" + ",".join(str(n) for n in sorted(set(c.notes))) + "</sup>"
    cls = ' class="r"' if align == "r" else ""
    return f"<td{cls}>{text}</td>"


def table_html(t: Table) -> str:
    if t.breakdown:
        out = [f'<details id="{_e(t.id)}"><summary>{_e(t.title)}</summary>', "<table>", "<thead><tr>"]
    else:
        out = [f'<h3 id="{_e(t.id)}">{_e(t.title)}</h3>', "<table>", "<thead><tr>"]
    out += [f'<th class="{"r" if a == "r" else ""}">{_e(h)}</th>' for h, a in zip(t.headers, t.align)]
    out.append("</tr></thead><tbody>")
    src = t.headers.index("Source") if "Source" in t.headers else -1
    for row in t.rows:
        paper = src >= 0 and row[src].text.startswith("paper")
        family = t.breakdown and not row[0].text.startswith("·")
        out.append('<tr class="paper">' if paper else ('<tr class="fam">' if family else "<tr>"))
        out += [_cell_html(c, a, j == src) for j, (c, a) in enumerate(zip(row, t.align))]
        out.append("</tr>")
    out.append("</tbody></table>")
    if t.notes:
        out.append('<ol class="notes">' + "".join(f"<li>{_inline(n)}</li>" for n in t.notes) + "</ol>")
    for line in t.legend:
        out.append(f'<p class="legend">{_inline(line)}</p>')
    if t.breakdown:
        out.append("</details>")
    return "\n".join(out)


# -- images -------------------------------------------------------------------------------------
def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def thumbnail(path: Path, size: int = THUMB) -> str | None:
    """A JPEG thumbnail as a data: URI (display only: scores are computed on the PNGs), or None
    when the file is missing or unreadable."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=85)
    except (OSError, ValueError):
        return None
    return _data_uri(buf.getvalue(), "image/jpeg")


def _resolve(run: RunRecord, p: str) -> Path:
    """Generated images are relative to the run directory; a dataset's source image may be absolute
    or relative to where the run was started."""
    q = Path(p)
    if q.is_absolute() or run.path is None:
        return q
    inside = run.path / q
    return inside if inside.exists() or not q.exists() else q.resolve()


def _resolve_source(run: RunRecord, text: str) -> Path:
    """A dataset image: written relative to the dataset's root (or the facebench cache), so it is
    found on any machine that has the dataset (the mini set is rebuilt where it is missing)."""
    from facebench.runner.results import resolve_portable

    found = resolve_portable(text, dataset_root_of(run))
    return found if found is not None else Path(text)


def dataset_root_of(run: RunRecord) -> Path | None:
    name = run.dataset
    if name == "mini":
        from facebench.data.mini import default_root

        return default_root()
    p = Path(name)
    if p.exists():
        return p.parent if p.is_file() else p
    return None


# -- gallery ------------------------------------------------------------------------------------
def _merged_items(run: RunRecord, kind: str, task: str | None = None) -> dict[str, dict[str, Any]]:
    """item_id → {prompt, reference, output, images, scores, details, attributes} over the run's
    tasks of ``kind`` (or one task); generation tasks share images, scores are merged."""
    items: dict[str, dict[str, Any]] = {}
    for t in run.tasks_of(kind):
        if task is not None and t.name != task:
            continue
        for rec in load_samples(run, t.name):
            iid = str(rec.get("item_id"))
            it = items.setdefault(iid, {"prompt": rec.get("prompt"), "reference": rec.get("reference"),
                                        "output": rec.get("output"), "images": [], "scores": {}, "details": {},
                                        "attributes": rec.get("attributes") or {}, "qa": rec.get("qa"),
                                        "source": None})
            imgs = list(rec.get("images") or [])
            if imgs and not it["images"]:
                it["images"] = [_resolve(run, p) for p in imgs]
            if rec.get("source_image") and it["source"] is None:
                it["source"] = _resolve_source(run, rec["source_image"])
            for k, v in (rec.get("scores") or {}).items():
                if v is not None:
                    it["scores"][k] = v
            for k, v in (rec.get("details") or {}).items():
                it["details"][k] = v
    return items


def _pick(per_run: dict[str, dict[str, dict]], limit: int) -> list[str]:
    """Items shown by the most runs first; across documents before a second question of the same
    document (``doc#q1``); then by item_id (deterministic)."""
    count: dict[str, int] = {}
    for items in per_run.values():
        for iid in items:
            count[iid] = count.get(iid, 0) + 1
    by_doc: dict[str, list[str]] = {}
    for iid in sorted(count):
        by_doc.setdefault(iid.split("#")[0], []).append(iid)
    rank = {iid: k for ids in by_doc.values() for k, iid in enumerate(ids)}
    return sorted(count, key=lambda i: (-count[i], rank[i], i))[:limit]


def _scores_html(scores: dict[str, float], kind: str, details: dict | None = None) -> str:
    order = [c.key for c in PAPER_COLUMNS[kind]] + order_extra(k for k in scores if not is_paper_key(k))
    parts = []
    for k in order:
        if k in scores:
            col = column_for(k, kind)
            dec = column_decimals(col, [scores[k]])
            parts.append(f"{_e(col.label)} <b>{scores[k]:.{dec}f}</b>")
    return '<div class="scores">' + " · ".join(parts) + "</div>" if parts else ""


def _compact(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_compact(x)}" for k, x in sorted(v.items()) if x is not None) or "–"
    if isinstance(v, (list, tuple)):
        return ", ".join(_compact(x) for x in v) or "–"
    return str(v)


def _review_text(v: Any) -> str:
    """The judge's own words when recorded (review/raw/response…), else the details compactly."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        for k in ("review", "raw", "response", "text", "explanation", "content"):
            if isinstance(v.get(k), str) and v[k].strip():
                return v[k]
        return "; ".join(f"{k}: {_compact(x)}" for k, x in sorted(v.items()) if x is not None) or "–"
    return json.dumps(v, ensure_ascii=False)


def _img_html(paths: Sequence[Path], alt: str, limit: int = 2) -> tuple[str, int]:
    out, n = [], 0
    for p in paths[:limit]:
        uri = thumbnail(p)
        if uri is None:
            out.append(f'<div class="missing">image missing: {_e(p.name)}</div>')
        else:
            out.append(f'<img class="thumb" src="{uri}" alt="{_e(alt)}">')
            n += 1
    return "".join(out), n


def generation_gallery(runs: Sequence[RunRecord], limit: int = GALLERY_ITEMS) -> tuple[str, int]:
    runs = [r for r in runs if not r.reported]
    per_run = {r.label: _merged_items(r, "generation") for r in runs}
    per_run = {k: v for k, v in per_run.items() if v}
    if not per_run:
        return "", 0
    shown = [r for r in runs if r.label in per_run]
    ids = _pick(per_run, limit)
    firsts = {iid: [per_run[r.label][iid] for r in shown if iid in per_run[r.label]] for iid in ids}
    with_real = any(it["source"] is not None for its in firsts.values() for it in its)
    out = ['<table class="gallery"><thead><tr><th>Prompt</th>' + ("<th>Dataset face</th>" if with_real else "")
           + "".join(f"<th>{_e(r.label)}</th>" for r in shown) + "</tr></thead><tbody>"]
    nimg = 0
    for iid in ids:
        first = firsts[iid][0]
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(first["attributes"].items()))
        out.append(f'<tr><td class="prompt"><code>{_e(iid)}</code> {_e(_short(first["prompt"], 400))}'
                   + (f'<div class="attrs">{_e(attrs)}</div>' if attrs else "") + "</td>")
        if with_real:
            src = next((it["source"] for it in firsts[iid] if it["source"] is not None), None)
            real, n = _img_html([src] if src else [], f"dataset face {iid}")
            nimg += n
            out.append(f"<td>{real or '<span class=missing>none</span>'}</td>")
        for r in shown:
            it = per_run[r.label].get(iid)
            if it is None:
                out.append('<td><span class="missing">not generated</span></td>')
                continue
            imgs, n = _img_html(it["images"], f"{r.label}: {iid}")
            nimg += n
            out.append(f"<td>{imgs or '<span class=missing>no image</span>'}{_scores_html(it['scores'], 'generation')}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "\n".join(out), nimg


def understanding_gallery(runs: Sequence[RunRecord], task: str, limit: int = QA_ITEMS) -> tuple[str, int]:
    runs = [r for r in runs if not r.reported and task in r.tasks and not r.tasks[task].skipped]
    per_run = {r.label: _merged_items(r, "understanding", task) for r in runs}
    per_run = {k: v for k, v in per_run.items() if v}
    if not per_run:
        return "", 0
    shown = [r for r in runs if r.label in per_run]
    ids = _pick(per_run, limit)
    out = ['<table class="gallery qa"><thead><tr><th>Face and question</th>'
           + "".join(f"<th>{_e(r.label)}</th>" for r in shown) + "</tr></thead><tbody>"]
    nimg = 0
    for iid in ids:
        first = next(per_run[r.label][iid] for r in shown if iid in per_run[r.label])
        face = [first["source"]] if first["source"] is not None else first["images"]
        imgs, n = _img_html(face, f"face {iid}", limit=1)
        nimg += n
        out.append(f'<tr><td class="prompt">{imgs}<div><code>{_e(iid)}</code> <b>Q:</b> {_e(_short(first["prompt"], 400))}</div>'
                   f'<div class="ref"><b>Reference:</b> {_e(_short(first["reference"]))}</div></td>')
        for r in shown:
            it = per_run[r.label].get(iid)
            if it is None:
                out.append('<td><span class="missing">no answer</span></td>')
                continue
            reviews = "".join(f'<div class="review"><b>{_e(k)}</b>: {_e(_short(_review_text(v), 500))}</div>'
                              for k, v in sorted(it["details"].items()))
            out.append(f'<td><div class="answer">{_e(_short(it["output"]))}</div>'
                       f"{_scores_html(it['scores'], 'understanding')}{reviews}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "\n".join(out), nimg


# -- the page -----------------------------------------------------------------------------------
def _plots(runs: Sequence[RunRecord], kind: str, dataset: str, out_dir: Path) -> list[tuple[str, str, str]]:
    """(file name, data URI, caption) for the bar charts and heat maps of one section."""
    from facebench.report.plots import attribute_heatmap, bar_chart, write_png

    rows = group_rows(runs, kind, dataset)
    keys = [c.key for c in PAPER_COLUMNS[kind]]
    keys += order_extra({k for r in rows if not r.reported for k in r.metrics_of(kind) if not is_paper_key(k)})
    figs = []
    for key in keys:
        hib = next((m.higher_is_better for r in rows for m in [r.metrics_of(kind).get(key)] if m is not None), None)
        col = column_for(key, kind, hib)
        png = bar_chart(rows, kind, col, f"{col.header} · {dataset}")
        if png:
            name = slug(f"bar-{kind}-{dataset}-{key}") + ".png"
            write_png(png, out_dir / "plots" / name)
            figs.append((name, _data_uri(png, "image/png"), f"{col.header} on {dataset} (whiskers: 95% CI)"))
    for key in keys:
        hib = next((m.higher_is_better for r in rows for m in [r.metrics_of(kind).get(key)] if m is not None), None)
        col = column_for(key, kind, hib)
        png = attribute_heatmap(rows, kind, col, f"{col.header} per attribute · {dataset}")
        if png:
            name = slug(f"attr-{kind}-{dataset}-{key}") + ".png"
            write_png(png, out_dir / "plots" / name)
            figs.append((name, _data_uri(png, "image/png"), f"{col.header} per attribute value on {dataset}"))
    return figs


def render_report(runs: Sequence[RunRecord], out_dir: str | Path, gallery_items: int = GALLERY_ITEMS,
                  qa_items: int = QA_ITEMS, lb: Leaderboard | None = None) -> dict[str, Any]:
    """Write ``out_dir/index.html`` (+ ``out_dir/plots/*.png``); returns counts for the CLI."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lb = lb or build_leaderboard(runs)
    body: list[str] = []
    toc: list[str] = []
    n_plots = n_gallery = 0
    for sec in lb.sections:
        sid = slug(f"{sec.kind}-{sec.dataset}")
        toc.append(f'<a href="#{sid}">{_e(KIND_TITLES[sec.kind].split(" (")[0])} · {_e(sec.dataset)}</a>')
        body.append(f'<h2 id="{sid}">{_inline(sec.title)}</h2>')
        body += [f'<p class="lead">{_inline(p)}</p>' for p in sec.intro]
        body += [table_html(t) for t in sec.tables if not t.breakdown]
        folded = [t for t in sec.tables if t.breakdown]
        if folded:
            body.append('<h3>Per-attribute breakdown</h3><p class="legend">Which facial attributes each model gets '
                        "right or wrong (click to open; the heat maps below show the same numbers).</p>")
            body += [table_html(t) for t in folded]
        figs = _plots(runs, sec.kind, sec.dataset, out_dir)
        n_plots += len(figs)
        if figs:
            body.append("<h3>Plots</h3><div class=\"plots\">")
            body += [f'<figure><img src="{uri}" alt="{_e(cap)}"><figcaption class="legend">{_e(cap)} '
                     f'(<code>plots/{_e(name)}</code>)</figcaption></figure>' for name, uri, cap in figs]
            body.append("</div>")
        group = [r for r in group_rows(runs, sec.kind, sec.dataset)]
        if sec.kind == "generation":
            g, n = generation_gallery(group, gallery_items)
            if g:
                body += ["<h3>Gallery: the same prompts across models</h3>",
                         '<p class="legend">The dataset\'s real face for the prompt (when recorded) and each '
                         "model's generated faces (thumbnails, up to two per prompt) with the item's scores.</p>", g]
                n_gallery += n
        else:
            for task in sorted({t.name for r in group if not r.reported for t in r.tasks_of("understanding")}):
                g, n = understanding_gallery(group, task, qa_items)
                if g:
                    body += [f"<h3>Answers: task <code>{_e(task)}</code></h3>",
                             '<p class="legend">The question, the reference answer, each model\'s answer with '
                             "its scores, and the judge's review where one was recorded.</p>", g]
                    n_gallery += n
    inputs = "".join(f"<li>{_inline(s)}</li>" for s in lb.sources) or "<li>none</li>"
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{_e(lb.title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<h1>{_e(lb.title)} — report</h1>
<div class="preamble">{"".join(f"<p>{_inline(p)}</p>" for p in lb.preamble)}</div>
<nav>{"".join(toc)}<a href="#inputs">Inputs</a></nav>
{chr(10).join(body) if body else '<p class="lead">No results found.</p>'}
<h2 id="inputs">Inputs</h2>
<ul class="legend">{inputs}</ul>
<footer>Generated by <code>facebench report</code>. Self-contained: images are embedded; the plots are also in
<code>plots/</code> next to this page.</footer>
</main>
</body>
</html>
"""
    atomic_write_text(out_dir / "index.html", page)
    return {"path": out_dir / "index.html", "plots": n_plots, "gallery_images": n_gallery,
            "tables": len(lb.tables())}
