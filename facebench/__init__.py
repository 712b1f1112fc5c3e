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


__all__ = ["evaluate", "__version__"]
