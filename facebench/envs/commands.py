"""``facebench env build FAMILY`` / ``env ls`` / ``env rm FAMILY``: the environments families run in."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from facebench.errors import FacebenchError


def register(sub: Any) -> None:
    p = sub.add_parser("env", help="build, list or remove the environments research families run in")
    esub = p.add_subparsers(dest="env_command", required=True)
    b = esub.add_parser("build", help="create a family's environment (pinned packages, upstream code, files)")
    b.add_argument("family", help="a model name from `facebench ls models`")
    b.add_argument("--force", action="store_true", help="rebuild even if it is built")
    b.set_defaults(func=_cmd_build)
    ls = esub.add_parser("ls", help="what is built and verified (pins, upstream commit, files)")
    ls.add_argument("family", nargs="*", help="only these families")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_cmd_ls)
    rm = esub.add_parser("rm", help="delete a family's environment")
    rm.add_argument("family")
    rm.set_defaults(func=_cmd_rm)


def _spec_of(family: str):
    from facebench.builtins import register_builtins
    from facebench.registry import MODELS

    register_builtins()
    cls = MODELS.get(family)
    spec = getattr(cls, "environment", None)
    if spec is None:
        raise FacebenchError(f"model '{family}' runs in-process on facebench's own environment: there is no "
                             "environment to build (see `facebench ls models`)")
    return spec


def _cmd_build(args: argparse.Namespace) -> int:
    from facebench.envs.build import build

    spec = _spec_of(args.family)
    res = build(spec, force=args.force, say=lambda s: print(f"facebench: {s}", file=sys.stderr))
    for m in res.messages:
        print(m)
    secs = res.manifest.get("seconds", {})
    state = f"built in {secs.get('total', 0):.1f} s" if res.fresh else "already built (use --force to rebuild)"
    print(f"{args.family}: environment '{spec.name}' {state}: {res.path}")
    return 0


def _families(only: list[str]) -> list[tuple[str, Any]]:
    from facebench.builtins import register_builtins
    from facebench.registry import MODELS

    register_builtins()
    out = []
    for name in only or MODELS.names():
        try:
            cls = MODELS.get(name)
        except Exception:
            if only:
                raise
            continue
        spec = getattr(cls, "environment", None)
        if spec is not None:
            out.append((name, spec))
        elif only:
            raise FacebenchError(f"model '{name}' runs in-process: it has no environment")
    return out


def status_row(family: str, spec: Any) -> dict[str, Any]:
    from facebench.envs.build import disk_usage, verify

    st = verify(spec)
    man = st.manifest or {}
    return {
        "family": family, "environment": spec.name, "built": st.built, "ok": st.ok, "path": str(st.path),
        "python": st.python or spec.python, "layered": man.get("layered"),
        "pins": "satisfied" if st.built and not any(p.startswith("pin") for p in st.problems) else
                ("not built" if not st.built else "NOT met"),
        "installed": {n: d["version"] for n, d in (man.get("installed") or {}).items()},
        "upstream": spec.upstream.repo if spec.upstream else None,
        "upstream_commit": st.upstream_commit, "pinned_commit": spec.upstream.commit if spec.upstream else None,
        "files": f"{st.files_present}/{len(spec.files)}", "problems": st.problems,
        "disk_mb": round(disk_usage(st.path) / 2**20, 1) if st.built else None,
    }


def _cmd_ls(args: argparse.Namespace) -> int:
    rows = [status_row(f, s) for f, s in _families(args.family)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no model declares its own environment: every model runs in-process")
        return 0
    for r in rows:
        state = "ok" if r["ok"] else ("not built" if not r["built"] else "PROBLEMS")
        up = f"{r['upstream_commit'][:12]}" if r["upstream_commit"] else (f"pinned {r['pinned_commit'][:12]} (not checked out)"
                                                                         if r["pinned_commit"] else "-")
        print(f"{r['family']:<14} {r['environment']:<18} {state:<9} python {r['python']:<7} pins {r['pins']:<9} "
              f"upstream {up:<12} files {r['files']:<5} {r['disk_mb'] or 0:>8.1f} MB  {r['path']}")
        for p in r["problems"]:
            print(f"{'':<14} problem: {p}")
    return 0


def _cmd_rm(args: argparse.Namespace) -> int:
    from facebench.envs.build import env_paths, remove

    spec = _spec_of(args.family)
    if remove(spec):
        print(f"removed {env_paths(spec).root}")
    else:
        print(f"{args.family}: environment '{spec.name}' is not built")
    return 0
