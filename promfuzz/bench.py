"""``promfuzz bench``: benchmarks that print numbers and never pass or fail.

* ``throughput``: differential cases per second of a campaign (no corpus, no shrinking)
  and the share of wall time spent inside the engines (hostStats wall time).
* ``coverage``, ``compare``, ``engines``, ``oracle``: :mod:`promfuzz.benchmarks` (their own ``--help``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from promfuzz.budget import parse_budget


def run(args: argparse.Namespace) -> int:
    if args.bench == "throughput":
        return bench_throughput(args)
    raise SystemExit(f"unknown bench {args.bench!r}")


def bench_throughput(args: argparse.Namespace) -> int:
    from promfuzz.campaign import CampaignConfig, run_campaign

    with tempfile.TemporaryDirectory(prefix="promfuzz-bench-") as tmp:
        cfg = CampaignConfig(
            reference=args.reference,
            targets=(args.target,),
            budget=parse_budget(args.budget),
            seed=args.seed,
            workers=args.workers,
            corpus=None,
            out=Path(tmp) / "run",
            queries_per_dataset=args.queries_per_dataset,
            shrink=False,
            run_id=f"bench-throughput-w{args.workers}",
        )
        s = run_campaign(cfg, progress=False)
    engine_total = sum(s["engine_seconds"].values())
    suite = {"python_cpu": 0.0, "host_overhead": 0.0, **s["suite_seconds"]}
    print(
        f"throughput {args.reference} vs {args.target}, {args.workers} worker(s), "
        f"{args.queries_per_dataset} queries/dataset: {s['counts']['cases']} cases in {s['wall_seconds']:.1f}s "
        f"= {s['cases_per_second']:.0f} cases/s; engine seconds {engine_total:.1f}, suite seconds "
        f"{suite['python_cpu']:.1f} Python CPU + {suite['host_overhead']:.1f} host overhead: "
        f"engine share {s['engine_share'] * 100:.0f}% "
        f"({s['engine_seconds_per_worker_second']:.2f} engine seconds per worker second)"
    )
    return 0
