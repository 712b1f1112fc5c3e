"""Baseline model plugins, one module per model family (import name: `facebench_baselines`)."""
