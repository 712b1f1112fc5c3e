"""Per-family environments and the worker that runs an adapter inside one.

``spec`` (what a family declares), ``build`` (creating/verifying it under the facebench cache),
``worker``/``worker_main``/``protocol`` (running the adapter there as a subprocess), ``factory``
(``make_adapter``: in-process or worker), ``commands`` (``facebench env build|ls|rm``)."""
from __future__ import annotations

from typing import Any


def make_adapter(cls: type, device: str = "cpu", model_args: dict[str, Any] | None = None,
                 isolate: bool | None = None, family: str | None = None):
    """See ``facebench.envs.factory.make_adapter`` (imported on use: this package stays light)."""
    from facebench.envs.factory import make_adapter as _make

    return _make(cls, device, model_args, isolate, family)
