"""Dataset loaders → ``list[Sample]``: the UniF²ace HF dataset, local folders/JSONL, the mini set."""
from facebench.data.base import Dataset, resolve_dataset

__all__ = ["Dataset", "resolve_dataset"]
