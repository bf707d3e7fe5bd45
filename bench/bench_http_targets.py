"""Cases per second against real servers over HTTP (prints numbers, asserts nothing).

    .venv/bin/python bench/bench_http_targets.py [--queries 1000] [--datasets 2]

For each of victoriametrics-live and prometheus-live, with 1 and 2 worker processes:
each worker opens its own server, and for each of its datasets loads it (fresh server,
verified read-back) and answers all the dataset's generated queries through the target's
connection pool. Cases/s = queries answered / wall time of the slowest worker
(load included, reference engine not included: this measures the target side).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time


def _worker(args: tuple[str, int, int, int]) -> tuple[int, float, float, int]:
    from promfuzz.plan import dataset_seed
    from promfuzz.engines.profiles import carried
    from promfuzz.engines.registry import open_engine
    from promfuzz.pipeline import generate_dataset_cases

    engine, worker, n_ds, n_q = args
    eng = open_engine(engine)
    done = 0
    load_s = 0.0
    failed = 0
    t0 = time.perf_counter()
    try:
        for d in range(worker, worker + 2 * n_ds, 2):
            ds, cases = generate_dataset_cases(dataset_seed(1, d), n_q)
            ds = carried(ds, [eng])
            t = time.perf_counter()
            try:
                eng.load(ds)
            except Exception:  # noqa: BLE001 - a failed load is counted, not fatal
                failed += 1
                continue
            load_s += time.perf_counter() - t
            eng.query_many([(c.query, c.params) for c in cases])
            done += len(cases)
    finally:
        eng.close()
    return done, time.perf_counter() - t0, load_s, failed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--datasets", type=int, default=2, help="per worker")
    ap.add_argument("--engines", default="victoriametrics-live,prometheus-live")
    a = ap.parse_args()
    for engine in a.engines.split(","):
        for workers in (1, 2):
            with mp.get_context("spawn").Pool(workers) as pool:
                res = pool.map(_worker, [(engine, w, a.datasets, a.queries) for w in range(workers)])
            cases = sum(r[0] for r in res)
            wall = max(r[1] for r in res)
            load = sum(r[2] for r in res)
            failed = sum(r[3] for r in res)
            print(f"{engine:22s} workers={workers}  cases={cases:6d}  wall={wall:6.1f}s  "
                  f"cases/s={cases / wall:7.1f}  load_s={load:5.1f}  failed_loads={failed}")


if __name__ == "__main__":
    main()
