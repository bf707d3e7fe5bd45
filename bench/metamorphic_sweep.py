"""Run every metamorphic oracle on N generated cases against one engine; print the counts.

    .venv/bin/python bench/metamorphic_sweep.py --engine prometheus --cases 2000 --seed 1

Prints, per oracle, how many cases it applied to, matched, and violated, and the first
violations (query, parameters, detail). Numbers only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from promfuzz.engines.registry import open_engine
from promfuzz.generators.cases import generate_dataset_with_queries
from promfuzz.model import Case
from promfuzz.oracles import METAMORPHIC_ORACLES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--engine", default="prometheus")
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--per-dataset", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=5)
    args = ap.parse_args()
    oracles = {name: cls() for name, cls in sorted(METAMORPHIC_ORACLES.items())}
    counts: dict[str, Counter[str]] = {name: Counter() for name in oracles}
    shown: dict[str, list[str]] = {name: [] for name in oracles}
    t0 = time.monotonic()
    done = 0
    with open_engine(args.engine) as eng:
        d = 0
        while done < args.cases:
            n = min(args.per_dataset, args.cases - done)
            batch = generate_dataset_with_queries(f"{args.seed}:{d}", n)
            eng.load(batch.dataset)
            for q, p in zip(batch.queries, batch.params, strict=True):
                case = Case(batch.dataset, q.text, p)
                for name, oracle in oracles.items():
                    v = oracle.check(eng, case)
                    counts[name][v.kind] += 1
                    if v.kind not in ("match", "not_applicable") and len(shown[name]) < args.show:
                        shown[name].append(f"  [{v.kind}] {q.text!r} {p.to_json_obj()}\n    {v.detail[:600]}")
            done += n
            d += 1
    dt = time.monotonic() - t0
    print(f"metamorphic sweep: {done} cases on {args.engine}, seed {args.seed}, {dt:.0f}s")
    for name in oracles:
        c = counts[name]
        applied = done - c["not_applicable"]
        violations = applied - c["match"]
        print(f"{name:18} applied {applied:5}  match {c['match']:5}  violations {violations:4}  {dict(c)}")
        for line in shown[name]:
            print(line)


if __name__ == "__main__":
    main()
