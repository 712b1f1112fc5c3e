"""Understanding at serving speed: the ``openai-api`` adapter against an OpenAI-compatible server.

Large VLMs are fastest behind a server with continuous batching (vLLM, SGLang, llama.cpp server):
facebench keeps ``concurrency`` requests in flight and the server batches them. This measures the
client side of that path, end to end: the real ``Predictor`` (cache, prefetch, writer) driving the
real ``OpenAIAPIAdapter`` (the ``openai`` client, bounded concurrency, retries) over understanding
items with real 512² face PNGs (4 questions per face), against the test stub server
(tests/openai_stub_server.py) run in its own process with a fixed latency: every request is
answered ``latency`` seconds after it arrives, however many are in flight — an ideal continuous
batcher. The ideal rate is therefore ``concurrency / latency``; the goal is ≥ 0.9 of it up to 32.

Batches are ``8 × concurrency`` requests. The adapter keeps ``concurrency`` calls in flight within
a batch, but a batch starts with every slot sending at once (the client pushes ``concurrency``
image-sized bodies one after the other) and ends when its slowest call returns, so each batch
pays that ramp once: ``--batch_size`` should be several times ``concurrency`` (and never below it,
which would cap the calls in flight at the batch size).

It also measures the CPU both processes use (client: this process's CPU time; server: its
/proc stat), because on a small shared machine the client + server CPU, not the protocol, is what
binds at high rates; the load average is printed with the figures.

Usage: python benchmarks/bench_openai_adapter.py [--latency 0.5,2] [--concurrency 1,4,8,16,32]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

_SERVER = r"""
import sys, threading, signal
sys.path.insert(0, sys.argv[1])
from openai_stub_server import StubOpenAIServer
stop = threading.Event()
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda *_: stop.set())
with StubOpenAIServer(latency=float(sys.argv[2])) as srv:
    print(srv.base_url, flush=True)
    while not stop.wait(0.2):
        with srv._lock:
            srv.requests.clear()  # a benchmark sends thousands of images: keep counters, not bodies
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@contextmanager
def stub_server(latency: float):
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(ROOT / "tests"), str(latency)], stdout=subprocess.PIPE,
                            text=True)
    try:
        yield proc, proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _stats(base_url: str) -> dict:
    with urllib.request.urlopen(base_url.rsplit("/v1", 1)[0] + "/_stub/stats", timeout=5) as r:
        return json.loads(r.read())


def faces(root: Path, n: int, fmt: str) -> list[Path]:
    from bench_accelerator import face_pool

    root.mkdir(parents=True, exist_ok=True)
    pool = face_pool(512, 8)
    out = []
    for i in range(n):
        im = pool[i % len(pool)].copy()
        im.putpixel((2, 2), (i & 255, (i >> 8) & 255, 3))
        p = root / f"face{i:04d}.{fmt}"
        im.save(p)
        out.append(p)
    return out


def run_level(tmp: Path, base_url: str, server_pid: int, concurrency: int, n_calls: int, batch: int,
              face_files: list[Path], tag: str) -> dict:
    from bench_accelerator import und_items

    from facebench.adapters.openai_api import OpenAIAPIAdapter
    from facebench.cache import BlobStore, KVCache
    from facebench.runner.plan import assign_keys
    from facebench.runner.predict import Predictor

    root = Path(tempfile.mkdtemp(dir=tmp))
    cache = KVCache(root / "p.sqlite")
    try:
        model = OpenAIAPIAdapter(model="stub-vlm", base_url=base_url, concurrency=concurrency, timeout=60)
        items = und_items(n_calls, face_files, tag)
        assign_keys(items, model.fingerprint())
        before = _stats(base_url)["count"]
        cpu_c, cpu_s, t = time.process_time(), _cpu_seconds(server_pid), time.perf_counter()
        records, stats = Predictor(model, cache, BlobStore(root / "blobs"), batch_size=batch).run(items, tag)
        wall = time.perf_counter() - t
        cpu_c, cpu_s = time.process_time() - cpu_c, _cpu_seconds(server_pid) - cpu_s
        st = _stats(base_url)
        assert not stats.failed and stats.computed == n_calls, (stats.errors[:3], model.errors[:3])
        assert st["count"] - before - 1 == n_calls  # the stats request itself is counted too
        return {"concurrency": concurrency, "calls": n_calls, "batch": batch, "seconds": wall, "rate": n_calls / wall,
                "in_flight_max": st["in_flight_max"], "cpu_client": cpu_c, "cpu_server": cpu_s}
    finally:
        cache.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", default="0.5,2", help="seconds the server takes per request (comma list)")
    ap.add_argument("--concurrency", default="1,4,8,16,32")
    ap.add_argument("--rounds", type=int, default=16, help="calls = concurrency × rounds")
    ap.add_argument("--batch_rounds", type=int, default=8, help="--batch_size = concurrency × this")
    args = ap.parse_args()
    os.environ.setdefault("FACEBENCH_NO_PROGRESS", "1")
    levels = [int(x) for x in args.concurrency.split(",")]
    ncpu = os.cpu_count() or 1
    print(f"# bench_openai_adapter: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {ncpu} CPUs "
          "at start")
    rows: list[tuple[float, str, dict]] = []
    with tempfile.TemporaryDirectory(prefix="fb-bench-api-") as tmp_s:
        tmp = Path(tmp_s)
        png = faces(tmp / "png", 64, "png")
        jpg = faces(tmp / "jpg", 64, "jpg")
        with stub_server(0.0) as (proc, url):
            run_level(tmp, url, proc.pid, 2, 4, 4, png, "warmup")  # imports, first connections
        for latency in (float(x) for x in args.latency.split(",")):
            plan = [("512² PNG (sent as is)", c, png) for c in levels]
            plan.append(("512² JPEG (decoded, re-encoded)", levels[-1], jpg))
            for label, c, files in plan:
                with stub_server(latency) as (proc, url):  # a fresh server: in-flight max per level
                    rounds = args.rounds if files is png else min(args.rounds, 4)  # re-encoding is slow: fewer
                    batch = c * min(args.batch_rounds, rounds)
                    rows.append((latency, label, run_level(tmp, url, proc.pid, c, c * rounds, batch, files,
                                                           f"{latency}{label[5:8]}{c}")))
    print(f"{'latency':>7s} {'inputs':32s} {'conc':>5s} {'calls':>6s} {'calls/s':>8s} {'ideal':>7s} {'ratio':>6s} "
          f"{'in flight':>9s} {'CPU ms/call client+server':>25s} {'cores got':>9s} {'cores for ideal':>15s} "
          f"{'goal':>12s}")
    for latency, label, r in rows:
        ideal = r["concurrency"] / latency
        ratio = r["rate"] / ideal
        per_call = (r["cpu_client"] + r["cpu_server"]) / r["calls"]
        got = (r["cpu_client"] + r["cpu_server"]) / r["seconds"]
        goal = f">= 0.90 {'MET' if ratio >= 0.9 else 'MISSED'}" if label.startswith("512² PNG") else ""
        cpu = f"{1000 * r['cpu_client'] / r['calls']:.1f}+{1000 * r['cpu_server'] / r['calls']:.1f}"
        print(f"{latency:7.2f} {label:32s} {r['concurrency']:5d} {r['calls']:6d} {r['rate']:8.1f} {ideal:7.1f} "
              f"{ratio:6.2f} {r['in_flight_max']:9d} {cpu:>25s} {got:9.2f} {per_call * ideal:15.2f} {goal:>12s}")
    print("ratio: calls/s over concurrency/latency. cores got: CPU seconds the client and the server used per second "
          "of wall time; cores for ideal: CPU per call x the ideal rate. When 'cores for ideal' exceeds what the two "
          "processes can get (2 CPUs shared with the load average below), CPU, not the protocol, binds.")
    print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at end")


if __name__ == "__main__":
    main()
