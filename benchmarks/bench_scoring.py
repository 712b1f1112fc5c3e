"""Scoring throughput: images/s of each scorer, first run and second run (cache), one run.

On N real 512² face PNGs (scikit-image's astronaut photo, flipped/rolled/tinted, each file
different), for each scorer:

- ``serial``: the loop as before — decode, preprocess, network, one image batch after the other
  (``threads=0``);
- ``pipelined``: decoding + preprocessing of the next batch on threads while the network runs
  (facebench/metrics/features/pipeline.py);
- ``second run``: the same images again through the metric's cache (per-image features for FID
  extractors, per-image dlib results, per-pair VQAScore scores).

Networks, all on CPU here (the pipeline's gain is larger on an accelerator, where the network no
longer competes with decoding for the same cores):
- Inception: the real FID-Inception architecture (pytorch-fid/clean-fid, 2048-d pool features),
  randomly initialised — the same compute as the real weights; ``clean`` mode resize;
- CLIP: the real open_clip ViT-B-32 architecture, randomly initialised (no download);
- dlib: the real HOG detector + 5-point landmarks + ResNet embedding (PyPI weights);
- VQAScore: a tiny randomly initialised CLIP-FlanT5 (tests/tiny_metric_models.py): its figure is the
  pipeline's own cost (decode, processor, cache), not a real model's.

Usage: python benchmarks/bench_scoring.py [--n 48] [--batch_size 16] [--only inception,clip,dlib,vqascore]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("FACEBENCH_NO_PROGRESS", "1")


def face_files(root: Path, n: int) -> list[Path]:
    from bench_accelerator import face_pool

    root.mkdir(parents=True, exist_ok=True)
    pool = face_pool(512, 8)
    out = []
    for i in range(n):
        im = pool[i % len(pool)].copy()
        im.putpixel((3, 3), (i & 255, (i >> 8) & 255, 9))
        p = root / f"face{i:04d}.png"
        im.save(p)
        out.append(p)
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def row(name: str, how: str, n: int, seconds: float, note: str = "") -> None:
    print(f"{name:10s} {how:12s} {n:6d} {seconds:9.2f} {n / seconds:9.1f}  {note}")


def feature_runs(name: str, ext: Any, paths: list[Path], bs: int, tmp: Path) -> None:
    """serial vs pipelined extraction, then the FID metric's per-image feature cache, twice."""
    import numpy as np

    from facebench.metrics.base import MetricContext
    from facebench.metrics.fid import FID

    ext.threads = 0
    ext.extract_paths(paths[:bs], bs)  # warm-up: allocator, JIT profiling
    t_serial, a = timed(lambda: ext.extract_paths(paths, bs))
    ext.threads = None
    t_pipe, b = timed(lambda: ext.extract_paths(paths, bs))
    same = float(np.abs(a.features - b.features).max())
    row(name, "serial", len(paths), t_serial)
    row(name, "pipelined", len(paths), t_pipe, f"x{t_serial / t_pipe:.2f}; max |feature difference| {same:.1e}")
    ctx = MetricContext(task="bench", dataset="bench", run_dir=tmp / f"run-{name}", cache_dir=tmp / f"cache-{name}",
                        batch_size=bs)
    metric = FID(extractor=name)
    t1, _ = timed(lambda: metric._generated(ext, paths, ctx))
    t2, fs = timed(lambda: metric._generated(ext, paths, ctx))
    row(name, "second run", len(paths), t2, f"per-image features cached (first run through the cache: {t1:.2f} s)")
    assert fs.n == len(paths)


def bench_inception(paths: list[Path], bs: int, tmp: Path) -> None:
    from tiny_metric_models import build_random_inception

    from facebench.metrics.features.inception import InceptionExtractor

    files = build_random_inception(tmp / "inception")
    feature_runs("inception", InceptionExtractor("clean", weights=files["torchscript"]), paths, bs, tmp)


def bench_clip(paths: list[Path], bs: int, tmp: Path) -> None:
    import open_clip
    import torch

    from facebench.metrics.features.clip import CLIPExtractor, LoadedCLIP

    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)  # random, no download
    ext = CLIPExtractor.__new__(CLIPExtractor)  # the real class, its loader bypassed (no weights offline)
    ext.clip = LoadedCLIP(model.eval(), preprocess, None, None, None, "ViT-B-32", None)
    ext.device, ext.mode, ext.weights_sha256 = "cpu", "ViT-B-32/random-init", None
    ext.input_size, ext.dim = (224, 224), int(model.visual.output_dim)
    feature_runs("clip", ext, paths, bs, tmp)


def bench_dlib(paths: list[Path], bs: int, tmp: Path) -> None:
    import numpy as np

    from facebench.metrics.features.dlib_face import DlibFaceExtractor

    os.environ["FACEBENCH_CACHE_DIR"] = str(tmp / "cache-dlib")
    ext = DlibFaceExtractor(upsample=1, no_face="whole_image", cache=False)
    ext.threads = 0
    ext.extract_paths(paths[:2])
    t_serial, a = timed(lambda: ext.extract_paths(paths))
    ext.threads = None
    t_pipe, b = timed(lambda: ext.extract_paths(paths))
    row("dlib", "serial", len(paths), t_serial)
    row("dlib", "pipelined", len(paths), t_pipe, f"x{t_serial / t_pipe:.2f} (dlib holds the GIL: only decoding overlaps)")
    cached = DlibFaceExtractor(upsample=1, no_face="whole_image")
    cached.extract_paths(paths)
    t2, c = timed(lambda: cached.extract_paths(paths))
    assert cached.last_cached == len(paths) and np.array_equal(c.features, b.features)
    row("dlib", "second run", len(paths), t2, "per-image results cached")


def bench_vqascore(paths: list[Path], bs: int, tmp: Path) -> None:
    from tiny_metric_models import build_tiny_clip_flant5

    from facebench.metrics.base import MetricContext
    from facebench.metrics.vqascore import VQAScore
    from facebench.types import Prediction

    dirs = build_tiny_clip_flant5(tmp / "cf5")
    preds = [Prediction(item_id=f"i{k}", doc_id=f"i{k}", task="bench", prompt=f"a photo of face {k}", images=[p])
             for k, p in enumerate(paths)]
    args = dict(scorer="clip-flant5", model=str(dirs["model"]), tokenizer=str(dirs["tokenizer"]), batch_size=bs,
                attribute_questions=False)
    ctx = MetricContext(task="bench", dataset="bench", run_dir=tmp / "run-vqa", cache_dir=tmp / "cache-vqa",
                        batch_size=bs)
    VQAScore(key="w", **args).compute(preds[:2], MetricContext(task="b", dataset="b", run_dir=tmp / "w",
                                                               cache_dir=tmp / "cache-w", batch_size=bs))
    t1, first = timed(lambda: VQAScore(key="v", **args).compute(preds, ctx)[0])
    t2, second = timed(lambda: VQAScore(key="v", **args).compute(preds, ctx)[0])
    assert second.extra["cache_hits"] == len(paths) and second.per_item == first.per_item
    row("vqascore", "pipelined", len(paths), t1, "tiny random CLIP-FlanT5: the pipeline's own cost")
    row("vqascore", "second run", len(paths), t2, "per-pair scores cached")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=48, help="images")
    ap.add_argument("--batch_size", type=int, default=16)
    ap.add_argument("--only", default="inception,clip,dlib,vqascore")
    args = ap.parse_args()
    import torch

    print(f"# bench_scoring: {args.n} face PNGs of 512², batch {args.batch_size}, CPU, torch threads "
          f"{torch.get_num_threads()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} CPUs at start")
    print(f"{'scorer':10s} {'how':12s} {'images':>6s} {'seconds':>9s} {'images/s':>9s}  note")
    benches = {"inception": bench_inception, "clip": bench_clip, "dlib": bench_dlib, "vqascore": bench_vqascore}
    with tempfile.TemporaryDirectory(prefix="fb-bench-scoring-") as tmp_s:
        tmp = Path(tmp_s)
        paths = face_files(tmp / "faces", args.n)
        for name in args.only.split(","):
            benches[name](paths, args.batch_size, tmp)
    print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at end")


if __name__ == "__main__":
    main()
