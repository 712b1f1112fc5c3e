"""Metric plugins. ``base`` holds the interface; ``aggregate`` the shared mean/CI/breakdown."""
from facebench.metrics.base import Metric, MetricContext

__all__ = ["Metric", "MetricContext"]
