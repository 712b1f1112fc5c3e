"""Workers and environments, measured (every figure printed comes from this run).

  python benchmarks/bench_worker.py            # worker round trip vs in-process, image transport
  python benchmarks/bench_worker.py --build    # + build a layered environment (transformers 4.57.6):
                                               #   cold (no pip cache: from the registry), rebuild
                                               #   from pip's cache, warm (already built); its disk
  python benchmarks/bench_worker.py --full     # + a full (standalone) environment of the same spec
                                               #   with torch, for the disk/time comparison (~6 GB)

Round trip: the dummy adapter (seeded-noise images, fixed answers) in-process and through a worker
(`isolate=true`, this same Python), same batches; the difference per batch is what the pipe, the
framing and the pixel copies cost. Model time is the same in both, so it is left small here.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_round_trip(repeats: int) -> None:
    from facebench.adapters.dummy import DummyAdapter
    from facebench.envs import make_adapter
    from facebench.types import ChatRequest, GenRequest

    local = make_adapter(DummyAdapter, "cpu", {})
    t0 = time.perf_counter()
    worker = make_adapter(DummyAdapter, "cpu", {"isolate": True})
    start = time.perf_counter() - t0
    print(f"worker start (spawn + import facebench core + handshake): {start * 1000:.0f} ms")
    try:
        for size, n_req in ((64, 8), (512, 8), (1024, 4)):
            reqs = [GenRequest(doc_id=str(i), prompt="p", n=1, seed=i, height=size, width=size) for i in range(n_req)]
            a = _median_time(lambda: local.generate_images(reqs), repeats)
            b = _median_time(lambda: worker.generate_images(reqs), repeats)
            print(f"generate {n_req} x {size}x{size}: in-process {a * 1000:7.1f} ms/batch, worker {b * 1000:7.1f} ms/batch,"
                  f" overhead {(b - a) * 1000:6.1f} ms/batch ({(b - a) / n_req * 1000:.2f} ms/image), ratio {b / a:.2f}")
        chats = [ChatRequest(doc_id=str(i), image=None, messages=({"role": "user", "content": "q" * 200},))
                 for i in range(8)]
        a = _median_time(lambda: local.answer(chats), repeats)
        b = _median_time(lambda: worker.answer(chats), repeats)
        print(f"answer 8 questions: in-process {a * 1000:.3f} ms/batch, worker {b * 1000:.3f} ms/batch, "
              f"overhead {(b - a) * 1000:.2f} ms/batch")
    finally:
        worker.close()


def bench_transport(repeats: int) -> None:
    """Raw pixels (what the protocol sends) vs a PNG encode + decode per image."""
    import io

    import numpy as np
    from PIL import Image

    from facebench.envs.protocol import image_from_wire, image_to_wire

    im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8), "RGB")

    def raw():
        image_from_wire(*image_to_wire(im))

    def png():
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        Image.open(io.BytesIO(buf.getvalue())).load()

    a, b = _median_time(raw, repeats), _median_time(png, repeats)
    print(f"one 512x512 image across the pipe: raw pixels {a * 1000:.2f} ms, PNG encode+decode {b * 1000:.1f} ms "
          f"({b / a:.0f}x)")


def _du(path: Path) -> float:
    from facebench.envs.build import disk_usage

    return disk_usage(path) / 2**20


def bench_build(full: bool) -> None:
    from facebench.envs.build import build, env_paths
    from facebench.envs.spec import EnvSpec

    with tempfile.TemporaryDirectory(prefix="fb-bench-env-") as tmp:
        os.environ["FACEBENCH_CACHE_DIR"] = tmp
        spec = EnvSpec(name="bench-tf457", requirements=("transformers==4.57.6",))
        os.environ["PIP_NO_CACHE_DIR"] = "1"
        t0 = time.perf_counter()
        res = build(spec)
        cold = time.perf_counter() - t0
        del os.environ["PIP_NO_CACHE_DIR"]
        print(f"layered env (transformers==4.57.6 over facebench's transformers 5.x): cold build, no pip cache "
              f"{cold:.1f} s (pip {res.manifest['seconds']['pip']:.1f} s); {res.messages[0]}")
        t0 = time.perf_counter()
        build(spec, force=True)
        print(f"  rebuild from pip's cache: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        build(spec)
        print(f"  warm (already built): {(time.perf_counter() - t0) * 1000:.0f} ms")
        layer_mb = _du(env_paths(spec).root)
        print(f"  disk: {layer_mb:.0f} MB (torch {res.manifest['visible'].get('torch', {}).get('version')} reused, "
              f"not copied)")
        if full:
            spec_full = EnvSpec(name="bench-tf457-full", requirements=("transformers==4.57.6", "torch==2.14.1"),
                                layered=False)
            t0 = time.perf_counter()
            res_full = build(spec_full)
            full_s = time.perf_counter() - t0
            full_mb = _du(env_paths(spec_full).root)
            print(f"full env of the same spec + torch (standalone venv): build {full_s:.1f} s, disk {full_mb:.0f} MB "
                  f"({len(res_full.manifest['installed'])} packages); layered/full disk = {layer_mb / full_mb:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="store_true")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    os.environ.setdefault("FACEBENCH_NO_PROGRESS", "1")
    bench_round_trip(args.repeats)
    bench_transport(args.repeats)
    if args.build or args.full:
        bench_build(args.full)


if __name__ == "__main__":
    main()
