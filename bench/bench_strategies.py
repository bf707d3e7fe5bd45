"""How strong the Hypothesis strategies are, next to the campaign generator.

Run: ``.venv/bin/python bench/bench_strategies.py [--parts distinct,coverage,divergence]``
(``--target mqe --reference prometheus``, the hosts in ``.build/``). Prints numbers,
never pass/fail:

* ``distinct``: distinct query texts (and median query length, median series) in 300
  examples of ``promfuzz.strategies.cases()`` (Hypothesis seeded: ``derandomize``);
* ``coverage``: grammar-feature coverage (``promfuzz.generators.coverage``) of 1,000
  examples vs 1,000 campaign cases (``iter_generated_cases``, the campaign's config), and
  the data features of the datasets both draw;
* ``divergence``: 1,000 examples judged on the reference and the target exactly as a
  campaign judges (``DifferentialOracle`` with the shipped rules, the operand resolver)
  vs 1,000 campaign cases: verdicts per 1,000 and distinct findings.

To measure another version of the package, put it first on ``PYTHONPATH``; the bench
uses only ``strategies.cases()`` of the package under test.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PROMFUZZ_BUILD_DIR", str(ROOT / ".build"))


def strategy_cases(n: int) -> Iterator[Any]:
    """``n`` examples of ``pst.cases()`` as Hypothesis generates them for a test (seeded)."""
    from promfuzz import strategies as pst

    out: list[Any] = []

    @settings(max_examples=n, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(pst.cases())
    def collect(case: Any) -> None:
        out.append(case)

    collect()
    return iter(out)


def strategy_cases_judged(n: int, judge: Callable[[Any], None]) -> int:
    """Run ``judge`` on ``n`` examples inside the Hypothesis test (as the plugin does)."""
    from promfuzz import strategies as pst

    count = [0]

    @settings(max_examples=n, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(pst.cases())
    def run(case: Any) -> None:
        count[0] += 1
        judge(case)

    run()
    return count[0]


def campaign_cases(n: int, seed: int) -> list[Any]:
    from promfuzz.generators.cases import iter_generated_cases

    return [g.case for g in iter_generated_cases(seed, n)]


def data_features(cases: list[Any]) -> dict[str, float]:
    """Share of cases whose dataset has each feature."""
    from promfuzz.model import Histogram, is_stale

    counts: Counter[str] = Counter()
    for c in cases:
        f: set[str] = set()
        for s in c.dataset.series:
            names = dict(s.labels)
            if "le" in names:
                f.add("classic_buckets")
            prev = None
            for p in s.samples:
                v = p.v
                if isinstance(v, Histogram):
                    f.add("native_histogram")
                    if v.schema == -53:
                        f.add("custom_buckets")
                elif is_stale(v):
                    f.add("stale_marker")
                elif math.isnan(v):
                    f.add("nan")
                elif math.isinf(v):
                    f.add("inf")
                if prev is not None and p.t - prev > 5 * 60_000:
                    f.add("gap_over_lookback")
                prev = p.t
        if c.params.is_range:
            f.add("range_eval")
        counts.update(f)
    return {k: counts[k] / len(cases) for k in sorted(counts)}


def part_distinct(n: int) -> None:
    t0 = time.monotonic()
    cs = list(strategy_cases(n))
    qs = [c.query for c in cs]
    print(f"distinct: {len(set(qs))} distinct queries in {len(qs)} examples; "
          f"median query {statistics.median(len(q) for q in qs):.0f} chars, "
          f"median {statistics.median(len(c.dataset.series) for c in cs):.0f} series "
          f"({time.monotonic() - t0:.1f} s)")
    for q, k in Counter(qs).most_common(3):
        print(f"  most repeated: {k} x {q[:80]!r}")


def part_coverage(n: int, seed: int) -> None:
    from promfuzz.generators.coverage import grammar_coverage

    hyp = list(strategy_cases(n))
    camp = campaign_cases(n, seed)
    h, c = grammar_coverage(hyp), grammar_coverage(camp)
    print(f"coverage: strategies {h['reached']}/{h['total']} ({h['share']:.1%}) in {n} examples; "
          f"campaign {c['reached']}/{c['total']} ({c['share']:.1%}) in {n} cases; "
          f"ratio {h['share'] / c['share']:.1%}")
    for cat in h["categories"]:
        hc, cc = h["categories"][cat], c["categories"][cat]
        print(f"  {cat:<13} strategies {hc['reached']:>3}/{hc['total']:<3} campaign {cc['reached']:>3}/{cc['total']}")
    hf, cf = data_features(hyp), data_features(camp)
    print("  data features (share of cases): " + ", ".join(
        f"{k} {hf.get(k, 0):.0%}/{cf.get(k, 0):.0%}" for k in sorted(set(hf) | set(cf))) + "  (strategies/campaign)")
    print(f"  median series: strategies {statistics.median(len(x.dataset.series) for x in hyp):.0f}, "
          f"campaign {statistics.median(len(x.dataset.series) for x in camp):.0f}; median query chars: "
          f"{statistics.median(len(x.query) for x in hyp):.0f} / {statistics.median(len(x.query) for x in camp):.0f}")


class Judge:
    """One (reference, target) pair judged as a campaign judges."""

    def __init__(self, reference: str, target: str) -> None:
        from promfuzz.engines.registry import open_engine
        from promfuzz.oracles import DifferentialOracle, load_rules
        from promfuzz.pipeline import engine_versions_for_rules

        self.ref = open_engine(reference)
        self.tgt = open_engine(target)
        versions = {e.name: e.versions() for e in (self.ref, self.tgt)}
        self.oracle = DifferentialOracle(rules=load_rules(), versions=engine_versions_for_rules(versions))
        self.kinds: Counter[str] = Counter()
        self.findings: dict[str, str] = {}
        self._fp: str | None = None
        self.cases = 0

    def __call__(self, case: Any) -> None:
        from promfuzz.pipeline import finding_key

        fp = case.dataset.fingerprint()
        if fp != self._fp:
            self._fp = None
            self.ref.load(case.dataset)
            self.tgt.load(case.dataset)
            self._fp = fp
        r = self.ref.query(case.query, case.params)
        t = self.tgt.query(case.query, case.params)
        v = self.oracle.check(case, r, t, detail=False, operand=lambda text: self.ref.query(text, case.params))
        self.cases += 1
        self.kinds[v.kind] += 1
        if v.kind in ("divergence", "engine_failure") and v.signature is not None:
            self.findings.setdefault(finding_key(v), case.query)

    def close(self) -> None:
        self.tgt.close()
        self.ref.close()

    def line(self) -> str:
        per = {k: 1000 * n / max(1, self.cases) for k, n in self.kinds.items()}
        return (f"{self.cases} cases: divergence {per.get('divergence', 0):.1f}/1000, engine_failure "
                f"{per.get('engine_failure', 0):.1f}/1000, expected {per.get('expected', 0):.1f}/1000; "
                f"{len(self.findings)} distinct findings")


def part_divergence(n: int, seed: int, reference: str, target: str) -> None:
    for label in ("strategies", "campaign"):
        j = Judge(reference, target)
        t0 = time.monotonic()
        try:
            if label == "strategies":
                strategy_cases_judged(n, j)
            else:
                for c in campaign_cases(n, seed):
                    j(c)
        finally:
            j.close()
        print(f"divergence ({label}, {reference} vs {target}): {j.line()} ({time.monotonic() - t0:.0f} s)")
        for key, q in list(j.findings.items())[:8]:
            print(f"    {key}: {q[:90]!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="distinct,coverage,divergence")
    ap.add_argument("--distinct-n", type=int, default=300)
    ap.add_argument("--n", type=int, default=1000, help="examples / cases for coverage and divergence")
    ap.add_argument("--seed", type=int, default=0, help="campaign seed")
    ap.add_argument("--reference", default="prometheus")
    ap.add_argument("--target", default="mqe")
    a = ap.parse_args()
    import promfuzz.strategies

    print(f"promfuzz.strategies from {promfuzz.strategies.__file__}", file=sys.stderr)
    parts = a.parts.split(",")
    if "distinct" in parts:
        part_distinct(a.distinct_n)
    if "coverage" in parts:
        part_coverage(a.n, a.seed)
    if "divergence" in parts:
        part_divergence(a.n, a.seed, a.reference, a.target)


if __name__ == "__main__":
    main()
