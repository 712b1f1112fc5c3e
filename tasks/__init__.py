"""Task YAMLs (installed as the package data of `facebench_tasks`)."""
