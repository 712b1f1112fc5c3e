"""Where facebench keeps its own files (never inside site-packages)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$FACEBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/facebench``, else ``~/.cache/facebench``."""
    env = os.environ.get("FACEBENCH_CACHE_DIR")
    if env:
        root = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(base) / "facebench"
    root.mkdir(parents=True, exist_ok=True)
    return root


def package_root() -> Path:
    """The folder that holds ``facebench/``, ``tasks/`` and ``baselines/`` (repo or site-packages)."""
    return Path(__file__).resolve().parent.parent
