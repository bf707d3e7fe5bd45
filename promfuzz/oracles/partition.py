"""Partition (ternary logic partitioning, after SQLancer's TLP): splitting a vector into
parts and recombining must not change an aggregate. For the case's query ``X``:

* ``count(X)`` equals ``count(X > c) + count(X <= c) + count(clamp(X, 0, 0) != 0)`` --
  every sample is above ``c``, at most ``c``, or NaN (clamping maps every number to exactly
  0 and keeps NaN; each count ``or vector(0)`` so an empty part counts 0). ``c`` is a midpoint between two well-separated values of ``X``
  near the median (see :func:`split_point`): ``X`` is evaluated once per part, and
  engines legitimately move the last digits of computed values between evaluations
  (summation order follows series order), so neither ``c`` equal to a value nor
  ``X != X`` (true when two evaluations differ by one ulp) would be sound; and a NaN
  term built from the two parts (``X unless (X > c or X <= c)``) would make the identity
  nearly tautological.
* ``sum(X)`` equals ``sum(sum by (l) (X))`` for a label ``l`` of ``X``'s answer, within a
  tolerance scaled by ``sum(abs(X))`` (a different summation order moves the last digits,
  more so under cancellation: the bound is ``1e-13 * sum|x|`` on top of the usual
  relative tolerance).

Does not apply (``not_applicable``) when: our parser refuses ``X``; ``X`` is not an instant
vector; ``X`` itself fails or holds native histograms (comparisons drop histograms, and
their sums are histograms). The ``count`` check is skipped when two series of ``X``
differ only in their metric name (``clamp`` drops the name: duplicate label sets); the
``sum`` check when ``X``'s series carry no label besides the metric name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from promfuzz.model import Case, Result, ResultHistogram, encode_float, is_legacy_label_name, quote_string
from promfuzz.oracles._metamorphic import (
    METAMORPHIC_CONFIG,
    QueryEngine,
    compare,
    comparison_verdict,
    failure_verdict,
    parse_case_query,
    render,
    run,
)
from promfuzz.oracles.compare import ComparisonConfig, Difference, error_class, floats_equal
from promfuzz.oracles.verdict import Signature, Verdict, signature_features

ORACLE = "partition"
SUM_SCALE_TOL = 1e-13


def _fmt(c: float) -> str:
    if math.isnan(c) or math.isinf(c):
        return "0"
    return repr(float(c))


def split_point(values: Sequence[float]) -> float:
    """A threshold between two distinct values near the median, far from every value.

    ``X`` is evaluated once per part, and an engine may sum in another order each time
    (series order from a map), moving the last digits: a threshold equal to a value could
    then count that sample on both sides. A midpoint between well-separated neighbours
    cannot.
    """
    distinct = sorted(set(values))
    if not distinct:
        return 0.0
    if len(distinct) == 1:
        v = distinct[0]
        return v + max(1.0, abs(v))  # everything falls on the ``<=`` side
    mid = (len(distinct) - 1) // 2
    for i in sorted(range(len(distinct) - 1), key=lambda j: (abs(j - mid), j)):
        a, b = distinct[i], distinct[i + 1]
        if b - a > 1e-6 * max(abs(a), abs(b), 1e-300):
            return a + (b - a) / 2
    return distinct[-1] + max(1.0, abs(distinct[-1]))


def _step_values(r: Result) -> dict[int, float]:
    """Point values of a one-series (label-less) aggregate answer, by timestamp."""
    out: dict[int, float] = {}
    for s in r.series:
        for p in s.points:
            if not isinstance(p.v, ResultHistogram):
                out[p.t] = float(p.v)
    if r.scalar is not None and not isinstance(r.scalar.v, ResultHistogram):
        out[r.scalar.t] = float(r.scalar.v)
    return out


class PartitionOracle:
    name = ORACLE

    def __init__(self, config: ComparisonConfig = METAMORPHIC_CONFIG) -> None:
        self.config = config

    def check(self, engine: QueryEngine, case: Case) -> Verdict:
        p = parse_case_query(case.query)
        if isinstance(p, str):
            return Verdict.not_applicable(ORACLE, p)
        if p.value_type != "vector":
            return Verdict.not_applicable(ORACLE, f"a {p.value_type} query (an instant vector is needed)")
        x_text = render(p.expr)
        (x,) = run(engine, case, [(x_text, case.params)])
        failed = failure_verdict(ORACLE, p.features, engine.name, [x])
        if failed is not None:
            return failed
        if not x.ok:
            return Verdict.not_applicable(ORACLE, f"the query itself fails ({error_class(x)})")
        values = [p_.v for s in x.series for p_ in s.points]
        if any(isinstance(v, ResultHistogram) for v in values):
            return Verdict.not_applicable(ORACLE, "the answer holds native histograms")
        finite = [float(v) for v in values if math.isfinite(float(v))]  # type: ignore[arg-type]
        c = split_point(finite)
        X = f"({x_text})"
        nameless = [tuple(kv for kv in s.labels if kv[0] != "__name__") for s in x.series]
        do_count = len(set(nameless)) == len(nameless)
        label = next((k for s in x.series for k, _ in s.labels if k != "__name__"), None)
        items: list[tuple[str, str]] = []
        if do_count:
            items.append(("count", f"count({X}) or vector(0)"))
            cs = _fmt(c)
            items.append(("count", f"(count({X} > {cs}) or vector(0)) + (count({X} <= {cs}) or vector(0)) + "
                                   f"(count(clamp({X}, 0, 0) != 0) or vector(0))"))
        if label is not None:
            by = label if is_legacy_label_name(label) else quote_string(label)
            items += [("sum", f"sum({X})"), ("sum", f"sum(sum by ({by}) ({X}))"), ("sum", f"sum(abs({X}))")]
        if not items:
            return Verdict.not_applicable(ORACLE, "neither check applies (duplicate label sets, no labels)")
        results = run(engine, case, [(q, case.params) for _, q in items])
        failed = failure_verdict(ORACLE, p.features, engine.name, results)
        if failed is not None:
            return failed
        i = 0
        if do_count:
            whole, parts = results[0], results[1]
            cmp = compare(items[0][1], case.params, whole, parts, self.config)
            if not cmp.equal:
                return comparison_verdict(ORACLE, p.features, engine.name, cmp,
                                          f"{items[0][1]}\n  vs\n{items[1][1]}", qualifier="count")
            i = 2
        if label is not None:
            v = self._check_sum(p.features, engine.name, [q for _, q in items[i:i + 3]], results[i:i + 3])
            if v is not None:
                return v
        return Verdict.match(ORACLE)

    def _check_sum(self, features: frozenset[str], engine: str, queries: Sequence[str],
                   rs: Sequence[Result]) -> Verdict | None:
        whole, nested, scale = rs
        if not (whole.ok and nested.ok and scale.ok):
            if error_class(whole) == error_class(nested):
                return None
            diffs: tuple[Difference, ...] = (Difference(
                "error_vs_result", f"{queries[0]} gave {error_class(whole) or 'an answer'}, "
                f"{queries[1]} gave {error_class(nested) or 'an answer'}",
                detail=f"{error_class(whole) or 'ok'}->{error_class(nested) or 'ok'}"),)
        else:
            a, b, s = _step_values(whole), _step_values(nested), _step_values(scale)
            cfg = self.config
            out: list[Difference] = []
            for t in sorted(a.keys() | b.keys()):
                if t not in b or t not in a:
                    cat = "missing_series" if t not in b else "extra_series"
                    out.append(Difference(cat, f"@{t}: sum {encode_float(a[t]) if t in a else 'none'} vs "
                                               f"partitioned {encode_float(b[t]) if t in b else 'none'}", t=t))
                    continue
                sc = s.get(t, 0.0)
                floor = max(cfg.abs_tol, SUM_SCALE_TOL * sc) if math.isfinite(sc) else cfg.abs_tol
                if not floats_equal(a[t], b[t], cfg.rel_tol, floor):
                    out.append(Difference("value", f"@{t}: sum {encode_float(a[t])} vs partitioned "
                                                   f"{encode_float(b[t])} (sum|x| {encode_float(sc)})", (), t,
                                          encode_float(a[t]), encode_float(b[t])))
            if not out:
                return None
            diffs = tuple(out)
        sig = Signature(ORACLE, diffs[0].category, signature_features(features), ("ok", "ok"), engine, "sum")
        return Verdict("divergence", ORACLE, differences=diffs, signature=sig,
                       detail=f"{queries[0]}\n  vs\n{queries[1]}\n" + "\n".join(d.message for d in diffs[:20]))

