"""Environments without the network: a layered environment with no requirements, its upstream code
from a local folder of checkouts (a real git repository made here), an extra file from a real
HTTP server on 127.0.0.1 and one from a Hugging Face cache; `facebench env build|ls|rm` in
subprocesses; the worker running inside the environment; `facebench ls models` fields."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import tests.envs_adapters as EA
from facebench.envs import make_adapter
from facebench.envs.build import env_key, env_paths, is_layered, verify
from facebench.envs.spec import EnvSpec, UpstreamCode, Verified
from facebench.envs.worker import WorkerAdapter
from facebench.errors import FacebenchError
from facebench.types import ChatRequest
from tests.helpers import REPO, cli_env, run_cli

FAMILY = "tests.envs_adapters:LocalEnvAdapter"
TOWER = b"tower-bytes"


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _upstream_repo(root: Path) -> tuple[str, str]:
    """A repository named like the spec's URL, with two commits; returns (first, second)."""
    repo = root / "fbtest-upstream"
    (repo / "src").mkdir(parents=True)
    _git("init", "-q", cwd=repo)
    commits = []
    for v in ("v1", "v2"):
        (repo / "src" / "fbtest_upstream_code.py").write_text(f"VALUE = {v!r}\n")
        _git("add", "-A", cwd=repo)
        _git("commit", "-qm", v, cwd=repo)
        commits.append(_git("rev-parse", "HEAD", cwd=repo))
    return commits[0], commits[1]


@pytest.fixture()
def file_server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "tower.bin").write_bytes(TOWER)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture()
def local_env(tmp_path, monkeypatch, file_server):
    """Environment variables that give LocalEnvAdapter its spec, in this process and children."""
    c1, c2 = _upstream_repo(tmp_path / "checkouts")
    monkeypatch.setenv("FACEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FACEBENCH_UPSTREAM_DIR", str(tmp_path / "checkouts"))
    monkeypatch.setenv("FBTEST_UPSTREAM_COMMIT", c1)
    monkeypatch.setenv("FBTEST_FILE_URL", f"{file_server}/tower.bin")
    monkeypatch.setenv("FBTEST_FILE_SHA", hashlib.sha256(TOWER).hexdigest())
    monkeypatch.setattr(EA.LocalEnvAdapter, "environment", EA._local_spec())
    return {"c1": c1, "c2": c2, "spec": EA.LocalEnvAdapter.environment}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env=cli_env(extra_path=False), timeout=300)


def _ls() -> dict:
    out = _cli("env", "ls", FAMILY, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]


def test_build_ls_run_rm(local_env):
    spec = local_env["spec"]
    with pytest.raises(FacebenchError) as e:
        make_adapter(EA.LocalEnvAdapter, "cpu", {})
    assert str(e.value) == ("model 'fbtest-local' runs in its own environment, which is not built; "
                            "fix: facebench env build fbtest-local")
    assert _ls()["built"] is False
    out = _cli("env", "build", FAMILY)
    assert out.returncode == 0, out.stderr
    assert "built in" in out.stdout and "checking out" in out.stderr and "fetching weights/tower.bin" in out.stderr
    paths = env_paths(spec)
    assert paths.root.parent == Path(os.environ["FACEBENCH_CACHE_DIR"]) / "envs"
    assert paths.root.name == f"fbtest-local-{env_key(spec)}"
    assert _cli("env", "build", FAMILY).stdout.count("already built") == 1  # warm: nothing redone
    row = _ls()
    assert row["ok"] and row["pins"] == "satisfied" and row["files"] == "2/2" and row["layered"] is True
    assert row["upstream_commit"] == local_env["c1"] and row["python"] == sys.version.split()[0]
    man = json.loads(paths.manifest.read_text())
    assert man["installed"] == {} and man["upstream"]["commit"] == local_env["c1"]

    # the layer's own site-packages come first, facebench's environment after it
    code = "import sys, facebench; print(json.dumps([sys.path, facebench.__file__]))"
    r = subprocess.run([str(paths.python), "-c", "import json; " + code], capture_output=True, text=True, check=True)
    path, fb = json.loads(r.stdout)
    layer = str(paths.site_packages())
    base = next(p for p in path if p.startswith(sys.prefix) and p.endswith("site-packages"))
    assert path.index(layer) < path.index(base)
    assert Path(fb).resolve() == (REPO / "facebench" / "__init__.py").resolve()

    # inside the environment, the spec maps to the same folder and the adapter runs in-process
    code = ("from facebench.envs import make_adapter; from facebench.envs.build import env_paths; "
            "from tests.envs_adapters import LocalEnvAdapter as A; "
            "print(env_paths(A.environment).root, type(make_adapter(A, 'cpu', {})).__name__)")
    r = subprocess.run([str(paths.python), "-c", code], capture_output=True, text=True, cwd=str(REPO), timeout=120)
    assert r.stdout.split() == [str(paths.root), "LocalEnvAdapter"], r.stderr

    # the worker runs in the environment, with the upstream code and the file it declares
    w = make_adapter(EA.LocalEnvAdapter, "cpu", {})
    assert isinstance(w, WorkerAdapter)
    try:
        ans = w.answer([ChatRequest(doc_id="d", image=None, messages=({"role": "user", "content": "q"},))])
    finally:
        w.close()
    value, blob, prefix, name, here = ans[0].split("|")
    assert (value, blob.encode(), name) == ("v1", TOWER, "fbtest-local")
    assert here.encode() == TOWER  # a file without model_arg sits at its relative path in the worker's folder
    assert Path(prefix).resolve() == paths.venv.resolve()
    assert w.model_args["tower"] == str(paths.files / "weights" / "tower.bin")

    # verification notices a moved checkout and a missing file
    _git("checkout", "-q", local_env["c2"], cwd=paths.upstream / "fbtest-upstream")
    (paths.files / "weights" / "tower.bin").unlink()
    row = _ls()
    assert not row["ok"] and row["files"] == "1/2"
    assert any("upstream checkout at " + local_env["c2"] in p for p in row["problems"])
    out = _cli("env", "rm", FAMILY)
    assert out.returncode == 0 and "removed" in out.stdout and not paths.root.exists()
    assert _ls()["built"] is False


def test_a_changed_base_package_is_reported(local_env):
    assert _cli("env", "build", FAMILY).returncode == 0
    man_path = env_paths(local_env["spec"]).manifest
    man = json.loads(man_path.read_text())
    man["visible"]["pip"]["version"] = "0.0.1"  # as if facebench's environment had changed since the build
    man_path.write_text(json.dumps(man))
    st = verify(local_env["spec"])
    assert st.built and not st.ok
    assert any(p.startswith("pip 0.0.1 of facebench's environment changed") for p in st.problems)


def test_bad_file_hash_and_missing_commit_are_clear_errors(local_env, monkeypatch):
    monkeypatch.setenv("FBTEST_FILE_SHA", "0" * 64)
    out = _cli("env", "build", FAMILY)
    assert out.returncode == 2
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("facebench: error: file 'weights/tower.bin'") and "expected 0000" in last
    spec = EA._local_spec()
    assert not list(env_paths(spec).files.rglob("tower*"))  # the bad download was not kept
    monkeypatch.setenv("FBTEST_UPSTREAM_COMMIT", "f" * 40)
    out = _cli("env", "build", FAMILY)
    assert out.returncode == 2 and "has no commit ffffffff" in out.stderr and "Traceback" not in out.stderr


def test_hf_files_come_through_huggingface_hub(tmp_path):
    """An hf:// file, resolved by huggingface_hub from its cache (offline, as a user's cache would be)."""
    snap = tmp_path / "hub" / "models--fbtest--tower" / "snapshots" / ("a" * 40)
    (snap / "sub").mkdir(parents=True)
    (snap / "sub" / "t.bin").write_bytes(TOWER)
    (tmp_path / "hub" / "models--fbtest--tower" / "refs").mkdir()
    (tmp_path / "hub" / "models--fbtest--tower" / "refs" / "main").write_text("a" * 40)
    code = f"""
import sys
from pathlib import Path
from facebench.envs.files import fetch
from facebench.envs.spec import ExtraFile
from facebench.errors import FacebenchError
p = fetch(ExtraFile(name="t.bin", source="hf://fbtest/tower/sub/t.bin", sha256={hashlib.sha256(TOWER).hexdigest()!r}),
          Path(sys.argv[1]))
print(p.read_bytes().decode())
try:
    fetch(ExtraFile(name="u.bin", source="hf://fbtest/tower/sub/missing.bin"), Path(sys.argv[1]))
except FacebenchError as e:
    print(e)
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "files")], capture_output=True, text=True,
                       env=env, cwd=str(REPO), timeout=120)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.strip().splitlines()
    assert first == TOWER.decode()
    assert second.startswith("cannot fetch hf://fbtest/tower/sub/missing.bin:")


def test_env_key_follows_build_inputs_only():
    a = EnvSpec(name="x", requirements=("transformers==4.57.6",))
    assert env_key(a) == env_key(EnvSpec(name="x", requirements=("transformers==4.57.6",), notes="n",
                                         verified=Verified(commit="c" * 40, how="t", date="2026-01-01")))
    assert env_key(a) != env_key(EnvSpec(name="x", requirements=("transformers==4.57.5",)))
    assert env_key(a) != env_key(EnvSpec(name="x", requirements=("transformers==4.57.6",),
                                         upstream=UpstreamCode(repo="https://h/o/r", commit="1" * 40)))
    assert env_key(a) != env_key(EnvSpec(name="x", requirements=("transformers==4.57.6",), layered=False))
    assert is_layered(a) and not is_layered(EnvSpec(name="x", python="3.9"))
    with pytest.raises(FacebenchError, match="pins Python 3.9"):
        is_layered(EnvSpec(name="x", python="3.9", layered=True))
    with pytest.raises(FacebenchError, match="needs Python 3.2, which is not on PATH"):
        from facebench.envs.build import build

        build(EnvSpec(name="old-python", python="3.2"))


def test_ls_models_shows_environment_and_verified_commit(monkeypatch):
    from facebench.builtins import register_builtins
    from facebench.listing import list_things
    from facebench.registry import MODELS

    class Verified_(EA.LocalEnvAdapter):
        environment = EnvSpec(name="fbtest-v", upstream=UpstreamCode(repo="https://h/o/r", commit="1234567890ab" + "0" * 28),
                              verified=Verified(commit="1234567890ab" + "0" * 28, how="tiny random weights, CPU",
                                                date="2026-11-02"))

    register_builtins()
    monkeypatch.setitem(MODELS._objects, "fbtest-v", Verified_)
    rows = {r["name"]: r for r in list_things("models")}
    assert rows["fbtest-v"]["environment"] == "fbtest-v env (not built)"
    assert rows["fbtest-v"]["deps"] == "facebench env build fbtest-v"
    assert rows["fbtest-v"]["verified"] == "1234567890ab (tiny random weights, CPU; 2026-11-02)"
    assert rows["dummy"]["environment"] == "in-process" and rows["dummy"]["verified"] is None


def test_env_commands_refuse_in_process_models():
    out = _cli("env", "build", "dummy")
    assert out.returncode == 2 and "runs in-process on facebench's own environment" in out.stderr


def test_isolation_can_be_forced_by_environment_variable(monkeypatch):
    from facebench.adapters.dummy import DummyAdapter

    monkeypatch.setenv("FACEBENCH_ISOLATE", "1")
    w = make_adapter(DummyAdapter, "cpu", {})
    try:
        assert isinstance(w, WorkerAdapter)
    finally:
        w.close()
    assert not isinstance(make_adapter(DummyAdapter, "cpu", {"isolate": False}), WorkerAdapter)


def test_upstream_replacement_files_patch_only_the_layers_own_package(tmp_path):
    from facebench.envs.build import apply_site_patches

    up = tmp_path / "up"
    (up / "train" / "transformers_replace" / "models").mkdir(parents=True)
    (up / "train" / "transformers_replace" / "models" / "modeling_x.py").write_text("PATCHED = True\n")
    site = tmp_path / "site"
    spec = EnvSpec(name="p", extra={"copy_into_site_packages": {"train/transformers_replace": "transformers"}})
    with pytest.raises(FacebenchError, match="not installed in the environment's own site-packages"):
        apply_site_patches(spec, up, site)
    (site / "transformers" / "models").mkdir(parents=True)
    (site / "transformers" / "__init__.py").write_text("")
    (site / "transformers" / "models" / "modeling_x.py").write_text("PATCHED = False\n")
    assert apply_site_patches(spec, up, site) == {"transformers": 1}
    assert (site / "transformers" / "models" / "modeling_x.py").read_text() == "PATCHED = True\n"
    with pytest.raises(FacebenchError, match="has no folder 'nope'"):
        apply_site_patches(EnvSpec(name="p", extra={"copy_into_site_packages": {"nope": "transformers"}}), up, site)
