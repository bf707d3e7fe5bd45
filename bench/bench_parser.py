"""Parser throughput on Prometheus's promqltest testdata queries.

Usage: ``.venv/bin/python bench/bench_parser.py [--seconds 3] [--repeats 5]``.
Prints parsed queries per second (best of the repeats, so other load on the machine
matters less) for ``parse`` and for ``parse`` + ``to_text``.
"""

from __future__ import annotations

import argparse
import sys
import time

from promfuzz.promql import parse, to_text
from promfuzz.promql.testdata import eval_queries, testdata_dir


def _rate(fn: object, queries: list[str], seconds: float, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        n = 0
        t0 = time.perf_counter()
        while True:
            for q in queries:
                fn(q)  # type: ignore[operator]
            n += len(queries)
            dt = time.perf_counter() - t0
            if dt >= seconds / repeats:
                break
        best = max(best, n / dt)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    d = testdata_dir()
    if d is None:
        print("Prometheus v0.316.0 testdata not found in the Go module cache", file=sys.stderr)
        return 2
    queries = [q.query for q in eval_queries(d) if q.file != "unquoted_utf8_names.test"]
    total_chars = sum(len(q) for q in queries)
    print(f"{len(queries)} queries from {d} (mean {total_chars / len(queries):.0f} chars)")
    r = _rate(parse, queries, args.seconds, args.repeats)
    print(f"parse:           {r:,.0f} queries/s")
    r2 = _rate(lambda q: to_text(parse(q)), queries, args.seconds, args.repeats)
    print(f"parse + to_text: {r2:,.0f} queries/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
