"""Read selected tensors from a Hugging Face checkpoint folder (safetensors or PyTorch .bin,
single file or sharded with an index), without loading the whole model."""
from __future__ import annotations

import json
from pathlib import Path


def checkpoint_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        p = folder / index
        if p.is_file():
            shards = sorted(set(json.loads(p.read_text())["weight_map"].values()))
            return [folder / s for s in shards]
    for single in ("model.safetensors", "pytorch_model.bin"):
        if (folder / single).is_file():
            return [folder / single]
    return []


def _torch_load(path: Path) -> dict:
    import torch

    try:  # memory-map: reading a few projector tensors must not pull a 10 GB shard into RAM
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (non-zip) format cannot be memory-mapped
        return torch.load(str(path), map_location="cpu", weights_only=True)


def weight_names(folder: str | Path) -> dict[str, Path]:
    """Tensor name → file holding it."""
    folder = Path(folder)
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        p = folder / index
        if p.is_file():
            return {k: folder / v for k, v in json.loads(p.read_text())["weight_map"].items()}
    out: dict[str, Path] = {}
    for f in checkpoint_files(folder):
        if f.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(f), framework="pt") as sf:
                out.update({k: f for k in sf.keys()})
        else:
            out.update({k: f for k in _torch_load(f)})
    return out


def read_tensors(folder: str | Path, prefix: str) -> dict:
    """All tensors whose name starts with ``prefix`` (prefix stripped)."""
    names = {k: f for k, f in weight_names(folder).items() if k.startswith(prefix)}
    out: dict = {}
    for f in sorted(set(names.values())):
        wanted = [k for k, v in names.items() if v == f]
        if f.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(f), framework="pt") as sf:
                for k in wanted:
                    out[k[len(prefix) :]] = sf.get_tensor(k)
        else:
            state = _torch_load(f)
            for k in wanted:
                out[k[len(prefix) :]] = state[k]
            del state
    return out
