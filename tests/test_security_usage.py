"""Usage errors are exit 2 with one line (``facebench: error: ...``), found before any work starts:
bad judge options and judge config files, unknown ``--model_args`` keys, a run name that is a
path, a device that does not exist. Each case is a real CLI subprocess."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli_env, run_cli


def _run(tmp_path: Path, *extra: str, model: str = "dummy"):
    env = dict(cli_env(), FACEBENCH_CACHE_DIR=str(tmp_path / "cache"))
    return run_cli("run", "--model", model, "--task", "conv", "--dataset", "mini", "--limit", "2",
                   "--output_path", str(tmp_path / "out"), *extra, env=env, timeout=300)


def _one_line_usage_error(r, tmp_path: Path, *needles: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout[-1500:], r.stderr[-1500:])
    assert "Traceback" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("facebench: error: "), r.stderr[-1500:]
    for n in needles:
        assert n in lines[0], lines[0]
    assert not (tmp_path / "out").exists()  # nothing was started
    return lines[0]


@pytest.mark.parametrize("flags,needles", [
    (["--judge_concurrency", "0"], ["--judge_concurrency must be ≥ 1, got 0"]),
    (["--judge_max_calls", "-1"], ["--judge_max_calls must be ≥ 0, got -1"]),
    (["--judge_timeout", "nan"], ["--judge_timeout must be a finite number"]),
    (["--judge_timeout", "0"], ["--judge_timeout must be > 0"]),
    (["--judge", "gpt5"], ["unknown judge backend 'gpt5'", "did you mean 'openai'?"]),
])
def test_bad_judge_flags(tmp_path, flags, needles):
    _one_line_usage_error(_run(tmp_path, *flags), tmp_path, *needles)


@pytest.mark.parametrize("name,text,needles", [
    ("judge.yaml", "judge_model: gpt-4o\napi_key: sk-should-not-be-here-0123456789\n", ["holds an API key"]),
    ("judge.yaml", "judge_model: gpt-4o\nOPENAI_API_KEY: sk-should-not-be-here-0123456789\n", ["holds an API key"]),
    ("judge.json", '{"judge_model": "gpt-4o", ', ["is not valid JSON"]),
    ("judge.yaml", "judge_model: !!python/object/apply:os.system ['touch /tmp/facebench-pwned']\n",
     ["is not valid YAML", "could not determine a constructor"]),
    ("judge.yaml", "judge_api_key_env: sk-proj-pasted-the-key-here-0123456789\n", ["must be the NAME"]),
    ("judge.yaml", "judge_concurrency: true\n", ["judge_concurrency in judge config", "must be a number"]),
])
def test_bad_judge_config_files(tmp_path, name, text, needles):
    cfg = tmp_path / name
    cfg.write_text(text)
    line = _one_line_usage_error(_run(tmp_path, "--judge_config", str(cfg)), tmp_path, *needles)
    assert "sk-" not in line  # the message never quotes the key back


def test_unknown_model_args_are_rejected_with_the_known_keys(tmp_path):
    line = _one_line_usage_error(_run(tmp_path, "--model_args", "nosuch=1"), tmp_path, "'nosuch'")
    assert "it accepts: answer, batch_size" in line
    line = _one_line_usage_error(_run(tmp_path, "--model_args", "gallary=mini", model="retrieval"), tmp_path,
                                 "did you mean 'gallery'?")
    assert "gallery_split" in line and "text_backend" in line
    _one_line_usage_error(_run(tmp_path, "--model_args", "=x"), tmp_path, "empty key")
    _one_line_usage_error(_run(tmp_path, "--model_args", "model=m,api_key=sk-0123456789abcdef0123", model="openai-api"),
                          tmp_path, "do not pass 'api_key'")


def test_known_model_args_still_work(tmp_path):
    r = _run(tmp_path, "--model_args", "answer=yes,batch_size=2", "--judge", "embedding")
    assert r.returncode == 0, r.stderr[-2000:]


def test_run_name_cannot_leave_the_output_path(tmp_path):
    for bad in ("../../x", "..", "a/b", "x\\y"):
        _one_line_usage_error(_run(tmp_path, "--run_name", bad), tmp_path, "--run_name")
    assert not (tmp_path.parent / "x").exists()


def test_devices_that_do_not_exist(tmp_path):
    _one_line_usage_error(_run(tmp_path, "--device", "banana"), tmp_path, "'banana' is not a device")
    import torch

    if not torch.cuda.is_available():
        _one_line_usage_error(_run(tmp_path, "--device", "cuda"), tmp_path, "no CUDA GPU")
        _one_line_usage_error(_run(tmp_path, "--device", "cuda:1"), tmp_path, "no CUDA GPU")


def test_validators_in_python():
    """The same checks the CLI runs, for the Python API entry (``RunConfig``)."""
    from facebench.errors import FacebenchError
    from facebench.judge.settings import check_judge_options
    from facebench.validate import validate_device, validate_run_name

    assert validate_run_name("my_model v2 (fp16)") == "my_model v2 (fp16)" and validate_run_name(None) is None
    for bad in ("", ".", "..", "../x", "/abs", "a\x00b", "-rf", "x" * 300):
        with pytest.raises(FacebenchError):
            validate_run_name(bad)
    assert validate_device("cpu") == "cpu" and validate_device("auto") == "auto"
    with pytest.raises(FacebenchError):
        validate_device("cuda:x")
    assert check_judge_options({"judge_concurrency": 3}).concurrency == 3
    with pytest.raises(FacebenchError, match="judge_max_tokens"):
        check_judge_options({"judge_max_tokens": -5})
    with pytest.raises(FacebenchError, match="FACEBENCH_JUDGE_TIMEOUT"):
        check_judge_options({}, env={"FACEBENCH_JUDGE_TIMEOUT": "inf"})
    json.dumps(check_judge_options({}).describe())  # still serialisable


def test_every_model_arg_an_adapter_reads_is_accepted():
    """accepted_args() must cover every key the adapters' code reads (model_args.get("k"),
    model_args["k"], a = self.model_args; a["k"], self.param(params, "k"), for key in ("k", ...)),
    or a real key would be refused as unknown."""
    import inspect
    import re

    from facebench.adapters.base import ModelAdapter
    from facebench.builtins import register_builtins
    from facebench.registry import MODELS

    register_builtins()
    pat = re.compile(r"""(?<!\w)(?:model_args|args|a)\s*(?:\.get\(|\[)\s*["']([A-Za-z_]\w*)["']"""
                     r"""|\.param\(\s*\w+\s*,\s*["']([A-Za-z_]\w*)["']|for key in \(([^)]*)\)""")
    checked = 0
    for name in MODELS.names():
        try:
            cls = MODELS.get(name)
        except Exception:  # noqa: BLE001 - a plugin whose package is absent here
            continue
        if not (isinstance(cls, type) and issubclass(cls, ModelAdapter)):
            continue
        read: set[str] = set()
        for klass in cls.__mro__:
            if klass is object or not issubclass(klass, ModelAdapter):
                continue
            for m in pat.finditer(inspect.getsource(klass)):
                read |= set(re.findall(r"[\"'](\w+)[\"']", m.group(3))) if m.group(3) else {m.group(1) or m.group(2)}
        accepted = cls.accepted_args()
        assert accepted is None or read <= accepted, (name, sorted(read - accepted))
        checked += 1
    assert checked >= 15


def test_accepted_args_merge_the_class_hierarchy():
    from facebench.adapters.base import ModelAdapter
    from facebench.errors import FacebenchError

    class Base(ModelAdapter):
        name = "base-x"
        extra_model_args = ("alpha",)

        def __init__(self, device: str = "cpu", beta: int = 1, **kw):
            super().__init__(device=device, beta=beta, **kw)

    class Child(Base):
        name = "child-x"
        default_args = {"gamma": 2}

    assert Child.accepted_args() == {"alpha", "beta", "gamma", "batch_size"}
    Child(alpha=1, gamma=3)
    with pytest.raises(FacebenchError, match="'delta'.*it accepts: alpha, batch_size, beta, gamma"):
        Child(delta=1)

    class Open(ModelAdapter):
        name = "open-x"
        extra_model_args = ("*",)

    assert Open.accepted_args() is None and Open(anything=1).model_args == {"anything": 1}
