"""Test-wide settings: no hub, no network, a private cache per test session."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.pop("OPENAI_API_KEY", None)

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _facebench_cache(tmp_path_factory):
    """Each test session gets its own facebench cache so tests never see a developer's cache."""
    root = tmp_path_factory.mktemp("facebench-cache")
    old = os.environ.get("FACEBENCH_CACHE_DIR")
    os.environ["FACEBENCH_CACHE_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("FACEBENCH_CACHE_DIR", None)
    else:
        os.environ["FACEBENCH_CACHE_DIR"] = old


@pytest.fixture()
def clean_imports(tmp_path):
    """Undo the sys.path entries and forget the modules that a test's fake research code (written
    under ``tmp_path``) added, so later tests never import them by accident."""
    import sys

    path, mods = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    root = str(tmp_path)
    for name in set(sys.modules) - mods:
        m = sys.modules[name]
        where = [getattr(m, "__file__", None) or ""] + list(getattr(m, "__path__", []) or [])
        if any(str(w).startswith(root) for w in where):
            del sys.modules[name]
