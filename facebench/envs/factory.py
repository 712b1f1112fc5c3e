"""``make_adapter``: the one place that decides whether an adapter runs in-process or in a worker.

* a class with ``environment = None`` runs in-process (facebench's own stack);
* a class with an ``EnvSpec`` runs in a worker inside that environment (which must be built:
  ``facebench env build FAMILY``), except when this Python already *is* that environment;
* ``isolate=true`` in model_args (or ``FACEBENCH_ISOLATE=1``) forces a worker for any adapter — with
  this same Python when the class declares no environment — to test the worker path;
  ``isolate=false`` forces in-process.

Worker settings in model_args (or environment variables): ``worker_timeout`` seconds per batch
(``FACEBENCH_WORKER_TIMEOUT``, default 3600) and ``worker_restarts`` (``FACEBENCH_WORKER_RESTARTS``,
default 2). These keys are taken out of model_args before the adapter sees them, in both modes, so
they never enter the fingerprint: an isolated and an in-process run share one cache.
"""
from __future__ import annotations

import os
import sys
from typing import Any

from facebench.adapters.base import ModelAdapter
from facebench.errors import FacebenchError

WORKER_ARGS = ("isolate", "worker_timeout", "worker_restarts")


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def split_worker_args(model_args: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(args for the adapter, worker options)."""
    args = dict(model_args or {})
    opts = {k: args.pop(k) for k in WORKER_ARGS if k in args}
    return args, opts


def make_adapter(cls: type, device: str = "cpu", model_args: dict[str, Any] | None = None,
                 isolate: bool | None = None, family: str | None = None) -> ModelAdapter:
    """Build the adapter for ``cls`` in-process or as a ``WorkerAdapter`` (see the module doc).
    ``family`` is the model's registry name, used in messages (default ``cls.name``)."""
    args, opts = split_worker_args(model_args)
    family = family or getattr(cls, "name", cls.__name__)
    if isolate is None and "isolate" in opts:
        isolate = _as_bool(opts["isolate"])
    if isolate is None and os.environ.get("FACEBENCH_ISOLATE"):
        isolate = _as_bool(os.environ["FACEBENCH_ISOLATE"])
    spec = getattr(cls, "environment", None)
    in_worker = os.environ.get("FACEBENCH_WORKER") == "1"
    if isolate is False or in_worker or (spec is None and not isolate):
        return _in_process(cls, device, args, family)
    timeout = float(opts.get("worker_timeout", os.environ.get("FACEBENCH_WORKER_TIMEOUT", 3600)))
    restarts = int(opts.get("worker_restarts", os.environ.get("FACEBENCH_WORKER_RESTARTS", 2)))
    from facebench.envs.worker import WorkerAdapter

    if spec is None:
        return WorkerAdapter(cls, device, args, python=sys.executable, timeout=timeout, restarts=restarts,
                             label=family)
    from facebench.envs.build import env_paths, ensure_files, is_layered, load_manifest, running_inside, upstream_path

    if running_inside(spec):  # this Python is that environment's (e.g. `<env>/venv/bin/python -m facebench run`)
        return _in_process(cls, device, args, family)
    paths = env_paths(spec)
    if load_manifest(spec) is None or not paths.python.exists():
        raise FacebenchError(f"model '{family}' runs in its own environment, which is not built; "
                             f"fix: facebench env build {family}")
    ensure_files(spec)  # first use: fetch what is missing (needs the network once)
    env_vars = {"FACEBENCH_ENV_NAME": spec.name, "FACEBENCH_ENV_DIR": str(paths.root),
                "FACEBENCH_ENV_FILES": str(paths.files)}
    prepend: list[str] = []
    up = upstream_path(spec)
    if up is not None and spec.upstream is not None:
        env_vars["FACEBENCH_UPSTREAM_CODE"] = str(up)
        prepend = [str(up / s) if s else str(up) for s in spec.upstream.subdirs]
    for f in spec.files:
        if f.model_arg and f.model_arg not in args:
            args[f.model_arg] = str(paths.files / f.name)
    adapter = WorkerAdapter(cls, device, args, python=paths.python, spec=spec, env_vars=env_vars,
                            sys_path_prepend=prepend, timeout=timeout, restarts=restarts, label=family)
    _check_pins(adapter, spec, family, layered=is_layered(spec))
    return adapter


def _check_pins(adapter: Any, spec: Any, family: str, layered: bool) -> None:
    """The worker reports the versions it imports; a pin they miss (the base environment changed
    under a layer) is an error before any work."""
    from facebench.envs.build import normalize, unmet_pins

    seen = {normalize(k): {"version": v} for k, v in adapter.worker_versions.items() if v}
    bad = unmet_pins(spec.requirements, seen)
    if bad:
        adapter.close()
        raise FacebenchError(f"model '{family}': its environment no longer meets its pins ({', '.join(bad)}); "
                             f"fix: facebench env build {family} --force")


def _in_process(cls: type, device: str, args: dict[str, Any], family: str) -> ModelAdapter:
    try:
        return cls(device=device, **args)
    except TypeError as e:
        raise FacebenchError(f"model '{family}': bad --model_args ({e})") from None
    except ModuleNotFoundError as e:
        from facebench.errors import MissingDependencyError

        raise MissingDependencyError((e.name or "?").split(".")[0], what=f"model '{family}'") from None
