"""Registries: in-repo lazy entries, entry-point plugins from an installed test package,
"module:Class" specs, and "did you mean" for unknown names."""
from __future__ import annotations

import sys

import pytest

from facebench.builtins import register_builtins
from facebench.errors import UnknownNameError
from facebench.registry import METRICS, MODELS
from facebench.taskconfig import TaskIndex
from tests.helpers import PLUGIN_PATH, run_cli


@pytest.fixture()
def plugin_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_PATH))
    MODELS.refresh()
    METRICS.refresh()
    yield
    MODELS.refresh()
    METRICS.refresh()
    sys.modules.pop("fbtest_plugin", None)


def test_builtin_models_are_lazy():
    register_builtins()
    assert {"dummy", "retrieval"} <= set(MODELS.names())
    assert MODELS.source("dummy") == "facebench.adapters.dummy:DummyAdapter"
    cls = MODELS.get("dummy")
    assert cls.name == "dummy" and "generate" in cls.capabilities


def test_entry_point_plugins_are_discovered(plugin_on_path):
    assert "slow-counting" in MODELS.names()
    cls = MODELS.get("slow-counting")
    assert cls.__name__ == "SlowCountingAdapter"
    assert MODELS.source("slow-counting").startswith("entry point fbtest_plugin")
    assert METRICS.get("prompt_length").name == "prompt_length"
    idx = TaskIndex()
    assert "promptlen" in idx.names()


def test_unknown_name_suggests_close_matches():
    register_builtins()
    with pytest.raises(UnknownNameError) as e:
        MODELS.get("retreival")
    assert "did you mean 'retrieval'" in str(e.value)
    with pytest.raises(UnknownNameError) as e:
        TaskIndex().load("cnv")
    assert "conv" in str(e.value)


def test_module_class_spec():
    assert MODELS.get("facebench.adapters.dummy:DummyAdapter").name == "dummy"


def test_cli_ls_shows_entry_point_plugin_and_needs_no_torch():
    out = run_cli("ls", "models")
    assert out.returncode == 0, out.stderr
    assert "slow-counting" in out.stdout and "retrieval" in out.stdout
    # `ls` and `--help` must not import torch (start-up time)
    code = ("import sys; from facebench.cli import main; main(['ls','tasks']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    import subprocess

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
