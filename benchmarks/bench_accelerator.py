"""Does the accelerator wait for facebench? Model-busy fraction of the real predict loop, one run.

A stand-in adapter models an accelerator: its cost is wall time that uses no CPU (a blocking wait
until a deadline, like a CUDA sync), so what it measures is facebench's own overhead, not CPU
contention on a shared machine.

- generation: ``generate_images`` "launches" at t0, stages its outputs on the host while the
  device works (a copy of a pre-generated image of a real face — scikit-image's astronaut photo,
  flipped/rolled/tinted — stamped with a counter so every PNG is new and really written), then
  waits until t0 + latency. Accelerator busy = latency per call.
- understanding: ``answer`` first reads every request's image with ``load_image()`` as the real
  adapters do (the inputs must be on the host before the launch: decoding there is accelerator
  idle time), then waits ``latency``. Inputs are real 512² face PNGs, 4 questions per face.

It drives the real ``Predictor`` (SQLite cache + blob store in a temp folder) and prints, per
workload, the accelerator-busy fraction (sum of device time / wall time of ``Predictor.run``,
including the cache lookup and the final drain of the writer), for the overlapped design and the
serial design (``Predictor(serial=True)``: the same code run in place, with today's PNG settings
and with PIL's default level 6 as before). It also prints the PNG encoder table, the writer's own
ceiling (images/s it can store with no model at all: when the model asks for more, output I/O
binds, not the model) and a latency sweep 0.05–2 s.

Usage: python benchmarks/bench_accelerator.py [--quick] [--only png,ceiling,goals,sweep]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facebench.adapters.base import ModelAdapter  # noqa: E402
from facebench.types import ChatRequest, GenRequest  # noqa: E402


# -- inputs and outputs with real image content ---------------------------------------------------
def face_pool(size: int, k: int = 8) -> list[Any]:
    """``k`` distinct RGB images of a real face at ``size``² (astronaut photo: flips, rolls, tints)."""
    import numpy as np
    from PIL import Image

    try:
        from skimage import data
    except ImportError:
        sys.exit("bench_accelerator: needs scikit-image for a real face photo (pip install scikit-image)")
    base = np.asarray(Image.fromarray(data.astronaut()).resize((size, size), Image.LANCZOS)).astype(np.int16)
    out = []
    for i in range(k):
        arr = base[:, ::-1] if i % 2 else base
        arr = np.roll(arr, shift=(i * size // 17, i * size // 23), axis=(0, 1))
        tint = np.array([(i * 7) % 21 - 10, (i * 11) % 21 - 10, (i * 5) % 21 - 10], np.int16)
        out.append(Image.fromarray(np.clip(arr + tint, 0, 255).astype(np.uint8), "RGB"))
    return out


class AcceleratorStandIn(ModelAdapter):
    """Cost = ``latency`` seconds of wall time per call that use no CPU (a deadline wait)."""

    name: ClassVar[str] = "accelerator-stand-in"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})

    def __init__(self, device: str = "cpu", latency: float = 0.5, pools: dict[int, list[Any]] | None = None,
                 **kw: Any):
        super().__init__(device=device, latency=latency, **kw)
        self.latency = float(latency)
        self.pools = pools or {}
        self.busy = 0.0  # device seconds
        self.stamp = 0
        self.last_return = 0.0
        self.idle = 0.0  # device idle between two calls (from one return to the next launch)
        self.calls = 0

    def _unique(self, size: int) -> Any:
        pool = self.pools[size]
        self.stamp += 1
        im = pool[self.stamp % len(pool)].copy()
        s = self.stamp
        im.putpixel((0, 0), (s & 255, (s >> 8) & 255, (s >> 16) & 255))
        return im

    def _sync(self, t0: float) -> None:
        if self.calls:
            self.idle += t0 - self.last_return
        self.calls += 1
        left = t0 + self.latency - time.perf_counter()
        if left > 0:
            time.sleep(left)
        self.busy += time.perf_counter() - t0
        self.last_return = time.perf_counter()

    def generate_images(self, reqs: list[GenRequest]) -> list[list[Any]]:
        t0 = time.perf_counter()  # launched: host staging below overlaps the device
        outs = [[self._unique(r.width) for _ in range(r.n)] for r in reqs]
        self._sync(t0)
        return outs

    def answer(self, reqs: list[ChatRequest]) -> list[str]:
        images = [r.load_image() for r in reqs]  # inputs first: the device waits for them
        t0 = time.perf_counter()
        self._sync(t0)
        return [f"a face of {im.size[0]} px" for im in images]


def write_face_files(root: Path, n: int) -> list[Path]:
    """``n`` distinct 512² face PNGs (PIL default level, as datasets ship them)."""
    root.mkdir(parents=True, exist_ok=True)
    pool = face_pool(512, 8)
    paths = []
    for i in range(n):
        im = pool[i % len(pool)].copy()
        im.putpixel((1, 1), (i & 255, (i >> 8) & 255, 7))
        p = root / f"face{i:04d}.png"
        im.save(p)
        paths.append(p)
    return paths


def gen_items(n: int, size: int, tag: str):
    from facebench.runner.plan import WorkItem
    from facebench.types import Prediction

    items = []
    for i in range(n):
        doc = f"{tag}-{i:05d}"
        req = GenRequest(doc_id=doc, prompt=f"a photo of face {i}", n=1, seed=i, height=size, width=size)
        items.append(WorkItem(doc, req, Prediction(item_id=doc, doc_id=doc, task="bench", prompt=req.prompt)))
    return items


def und_items(n: int, faces: list[Path], tag: str, per_face: int = 4):
    from facebench.runner.plan import WorkItem
    from facebench.types import Prediction

    items = []
    for i in range(n):
        face = faces[(i // per_face) % len(faces)]
        doc = f"{tag}-{i // per_face:05d}"
        q = f"Question {i % per_face} about this face: is the person smiling? Answer yes or no."
        req = ChatRequest(doc_id=doc, image=face, messages=({"role": "user", "content": q},), image_sha256=face.name)
        items.append(WorkItem(f"{doc}#q{i % per_face}", req,
                              Prediction(item_id=f"{doc}#q{i % per_face}", doc_id=doc, task="bench", prompt=q)))
    return items


# -- one predict run ------------------------------------------------------------------------------
@dataclass
class Row:
    workload: str
    design: str
    batches: int
    latency: float
    wall: float
    device: float
    steady: float
    idle_ms: float  # mean device idle between two model calls
    stats: dict[str, Any]

    @property
    def busy(self) -> float:
        return self.device / self.wall

    @property
    def busy_steady(self) -> float:
        return self.device / self.steady


def pillow_level6(image: Any) -> bytes:
    """The encoder before: Pillow's default PNG settings (level 6), GIL held while it compresses."""
    from facebench.images import png_bytes

    return png_bytes(image)


DESIGNS = {
    "overlapped": dict(serial=False),
    "serial": dict(serial=True),
    "serial, Pillow level 6 (before)": dict(serial=True, encode=pillow_level6),
}


def run_predict(tmp: Path, kind: str, per_batch: int, batches: int, latency: float, design: str,
                pools: dict[int, list[Any]], faces: list[Path], size: int = 512) -> Row:
    from facebench.cache import BlobStore, KVCache
    from facebench.runner.plan import assign_keys
    from facebench.runner.predict import Predictor

    root = Path(tempfile.mkdtemp(dir=tmp))
    cache, blobs = KVCache(root / "predictions.sqlite"), BlobStore(root / "blobs")
    try:
        model = AcceleratorStandIn(latency=latency, pools=pools)
        tag = f"{kind}{size}-{per_batch}-{latency}-{design}"
        items = (gen_items(per_batch * batches, size, tag) if kind == "gen"
                 else und_items(per_batch * batches, faces, tag))
        assign_keys(items, model.fingerprint())
        pred = Predictor(model, cache, blobs, batch_size=per_batch, **DESIGNS[design])
        t = time.perf_counter()
        records, stats = pred.run(items, desc=tag)
        wall = time.perf_counter() - t
        assert len(records) == len(items) and not stats.failed, stats.errors[:3]
        assert len(cache.get_many(it.key for it in items)) == len(items)  # everything committed
        label = (f"generation {size}², {per_batch} img / {latency:g} s batch" if kind == "gen"
                 else f"understanding, {per_batch} q / {latency:g} s batch")
        idle_ms = 1000 * model.idle / max(1, model.calls - 1)
        return Row(label, design, batches, latency, wall, model.busy, model.last_return - t, idle_ms, stats.to_dict())
    finally:
        cache.close()
        shutil.rmtree(root, ignore_errors=True)


# -- sections ---------------------------------------------------------------------------------------
def load() -> str:
    try:
        a, b, c = os.getloadavg()
        return f"load average {a:.2f} {b:.2f} {c:.2f} on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"


def png_table(pools: dict[int, list[Any]], reps: int) -> None:
    import io
    import zlib

    from facebench.pngwrite import encode_png

    def pillow(level: int, strategy: int | None = None):
        def enc(im: Any) -> bytes:
            buf = io.BytesIO()
            im.save(buf, format="PNG", compress_level=level, **({"compress_type": strategy} if strategy else {}))
            return buf.getvalue()
        return enc

    settings = {"Pillow level 6 (default, before)": pillow(6), "Pillow level 1": pillow(1),
                "Pillow level 1 + Z_RLE": pillow(1, zlib.Z_RLE), "facebench pngwrite (now)": encode_png}
    print("\n## PNG encoding of a real face, one thread (min of %d runs); all lossless" % reps)
    print(f"{'encoder':34s} {'512² ms':>8s} {'512² MB':>8s} {'1024² ms':>9s} {'1024² MB':>9s}  GIL")
    for name, enc in settings.items():
        cells = []
        for size in (512, 1024):
            im = pools[size][0]
            best, n = 1e9, 0
            for _ in range(reps):
                t = time.perf_counter()
                n = len(enc(im))
                best = min(best, time.perf_counter() - t)
            cells += [f"{best * 1000:8.0f}", f"{n / 1e6:8.2f}"]
        gil = "released" if enc is encode_png else "held"
        print(f"{name:34s} {cells[0]} {cells[1]} {cells[2]:>9s} {cells[3]:>9s}  {gil}")


def writer_ceiling(tmp: Path, pools: dict[int, list[Any]], n_images: dict[int, int]) -> dict[int, float]:
    """Images/s the output writer stores with no model at all (default threads and PNG settings)."""
    from facebench.cache import BlobStore, KVCache
    from facebench.runner.output_writer import OutputWriter, default_writer_threads
    from facebench.runner.plan import assign_keys
    from facebench.runner.predict import PredictStats

    print(f"\n## Writer ceiling (no model; {default_writer_threads()} encoder threads, PNG, sha256, "
          "atomic blob writes with fsync, cache commits)")
    out = {}
    for size, n in n_images.items():
        root = Path(tempfile.mkdtemp(dir=tmp))
        cache, blobs = KVCache(root / "p.sqlite"), BlobStore(root / "blobs")
        stand_in = AcceleratorStandIn(latency=0, pools=pools)
        items = gen_items(n, size, f"ceiling{size}")
        assign_keys(items, "ceiling")
        outs = [[stand_in._unique(size)] for _ in items]  # made before the clock starts
        stats, records = PredictStats(), {}
        w = OutputWriter(cache, blobs, stats, records)
        t = time.perf_counter()
        for i in range(0, n, 8):
            w.submit(items[i : i + 8], outs[i : i + 8], 0.0)
        w.close()
        dt = time.perf_counter() - t
        cache.close()
        shutil.rmtree(root, ignore_errors=True)
        out[size] = n / dt
        print(f"{size}²: {n} images in {dt:.2f} s = {n / dt:.1f} images/s")
    return out


def print_rows(rows: list[Row], goals: dict[str, float] | None = None) -> None:
    print(f"{'workload':38s} {'design':32s} {'batches':>7s} {'busy':>6s} {'steady':>6s} {'gap ms':>7s} "
          f"{'wait s':>7s} {'writer s':>8s} {'goal':>15s}")
    for r in rows:
        goal = (goals or {}).get(r.workload) if r.design == "overlapped" else None
        verdict = "" if goal is None else f">= {goal:.2f} {'MET' if r.busy >= goal else 'MISSED'}"
        print(f"{r.workload:38s} {r.design:32s} {r.batches:7d} {r.busy:6.3f} {r.busy_steady:6.3f} {r.idle_ms:7.1f} "
              f"{r.stats['wait_seconds']:7.2f} {r.stats['writer_seconds']:8.2f} {verdict:>15s}")
    print("busy: device time / wall time of Predictor.run; steady: the same up to the last model call (no final "
          "drain); gap: mean device idle between two calls; wait: model thread blocked by back-pressure or an "
          "input not yet decoded; writer: seconds of output handling (overlapped unless serial)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few batches: a smoke run, not figures to quote")
    ap.add_argument("--only", default="png,ceiling,goals,sweep", help="comma list of sections")
    ap.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = ap.parse_args()
    os.environ.setdefault("FACEBENCH_NO_PROGRESS", "1")
    only = set(args.only.split(","))
    q = args.quick
    print(f"# bench_accelerator  ({load()} at start)")
    pools = {512: face_pool(512), 1024: face_pool(1024)}
    figures: dict[str, Any] = {"load_start": os.getloadavg() if hasattr(os, "getloadavg") else None}
    with tempfile.TemporaryDirectory(prefix="fb-bench-acc-") as tmp_s:
        tmp = Path(tmp_s)
        faces = write_face_files(tmp / "faces", 64)
        if "png" in only:
            png_table(pools, 2 if q else 5)
        if "ceiling" in only:
            figures["ceiling"] = writer_ceiling(tmp, pools, {512: 32 if q else 96, 1024: 16 if q else 48})
            for size, per, lat in ((512, 16, 0.5), (1024, 8, 1.0)):
                need = per / lat
                c = figures["ceiling"][size]
                print(f"  {size}² at {per} images per {lat:g} s asks {need:.0f} images/s: "
                      f"{'the model binds' if c >= need else 'OUTPUT I/O BINDS (writer slower than the model)'} "
                      f"(writer {c / need:.1f}x the demand)")
        if "goals" in only:
            print("\n## Model-busy fraction (device time / wall time of Predictor.run, incl. cache lookup and final "
                  "drain; 'steady' excludes the final drain)")
            goals = {"generation 512², 16 img / 0.5 s batch": 0.98, "generation 1024², 8 img / 1 s batch": 0.98,
                     "understanding, 16 q / 0.1 s batch": 0.99}
            rows = []
            for kind, size, per, lat, n_over, n_serial in (("gen", 512, 16, 0.5, 60, 8), ("gen", 1024, 8, 1.0, 100, 6),
                                                          ("und", 512, 16, 0.1, 300, 40)):
                for design in DESIGNS:
                    n = n_over if design == "overlapped" else n_serial
                    if q:
                        n = max(3, n // 8)
                    if kind == "und" and "before" in design:
                        continue  # no PNG output in understanding
                    rows.append(run_predict(tmp, kind, per, n, lat, design, pools, faces, size))
            print_rows(rows, goals)
            figures["goals"] = [r.__dict__ | {"busy": r.busy} for r in rows]
        if "sweep" in only:
            print("\n## Latency sweep (generation 512², 4 images per batch; understanding 16 questions per batch)")
            rows = []
            for lat in (0.05, 0.2, 0.5, 2.0):
                n = max(3, int((2 if q else 6) / lat))
                for design in ("overlapped", "serial"):
                    rows.append(run_predict(tmp, "gen", 4, n, lat, design, pools, faces, 512))
                    rows.append(run_predict(tmp, "und", 16, n, lat, design, pools, faces, 512))
            rows.sort(key=lambda r: (r.workload.startswith("u"), r.latency, r.design))
            print_rows(rows)
            figures["sweep"] = [r.__dict__ | {"busy": r.busy} for r in rows]
    print(f"\n# {load()} at end")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
