"""The worker process: ``python -m facebench.envs.worker_main``, started by ``WorkerAdapter`` with
the Python of a family's environment. It builds the real adapter and answers batched requests
over stdin/stdout (``facebench.envs.protocol`` frames) until told to close or its parent dies.

Only facebench's light core is imported here (protocol, types, errors, images); the adapter
imports what it needs. Anything the adapter or its library prints — to ``sys.stdout`` or straight
to file descriptor 1 — goes to stderr, which the parent logs: the protocol has a private copy of
the original stdout that nothing else writes to.
"""
from __future__ import annotations

import importlib
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from facebench.envs.protocol import read_frame, write_frame

#: the descriptor the protocol writes to (a duplicate of the original stdout); set in ``main``
_PROTO_FD: int | None = None


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies (even by SIGKILL), so no worker outlives a run."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _import_adapter(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _is_user_error(e: BaseException) -> bool:
    from facebench.errors import FacebenchError

    return isinstance(e, FacebenchError)


def _jsonable(obj: Any) -> Any:
    """What results.json would record anyway (it is written as JSON): non-JSON values as strings."""
    import json

    return json.loads(json.dumps(obj, default=str))


def _versions(names: list[str]) -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


class Worker:
    def __init__(self) -> None:
        self.adapter: Any = None

    # -- ops ------------------------------------------------------------------------------------
    def init(self, msg: dict[str, Any]) -> dict[str, Any]:
        for p in reversed(msg.get("sys_path_prepend", [])):
            if p not in sys.path:
                sys.path.insert(0, p)
        for p in msg.get("sys_path_append", []):
            if p not in sys.path:
                sys.path.append(p)
        device = msg.get("device", "cpu")
        if device.startswith("cuda:") and msg.get("set_cuda_device"):
            import torch  # only on a CUDA device, where the family's stack has torch anyway

            torch.cuda.set_device(int(device.split(":", 1)[1]))  # upstream `.cuda()` calls land here
        cls = _import_adapter(msg["module"], msg["qualname"])
        self.adapter = cls(device=device, **msg.get("model_args", {}))
        return {"ok": True, "fingerprint": self.adapter.fingerprint(), "name": self.adapter.name,
                "capabilities": sorted(self.adapter.capabilities), "info": _jsonable(self.adapter.info()),
                "model_args": _jsonable(self.adapter.model_args),
                "pid": os.getpid(), "python": sys.version.split()[0], "prefix": sys.prefix,
                "versions": _versions(msg.get("packages", []))}

    def _call(self, op: str, reqs: list[Any]) -> list[Any]:
        return self.adapter.generate_images(reqs) if op == "generate" else self.adapter.answer(reqs)

    def batch(self, op: str, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        """Run a batch; if the batch raises, run its items one at a time so one bad item fails
        alone (outputs cannot change: seeds are per request, never per batch)."""
        from facebench.types import ChatRequest, GenRequest

        if op == "generate":
            reqs = [GenRequest(**r) for r in msg["reqs"]]
        else:
            reqs = [ChatRequest(doc_id=r["doc_id"], image=Path(r["image"]) if r.get("image") else None,
                                messages=tuple(r["messages"]), params=r.get("params", {}),
                                image_sha256=r.get("image_sha256", "")) for r in msg["reqs"]]
        try:
            outs = self._call(op, reqs)
            if not isinstance(outs, list) or len(outs) != len(reqs):
                raise TypeError(f"returned {len(outs) if isinstance(outs, list) else type(outs).__name__} "
                                f"outputs for {len(reqs)} requests")
        except Exception as e:
            if _is_user_error(e):  # bad configuration: the run stops with the adapter's one line
                return {"ok": False, "fatal": True, "error": str(e)}, []
            if len(reqs) == 1:
                return {"ok": True, "items": [{"error": _one_line(e)}]}, []
            traceback.print_exc()
            outs = []
            for r in reqs:
                try:
                    one = self._call(op, [r])
                    outs.append(one[0] if isinstance(one, list) and len(one) == 1 else
                                _Failed(f"returned {type(one).__name__} for one request"))
                except Exception as e1:
                    if _is_user_error(e1):
                        return {"ok": False, "fatal": True, "error": str(e1)}, []
                    outs.append(_Failed(_one_line(e1)))
        return self._encode(op, outs)

    @staticmethod
    def _encode(op: str, outs: list[Any]) -> tuple[dict[str, Any], list[bytes]]:
        from facebench.envs.protocol import image_to_wire

        items: list[dict[str, Any]] = []
        blobs: list[bytes] = []
        for out in outs:
            if isinstance(out, _Failed):
                items.append({"error": out.message})
            elif op == "answer":
                # a non-string is passed on as its type name: the predictor fails that item, as in-process
                items.append({"text": out} if isinstance(out, str) else {"not_text": type(out).__name__})
            elif not isinstance(out, list) or not all(hasattr(im, "tobytes") and hasattr(im, "mode") for im in out):
                items.append({"error": f"the adapter returned {type(out).__name__}, not a list of images"})
            else:
                metas = []
                for im in out:
                    meta, data = image_to_wire(im)
                    metas.append(meta)
                    blobs.append(data)
                items.append({"images": metas})
        return {"ok": True, "items": items}, blobs


class _Failed:
    def __init__(self, message: str):
        self.message = message


def main() -> int:
    global _PROTO_FD
    sys.modules.setdefault("facebench.envs.worker_main", sys.modules[__name__])  # one module under -m too
    _die_with_parent()
    _PROTO_FD = os.dup(1)
    os.dup2(2, 1)  # fd 1 (C-level prints) now goes to stderr, i.e. the parent's log
    sys.stdout = sys.stderr
    proto_in_fd = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # code that reads stdin must not eat protocol frames
    os.close(devnull)
    out = os.fdopen(_PROTO_FD, "wb")
    inp = os.fdopen(proto_in_fd, "rb")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the worker stops
    worker = Worker()
    while True:
        try:
            msg, _ = read_frame(inp)
        except EOFError:
            break
        op = msg.get("op")
        blobs: list[bytes] = []
        try:
            if op == "init":
                reply = worker.init(msg)
            elif op in ("generate", "answer"):
                reply, blobs = worker.batch(op, msg)
            elif op == "info":
                reply = {"ok": True, "info": _jsonable(worker.adapter.info())}
            elif op == "close":
                if worker.adapter is not None:
                    worker.adapter.close()
                write_frame(out, {"ok": True})
                break
            else:
                reply = {"ok": False, "fatal": True, "error": f"unknown op {op!r}"}
        except Exception as e:
            traceback.print_exc()
            reply = {"ok": False, "fatal": _is_user_error(e), "error": str(e) if _is_user_error(e) else _one_line(e)}
        write_frame(out, reply, blobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
