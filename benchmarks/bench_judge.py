"""Judge throughput against a local OpenAI-compatible server with an artificial latency.

Starts the test stub server (tests/openai_stub_server.py: a real HTTP server on 127.0.0.1) in its own
process (so server threads and the client do not share one GIL) with a fixed per-call latency
(default 200 ms) and measures, after one warm-up call, at concurrency 1, 8 and 32:

- ``client``: ``JudgeClient.chat_many`` (the real ``openai`` client, retries/budget machinery on);
- ``metric``: the whole ``JudgeScore`` path (prompt building, cache lookup, parsing, one SQLite
  write per answer) with an empty cache.

and prints calls/s and the ratio to the ideal ``concurrency / latency``.

    python benchmarks/bench_judge.py [--latency 0.2] [--calls-per-slot 8]
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
sys.path.insert(0, str(ROOT / "tests"))



class _Remote:
    """A stub server in a child process: ``base_url`` and ``stats()``."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def stats(self) -> dict:
        root = self.base_url.rsplit("/v1", 1)[0]
        with urllib.request.urlopen(f"{root}/_stub/stats", timeout=5) as r:
            return json.loads(r.read())


@contextmanager
def stub_server(latency: float):
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_stub_server.py"), "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    try:
        yield _Remote(proc.stdout.readline().strip())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bench_client(srv: _Remote, concurrency: int, n_calls: int) -> float:
    from facebench.judge.client import JudgeClient

    c = JudgeClient(srv.base_url, "sk-bench", concurrency=concurrency, timeout=30)
    reqs = [{"model": "bench-judge", "messages": [{"role": "user", "content": f"item {i}"}], "temperature": 0.0}
            for i in range(n_calls)]
    t0 = time.perf_counter()
    res = c.chat_many(reqs)
    dt = time.perf_counter() - t0
    assert all(r.ok for r in res), [r.error for r in res if not r.ok][:3]
    return dt


def bench_metric(srv: _Remote, concurrency: int, n_calls: int, tag: str) -> float:
    from facebench.metrics.base import MetricContext
    from facebench.metrics.judge import JudgeScore
    from facebench.types import Prediction

    preds = [Prediction(f"{tag}-{i}", f"{tag}-{i}", "desc", "Describe the face.", reference="A man with a beard.",
                        output=f"A bearded man ({tag} {i}).") for i in range(n_calls)]
    with tempfile.TemporaryDirectory() as d:
        ctx = MetricContext(task="desc", dataset="bench", run_dir=Path(d) / "run", cache_dir=Path(d) / "cache",
                            judge={"judge_base_url": srv.base_url, "judge_concurrency": concurrency})
        m = JudgeScore(key="desc_gpt", judge="openai", model="bench-judge", template="desc")
        t0 = time.perf_counter()
        vals = m.compute(preds, ctx)
        dt = time.perf_counter() - t0
    assert all(v is not None for v in vals[0].per_item.values())
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2, help="seconds the server waits before each reply")
    ap.add_argument("--calls-per-slot", type=int, default=8, help="calls = concurrency × this")
    ap.add_argument("--concurrency", default="1,8,32")
    args = ap.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
    levels = [int(x) for x in args.concurrency.split(",")]
    with stub_server(0.0) as srv:  # warm-up: imports, first connection
        bench_client(srv, 1, 1)
    print(f"judge throughput, server latency {args.latency * 1000:.0f} ms, {os.cpu_count()} CPUs")
    print(f"{'path':<7} {'conc':>5} {'calls':>6} {'seconds':>8} {'calls/s':>8} {'ideal/s':>8} {'ratio':>6} "
          f"{'in-flight max':>14} {'overhead ms/round':>18}")
    for path in ("client", "metric"):
        for conc in levels:
            n = conc * args.calls_per_slot
            with stub_server(args.latency) as srv:
                dt = bench_client(srv, conc, n) if path == "client" else bench_metric(srv, conc, n, f"c{conc}")
                inflight = srv.stats()["in_flight_max"]
            rate = n / dt
            ideal = conc / args.latency if args.latency > 0 else float("inf")
            ratio = f"{rate / ideal:>6.2f}" if args.latency > 0 else f"{'n/a':>6}"
            overhead_ms = (dt / (n / conc) - args.latency) * 1000  # time per round of `conc` calls beyond the latency
            print(f"{path:<7} {conc:>5} {n:>6} {dt:>8.2f} {rate:>8.1f} {ideal:>8.1f} {ratio} {inflight:>14} {overhead_ms:>18.1f}")


if __name__ == "__main__":
    main()
