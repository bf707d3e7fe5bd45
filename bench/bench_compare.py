"""Comparator throughput: comparisons per second for 20 series x 60 points on one core.

Run: ``.venv/bin/python bench/bench_compare.py [--seconds 3]``. The figure that counts is
per CPU second of the process (one core, whatever else the machine is doing); the wall-clock
rate is printed beside it. Two separately built
(not shared) equal range results are compared, as the differential oracle does for
engines that agree; a second figure covers results with NaN points and one differing
value (the slow path).
"""

from __future__ import annotations

import argparse
import math
import random
import time

from promfuzz.model import EvalParams, Point, Result, ResultSeries, make_labels
from promfuzz.oracles.compare import ComparisonConfig, compare_results


def build(seed: int, n_series: int = 20, n_points: int = 60, nan_every: int = 0, bump: bool = False) -> Result:
    rng = random.Random(seed)
    series = []
    for i in range(n_series):
        pts = []
        for j in range(n_points):
            v = rng.random() * 1000
            if nan_every and j % nan_every == 0:
                v = math.nan
            if bump and i == 7 and j == 30:
                v += 1.0
            pts.append(Point(j * 15_000, v))
        series.append(ResultSeries(make_labels({"__name__": "m", "job": "j", "instance": f"i{i}"}), tuple(pts)))
    return Result(engine="e", outcome="ok", value_type="matrix", series=tuple(series))


def rate(ref: Result, tgt: Result, seconds: float) -> tuple[float, float]:
    """(comparisons per CPU second of this process, per wall-clock second)."""
    params = EvalParams.range(0, 59 * 15_000, 15_000)
    cfg = ComparisonConfig()
    n = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            compare_results("sum by (job) (rate(m[5m]))", params, ref, tgt, cfg)
        n += 100
    return n / (time.process_time() - cpu0), n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    equal_cpu, equal_wall = rate(build(1), build(1), a.seconds)
    slow_cpu, slow_wall = rate(build(1, nan_every=7), build(1, nan_every=7, bump=True), a.seconds)
    print(f"equal results (20 series x 60 points): {equal_cpu:,.0f} comparisons per CPU second "
          f"({equal_wall:,.0f}/s wall clock)")
    print(f"NaNs + one differing value (slow path): {slow_cpu:,.0f} comparisons per CPU second "
          f"({slow_wall:,.0f}/s wall clock)")


if __name__ == "__main__":
    main()
