"""Shared plumbing of the metamorphic oracles (one engine, related queries).

Each metamorphic oracle: parses the case's query with :mod:`promfuzz.promql`, decides
whether its property applies (else a ``not_applicable`` verdict naming the reason),
builds the related queries, runs them in one batch on the engine (after loading the
case's dataset, which engines skip when the same data is already loaded), and compares
with :func:`~promfuzz.oracles.compare.compare_results`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from promfuzz.model import Case, Dataset, EvalParams, Point, Result, ResultSeries
from promfuzz.oracles.compare import Comparison, ComparisonConfig, compare_results, error_class
from promfuzz.oracles.verdict import Signature, Verdict, signature_features

# Functions and modifiers whose value depends on the evaluation's start/end/range/step.
RANGE_DEPENDENT = frozenset(
    {"fn:start", "fn:end", "fn:range", "fn:step", "mod:@start()", "mod:@end()", "dur:step", "dur:range"}
)
# Functions whose value depends on the evaluation time itself (not only on the data).
TIME_DEPENDENT = frozenset({"fn:time", "fn:timestamp"})
DATE_FUNCTIONS = frozenset(
    {"fn:day_of_month", "fn:day_of_week", "fn:day_of_year", "fn:days_in_month", "fn:hour", "fn:minute",
     "fn:month", "fn:year"}
)
ORDERING = frozenset({"sort", "sort_desc", "sort_by_label", "sort_by_label_desc"})

METAMORPHIC_CONFIG = ComparisonConfig(annotations="ignore", check_order=False)
"""Default comparison for metamorphic oracles: values only (annotation positions and
counts legitimately change when a query is rewritten or split into several)."""


class QueryEngine(Protocol):
    """What a metamorphic oracle needs from an engine (a subset of promfuzz.engines.Engine)."""

    name: str

    def load(self, dataset: Dataset) -> Any: ...

    def query_many(self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None) -> list[Result]:
        ...


@dataclass(frozen=True)
class Parsed:
    expr: Any  # promfuzz.promql.Expr
    features: frozenset[str]
    value_type: str


def parse_case_query(text: str) -> Parsed | str:
    """The parsed query, or the reason it could not be parsed."""
    try:
        from promfuzz.promql import features, value_type
        from promfuzz.promql.parser import parse
    except ImportError as e:  # pragma: no cover - the parser ships with promfuzz
        return f"no PromQL parser available ({e})"
    try:
        expr = parse(text)
        return Parsed(expr, features(expr), value_type(expr))
    except Exception as e:  # noqa: BLE001 -- any refusal makes the oracle inapplicable
        return f"our parser does not accept the query ({e})"


def render(expr: Any) -> str:
    from promfuzz.promql.printer import to_text

    return str(to_text(expr))


def top_call_name(expr: Any) -> str | None:
    """Name of the function/aggregation at the top of the tree (through parentheses)."""
    from promfuzz.promql import AggregateExpr, Call, ParenExpr

    while isinstance(expr, ParenExpr):
        expr = expr.expr
    if isinstance(expr, Call):
        return str(expr.func)
    if isinstance(expr, AggregateExpr):
        return str(expr.op)
    return None


def restamp(r: Result, fn: Callable[[int], int]) -> Result:
    """The result with every point's timestamp mapped through ``fn`` (vector/scalar/matrix)."""
    if not r.ok:
        return r
    series = tuple(ResultSeries(s.labels, tuple(Point(fn(p.t), p.v) for p in s.points)) for s in r.series)
    scalar = Point(fn(r.scalar.t), r.scalar.v) if r.scalar is not None else None
    return replace(r, series=series, scalar=scalar)


def as_series(r: Result) -> Result:
    """A scalar answer as a vector of one label-less series (how range queries return it)."""
    if r.ok and r.value_type == "scalar" and r.scalar is not None:
        return replace(r, value_type="vector", scalar=None, series=(ResultSeries((), (r.scalar,)),))
    return r


def vector_at(r: Result, t: int) -> Result:
    """The points of a range result at ``t``, as an instant vector."""
    if not r.ok:
        return r
    out = []
    for s in r.series:
        pts = tuple(p for p in s.points if p.t == t)
        if pts:
            out.append(ResultSeries(s.labels, pts))
    return replace(r, value_type="vector", series=tuple(out), scalar=None)


def merge_vectors(rs: Iterable[Result], engine: str) -> Result:
    """Instant answers at several times stitched into one matrix (as a range query gives)."""
    by: dict[Any, list[Point]] = {}
    for r in rs:
        r = as_series(r)
        for s in r.series:
            by.setdefault(s.labels, []).extend(s.points)
    series = tuple(ResultSeries(k, tuple(sorted(v, key=lambda p: p.t))) for k, v in sorted(by.items()))
    return Result(engine=engine, outcome="ok", value_type="matrix", series=series)


def failure_verdict(oracle: str, features: frozenset[str], engine: str, results: Sequence[Result]) -> Verdict | None:
    """engine_failure / unsupported verdict when any of the related queries crashed or was declined."""
    for r in results:
        cls = error_class(r)
        if cls in ("engine_failure", "timeout"):
            msg = r.error.message if r.error else ""
            return Verdict("engine_failure", oracle,
                           signature=Signature(oracle, "engine_failure", signature_features(features), (cls,), engine),
                           reason=msg, detail=msg)
        if cls == "unsupported":
            return Verdict.not_applicable(oracle, f"the engine does not support a related query: "
                                                  f"{r.error.message if r.error else ''}")
    return None


def comparison_verdict(oracle: str, features: frozenset[str], engine: str, c: Comparison,
                       context: str, qualifier: str = "") -> Verdict:
    if c.equal:
        return Verdict.match(oracle, c.notes)
    quals = [q for q in (qualifier, "tie_sensitive" if c.tie_sensitive else "") if q]
    sig = Signature(oracle, c.primary_category or "unknown", signature_features(features),
                    (c.ref_error_class or "ok", c.tgt_error_class or "ok"), engine, ",".join(quals))
    return Verdict("divergence", oracle, differences=c.differences, signature=sig,
                   detail=f"{context}\n{c.diff_text()}", notes=c.notes, data={"comparison": c})


def run(engine: QueryEngine, case: Case, items: Sequence[tuple[str, EvalParams]]) -> list[Result]:
    engine.load(case.dataset)
    return list(engine.query_many(list(items)))


def compare(query: str, params: EvalParams, ref: Result, tgt: Result, config: ComparisonConfig) -> Comparison:
    return compare_results(query, params, ref, tgt, config)
