"""Checks of run options that must fail as usage errors (exit 2, one line) before any work starts.

Used by the CLI (``facebench run``) and meant for the Python API entry too (``RunConfig``): a run
name that is a path, or a device that does not exist on this machine, would otherwise write
outside ``--output_path`` or crash deep inside a model with a traceback.
"""
from __future__ import annotations

import re

from facebench.errors import FacebenchError

_DEVICE = re.compile(r"^(cpu|auto|mps|cuda(?::\d+)?)$")
MAX_RUN_NAME = 200


def validate_run_name(name: str | None) -> str | None:
    """A run name is one folder name inside ``--output_path``: no path separators, no ``.``/``..``,
    no control characters, at most ``MAX_RUN_NAME`` characters. Returns it unchanged (None stays None)."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise FacebenchError(f"--run_name must be a string, got {type(name).__name__}")
    bad = None
    if not name.strip():
        bad = "is empty"
    elif name in (".", ".."):
        bad = "is '.' or '..'"
    elif "/" in name or "\\" in name:
        bad = "contains a path separator"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        bad = "contains a control character"
    elif name.startswith("-"):
        bad = "starts with '-'"
    elif len(name) > MAX_RUN_NAME:
        bad = f"is longer than {MAX_RUN_NAME} characters"
    if bad:
        raise FacebenchError(f"--run_name {name[:80]!r} {bad}: it names one folder inside --output_path; "
                             "fix: use a plain name such as my_model_v2")
    return name


def validate_device(device: str | None) -> str:
    """``cpu``, ``auto``, ``mps``, ``cuda`` or ``cuda:N`` — and, for CUDA/MPS, one this machine has.
    Imports torch only for a GPU device."""
    dev = (device or "cpu").strip()
    if not _DEVICE.match(dev):
        raise FacebenchError(f"--device {dev[:40]!r} is not a device; choose cpu, cuda, cuda:N, mps or auto")
    if dev in ("cpu", "auto"):
        return dev
    try:
        import torch
    except ImportError:
        raise FacebenchError(f"--device {dev} needs torch, which is not installed; fix: pip install torch, "
                             "or use --device cpu") from None
    if dev == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise FacebenchError("--device mps: no Apple GPU is available here; fix: use --device cpu (or auto)")
        return dev
    if not torch.cuda.is_available():
        raise FacebenchError(f"--device {dev}: no CUDA GPU is visible (torch.cuda.is_available() is False); "
                             "fix: use --device cpu (or auto)")
    idx = int(dev.split(":")[1]) if ":" in dev else 0
    n = torch.cuda.device_count()
    if idx >= n:
        raise FacebenchError(f"--device {dev}: this machine has {n} CUDA device(s) (cuda:0..cuda:{n - 1})")
    return dev
