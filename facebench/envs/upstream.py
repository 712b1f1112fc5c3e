"""Bring a family's upstream repository to its pinned commit.

Two sources, in this order: a local folder of checkouts named by ``$FACEBENCH_UPSTREAM_DIR`` (for
offline machines and CI: ``<dir>/<name>``, ``<dir>/<owner>+<name>`` or ``<dir>/<owner>/<name>``, a
normal or a bare repository), else ``git clone`` from the repository URL. Either way the result is
a fresh clone checked out (detached) at exactly the pinned commit, verified with ``rev-parse``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from facebench.envs.spec import UpstreamCode
from facebench.errors import FacebenchError

UPSTREAM_DIR_VAR = "FACEBENCH_UPSTREAM_DIR"


def repo_parts(url: str) -> tuple[str, str]:
    """``https://github.com/showlab/Show-o(.git)`` → ("showlab", "Show-o")."""
    parts = [p for p in url.rstrip("/").split("/") if p]
    name = parts[-1][:-4] if parts[-1].endswith(".git") else parts[-1]
    owner = parts[-2] if len(parts) >= 2 else ""
    return owner.split(":")[-1], name


def local_source(up: UpstreamCode) -> Path | None:
    root = os.environ.get(UPSTREAM_DIR_VAR)
    if not root:
        return None
    owner, name = repo_parts(up.repo)
    for cand in (Path(root) / name, Path(root) / f"{owner}+{name}", Path(root) / owner / name,
                 Path(root) / f"{name}.git"):
        if cand.is_dir():
            return cand
    return None


def _git(*args: str, cwd: Path | None = None, timeout: float = 600) -> str:
    try:
        r = subprocess.run(["git", *args], cwd=str(cwd) if cwd else None, capture_output=True, text=True,
                           timeout=timeout, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except FileNotFoundError:
        raise FacebenchError("git is needed to fetch upstream code; fix: install git (e.g. apt-get install git)") from None
    except subprocess.TimeoutExpired:
        raise FacebenchError(f"git {args[0]} took over {timeout:.0f} s") from None
    if r.returncode != 0:
        raise subprocess.CalledProcessError(r.returncode, ["git", *args], r.stdout, r.stderr)
    return r.stdout.strip()


def head_commit(path: Path) -> str | None:
    try:
        return _git("rev-parse", "HEAD", cwd=path, timeout=30)
    except (subprocess.CalledProcessError, FacebenchError):
        return None


def checkout(up: UpstreamCode, dest: Path) -> dict[str, str]:
    """Clone ``up.repo`` into ``dest`` at ``up.commit``; returns {"commit", "source", "path"}."""
    if dest.exists():
        if (head_commit(dest) or "").startswith(up.commit):
            return {"commit": head_commit(dest) or up.commit, "source": "existing", "path": str(dest)}
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    src = local_source(up)
    origin = str(src) if src is not None else up.repo
    try:
        if src is not None:
            _git("clone", "--quiet", "--no-checkout", str(src), str(dest))
        else:
            _git("clone", "--quiet", "--filter=blob:none", "--no-checkout", up.repo, str(dest), timeout=1800)
    except subprocess.CalledProcessError as e:
        shutil.rmtree(dest, ignore_errors=True)
        hint = (f"set {UPSTREAM_DIR_VAR}=<folder of checkouts> (one named '{repo_parts(up.repo)[1]}')"
                if src is None else f"check the checkout at {src}")
        raise FacebenchError(f"cannot clone {origin}: {' '.join(e.stderr.split())[:300]}; fix: {hint}") from None
    try:
        _git("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", up.commit, cwd=dest)
    except subprocess.CalledProcessError as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise FacebenchError(f"{origin} has no commit {up.commit} ({' '.join(e.stderr.split())[:200]}); fix: "
                             f"update the checkout (git fetch) or correct the pinned commit") from None
    head = head_commit(dest) or ""
    if not head.startswith(up.commit):
        raise FacebenchError(f"checkout of {origin} is at {head}, not the pinned {up.commit}")
    return {"commit": head, "source": origin, "path": str(dest)}
