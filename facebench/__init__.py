"""facebench: an evaluation harness for face-domain unified multimodal models.

Light on import: the runner (and torch, through the backends) loads only when used."""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def evaluate(model: Any, tasks: Any, **kwargs: Any) -> dict[str, Any]:
    """Run tasks on a model and return the results dict; see ``facebench.runner.evaluate``.
    API keys are redacted from every log line (a filter on the root logger's handlers)."""
    from facebench.redact import install_log_redaction
    from facebench.runner import evaluate as _evaluate

    install_log_redaction()

    return _evaluate(model, tasks, **kwargs)


def simple_evaluate(model: Any, model_args: Any = None, tasks: Any = (), **kwargs: Any) -> dict[str, Any]:
    """lm-eval-style entry (string ``model_args``, ``log_samples=True`` returns samples); see
    ``facebench.runner.simple_evaluate``."""
    from facebench.runner import simple_evaluate as _simple

    return _simple(model, model_args, tasks, **kwargs)


__all__ = ["evaluate", "simple_evaluate", "__version__"]
