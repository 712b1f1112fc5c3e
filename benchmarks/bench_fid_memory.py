"""Peak memory while scoring FID over a growing number of images, in one run.

The ``fid`` metric (clean mode, a randomly initialised FID-Inception saved as the TorchScript
file clean-fid loads: the real architecture and input size, no download) scores N generated
images against N reference images for growing N. Images are streamed in batches, so the peak
extra memory should stay flat in N apart from the features themselves (N × 2048 float32 per set)
and the 2048×2048 covariances. Each N runs in a fresh subprocess, so one N's allocator pools do
not hide another's.

Usage: python benchmarks/bench_fid_memory.py [--sizes 32,96,288] [--side 256]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _one(n: int, side: int, weights: str, folder: str) -> dict:
    """Score FID for n vs n images in this process; returns peak extra RSS (MB) and time."""
    import numpy as np
    import psutil
    from PIL import Image

    from facebench.metrics.base import MetricContext
    from facebench.metrics.fid import FID
    from facebench.types import Prediction, Sample

    tmp = Path(folder)
    rng = np.random.default_rng(n)
    refs, preds = [], []
    for i in range(n):
        for kind in ("ref", "gen"):
            p = tmp / f"{kind}_{i:05d}.png"
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(p)
            if kind == "ref":
                refs.append(Sample(doc_id=f"d{i}", image=p, caption="a face"))
            else:
                preds.append(Prediction(item_id=f"d{i}", doc_id=f"d{i}", task="fid", prompt="a face", images=[p]))
    ctx = MetricContext(task="fid", dataset=str(tmp), run_dir=tmp, cache_dir=tmp, batch_size=16,
                        reference_samples=refs)
    proc = psutil.Process()
    metric = FID(key="fid", extractor="inception", mode="clean", weights=weights, jackknife=0)
    # warm-up on 4 images so TorchScript profiling and allocator pools are not counted
    warm = MetricContext(task="fid", dataset=str(tmp) + "-warm", run_dir=tmp, cache_dir=tmp / "warm",
                         reference_samples=refs[:4])
    metric.compute(preds[:4], warm)
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            done.wait(0.005)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t = time.perf_counter()
    out = metric.compute(preds, ctx)
    secs = time.perf_counter() - t
    done.set()
    th.join()
    value = out[0].value
    return {"n": n, "peak_extra_mb": (peak[0] - base) / 2**20, "seconds": secs, "fid": value,
            "features_mb": 2 * n * 2048 * 4 / 2**20, "images_mb_if_held": 2 * n * side * side * 3 / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="32,96,288")
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        n, side, weights, folder = args.child
        print(json.dumps(_one(int(n), int(side), weights, folder)))
        return
    from tiny_metric_models import build_random_inception

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = str(build_random_inception(Path(tmp) / "weights")["torchscript"])
        for n in [int(x) for x in args.sizes.split(",")]:
            folder = Path(tmp) / f"n{n}"
            folder.mkdir()
            r = subprocess.run([sys.executable, __file__, "--child", str(n), str(args.side), weights, str(folder)],
                               capture_output=True, text=True, check=True)
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(f"FID (clean mode, random-init FID-Inception), {args.side}x{args.side} PNGs, batch 16, N generated vs N reference")
    print(f"{'N':>6} {'peak extra RSS MB':>18} {'features MB':>12} {'images if held MB':>18} {'seconds':>8}")
    for r in rows:
        print(f"{r['n']:>6} {r['peak_extra_mb']:>18.0f} {r['features_mb']:>12.1f} {r['images_mb_if_held']:>18.0f} {r['seconds']:>8.1f}")
    first, last = rows[0], rows[-1]
    print(f"N grew x{last['n'] / first['n']:.0f}; peak extra memory grew x{last['peak_extra_mb'] / max(first['peak_extra_mb'], 1e-9):.2f} "
          f"(+{last['peak_extra_mb'] - first['peak_extra_mb']:.0f} MB; the features account for "
          f"+{last['features_mb'] - first['features_mb']:.1f} MB)")


if __name__ == "__main__":
    main()
