"""Shrink time and engine calls per case, against the in-process prometheus host.

Run: ``.venv/bin/python bench/bench_shrink.py [--cases 10] [--seed 1] [--fault add_one|rate]``
(needs ``make hosts``). The target is a test-only wrapper of a second prometheus engine
that perturbs answers (``add_one``: +1 on every series carrying a label value ``b``;
``rate``: drops a series whenever the query uses ``rate``). Cases are generated
(:mod:`promfuzz.generators`), the first divergent query of at least 12 tokens per dataset
is shrunk to a fixed point (or the per-case budget). Prints numbers, never pass/fail.
Target: median under 20 s per case.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "shrink"))

from shrink_helpers import FaultyEngine  # noqa: E402

from promfuzz.engines.registry import EngineRegistry  # noqa: E402
from promfuzz.generators.choices import RandomChoices  # noqa: E402
from promfuzz.generators.datasets import generate_dataset  # noqa: E402
from promfuzz.generators.params import generate_params  # noqa: E402
from promfuzz.generators.queries import QueryConfig, generate_queries  # noqa: E402
from promfuzz.generators.schema import DatasetSchema  # noqa: E402
from promfuzz.model import Case  # noqa: E402
from promfuzz.oracles.differential import DifferentialOracle  # noqa: E402
from promfuzz.shrink import ShrinkResult, make_engine_check, shrink, size_of  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fault", choices=("add_one", "rate"), default="add_one")
    ap.add_argument("--seconds", type=float, default=60.0, help="budget per case")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    choices = RandomChoices(args.seed)
    oracle = DifferentialOracle()
    rows: list[tuple[float, ShrinkResult]] = []
    with EngineRegistry() as reg:
        ref = reg.open("prometheus")
        inner = reg.open("prometheus", name="prometheus-faulty")
        if args.fault == "add_one":
            tgt = FaultyEngine(inner, add_one_label="b")
        else:
            tgt = FaultyEngine(inner, drop_on=r"\brate\(")
        for _ in range(50 * args.cases):
            if len(rows) >= args.cases:
                break
            ds = generate_dataset(choices)
            schema = DatasetSchema.from_dataset(ds)
            qs = [
                q for q in generate_queries(choices, schema, 100, QueryConfig(invalid_p=0.0)) if not q.invalid
            ]
            items = [(q.text, generate_params(choices, ds)) for q in qs]
            ref.load(ds)
            tgt.load(ds)
            for (text, params), a, b in zip(items, ref.query_many(items), tgt.query_many(items), strict=True):
                case = Case(ds, text, params)
                v = oracle.check(case, a, b)
                if v.kind != "divergence" or size_of(case).query_tokens < 12:
                    continue
                check = make_engine_check(ref, tgt, oracle)
                t0 = time.perf_counter()
                r = shrink(case, check, seconds=args.seconds, initial=v)
                dt = time.perf_counter() - t0
                rows.append((dt, r))
                if args.verbose:
                    print(f"{dt:6.2f}s {r.summary()}\n    {' '.join(text.split())[:160]}\n -> {r.case.query}")
                break
    if not rows:
        print("no divergent case found")
        return
    times = [t for t, _ in rows]
    calls = [r.engine_calls for _, r in rows]
    ratio = [r.after.query_tokens / r.before.query_tokens for _, r in rows]
    print(f"shrink vs prometheus+{args.fault} fault: {len(rows)} cases (seed {args.seed})")
    print(f"  seconds per case:      median {statistics.median(times):.2f}, worst {max(times):.2f}")
    print(f"  engine calls per case: median {statistics.median(calls):.0f}, worst {max(calls)}")
    print(f"  query tokens after/before: median {statistics.median(ratio):.2f}")
    print(
        f"  series  before -> after (median): {statistics.median(r.before.series for _, r in rows):.0f} -> "
        f"{statistics.median(r.after.series for _, r in rows):.0f}"
    )
    print(
        f"  samples before -> after (median): {statistics.median(r.before.samples for _, r in rows):.0f} -> "
        f"{statistics.median(r.after.samples for _, r in rows):.0f}"
    )
    print(f"  fixed point reached: {sum(r.fixed_point for _, r in rows)}/{len(rows)}")


if __name__ == "__main__":
    main()
