"""Model adapters: the one interface every model (UniF²ace, baselines, user plugins) implements."""
from facebench.adapters.base import ModelAdapter, parse_model_args

__all__ = ["ModelAdapter", "parse_model_args"]
