"""What identifies an adapter's *code* in its fingerprint (and so in every cache key).

A class from a released package (a module file inside site-packages of a distribution that is not
an editable install) is identified by the package's name and version; anything else — a module in the working directory, an editable
checkout, facebench's own adapters in a development install — by the sha256 of its source file.
So editing model code never returns the old code's cached outputs, while a released plugin keeps
its cache across reinstalls of the same version."""
from __future__ import annotations

import importlib.metadata as md
import inspect
import json
import sys
from functools import lru_cache
from pathlib import Path

from facebench.hashing import sha256_file


@lru_cache(maxsize=None)
def _dist_for_top_level(top: str) -> tuple[str, str, bool] | None:
    """(distribution, version, editable) of the installed distribution that provides ``top``."""
    names = md.packages_distributions().get(top) or []
    for name in names:
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        editable = False
        try:
            text = dist.read_text("direct_url.json")
            if text:
                editable = bool(json.loads(text).get("dir_info", {}).get("editable"))
        except (OSError, ValueError):
            editable = True  # unreadable metadata: hash the source, the safe side
        return name, dist.version, editable
    return None


@lru_cache(maxsize=None)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(path)[:16]


def _installed(path: str) -> bool:
    """Inside an installation folder (not a source checkout, whatever metadata lies around it)."""
    return bool({"site-packages", "dist-packages"} & set(Path(path).parts))


def module_identity(module_name: str) -> str:
    mod = sys.modules.get(module_name)
    path = getattr(mod, "__file__", None) if mod is not None else None
    if path is None or _installed(path):
        dist = _dist_for_top_level(module_name.split(".")[0])
        if dist is not None and not dist[2]:
            return f"{dist[0]}=={dist[1]}"
    if path and Path(path).is_file():
        st = Path(path).stat()
        return f"src:{_file_digest(path, st.st_mtime_ns, st.st_size)}"
    return f"module:{module_name}"


def code_identity(cls: type) -> dict[str, str]:
    """``{module: identity}`` for every module defining a class in ``cls``'s MRO (but the contract)."""
    out: dict[str, str] = {}
    for k in inspect.getmro(cls):
        mod = getattr(k, "__module__", "") or ""
        if k is object or mod in ("builtins", "facebench.adapters.base", "abc", "typing"):
            continue
        if mod not in out:
            out[mod] = module_identity(mod)
    return out
