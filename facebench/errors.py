"""User-facing errors: the CLI prints ``str(err)`` as one line and exits non-zero."""
from __future__ import annotations


class FacebenchError(Exception):
    """An error caused by user input or environment, reported as one clear line."""

    exit_code = 2


class UnknownNameError(FacebenchError):
    """An unknown model/task/metric/dataset name (message carries close matches)."""


# import name → (pip name, facebench extra that installs it)
EXTRA_FOR_MODULE = {
    "torch": ("torch", "metrics"), "torchvision": ("torchvision", "metrics"), "torchmetrics": ("torchmetrics", "metrics"),
    "open_clip": ("open-clip-torch", "metrics"), "cleanfid": ("clean-fid", "metrics"), "scipy": ("scipy", "metrics"),
    "openai": ("openai", "judge"), "transformers": ("transformers", "hf"), "diffusers": ("diffusers", "hf"),
    "accelerate": ("accelerate", "hf"), "datasets": ("datasets", "hf"), "safetensors": ("safetensors", "hf"),
    "dlib": ("dlib-bin", "face"), "sentence_transformers": ("sentence-transformers", "retrieval"),
    "pandas": ("pandas", "report"), "matplotlib": ("matplotlib", "report"),
}


class MissingDependencyError(FacebenchError):
    """An optional dependency is absent; the message names the extra to install."""

    def __init__(self, package: str, extra: str | None = None, what: str | None = None):
        if extra is None and package in EXTRA_FOR_MODULE:
            package, extra = EXTRA_FOR_MODULE[package]
        fix = f"pip install 'facebench[{extra}]'" if extra else f"pip install {package}"
        who = f" (needed by {what})" if what else ""
        super().__init__(f"missing optional dependency '{package}'{who}: install it with {fix}")
        self.package = package
        self.extra = extra


class DatasetError(FacebenchError):
    """A dataset that cannot be read (unreachable offline, bad columns, corrupt images)."""


class TaskConfigError(FacebenchError):
    """A malformed task YAML."""


class BudgetExceeded(FacebenchError):
    """A per-run budget (judge calls/tokens) was reached; finished work is kept."""


class WeightsUnavailable(Exception):
    """Weights could not be found or fetched. ``missing`` says what, ``fix`` how to provide it."""

    def __init__(self, missing: str, fix: str):
        super().__init__(f"{missing}; fix: {fix}")
        self.missing = missing
        self.fix = fix
