"""The worker process and its proxy, with real subprocesses: an isolated run equals the in-process
run byte for byte; per-item errors, crashes, hangs and a garbled pipe become failed items (never a
lost run) that a re-run computes; the worker dies with its parent and on Ctrl-C."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facebench.adapters.base import ItemError
from facebench.envs import make_adapter
from facebench.envs.protocol import ProtocolError, image_from_wire, image_to_wire, read_frame, write_frame
from facebench.envs.worker import WorkerAdapter, worker_device
from facebench.errors import FacebenchError
from facebench.runner import RunConfig, run
from facebench.types import ChatRequest
from tests.envs_adapters import FaultyAdapter, samples_file
from tests.helpers import PLUGIN_PATH, REPO

TASKS = str(PLUGIN_PATH / "fbtest_plugin" / "tasks")
DOCS = [f"mini-test-000{i}" for i in range(1, 7)]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _run(adapter, out: Path, limit: int = 4, batch_size: int = 2, tasks=("convlite", "genlite")):
    return run(RunConfig(model=adapter, tasks=list(tasks), dataset="mini", limit=limit, batch_size=batch_size,
                         output_path=out, include_path=[TASKS]))


def _samples(run_dir: Path, task: str) -> list[tuple]:
    """Per-sample outputs, images by content (their folder names carry the fingerprint)."""
    rows = [json.loads(x) for x in samples_file(run_dir, task).read_text().splitlines()]
    return [(r["item_id"], r["output"], tuple(hashlib.sha256((run_dir / p).read_bytes()).hexdigest() for p in r["images"]),
             json.dumps(r["scores"], sort_keys=True)) for r in rows]


def _isolated(**args) -> WorkerAdapter:
    a = make_adapter(FaultyAdapter, "cpu", {"isolate": True, **args})
    assert isinstance(a, WorkerAdapter)
    return a


# -- the protocol ---------------------------------------------------------------------------------
def test_frames_round_trip_and_garbage_is_a_protocol_error():
    buf = io.BytesIO()
    write_frame(buf, {"op": "x", "text": "é"}, [b"abc", b""])
    write_frame(buf, {"op": "y"})
    buf.seek(0)
    assert read_frame(buf) == ({"op": "x", "text": "é"}, [b"abc", b""])
    assert read_frame(buf) == ({"op": "y"}, [])
    with pytest.raises(EOFError):
        read_frame(buf)
    with pytest.raises(ProtocolError, match="something wrote to the protocol pipe"):
        read_frame(io.BytesIO(b"hello world"))
    whole = io.BytesIO()
    write_frame(whole, {"op": "z"}, [b"x" * 100])
    with pytest.raises(ProtocolError, match="middle of a frame"):
        read_frame(io.BytesIO(whole.getvalue()[:-10]))


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "1", "I;16", "I", "F", "P"])
def test_images_cross_the_pipe_exactly(mode):
    import numpy as np
    from PIL import Image

    from facebench.images import png_bytes

    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (7, 5, 3), dtype=np.uint8), "RGB").convert(mode)
    back = image_from_wire(*image_to_wire(im))
    assert back.size == im.size
    # what the predictor stores: PNG of convert("RGB"), byte-identical to the in-process path
    assert png_bytes(back.convert("RGB")) == png_bytes(im.convert("RGB"))
    if mode != "P":
        assert back.mode == mode and back.tobytes() == im.tobytes()


def test_worker_side_imports_nothing_heavy():
    code = ("import sys, facebench.envs.worker_main, facebench.envs.protocol, facebench.types, facebench.adapters.base, "
            "facebench.envs.spec\nprint(sorted(m for m in ('torch','transformers','diffusers','numpy','PIL') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(REPO), check=True)
    assert out.stdout.strip() == "[]"


def test_device_per_rank_under_torchrun():
    assert worker_device("cuda", {"LOCAL_RANK": "1"}) == ("cuda:1", True)
    assert worker_device("cuda", {}) == ("cuda", False)
    assert worker_device("cuda:3", {"LOCAL_RANK": "1"}) == ("cuda:3", True)
    assert worker_device("cpu", {"LOCAL_RANK": "1"}) == ("cpu", False)


# -- same outputs, same cache ---------------------------------------------------------------------
def test_isolated_run_is_byte_identical_to_in_process(tmp_path, monkeypatch):
    iso = _isolated(noisy=True)
    local = make_adapter(FaultyAdapter, "cpu", {"noisy": True})
    assert not isinstance(local, WorkerAdapter)
    assert iso.fingerprint() == local.fingerprint() and iso.model_args == local.model_args
    assert iso.pid != os.getpid()
    try:
        a = _run(iso, tmp_path / "iso")
    finally:
        iso.close()
    assert iso._proc.poll() is not None  # closed: the worker is gone
    monkeypatch.setenv("FACEBENCH_CACHE_DIR", str(tmp_path / "cache2"))
    b = _run(local, tmp_path / "local")
    for t in ("convlite", "genlite"):
        assert a.predict_stats[t].computed == b.predict_stats[t].computed > 0
        assert a.results["tasks"][t]["metrics"] == b.results["tasks"][t]["metrics"]
        assert _samples(a.run_dir, t) == _samples(b.run_dir, t)
    # the two modes share one cache: an isolated run after the in-process one computes nothing
    again = _isolated(noisy=True)
    try:
        c = _run(again, tmp_path / "iso2")
    finally:
        again.close()
    assert all(s.computed == 0 and s.cached == s.items for s in c.predict_stats.values())
    assert "worker" in a.results["model"]["info"]


def test_stdout_noise_goes_to_the_log_not_the_pipe(caplog):
    w = _isolated(noisy=True)
    try:
        with caplog.at_level(logging.INFO, logger="facebench.worker"):
            out = w.answer([ChatRequest(doc_id="d", image=None, messages=({"role": "user", "content": "q"},))])
            time.sleep(0.5)
    finally:
        w.close()
    assert out == ["answer to q (d)"]
    text = caplog.text
    assert "noise on sys.stdout" in text and "noise on fd 1" in text


# -- faults ---------------------------------------------------------------------------------------
def test_item_errors_fail_only_their_items(tmp_path):
    w = _isolated(fail_docs=DOCS[1])
    try:
        out = _run(w, tmp_path / "o")
    finally:
        w.close()
    g, c = out.predict_stats["genlite"], out.predict_stats["convlite"]
    assert g.failed == 1 and g.computed == 3
    assert c.failed >= 1 and c.computed > 0
    pred = (sorted(out.run_dir.glob("predictions_genlite_*.jsonl")) or [out.run_dir / "predictions_genlite.jsonl"])[-1]
    rows = [json.loads(x) for x in pred.read_text().splitlines()]
    bad = [r for r in rows if r.get("error")]
    assert [r["doc_id"] for r in bad] == [DOCS[1]] and f"ValueError: cannot do {DOCS[1]}" in bad[0]["error"]


def test_worker_crash_fails_the_batch_then_a_new_worker_goes_on_and_rerun_completes(tmp_path, caplog, monkeypatch):
    once = tmp_path / "once"
    once.mkdir()
    log = tmp_path / "calls.log"
    w = _isolated(crash_docs=DOCS[0], once_dir=str(once), calls_log=str(log))
    try:
        with caplog.at_level(logging.WARNING, logger="facebench"):
            first = _run(w, tmp_path / "o", tasks=("genlite",), batch_size=2)
    finally:
        w.close()
    st = first.predict_stats["genlite"]
    assert st.failed == 2 and st.computed == 2  # the batch holding the crash: both its items
    crash_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("worker for model")]
    assert len(crash_lines) == 1 and "killed by SIGKILL" in crash_lines[0] and "2 item(s)" in crash_lines[0]
    assert len({line.split()[0] for line in log.read_text().splitlines()}) == 2  # a second worker process
    w2 = _isolated(crash_docs=DOCS[0], once_dir=str(once), calls_log=str(log))
    try:
        second = _run(w2, tmp_path / "o", tasks=("genlite",), batch_size=2)
    finally:
        w2.close()
    st2 = second.predict_stats["genlite"]
    assert st2.failed == 0 and st2.computed == 2 and st2.cached == 2  # exactly the failed items again
    monkeypatch.setenv("FACEBENCH_CACHE_DIR", str(tmp_path / "clean-cache"))
    clean = _run(make_adapter(FaultyAdapter, "cpu", {"crash_docs": DOCS[0], "once_dir": str(once),
                                                     "calls_log": str(log)}), tmp_path / "clean", tasks=("genlite",))
    assert _samples(second.run_dir, "genlite") == _samples(clean.run_dir, "genlite")


def test_a_hung_worker_is_killed_after_the_timeout(tmp_path, caplog):
    once = tmp_path / "once"
    once.mkdir()
    w = _isolated(hang_docs=DOCS[0], once_dir=str(once), worker_timeout=3)
    t0 = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger="facebench"):
            out = _run(w, tmp_path / "o", tasks=("genlite",), batch_size=2)
    finally:
        w.close()
    assert time.monotonic() - t0 < 60
    st = out.predict_stats["genlite"]
    assert st.failed == 2 and st.computed == 2
    assert any("did not answer within 3 s" in r.getMessage() for r in caplog.records)
    assert "worker_timeout" not in w.model_args  # a worker setting, never part of the fingerprint
    assert w.fingerprint() == make_adapter(FaultyAdapter, "cpu", {"hang_docs": DOCS[0], "once_dir": str(once)}).fingerprint()


def test_garbage_on_the_pipe_is_a_protocol_error_not_a_lost_run(tmp_path, caplog):
    once = tmp_path / "once"
    once.mkdir()
    w = _isolated(garbage_docs=DOCS[3], once_dir=str(once))
    try:
        with caplog.at_level(logging.WARNING, logger="facebench"):
            out = _run(w, tmp_path / "o", tasks=("genlite",), batch_size=2)
    finally:
        w.close()
    st = out.predict_stats["genlite"]
    assert st.failed == 2 and st.computed == 2
    assert any("broke the protocol" in r.getMessage() for r in caplog.records)


def test_after_too_many_crashes_the_rest_fail_without_new_workers(tmp_path):
    log = tmp_path / "calls.log"
    w = _isolated(crash_docs="|".join(DOCS[1:]), calls_log=str(log), worker_restarts=1)
    try:
        out = _run(w, tmp_path / "o", tasks=("genlite",), limit=6, batch_size=1)
    finally:
        w.close()
    st = out.predict_stats["genlite"]
    assert st.computed == 1 and st.failed == 5  # doc 1 done; docs 2 and 3 crash two workers; 4-6 not tried
    lines = log.read_text().splitlines()
    assert [ln.split()[1] for ln in lines] == DOCS[:3] and len({ln.split()[0] for ln in lines}) == 2
    assert "not restarted again" in st.errors[-1]


def test_a_facebench_error_in_the_worker_stops_the_run_with_its_line(tmp_path):
    w = _isolated(fatal_docs=DOCS[0])
    try:
        with pytest.raises(FacebenchError, match="weights missing for mini-test-0001; fix: pass pretrained=PATH"):
            _run(w, tmp_path / "o", tasks=("genlite",))
    finally:
        w.close()


def test_an_adapter_that_cannot_start_is_one_clear_error():
    with pytest.raises(FacebenchError, match=r"could not start in its worker: ValueError: could not convert"):
        make_adapter(FaultyAdapter, "cpu", {"isolate": True, "delay": "soon"})


def test_failed_items_are_item_errors_not_answers():
    w = _isolated(fail_docs="b")
    try:
        reqs = [ChatRequest(doc_id=d, image=None, messages=({"role": "user", "content": "q"},)) for d in "abc"]
        out = w.answer(reqs)
    finally:
        w.close()
    assert out[0] == "answer to q (a)" and out[2] == "answer to q (c)"
    assert isinstance(out[1], ItemError) and "cannot do b" in str(out[1])


# -- process lifetime -----------------------------------------------------------------------------
_PARENT = """
import sys, time
sys.path.insert(0, {repo!r})
from facebench.envs import make_adapter
from facebench.types import ChatRequest
from tests.envs_adapters import FaultyAdapter
w = make_adapter(FaultyAdapter, "cpu", {{"isolate": True, "hang_docs": "h"}})
print(w.pid, flush=True)
try:
    w.answer([ChatRequest(doc_id="h", image=None, messages=({{"role": "user", "content": "q"}},))])
finally:
    w.close()
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_the_worker_never_outlives_its_parent(tmp_path, how):
    parent = subprocess.Popen([sys.executable, "-c", _PARENT.format(repo=str(REPO))], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=str(tmp_path))
    try:
        pid = int(parent.stdout.readline())
        time.sleep(1.0)  # the worker is now inside its (hanging) batch
        assert _alive(pid)
        parent.send_signal(getattr(signal, how))
        parent.wait(timeout=30)
        assert _wait_gone(pid), f"worker {pid} survived its parent's {how}"
        if how == "SIGINT":
            assert "KeyboardInterrupt" in parent.stderr.read()
    finally:
        if parent.poll() is None:
            parent.kill()
