"""Harness overhead and cached-rerun cost, measured in one run.

1. A stand-in adapter whose cost is known (a fixed float32 matrix product per request) answers N
   questions; facebench end to end (plan, cache, batches, files, exact-match scoring) vs the bare
   loop over the same adapter calls. Goal: ratio ≤ 1.05.
2. The same run again with every item cached: seconds per 1,000 items (goal: well under one)
   and model calls (goal: 0).

Usage: python benchmarks/bench_harness.py [--n 2000] [--work 384]

(--work 384 costs ~10 ms per item on 2 CPU cores, still far cheaper than any real model.)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facebench.adapters.base import ModelAdapter  # noqa: E402
from facebench.types import ChatRequest  # noqa: E402


class MatmulAdapter(ModelAdapter):
    """Known cost: ``work``×``work`` float32 matrix products per request; answers 'yes'."""

    name: ClassVar[str] = "matmul"
    capabilities: ClassVar[frozenset[str]] = frozenset({"understand"})

    def __init__(self, device: str = "cpu", work: int = 192, **kw: Any):
        super().__init__(device=device, work=work, **kw)
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((work, work), dtype=np.float32)
        self.calls = 0

    def _one(self) -> float:
        x = self.a
        for _ in range(8):
            x = np.tanh(x @ self.a)
        return float(x[0, 0])

    def answer(self, reqs: list[ChatRequest]) -> list[str]:
        self.calls += 1
        return ["yes" if self._one() > -2 else "no" for _ in reqs]


def make_dataset(root: Path, n_docs: int, q_per_doc: int) -> Path:
    from PIL import Image

    (root / "images").mkdir(parents=True)
    Image.new("RGB", (16, 16), (120, 80, 60)).save(root / "images" / "face.png")
    rows = []
    for i in range(n_docs):
        qa = [{"question": f"Is feature {j} present on face {i}? Answer yes or no.", "answer": "yes" if (i + j) % 2 else "no",
               "kind": "closed", "family": f"f{j}", "choices": ["yes", "no"]} for j in range(q_per_doc)]
        rows.append({"doc_id": f"d{i:05d}", "image": "images/face.png", "caption": f"face {i}", "qa": qa})
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "tasks").mkdir()
    (root / "tasks" / "benchqa.yaml").write_text(
        "task: benchqa\nkind: understanding\nmode: vqa\nprompt: '{question}'\nmetrics: [exact_match]\n")
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="questions (items)")
    ap.add_argument("--work", type=int, default=384, help="matrix side of the stand-in model's work")
    ap.add_argument("--batch_size", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3, help="repeat the comparison; the median ratio is reported")
    args = ap.parse_args()
    os.environ.setdefault("FACEBENCH_NO_PROGRESS", "1")

    ratios = []
    for rep in range(args.repeat):
        bare, full, cached, n, first, second = measure(args)
        ratios.append(full / bare)
        print(f"run {rep + 1}: bare {bare:.3f} s, facebench {full:.3f} s, ratio {full / bare:.3f}")
    ratios.sort()
    med = ratios[len(ratios) // 2]
    print(f"items: {n}  batch_size: {args.batch_size}  stand-in work: {args.work}x{args.work} matmul x8 per item")
    print(f"bare loop over adapter calls : {bare:8.3f} s   (last run; mean of a bare run before and after facebench)")
    print(f"facebench end to end         : {full:8.3f} s   (model calls {first.model_calls})")
    print(f"overhead ratio, median of {args.repeat}: {med:8.3f}   (range {ratios[0]:.3f}-{ratios[-1]:.3f}; goal <= 1.05)")
    print(f"overhead per item            : {(full - bare) / n * 1000:8.3f} ms  (model cost per item {bare / n * 1000:.2f} ms)")
    print(f"cached rerun                 : {cached:8.3f} s = {cached / n * 1000:.3f} s per 1,000 items, "
          f"model calls {second.model_calls} (goal: well under 1 s, 0 calls)")


def measure(args):
    from facebench.data.local import LocalDataset
    from facebench.runner import RunConfig, run
    from facebench.runner.plan import plan_task
    from facebench.taskconfig import TaskIndex

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["FACEBENCH_CACHE_DIR"] = str(tmp / "cache")
        q = 8
        ds = make_dataset(tmp / "ds", args.n // q, q)
        task = TaskIndex([ds / "tasks"]).load("benchqa").resolved(str(ds))
        items = plan_task(task, LocalDataset(ds).load("test"), 0)

        bare_model = MatmulAdapter(work=args.work)

        def bare_loop() -> float:
            t = time.perf_counter()
            for i in range(0, len(items), args.batch_size):
                bare_model.answer([it.request for it in items[i : i + args.batch_size]])
            return time.perf_counter() - t

        bare_before = bare_loop()

        model = MatmulAdapter(work=args.work)
        cfg = dict(model=model, tasks=["benchqa"], dataset=str(ds), batch_size=args.batch_size,
                   output_path=tmp / "out", include_path=[str(ds / "tasks")])
        t = time.perf_counter()
        first = run(RunConfig(**cfg))
        full = time.perf_counter() - t
        model.calls = 0
        t = time.perf_counter()
        second = run(RunConfig(**cfg))
        cached = time.perf_counter() - t
        bare = (bare_before + bare_loop()) / 2  # bare loop before and after: machine drift averages out

    return bare, full, cached, len(items), first, second


if __name__ == "__main__":
    main()
