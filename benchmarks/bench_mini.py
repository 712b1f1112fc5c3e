"""The mini set: build time, and how well real detectors and the attribute probe see its faces.

1. Build the set from scratch into a temp folder (the README's first command does this once);
   seconds for 150 test + 300 gallery faces.
2. Face detection rate per split: dlib HOG (``upsample=1``, as ``face_detect_rate`` runs it) and
   MTCNN (facenet-pytorch defaults; skipped with the install fix when it is not installed).
   Goal: ≥ 0.95 on the test split for both.
3. The attribute probe (``attr_probe_acc``): accuracy on the real test faces (the ceiling; goal
   ≥ 0.95 macro over families), on uniform-noise images (what ``dummy`` draws) beside the
   majority-class and uniform-chance levels (goal: noise ≤ majority).

Usage: python benchmarks/bench_mini.py [--mtcnn-limit N]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtcnn-limit", type=int, default=0, help="MTCNN on the first N faces per split (0: all)")
    args = ap.parse_args()
    from facebench.data.mini import MINI_VERSION, MiniDataset, build_mini
    from facebench.metrics.base import MetricContext
    from facebench.metrics.probe import AttributeProbe

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        root = build_mini(Path(tmp) / "mini")
        build_s = time.perf_counter() - t0
        print(f"mini v{MINI_VERSION}: built 150 test + 300 gallery faces in {build_s:.1f} s")
        ds = MiniDataset(root=root)
        splits = {s: ds.load(s) for s in ("test", "gallery")}
        out: dict = {"build_seconds": round(build_s, 2), "detection": {}}

        from facebench.faces import DlibFace, MTCNNFace
        from facebench.errors import WeightsUnavailable

        dlib = DlibFace(upsample=1)
        for split, samples in splits.items():
            t = time.perf_counter()
            hits = [bool(dlib.detect(s.load_image())) for s in samples]
            out["detection"][f"dlib_hog_{split}"] = float(np.mean(hits))
            print(f"dlib HOG  {split:8s} {np.mean(hits):.3f}  ({sum(hits)}/{len(hits)}, {time.perf_counter() - t:.1f} s)")
        try:
            mtcnn = MTCNNFace()
        except WeightsUnavailable as e:
            print(f"MTCNN skipped: {e}")
            mtcnn = None
        if mtcnn is not None:
            for split, samples in splits.items():
                sub = samples[: args.mtcnn_limit] if args.mtcnn_limit else samples
                t = time.perf_counter()
                hits = [bool(mtcnn.detect(s.load_image())) for s in sub]
                out["detection"][f"mtcnn_{split}"] = float(np.mean(hits))
                print(f"MTCNN     {split:8s} {np.mean(hits):.3f}  ({sum(hits)}/{len(hits)}, "
                      f"{time.perf_counter() - t:.1f} s)")

        ctx = MetricContext(task="vqa", dataset="mini", run_dir=Path(tmp), cache_dir=Path(tmp),
                            reference_samples=splits["test"], gallery_samples=splits["gallery"])
        t = time.perf_counter()
        mv = AttributeProbe(key="attr_probe_acc").compute([], ctx)[0]
        e = mv.extra
        print(f"probe fit + read-outs: {time.perf_counter() - t:.1f} s")
        print(f"probe on real test faces: {e['probe_macro_accuracy_on_real']:.3f} macro over families "
              f"({e['probe_accuracy_on_real']:.3f} per face)")
        print(f"probe on noise images:    {e['probe_macro_accuracy_on_noise']:.3f} macro "
              f"(majority class {e['majority_class_macro_accuracy']:.3f}, uniform chance {e['uniform_chance_macro']:.3f})")
        print("per family on real faces: " + ", ".join(f"{k} {v:.2f}"
                                                      for k, v in e["probe_accuracy_on_real_by_family"].items()))
        out["probe"] = {k: e[k] for k in ("probe_macro_accuracy_on_real", "probe_accuracy_on_real",
                                          "probe_macro_accuracy_on_noise", "majority_class_macro_accuracy",
                                          "uniform_chance_macro")}
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
