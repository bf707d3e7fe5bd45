"""Engine host speed: dataset load time and small-query throughput through HostEngine.

Usage: ``.venv/bin/python bench/bench_hosts.py [--engines prometheus,mqe,...] [--loads 7]
[--queries 3000] [--live]``.

For each engine (a fresh host process each):

* load: a dataset of 100 series x 500 float samples at 15 s, loaded ``--loads`` times
  (each a different dataset, so the host really reloads); prints the host's own load
  time (``loadNs``: decode + append + commit) and the wall time seen from Python (HTTP,
  JSON encoding included), median and min. The first load of a fresh process is shown
  apart (page faults, first allocations).
* queries: small instant queries from one Python thread, three ways: one HTTP request
  per query (``Engine.query``), batches with bodies (``query_many_raw``, what replay
  and the shrinker use), and digest-only batches (``bodies=False``, what a campaign's
  first phase uses). Prints queries per second.

``--live`` adds ``prometheus-live`` (a real server per dataset, loaded by remote write):
its load time includes starting the server.
Numbers only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from promfuzz.engines.base import EngineBase
from promfuzz.engines.registry import open_engine
from promfuzz.model import Dataset, EvalParams

STEP_MS = 15_000
SAMPLES = 500
SERIES = 100

QUERIES = [
    "sum by (job) (rate(bench_requests_total[5m]))",
    'bench_requests_total{instance="7"}',
    "max(bench_requests_total)",
    "1 + 2",
    "count(bench_requests_total > 100)",
    "topk(3, bench_requests_total)",
    'avg_over_time(bench_requests_total{job="j3"}[2m])',
    "bench_requests_total offset 1m",
]


def dataset(variant: int) -> Dataset:
    series = []
    for i in range(SERIES):
        labels = {"__name__": "bench_requests_total", "job": f"j{i % 10}", "instance": str(i)}
        samples = [(t * STEP_MS, float(t + i + variant)) for t in range(SAMPLES)]
        series.append((labels, samples))
    return Dataset.build(series)


def bench_load(engine: EngineBase, loads: int) -> tuple[float, list[float], list[float]]:
    first_ms = 0.0
    host_ms: list[float] = []
    wall_ms: list[float] = []
    for k in range(loads + 1):
        ds = dataset(k)
        ds.to_json()  # the Dataset caches its JSON; keep encoding out of the figure
        t0 = time.perf_counter()
        info = engine.load(ds)
        wall = (time.perf_counter() - t0) * 1000
        if k == 0:
            first_ms = wall
            continue
        wall_ms.append(wall)
        host_ms.append(info.load_ns / 1e6 if info.load_ns else wall)
    return first_ms, host_ms, wall_ms


def bench_queries(engine: EngineBase, n: int, batch: bool = True) -> tuple[float, float | None, float | None]:
    """Queries per second: one request per query, then (``batch``) batched with bodies and
    digest-only. The live server has no batch endpoint: ``batch=False`` gives None there."""
    end_ms = (SAMPLES - 1) * STEP_MS
    items = [(QUERIES[i % len(QUERIES)], EvalParams.instant(end_ms - (i % 200) * 1000)) for i in range(n)]
    for text, params in items[:50]:  # warm up
        engine.query(text, params)
    single_n = min(n, 1000)
    t0 = time.perf_counter()
    for text, params in items[:single_n]:
        r = engine.query(text, params)
        if r.outcome != "ok":
            raise SystemExit(f"{engine.name}: {text!r} failed: {r}")
    single = single_n / (time.perf_counter() - t0)
    if not batch:
        return single, None, None
    t0 = time.perf_counter()
    answers = engine.query_many_raw(items)  # type: ignore[attr-defined]
    batched = n / (time.perf_counter() - t0)
    bad = [a for a in answers if a.result().outcome != "ok"]
    if bad:
        raise SystemExit(f"{engine.name}: {len(bad)} batched answers failed: {bad[0].result()}")
    t0 = time.perf_counter()
    engine.query_many_raw(items, bodies=False)  # type: ignore[attr-defined]
    digests = n / (time.perf_counter() - t0)
    return single, batched, digests


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="prometheus,mqe,mimir-prometheus,thanos,thanos-prometheus")
    ap.add_argument("--loads", type=int, default=7, help="timed loads per engine (after one untimed)")
    ap.add_argument("--queries", type=int, default=3000, help="queries per throughput measurement")
    ap.add_argument("--live", action="store_true", help="also prometheus-live (slow: a server per load)")
    args = ap.parse_args(argv)
    names = [n for n in args.engines.split(",") if n]
    if args.live and "prometheus-live" not in names:
        names.append("prometheus-live")
    print(f"dataset: {SERIES} series x {SAMPLES} samples at {STEP_MS // 1000} s; queries: {len(QUERIES)} small instant shapes")
    print(
        f"{'engine':<18} {'first load':>10} {'load host med/min':>18} {'load wall med/min':>18} "
        f"{'1 req/query':>12} {'batched':>10} {'digests':>10}"
    )
    for name in names:
        engine = open_engine(name)
        try:
            assert isinstance(engine, EngineBase)
            loads = args.loads if name != "prometheus-live" else min(args.loads, 3)
            first, host, wall = bench_load(engine, loads)
            single, batched, digests = bench_queries(engine, args.queries, batch=name != "prometheus-live")
        finally:
            engine.close()
        print(
            f"{name:<18} {first:>8.1f}ms "
            f"{statistics.median(host):>8.1f}/{min(host):>6.1f}ms "
            f"{statistics.median(wall):>8.1f}/{min(wall):>6.1f}ms "
            f"{single:>10,.0f}/s {_rate(batched)} {_rate(digests)}",
            flush=True,
        )
    return 0


def _rate(v: float | None) -> str:
    """A batch rate column; the live server has no batch endpoint (n/a)."""
    return f"{'n/a':>10}" if v is None else f"{v:>8,.0f}/s"


if __name__ == "__main__":
    sys.exit(main())
