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
