"""Offset shift: adding ``offset d`` to every selector makes the query at time ``t`` answer
what the original query answers at ``t - d`` (for a range case: the whole range shifted
by ``d``). Default ``d`` is 5 minutes.

The offset is added (to any existing offset) on every vector selector, range selector
and subquery without an ``@``, except inside a subquery (whose own offset shifts its
inner evaluations). Selectors with ``@`` are time-invariant and left alone.

Does not apply (``not_applicable``) to: queries our parser refuses; queries using
``time()``, a date function without argument (both read the evaluation time),
``predict_linear()`` (it extrapolates from the evaluation time, not the window's end),
``start()``/``end()``/``range()``/``step()``/``@ start()``/``@ end()``; offsets written as
duration expressions; queries without a selector to shift; cases whose shifted
evaluation time would be negative.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from promfuzz.model import Case, EvalParams
from promfuzz.oracles._metamorphic import (
    DATE_FUNCTIONS,
    METAMORPHIC_CONFIG,
    RANGE_DEPENDENT,
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

ORACLE = "offset_shift"


class _NotShiftable(Exception):
    pass


def add_offset(expr: Any, d_ms: int) -> tuple[Any, int]:
    """``expr`` with ``d_ms`` added to the offset of every top-most unpinned selector/subquery."""
    from promfuzz.promql import MatrixSelector, SubqueryExpr, VectorSelector, children, replace_children

    count = 0

    def shifted(node: Any) -> Any:
        nonlocal count
        if not isinstance(node.offset, int):
            raise _NotShiftable("an offset written as a duration expression")
        count += 1
        return replace(node, offset=node.offset + d_ms)

    def go(node: Any) -> Any:
        if isinstance(node, VectorSelector):
            return node if node.at is not None else shifted(node)
        if isinstance(node, MatrixSelector):
            sel = go(node.selector)
            return node if sel is node.selector else replace(node, selector=sel)
        if isinstance(node, SubqueryExpr):
            return node if node.at is not None else shifted(node)
        cs = children(node)
        if not cs:
            return node
        new = [go(c) for c in cs]
        if all(a is b for a, b in zip(new, cs, strict=True)):
            return node
        return replace_children(node, new)

    return go(expr), count


def _reads_eval_time(expr: Any) -> str | None:
    from promfuzz.promql import Call, walk

    for n, _ in walk(expr):
        if isinstance(n, Call):
            if n.func == "time" or (f"fn:{n.func}" in DATE_FUNCTIONS and not n.args):
                return f"{n.func}() reads the evaluation time"
    return None


class OffsetShiftOracle:
    name = ORACLE

    def __init__(self, config: ComparisonConfig = METAMORPHIC_CONFIG, shift_ms: int = 300_000) -> None:
        self.config = config
        self.shift_ms = shift_ms

    def _shifted(self, case: Case) -> tuple[Any, str] | str:
        p = parse_case_query(case.query)
        if isinstance(p, str):
            return p
        used = p.features & (RANGE_DEPENDENT | {"fn:predict_linear"})
        if used:
            return f"uses {', '.join(sorted(used))}"
        why = _reads_eval_time(p.expr)
        if why:
            return why
        first = case.params.start_ms if case.params.is_range else case.params.time_ms
        if first - self.shift_ms < 0:
            return "the shifted evaluation time would be negative"
        try:
            new, n = add_offset(p.expr, self.shift_ms)
        except _NotShiftable as e:
            return str(e)
        if n == 0:
            return "no selector or subquery to shift"
        return p, render(new)

    def applies(self, case: Case) -> str | None:
        r = self._shifted(case)
        return r if isinstance(r, str) else None

    def check(self, engine: QueryEngine, case: Case) -> Verdict:
        r = self._shifted(case)
        if isinstance(r, str):
            return Verdict.not_applicable(ORACLE, r)
        parsed, shifted_text = r
        d = self.shift_ms
        pr = case.params
        earlier = (EvalParams.range(pr.start_ms - d, pr.end_ms - d, pr.step_ms) if pr.is_range
                   else EvalParams.instant(pr.time_ms - d))
        results = run(engine, case, [(case.query, earlier), (shifted_text, pr)])
        failed = failure_verdict(ORACLE, parsed.features, engine.name, results)
        if failed is not None:
            return failed
        ref, got = results
        if ref.value_type != "matrix" or pr.is_range:
            ref = restamp(ref, lambda t: t + d)
        c = compare(case.query, pr, ref, got, self.config)
        where = f"{pr.start_ms - d}..{pr.end_ms - d}" if pr.is_range else f"{pr.time_ms - d}"
        return comparison_verdict(ORACLE, parsed.features, engine.name, c,
                                  f"{case.query} at {where} vs {shifted_text} {d} ms later")
