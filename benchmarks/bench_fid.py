"""FID speed: facebench vs clean-fid, measured in one run on the same inputs.

1. Fréchet distance alone, on the same 2048-d features (N > d, full-rank covariances, like a
   real FID): facebench's float64 eigenvalue formulation vs clean-fid's ``frechet_distance``
   (scipy ``sqrtm``). Prints both values, their relative difference, both times and the ratio.
2. Full FID over the same two image folders and the same network (a randomly initialised
   FID-Inception saved as the TorchScript clean-fid loads; no download): facebench's ``fid`` metric
   (clean mode) vs ``cleanfid.fid.compute_fid(custom_feat_extractor=...)``. With fewer images
   than dimensions facebench takes the exact low-rank path (an N×N eigenproblem).

3. Streaming: peak extra memory while extracting features for N and 4N images.

Usage: python benchmarks/bench_fid.py [--n 2500] [--dim 2048] [--images 16] [--skip-full] [--memory-images 16]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tiny_metric_models: the random-init Inception builder
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pool_like_features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Non-negative, correlated, low-effective-rank features (ReLU + average pool look-alike)."""
    rng = np.random.RandomState(seed)
    k = max(8, d // 8)
    mix = rng.randn(k, d) / np.sqrt(k)
    return np.maximum(rng.randn(n, k) @ mix + 0.3 * rng.randn(n, d) + shift, 0.0).astype(np.float32)


def bench_frechet(n: int, d: int) -> None:
    from cleanfid.fid import frechet_distance as cleanfid_fd

    from facebench.metrics.frechet import frechet_distance, mean_cov

    f1, f2 = pool_like_features(n, d, 0), pool_like_features(n, d, 1, shift=0.05)
    mu1, s1 = mean_cov(f1)
    mu2, s2 = mean_cov(f2)
    t = time.perf_counter()
    ours = frechet_distance(mu1, s1, mu2, s2)  # default: numpy/LAPACK, float64
    t_ours = time.perf_counter() - t
    frechet_distance(mu1, s1, mu2, s2, backend="torch")  # warm-up: MKL's first call costs seconds
    t = time.perf_counter()
    ours_t = frechet_distance(mu1, s1, mu2, s2, backend="torch")
    t_t = time.perf_counter() - t
    t = time.perf_counter()
    ref = float(cleanfid_fd(mu1, s1, mu2, s2))
    t_ref = time.perf_counter() - t
    print(f"[1] Fréchet distance on the same features: N={n} per set, d={d}")
    print(f"    facebench (eigvalsh, float64): {ours:.9f}   {t_ours:8.2f} s   (default numpy backend)")
    print(f"    facebench, torch backend:      {ours_t:.9f}   {t_t:8.2f} s   (after a warm-up call)")
    print(f"    clean-fid (scipy sqrtm):       {ref:.9f}   {t_ref:8.2f} s")
    print(f"    relative difference {abs(ours - ref) / abs(ref):.2e}   speed-up ×{t_ref / t_ours:.1f}")


def _write_images(folder: Path, n: int, seed: int, offset: int) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    out = []
    for i in range(n):
        small = rng.randint(0, 255, (8, 8, 3)).astype(np.uint8)
        arr = np.asarray(Image.fromarray(small).resize((128, 128), Image.BICUBIC)).astype(int) + offset
        p = folder / f"{i:04d}.png"
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(p)
        out.append(p)
    return out


def bench_full(n_images: int) -> None:
    import torch
    from cleanfid.fid import compute_fid
    from cleanfid.inception_torchscript import InceptionV3W
    from tiny_metric_models import build_random_inception

    from facebench.metrics.base import MetricContext
    from facebench.metrics.fid import FID
    from facebench.types import Prediction, Sample

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["FACEBENCH_CACHE_DIR"] = str(tmp / "cache")
        weights = build_random_inception(tmp / "weights")["torchscript"]
        gen = _write_images(tmp / "gen", n_images, 0, 0)
        ref = _write_images(tmp / "ref", n_images, 1, 40)
        preds = [Prediction(item_id=str(i), doc_id=str(i), task="fid", prompt="", images=[p])
                 for i, p in enumerate(gen)]
        ctx = MetricContext(task="fid", dataset="bench", run_dir=tmp, cache_dir=tmp / "cache", batch_size=16,
                            reference_samples=[Sample(doc_id=str(i), image=p, caption="") for i, p in enumerate(ref)])
        t = time.perf_counter()
        mv = FID(key="fid", extractor="inception", mode="clean", weights=str(weights)).compute(preds, ctx)[0]
        t_ours = time.perf_counter() - t
        net = InceptionV3W(str(weights.parent), download=False, resize_inside=False).eval()
        t = time.perf_counter()
        ref_value = float(compute_fid(str(tmp / "gen"), str(tmp / "ref"), mode="clean", custom_feat_extractor=net,
                                      num_workers=0, batch_size=16, device=torch.device("cpu"), verbose=False,
                                      use_dataparallel=False))
        t_ref = time.perf_counter() - t
    print(f"[2] full FID, clean mode, same random-init Inception, {n_images} + {n_images} images of 128×128")
    print(f"    facebench fid metric:     {mv.value:.6f}   {t_ours:8.2f} s   ({mv.extra['formula']})")
    print(f"    cleanfid.compute_fid:     {ref_value:.6f}   {t_ref:8.2f} s")
    print(f"    relative difference {abs(mv.value - ref_value) / abs(ref_value):.2e}   speed-up ×{t_ref / t_ours:.1f}")


def _peak_rss_during(fn) -> tuple[float, object]:
    """Peak resident memory (MB) above the starting level while ``fn`` runs (sampled every 5 ms)."""
    import threading

    import psutil

    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            done.wait(0.005)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        out = fn()
    finally:
        done.set()
        t.join()
    return (peak[0] - base) / 2**20, out


def bench_memory(n_images: int) -> None:
    """Streaming check: extracting features for 4× the images must not need ~4× the memory."""
    from tiny_metric_models import build_random_inception

    from facebench.metrics.features.inception import InceptionExtractor

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = build_random_inception(tmp / "weights")["torchscript"]
        paths = []
        from PIL import Image

        rng = np.random.RandomState(0)
        for i in range(4 * n_images):
            p = tmp / f"{i:04d}.png"
            Image.fromarray(rng.randint(0, 255, (512, 512, 3), dtype=np.uint8)).save(p)
            paths.append(p)
        ext = InceptionExtractor("clean", weights=weights)
        ext.extract_paths(paths[:8], batch_size=8)  # warm-up: JIT profiling, allocator pools
        small, _ = _peak_rss_during(lambda: ext.extract_paths(paths[:n_images], batch_size=8))
        large, _ = _peak_rss_during(lambda: ext.extract_paths(paths, batch_size=8))
    print(f"[3] peak extra RSS while extracting clean-mode features, 512×512 PNGs, batch 8: "
          f"{n_images} images {small:.0f} MB, {4 * n_images} images {large:.0f} MB "
          f"(features alone: {4 * n_images * 2048 * 4 / 2**20:.1f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2500, help="features per set for [1] (default 2500 > d)")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--images", type=int, default=16, help="images per folder for [2]")
    ap.add_argument("--skip-full", action="store_true", help="only run [1]")
    ap.add_argument("--memory-images", type=int, default=16, help="images for the streaming check [3] (0: skip)")
    args = ap.parse_args()
    import torch

    print(f"threads: torch {torch.get_num_threads()}, cpu count {os.cpu_count()}")
    bench_frechet(args.n, args.dim)
    if not args.skip_full:
        bench_full(args.images)
    if args.memory_images:
        bench_memory(args.memory_images)


if __name__ == "__main__":
    main()
