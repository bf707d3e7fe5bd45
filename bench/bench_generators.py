"""Throughput of the generators on one core: queries/s (generate + print) and datasets/s.

Run: ``.venv/bin/python bench/bench_generators.py [--seconds 3]``. Prints numbers, never
pass/fail. Target: >= 5,000 queries/s (generation plus canonical printing).
"""

from __future__ import annotations

import argparse
import time

from promfuzz.generators.choices import RandomChoices
from promfuzz.generators.datasets import DatasetConfig, generate_dataset
from promfuzz.generators.queries import QueryConfig, QueryGenerator, render
from promfuzz.generators.schema import DatasetSchema


def bench_queries(seconds: float, config: QueryConfig, schema: DatasetSchema) -> tuple[float, float]:
    """(queries/s, mean text length) for generation + printing with one generator."""
    choices = RandomChoices(1)
    gen = QueryGenerator(choices, schema, config)
    n = 0
    chars = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for _ in range(200):
            node, _t, _inv = gen.query()
            chars += len(render(node, choices, config.variant_p))
        n += 200
        if time.perf_counter() >= deadline:
            break
    return n / (time.perf_counter() - t0), chars / n


def bench_datasets(seconds: float, config: DatasetConfig) -> tuple[float, float]:
    """(datasets/s, mean samples per dataset)."""
    n = 0
    samples = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline or n == 0:
        ds = generate_dataset(RandomChoices(n), config)
        samples += ds.sample_count
        n += 1
    return n / (time.perf_counter() - t0), samples / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    schema = DatasetSchema.from_dataset(generate_dataset(RandomChoices(0)))
    for label, cfg in (
        ("uniform, canonical text", QueryConfig(variant_p=0.0)),
        ("uniform, 30% surface variants", QueryConfig()),
        ("realistic, canonical text", QueryConfig(profile="realistic", variant_p=0.0)),
    ):
        qps, length = bench_queries(args.seconds, cfg, schema)
        print(f"queries  {label:<32} {qps:9.0f} /s   mean length {length:.0f} chars")
    for label, dcfg in (("default size", DatasetConfig()), ("small", DatasetConfig.small())):
        dps, samples = bench_datasets(args.seconds, dcfg)
        print(f"datasets {label:<32} {dps:9.1f} /s   mean {samples:.0f} samples")


if __name__ == "__main__":
    main()
