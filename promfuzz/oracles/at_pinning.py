"""``@`` pinning: pinning ``@ t`` on every selector makes a query's answer independent of
the evaluation time. The pinned query evaluated at ``t`` and at other times (default:
``t``, ``t+10m``, ``t+1h``, and ``t-10m`` when not negative) must equal the original query
at ``t`` (one of the checks Prometheus's own test harness runs on every instant eval).

Pinning follows the harness: every vector selector, range selector and subquery without
an ``@`` gets ``@ t``, except inside a subquery or selector that already has (or just got)
an ``@`` -- the subquery's own pin fixes its inner evaluation times.

Does not apply (``not_applicable``) to: range cases; queries our parser refuses; queries
using ``time()``, ``timestamp()``, ``predict_linear()``, the date functions (their value
depends on the evaluation time, not only on the data) or ``start()``/``end()``/
``range()``/``step()``/``@ start()``/``@ end()``; queries without any selector to pin.
Instant vector and scalar answers are compared after restamping their points to ``t``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from promfuzz.model import Case, EvalParams
from promfuzz.oracles._metamorphic import (
    DATE_FUNCTIONS,
    METAMORPHIC_CONFIG,
    RANGE_DEPENDENT,
    TIME_DEPENDENT,
    QueryEngine,
    compare,
    comparison_verdict,
    failure_verdict,
    parse_case_query,
    render,
    restamp,
    run,
)
from promfuzz.oracles.compare import ComparisonConfig
from promfuzz.oracles.verdict import Verdict

ORACLE = "at_pinning"
UNSAFE = TIME_DEPENDENT | DATE_FUNCTIONS | RANGE_DEPENDENT | {"fn:predict_linear"}


def pin_at(expr: Any, t_ms: int) -> tuple[Any, int]:
    """``expr`` with ``@ t_ms`` on every unpinned top-most selector/subquery, and how many were pinned."""
    from promfuzz.promql import MatrixSelector, SubqueryExpr, VectorSelector, children, replace_children

    count = 0

    def go(node: Any, under_at: bool) -> Any:
        nonlocal count
        if isinstance(node, VectorSelector):
            if node.at is None and not under_at:
                count += 1
                return replace(node, at=t_ms)
            return node
        if isinstance(node, MatrixSelector):
            sel = go(node.selector, under_at)
            return node if sel is node.selector else replace(node, selector=sel)
        if isinstance(node, SubqueryExpr):
            if node.at is None and not under_at:
                count += 1
                node = replace(node, at=t_ms)
            inner = go(node.expr, True)
            return node if inner is node.expr else replace(node, expr=inner)
        cs = children(node)
        if not cs:
            return node
        new = [go(c, under_at) for c in cs]
        if all(a is b for a, b in zip(new, cs, strict=True)):
            return node
        return replace_children(node, new)

    return go(expr, False), count


class AtPinningOracle:
    name = ORACLE

    def __init__(self, config: ComparisonConfig = METAMORPHIC_CONFIG,
                 shifts_ms: Sequence[int] = (0, 600_000, 3_600_000, -600_000)) -> None:
        self.config = config
        self.shifts_ms = tuple(shifts_ms)

    def applies(self, case: Case) -> str | None:
        if case.params.is_range:
            return "a range case"
        p = parse_case_query(case.query)
        if isinstance(p, str):
            return p
        used = p.features & UNSAFE
        if used:
            return f"uses {', '.join(sorted(used))}"
        if pin_at(p.expr, case.params.time_ms)[1] == 0:
            return "no selector or subquery to pin"
        return None

    def check(self, engine: QueryEngine, case: Case) -> Verdict:
        reason = self.applies(case)
        if reason is not None:
            return Verdict.not_applicable(ORACLE, reason)
        parsed = parse_case_query(case.query)
        assert not isinstance(parsed, str)
        t = case.params.time_ms
        pinned = render(pin_at(parsed.expr, t)[0])
        times = [t + s for s in self.shifts_ms if t + s >= 0]
        results = run(engine, case, [(case.query, case.params)] + [(pinned, EvalParams.instant(x)) for x in times])
        failed = failure_verdict(ORACLE, parsed.features, engine.name, results)
        if failed is not None:
            return failed
        ref = results[0]
        stamp = ref.value_type != "matrix"
        for x, r in zip(times, results[1:], strict=True):
            got = restamp(r, lambda _t: t) if stamp and r.value_type != "matrix" else r
            c = compare(case.query, case.params, ref, got, self.config)
            if not c.equal:
                return comparison_verdict(ORACLE, parsed.features, engine.name, c,
                                          f"{case.query} at {t} vs {pinned} at {x}")
        return Verdict.match(ORACLE)
