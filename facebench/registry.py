"""Name → plugin registries (models, tasks, metrics, datasets).

Three sources, looked up in this order: objects registered with the decorator, a lazy
``"module:attr"`` table of in-repo entries (imported only when asked for, so ``facebench ls``
stays fast), and Python entry points (``facebench.models`` etc.) for plugins outside the repo.
Unknown names get a "did you mean" list.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
from importlib import metadata
from typing import Any, Callable, Generic, TypeVar

from facebench.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._objects: dict[str, T] = {}
        self._loaded: dict[str, T] = {}  # imported lazy / entry-point objects
        self._lazy: dict[str, str] = {}
        self._entry_points: dict[str, Any] | None = None

    # -- registration ---------------------------------------------------------------------------
    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self._objects[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        self._objects[name] = obj

    def add_lazy(self, name: str, target: str) -> None:
        """Register ``"package.module:attr"`` to be imported on first use."""
        self._lazy[name] = target

    # -- lookup ---------------------------------------------------------------------------------
    def _eps(self) -> dict[str, Any]:
        if self._entry_points is None:
            self._entry_points = {}
            if self.entry_point_group:
                for ep in metadata.entry_points(group=self.entry_point_group):
                    self._entry_points.setdefault(ep.name, ep)
        return self._entry_points

    def refresh(self) -> None:
        """Forget cached entry points (after installing a plugin package at run time)."""
        self._entry_points = None
        self._loaded = {k: v for k, v in self._loaded.items() if k in self._lazy}

    def names(self) -> list[str]:
        return sorted(set(self._objects) | set(self._lazy) | set(self._eps()))

    def __contains__(self, name: str) -> bool:
        return name in self._objects or name in self._lazy or name in self._eps()

    def source(self, name: str) -> str:
        """Where a name comes from: 'builtin', 'module:attr' or 'entry point dist:module'."""
        if name in self._objects:
            return "registered"
        if name in self._lazy:
            return self._lazy[name]
        ep = self._eps().get(name)
        if ep is not None:
            return f"entry point {ep.value}"
        raise self.unknown(name)

    def get(self, name: str) -> T:
        if name in self._objects:
            return self._objects[name]
        if name in self._loaded:
            return self._loaded[name]
        if name in self._lazy:
            module_name, _, attr = self._lazy[name].partition(":")
            module = _import_plugin(self.kind, name, module_name)
            obj = getattr(module, attr, None)
            if obj is None:
                from facebench.errors import FacebenchError

                raise FacebenchError(f"{self.kind} '{name}': module '{module_name}' has no '{attr}'")
            self._loaded[name] = obj
            return obj
        ep = self._eps().get(name)
        if ep is not None:
            obj = ep.load()
            self._loaded[name] = obj
            return obj
        if ":" in name:  # an ad-hoc plugin given as "package.module:Class"
            _importable_from_cwd(name.partition(":")[0])
            self.add_lazy(name, name)
            return self.get(name)
        raise self.unknown(name)

    def unknown(self, name: str) -> UnknownNameError:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = f" (known: {', '.join(self.names())})" if not close else ""
        return UnknownNameError(f"unknown {self.kind} '{name}'{hint}{known}")


def _importable_from_cwd(module_name: str) -> None:
    """``--model pkg.mod:Class`` from a project folder works as ``python -m`` would: the working
    directory is importable (lm-eval users expect this of ``--include_path``-style plugins)."""
    import os
    import sys

    top = module_name.split(".")[0]
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path and importlib.util.find_spec(top) is None \
            and (os.path.isdir(os.path.join(cwd, top)) or os.path.isfile(os.path.join(cwd, top + ".py"))):
        sys.path.insert(0, cwd)


def _import_plugin(kind: str, name: str, module_name: str) -> Any:
    """Import a plugin module; a missing third-party package becomes a MissingDependencyError."""
    from facebench.errors import FacebenchError, MissingDependencyError

    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise FacebenchError(f"{kind} '{name}' points at '{module_name}', which is not installed; fix: run from the "
                                 f"folder that holds '{module_name.split('.')[0]}', add that folder to PYTHONPATH, or "
                                 "pip install your package") from None
        raise MissingDependencyError(missing.split(".")[0], what=f"{kind} '{name}'") from None


MODELS: Registry[Any] = Registry("model", "facebench.models")
METRICS: Registry[Any] = Registry("metric", "facebench.metrics")
DATASETS: Registry[Any] = Registry("dataset", "facebench.datasets")
# Tasks are YAML files; the entry point group ``facebench.tasks`` points at a folder of YAMLs
# (a ``module:attr`` whose value is a path, or a module whose folder holds the YAMLs).
TASK_DIRS_ENTRY_POINT = "facebench.tasks"
