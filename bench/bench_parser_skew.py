"""Share of generated campaign cases spent on version skew, before/after parser-aware generation.

    .venv/bin/python bench/bench_parser_skew.py [--datasets 4] [--per-dataset 500] [--seed 1]

For each reference/target pair, generates the campaign's cases (same seeds as
``promfuzz run --seed``) with the whole grammar ("before") and with what the pair's
oldest parser lacks left out ("after", promfuzz/generators/parsers.py), and parses every
query the generator meant to be valid on both hosts: a query one (or both) rejects is
budget spent on version skew. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAIRS = (("mimir-prometheus", "mqe"), ("thanos-prometheus", "thanos"), ("prometheus", "mqe"), ("prometheus", "thanos"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=int, default=4)
    ap.add_argument("--per-dataset", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from promfuzz.engines.registry import open_engine
    from promfuzz.generators.parsers import parser_exclusions, skew_share

    print(f"{'pair':<32} {'left out':>8} {'cases':>6} {'before':>14} {'after':>12}")
    for pair in PAIRS:
        engines = [open_engine(n) for n in pair]
        try:
            left = parser_exclusions(engines)
            b = skew_share(engines, args.seed, args.datasets, args.per_dataset)
            a = skew_share(engines, args.seed, args.datasets, args.per_dataset, exclude=frozenset(left))
        finally:
            for e in engines:
                e.close()
        print(f"{' vs '.join(pair):<32} {len(left):>8} {b['cases']:>6} {b['skew']:>5} ({b['share']:6.2%}) "
              f"{a['skew']:>4} ({a['share']:5.2%})")
        print(f"    left out: {', '.join(left) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
