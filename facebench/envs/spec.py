"""What a model family needs to run: its Python, pinned requirements, upstream code at a pinned
commit and extra files. A plugin declares one ``EnvSpec`` as its ``environment`` class attribute;
``None`` (the default) means the adapter runs in-process on facebench's own stack.

Only data lives here (no imports beyond the standard library), so ``facebench ls models`` can show
every family's environment without building or importing anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class UpstreamCode:
    """A research repository at a pinned commit (cloned on first use, put on the worker's sys.path)."""

    repo: str  # e.g. "https://github.com/showlab/Show-o"
    commit: str  # full 40-hex commit
    subdirs: tuple[str, ...] = ("",)  # folders under the checkout to put on sys.path ("" = its root)


@dataclass(frozen=True)
class ExtraFile:
    """A file the family needs besides its checkpoint (a vision tower, a tokenizer, a codebook)."""

    name: str  # where it goes, relative to the environment's files folder
    source: str  # "hf://<repo id>/<path in repo>" or an https URL
    sha256: str | None = None  # published hash, checked after download when known
    model_arg: str | None = None  # the model_arg that receives the local path (e.g. "vision_tower")


@dataclass(frozen=True)
class Verified:
    """How a plugin was checked against its upstream code (shown by ``facebench ls models``)."""

    commit: str
    how: str  # e.g. "tiny random weights, CPU, tests/test_upstream_show_o.py"
    date: str  # ISO date


@dataclass(frozen=True)
class EnvSpec:
    """The environment a family runs in. ``requirements`` are pip requirement strings with exact
    pins; packages the main environment already has at the same version are reused, not copied."""

    name: str
    python: str = "3.11"
    requirements: tuple[str, ...] = ()
    upstream: UpstreamCode | None = None
    files: tuple[ExtraFile, ...] = ()
    verified: Verified | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # None: a layer over facebench's own environment when ``python`` is the running Python's
    # major.minor (packages whose pins differ are installed in the layer, the rest — torch — is
    # reused); True: insist on a layer; False: a standalone venv with everything installed.
    layered: bool | None = None
