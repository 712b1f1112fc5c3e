"""CLI subcommands ``leaderboard``, ``compare`` and ``report`` (registered into the main parser by
``facebench.cli`` through ``register``). Handlers return the exit code; user errors print one
line and return 2."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from facebench.errors import FacebenchError


def _err(msg: str) -> None:
    print(f"facebench: error: {msg}", file=sys.stderr)  # the same prefix as every other command


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except FacebenchError as err:
            _err(str(err))
            return 2
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def collect_runs(result_dirs: Sequence[str], no_reported: bool = False, quiet: bool = False,
                 include_partial: bool = False):
    """Reported rows (unless ``no_reported``) + the latest complete result per model × dataset ×
    task found in ``result_dirs`` (default ``./results`` and ``./runs``)."""
    from facebench.report.loader import default_result_dirs, load_reported, load_runs

    paths = list(result_dirs) if result_dirs else default_result_dirs()
    if not paths and not quiet:
        print(f"note: no runs under {Path.cwd() / 'results'} or {Path.cwd() / 'runs'}; only paper-reported rows "
              "are shown", file=sys.stderr)
    runs = [] if no_reported else load_reported()
    runs += load_runs(paths, include_partial=include_partial) if paths else []
    return runs


@_guard
def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Write leaderboard.md (and optionally LaTeX and CSV)."""
    from facebench.images import atomic_write_text
    from facebench.report.csv import write_csv
    from facebench.report.latex import render_latex
    from facebench.report.leaderboard import build_leaderboard, render_markdown

    runs = collect_runs(args.result_dirs, args.no_reported, include_partial=args.include_partial)
    lb = build_leaderboard(runs)
    md = render_markdown(lb)
    if args.output == "-":
        sys.stdout.write(md)
    else:
        atomic_write_text(args.output, md)
    if args.latex:
        atomic_write_text(args.latex, render_latex(lb))
    if args.csv:
        write_csv(runs, args.csv)
    n_rep = sum(r.reported for r in runs)
    wrote = [w for w in (None if args.output == "-" else args.output, args.latex, args.csv) if w]
    print(f"{len(lb.tables())} tables from {len(runs) - n_rep} run(s) and {n_rep} paper-reported row(s)"
          + (f"; wrote {', '.join(wrote)}" if wrote else ""), file=sys.stderr)
    return 0


def _split_list(values: Sequence[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@_guard
def cmd_compare(args: argparse.Namespace) -> int:
    """Compare NEW against BASE; exit 1 on a regression beyond tolerance and noise."""
    from facebench.report.compare import compare_runs, parse_tolerances, render_compare
    from facebench.report.loader import ResultsError, load_run

    if args.tolerance < 0:
        raise ResultsError("--tolerance must be ≥ 0")
    if not 0 < args.alpha < 1:
        raise ResultsError("--alpha must be between 0 and 1")
    new, base = load_run(args.new), load_run(args.base)
    res = compare_runs(new, base, tolerance=args.tolerance, tolerance_for=parse_tolerances(args.tolerance_for),
                       metrics=_split_list(args.metrics) or None, method=args.test, alpha=args.alpha,
                       resamples=args.resamples)
    sys.stdout.write(render_compare(res, args.alpha))
    return res.exit_code(args.fail_on_missing)


@_guard
def cmd_report(args: argparse.Namespace) -> int:
    """Write a self-contained HTML report (index.html + plots/*.png)."""
    from facebench.report.html import render_report

    runs = collect_runs(args.result_dirs, args.no_reported)
    info = render_report(runs, args.output, gallery_items=args.gallery_items, qa_items=args.qa_items)
    print(f"wrote {info['path']} ({info['tables']} tables, {info['plots']} plots, "
          f"{info['gallery_images']} gallery images)", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    """Add ``leaderboard``, ``compare`` and ``report`` to an argparse subparsers object."""
    p = subparsers.add_parser(
        "leaderboard", help="paper-style tables (Markdown, LaTeX, CSV) from run directories",
        description="Tables in the paper's column order from run directories plus the paper-reported rows "
                    "in baselines/reported/. Output is deterministic (no timestamps).")
    p.add_argument("result_dirs", nargs="*", metavar="RESULT_DIRS",
                   help="results files, run folders or folders of them (default: ./results and ./runs); per "
                        "model, dataset and task the latest complete run is shown")
    p.add_argument("-o", "--output", default="-", help="Markdown file (default: standard output)")
    p.add_argument("--include_partial", action="store_true",
                   help="also show results of partial runs (--limit, --dry_run), marked as such")
    p.add_argument("--latex", metavar="FILE", help="also write booktabs LaTeX tables")
    p.add_argument("--csv", metavar="FILE", help="also write every number in long CSV form")
    p.add_argument("--no_reported", action="store_true", help="leave out the paper-reported rows")
    p.set_defaults(func=cmd_leaderboard)

    c = subparsers.add_parser(
        "compare", help="regression gate: compare a new run with a baseline run",
        description="Prints a table of deltas with paired tests; exits 1 when a metric got worse by more than "
                    "its tolerance AND beyond noise (paired test p<alpha, else outside the CI), 0 otherwise, "
                    "2 on bad input.")
    c.add_argument("new", metavar="NEW", help="the new run directory")
    c.add_argument("base", metavar="BASE", help="the baseline run directory")
    c.add_argument("--tolerance", type=float, default=0.02,
                   help="allowed worsening in the metric's own units (default %(default)s)")
    c.add_argument("--tolerance_for", action="append", metavar="KEY=TOL",
                   help="per-metric tolerance, e.g. fid=2.0,kid=0.01 (key or task:key; repeatable)")
    c.add_argument("--metrics", action="append", metavar="KEY[,KEY...]",
                   help="only these metric keys or task:key (comma-separated; repeatable)")
    c.add_argument("--test", choices=("bootstrap", "permutation"), default="bootstrap",
                   help="paired test on per-item scores (default %(default)s)")
    c.add_argument("--alpha", type=float, default=0.05, help="significance level (default %(default)s)")
    c.add_argument("--resamples", type=int, default=10_000, help="bootstrap/permutation resamples (default %(default)s)")
    c.add_argument("--fail_on_missing", action="store_true",
                   help="also exit 1 when a metric with a value in BASE has none in NEW")
    c.set_defaults(func=cmd_compare)

    r = subparsers.add_parser(
        "report", help="self-contained HTML report: leaderboard, plots, side-by-side gallery",
        description="Writes REPORT_DIR/index.html (images embedded) and REPORT_DIR/plots/*.png.")
    r.add_argument("result_dirs", nargs="*", metavar="RESULT_DIRS",
                   help="run directories or folders of them (default: ./results/*/)")
    r.add_argument("-o", "--output", default="report", metavar="REPORT_DIR", help="output folder (default %(default)s)")
    r.add_argument("--no_reported", action="store_true", help="leave out the paper-reported rows")
    r.add_argument("--gallery_items", type=int, default=8, help="prompts in the generation gallery (default %(default)s)")
    r.add_argument("--qa_items", type=int, default=6, help="items per understanding task (default %(default)s)")
    r.set_defaults(func=cmd_report)


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m facebench.report.commands ...``) until the main CLI wires it in."""
    parser = argparse.ArgumentParser(prog="facebench")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
