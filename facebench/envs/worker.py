"""``WorkerAdapter``: the parent's side of a worker process. It looks like any adapter to the
runner (same name, capabilities, model_args and — computed by the real adapter in the worker —
the same fingerprint), so the cache, resume, seeds and results do not change with isolation.

Failure policy (a run is never lost to a worker):
  * an item the adapter raises on      → that item fails (the worker retries a failed batch one
                                         item at a time, so one bad prompt fails alone);
  * a ``FacebenchError`` (bad settings) → the run stops with the adapter's one line, as in-process;
  * a crash, a hang past ``worker_timeout`` or a garbled reply → the worker is killed, the batch's
    items fail with one warning line (with the worker's last stderr line), the next batch starts a
    new worker; after ``worker_restarts`` such failures the remaining items fail without retrying.
Failed items are never cached, so re-running the same command computes exactly them.

The worker runs in its own session (Ctrl-C reaches only the parent, which kills it on close),
gets SIGKILL when the parent dies (``PR_SET_PDEATHSIG``), and its stderr goes to the log
(logger ``facebench.worker``).
"""
from __future__ import annotations

import atexit
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import weakref
from collections import deque
from pathlib import Path
from typing import Any

from facebench.adapters.base import ItemError, ModelAdapter
from facebench.envs.protocol import ProtocolError, image_from_wire, read_frame, write_frame
from facebench.envs.spec import EnvSpec
from facebench.errors import FacebenchError
from facebench.types import ChatRequest, GenRequest

log = logging.getLogger("facebench")
wlog = logging.getLogger("facebench.worker")

DEFAULT_TIMEOUT = 3600.0
DEFAULT_RESTARTS = 2


class _WorkerDown(Exception):
    """The worker crashed, hung or broke the protocol (the message says which)."""


def worker_device(device: str, environ: dict[str, str] | os._Environ = os.environ) -> tuple[str, bool]:
    """(device for the worker, whether it should ``torch.cuda.set_device``). Under torchrun a
    plain ``cuda`` becomes ``cuda:$LOCAL_RANK``, so each rank's worker drives its own GPU."""
    local = environ.get("LOCAL_RANK")
    if device == "cuda" and local is not None:
        return f"cuda:{int(local)}", True
    return device, device.startswith("cuda:")


def _package_links(cls: type) -> dict[str, Path]:
    """Top-level name → folder (or file) for facebench and the adapter's own package, exactly as
    this process imported them. The worker gets them first on its path (a folder of symlinks
    holding nothing else), so it runs the parent's code even when its Python would find another
    copy (an editable install of another checkout, a stale wheel) — and so computes the same
    fingerprint, whose code identity hashes those source files."""
    import facebench

    links = {"facebench": Path(facebench.__file__).resolve().parent}
    mod = sys.modules.get(cls.__module__)
    f = getattr(mod, "__file__", None)
    top = cls.__module__.split(".")[0]
    if f and top != "facebench":
        p = Path(f).resolve()
        q = p.parent if p.name == "__init__.py" else p
        depth = cls.__module__.count(".")
        links[top if q.is_dir() or depth else p.name] = q.parents[depth - 1] if depth else q
    return links


def _signal_name(code: int | None) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _widen_pipe(stream) -> None:
    """Linux: a 1 MiB pipe instead of 64 KiB, so a megapixel image crosses in a few writes rather
    than dozens of context switches (see benchmarks/bench_worker.py)."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (OSError, ValueError, AttributeError):
        pass


class WorkerAdapter(ModelAdapter):
    """Runs ``cls(device=..., **model_args)`` in a worker process with ``python`` (the family's
    environment, or this Python when isolation is forced for testing)."""

    def __init__(self, cls: type, device: str = "cpu", model_args: dict[str, Any] | None = None, *,
                 python: str | os.PathLike = sys.executable, spec: EnvSpec | None = None,
                 env_vars: dict[str, str] | None = None, sys_path_prepend: list[str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT, restarts: int = DEFAULT_RESTARTS, label: str | None = None):
        if cls.__module__ == "__main__":
            raise FacebenchError(f"adapter {cls.__qualname__} is defined in __main__: a worker cannot import it; "
                                 "define it in a module")
        self.cls = cls
        self.name = cls.name  # type: ignore[misc]
        self.capabilities = cls.capabilities  # type: ignore[misc]
        self.paper_model = getattr(cls, "paper_model", None)  # type: ignore[misc]
        self.speed_only_args = getattr(cls, "speed_only_args", ("batch_size",))  # type: ignore[misc]
        self.device = device
        self.model_args = dict(model_args or {})
        self._init_args = dict(self.model_args)  # what every (re)started worker's constructor gets
        self.python = str(python)
        self.spec = spec
        self.label = label or self.name
        self.timeout = float(timeout)
        self.restarts = int(restarts)
        self.env_vars = dict(env_vars or {})
        self.sys_path_prepend = list(sys_path_prepend or [])
        self._proc: subprocess.Popen | None = None
        self._replies: queue.Queue = queue.Queue()
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._busy = False
        self._failures = 0
        self._gave_up: str | None = None
        self._hello: dict[str, Any] = {}
        self._tmp = tempfile.mkdtemp(prefix="facebench-worker-")
        self._finalizer = weakref.finalize(self, WorkerAdapter._cleanup, [None], self._tmp)
        self._start()  # a worker that cannot start is an error now, before any work

    # -- process management -------------------------------------------------------------------------
    @staticmethod
    def _cleanup(holder: list, tmp: str) -> None:
        if holder[0] is not None:
            _kill(holder[0])
        shutil.rmtree(tmp, ignore_errors=True)

    def _launch_env(self) -> dict[str, str]:
        src = Path(self._tmp) / "src"
        src.mkdir(exist_ok=True)
        for name, target in _package_links(self.cls).items():
            link = src / name
            if not link.is_symlink():
                link.symlink_to(target, target_is_directory=target.is_dir())
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = str(src)
        env.update(self.env_vars)
        env["FACEBENCH_WORKER"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _link_cwd_files(self) -> None:
        """Extra files no model_arg receives are read by the research code from relative paths (TokenFlow
        reads ``./clip_model/ViT-B-16.pt``): they appear at that path in the worker's working folder."""
        files_dir = self.env_vars.get("FACEBENCH_ENV_FILES")
        if not files_dir or self.spec is None:
            return
        for f in self.spec.files:
            src = Path(files_dir) / f.name
            link = Path(self._tmp) / f.name
            if f.model_arg or not src.exists() or link.exists() or link.is_symlink():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(src)

    def _start(self) -> None:
        device, set_cuda = worker_device(self.device)
        os.makedirs(self._tmp, exist_ok=True)  # the worker's working folder (gone after a close)
        self._link_cwd_files()
        cmd = [self.python, "-m", "facebench.envs.worker_main"]
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=self._tmp, env=self._launch_env(), start_new_session=True)
        except OSError as e:
            raise FacebenchError(f"cannot start a worker for model '{self.label}' with {self.python}: {e}") from None
        _widen_pipe(proc.stdout)
        self._proc = proc
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, WorkerAdapter._cleanup, [proc], self._tmp)
        atexit.register(_kill, proc)
        self._replies = queue.Queue()
        threading.Thread(target=self._read_replies, args=(proc, self._replies), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(proc,), daemon=True).start()
        extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        hello = {"op": "init", "module": self.cls.__module__, "qualname": self.cls.__qualname__, "device": device,
                 "set_cuda_device": set_cuda, "model_args": self._init_args,
                 "sys_path_prepend": self.sys_path_prepend, "sys_path_append": extra,
                 "packages": [_req_name(r) for r in (self.spec.requirements if self.spec else ())]}
        try:
            reply, _ = self._roundtrip(hello)
        except _WorkerDown as e:
            raise FacebenchError(f"the worker for model '{self.label}' {e}") from None
        if not reply.get("ok"):
            _kill(proc)
            raise FacebenchError(f"model '{self.label}' could not start in its worker: {reply.get('error')}")
        if self._hello and reply["fingerprint"] != self._hello["fingerprint"]:
            _kill(proc)
            raise FacebenchError(f"the restarted worker for model '{self.label}' has fingerprint {reply['fingerprint']}, "
                                 f"not {self._hello['fingerprint']}: its code or weights changed during the run")
        self._hello = reply
        if isinstance(reply.get("model_args"), dict):
            self.model_args = reply["model_args"]  # as the adapter records them (defaults filled in)

    def _read_replies(self, proc: subprocess.Popen, q: queue.Queue) -> None:
        assert proc.stdout is not None
        while True:
            try:
                q.put(read_frame(proc.stdout))
            except (EOFError, ProtocolError, OSError, ValueError) as e:
                q.put(e)
                return

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for raw in iter(proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr_tail.append(line)
                wlog.info("[%s worker %d] %s", self.label, proc.pid, line)

    def _down(self, why: str) -> _WorkerDown:
        proc = self._proc
        if proc is not None:
            _kill(proc)
        self._busy = False
        state = _signal_name(proc.returncode if proc is not None else None)
        tail = next((ln for ln in reversed(self._stderr_tail) if ln.strip()), "")
        return _WorkerDown(f"{why} (worker {state})" + (f"; its last stderr line: {tail[:200]}" if tail else ""))

    def _roundtrip(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        """Send one request and wait for its reply. ``_busy`` stays set if we are interrupted
        (Ctrl-C) while waiting, so ``close`` kills the worker instead of asking it politely."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        self._busy = True
        try:
            write_frame(proc.stdin, msg)
        except (BrokenPipeError, OSError, ValueError):
            raise self._down("could not be sent the request") from None
        try:
            item = self._replies.get(timeout=self.timeout)
        except queue.Empty:
            raise self._down(f"did not answer within {self.timeout:g} s (hung; raise worker_timeout if the "
                             "model is only slow)") from None
        if isinstance(item, EOFError):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            raise self._down("died")
        if isinstance(item, BaseException):
            raise self._down(f"broke the protocol ({item})")
        self._busy = False
        return item

    def __deepcopy__(self, memo: dict) -> WorkerAdapter:
        return self  # a handle on a process: copies share it (RunConfig.public deep-copies its model)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- the adapter contract --------------------------------------------------------------------
    def fingerprint(self) -> str:
        return self._hello["fingerprint"]

    def info(self) -> dict[str, Any]:
        out = dict(self._hello.get("info") or {})
        if self._proc is not None and self._proc.poll() is None and not self._busy:
            try:
                reply, _ = self._roundtrip({"op": "info"})
                if reply.get("ok"):
                    out = dict(reply["info"])
            except _WorkerDown:
                pass
        out["worker"] = {"environment": self.spec.name if self.spec else None, "python": self._hello.get("python"),
                         "prefix": self._hello.get("prefix"), "versions": self._hello.get("versions", {}),
                         "failures": self._failures}
        return out

    @property
    def worker_versions(self) -> dict[str, str | None]:
        return dict(self._hello.get("versions", {}))

    def generate_images(self, reqs: list[GenRequest]) -> list[list[Any]]:
        if "generate" not in self.capabilities:
            return super().generate_images(reqs)
        return self._batch("generate", [r.to_dict() for r in reqs])

    def answer(self, reqs: list[ChatRequest]) -> list[str]:
        if "understand" not in self.capabilities:
            return super().answer(reqs)
        wire = [{"doc_id": r.doc_id, "image": os.path.abspath(r.image) if r.image is not None else None,
                 "messages": [dict(m) for m in r.messages], "params": r.params, "image_sha256": r.image_sha256}
                for r in reqs]
        return self._batch("answer", wire)

    def _batch(self, op: str, wire: list[dict[str, Any]]) -> list[Any]:
        n = len(wire)
        if self._gave_up:
            return [ItemError(self._gave_up) for _ in range(n)]
        try:
            if self._proc is None or self._proc.poll() is not None:
                self._start_again()
            reply, blobs = self._roundtrip({"op": op, "reqs": wire})
            if not reply.get("ok"):
                if reply.get("fatal"):
                    raise FacebenchError(str(reply.get("error")))
                return [ItemError(str(reply.get("error"))) for _ in range(n)]
            return self._decode(op, reply, blobs, n)
        except _WorkerDown as e:
            self._failures += 1
            msg = f"worker for model '{self.label}' {e}: {n} item(s) of this batch failed (re-run to retry them)"
            if self._failures > self.restarts:
                self._gave_up = (f"worker for model '{self.label}' failed {self._failures} times; "
                                 "not restarted again (re-run to retry)")
                msg += "; giving up on this worker, the remaining items fail"
            log.warning(msg)
            return [ItemError(msg) for _ in range(n)]

    def _start_again(self) -> None:
        try:
            self._start()
        except FacebenchError as e:
            raise _WorkerDown(f"could not be restarted: {e}") from None

    def _decode(self, op: str, reply: dict[str, Any], blobs: list[bytes], n: int) -> list[Any]:
        items = reply.get("items")
        if not isinstance(items, list) or len(items) != n:
            raise self._down(f"broke the protocol (answered {len(items) if isinstance(items, list) else '?'} items "
                             f"for {n} requests)")
        out: list[Any] = []
        k = 0
        for it in items:
            if "error" in it:
                out.append(ItemError(str(it["error"])))
            elif op == "answer":
                out.append(it["text"] if "text" in it else
                           ItemError(f"the adapter returned {it.get('not_text')}, not a string"))
            else:
                imgs = []
                for meta in it["images"]:
                    if k >= len(blobs):
                        raise self._down("broke the protocol (fewer images than announced)")
                    imgs.append(image_from_wire(meta, blobs[k]))
                    k += 1
                out.append(imgs)
        return out

    def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            if not self._busy:  # idle: let the adapter free its memory, then stop
                try:
                    assert proc.stdin is not None
                    write_frame(proc.stdin, {"op": "close"})
                    proc.wait(timeout=30)
                except (OSError, ValueError, subprocess.TimeoutExpired):
                    pass
            _kill(proc)  # busy (Ctrl-C mid-batch) or slow to stop: kill it now
        self._busy = False
        self._finalizer()


def _req_name(text: str) -> str:
    from facebench.envs.build import normalize

    name = text.split(";")[0].split("[")[0]
    for sep in "=<>!~ ":
        name = name.split(sep)[0]
    return normalize(name.strip())
