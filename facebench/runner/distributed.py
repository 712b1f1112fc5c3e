"""torch.distributed glue for ``torchrun --nproc_per_node=N -m facebench run ...``.

Each rank predicts the doc_ids of its shard and writes its own part file; rank 0 waits at a
barrier, merges the parts by item_id and scores. The prediction cache is keyed by request, not by
rank, so a run resumed with a different number of processes reuses every finished item. Multi-node
runs need ``--output_path`` on a filesystem all nodes see (as with lm-eval); torch is imported only
when WORLD_SIZE > 1."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def dist_info() -> DistInfo:
    return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))


def init(info: DistInfo) -> None:
    """Join the process group (gloo: works on CPU and beside any GPU backend for barriers)."""
    if not info.active:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        from datetime import timedelta

        # rank 0 scores while the others wait at the last barrier: allow long scoring (FID on 30K)
        dist.init_process_group(backend=os.environ.get("FACEBENCH_DIST_BACKEND", "gloo"), timeout=timedelta(hours=6))


def barrier(info: DistInfo) -> None:
    if not info.active:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()


def broadcast_str(info: DistInfo, value: str | None) -> str | None:
    """Rank 0's ``value`` on every rank (e.g. the run's stamp, so all ranks name their parts alike)."""
    if not info.active:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def finish(info: DistInfo) -> None:
    if not info.active:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
