"""What the mutation operators of ``promfuzz bench oracle`` work on: the answer pair, the
mutant, the operator, what the query's shape says about order and select-k picks, and
small helpers to find and replace points, series and labels in a :class:`Result`
(:mod:`promfuzz.benchmarks.oracle_mutations` holds the operators themselves)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

from promfuzz.model import (
    Case,
    Labels,
    Point,
    PointValue,
    Result,
    ResultHistogram,
    ResultSeries,
    is_stale,
)

Kind = Literal["forbidden", "allowed"]
OperandResolver = Callable[[str], "Result | None"]

PANIC_TEXT = "unexpected error: runtime error: invalid memory address or nil pointer dereference"
"""How Prometheus's engine reports a recovered Go panic (an ``execution`` error)."""

MIN_ABS_CHANGE = 1e-9
"""Value mutations change a value by at least this much (absolute): a smaller change of a
value near zero can be cancellation noise of a different summation order, which no oracle
can tell from a bug. ``sign_flip_tiny`` is the deliberate exception."""

ANNOTATION_BUCKETS = ((1, 9), (10, 20))
"""Annotation counts are drawn from these ranges (the old comparator compared nothing once
both sides had 10 or more)."""


@dataclass(frozen=True)
class Pair:
    """A case and the two answers the oracle judged equal; ``operand`` answers a
    subexpression's text on the reference engine with the case's parameters."""

    case: Case
    ref: Result
    tgt: Result
    operand: OperandResolver | None = None


@dataclass(frozen=True)
class Mutant:
    """The pair to judge: ``ref`` is the pair's reference (or, for annotation operators, the
    reference padded like the target); ``note`` says what was changed."""

    ref: Result
    tgt: Result
    note: str


@dataclass(frozen=True)
class Operator:
    name: str
    kind: Kind
    doc: str
    fn: Callable[[Pair, random.Random], Mutant | None]

    def apply(self, pair: Pair, rng: random.Random) -> Mutant | None:
        return self.fn(pair, rng)


# --------------------------------------------------------------------------- query shape


@dataclass(frozen=True)
class SelectK:
    op: str  # topk | bottomk | limitk | limit_ratio
    grouping: Literal["by", "without"] | None
    labels: tuple[str, ...]
    operand: str  # the operand's text


@dataclass(frozen=True)
class Shape:
    ordering: str | None  # sort | sort_desc | sort_by_label | sort_by_label_desc at the top
    sort_labels: tuple[str, ...]
    select_k: SelectK | None  # a select-k aggregation at the top (through parentheses)
    cv_labels: frozenset[str]  # labels count_values creates


@lru_cache(maxsize=4096)
def shape_of(query: str) -> Shape:
    """What the operators need to know about the query, from promfuzz's own parser (a
    query it cannot parse has no defined order and no select-k)."""
    from promfuzz.promql import AggregateExpr, Call, ParenExpr, StringLiteral, parse, to_text, walk

    try:
        tree = parse(query)
    except Exception:  # noqa: BLE001 -- any refusal: nothing known about the query
        return Shape(None, (), None, frozenset())

    def unparen(n: object) -> object:
        while isinstance(n, ParenExpr):
            n = n.expr
        return n

    top = unparen(tree)
    ordering: str | None = None
    sort_labels: tuple[str, ...] = ()
    if isinstance(top, Call) and top.func in ("sort", "sort_desc", "sort_by_label", "sort_by_label_desc"):
        ordering = top.func
        sort_labels = tuple(a.value for a in map(unparen, top.args[1:]) if isinstance(a, StringLiteral))
    sk = None
    if isinstance(top, AggregateExpr) and top.op in ("topk", "bottomk", "limitk", "limit_ratio"):
        grouping: Literal["by", "without"] | None = None
        if top.grouping is not None:
            grouping = "without" if top.without else "by"
        sk = SelectK(top.op, grouping, tuple(top.grouping or ()), to_text(top.expr))
    cv: set[str] = set()
    for n, _ in walk(tree):
        if isinstance(n, AggregateExpr) and n.op == "count_values":
            param = unparen(n.param)
            if isinstance(param, StringLiteral):
                cv.add(param.value)
    return Shape(ordering, sort_labels, sk, frozenset(cv))


def order_defined(pair: Pair) -> bool:
    """Is the series order of this answer part of PromQL's contract? Only for an instant
    query topped by a sort function or by topk/bottomk."""
    if pair.case.params.is_range or pair.ref.value_type != "vector":
        return False
    sh = shape_of(pair.case.query)
    return sh.ordering is not None or (sh.select_k is not None and sh.select_k.op in ("topk", "bottomk"))


# --------------------------------------------------------------------------- helpers


def _is_float(v: PointValue) -> bool:
    return not isinstance(v, ResultHistogram)


def _is_plain_nan(v: PointValue) -> bool:
    return _is_float(v) and v != v and not is_stale(float(v))  # type: ignore[arg-type]


PointRef = tuple[int, int]
"""(series index, point index); series index -1 is the scalar."""


def _points(r: Result) -> Iterator[tuple[PointRef, Point]]:
    if not r.ok:
        return
    if r.value_type == "scalar" and r.scalar is not None:
        yield (-1, 0), r.scalar
        return
    for si, s in enumerate(r.series):
        for pi, p in enumerate(s.points):
            yield (si, pi), p


def _pick_point(r: Result, rng: random.Random, want: Callable[[PointValue], bool]) -> tuple[PointRef, Point] | None:
    found = [(ref, p) for ref, p in _points(r) if want(p.v)]
    return rng.choice(found) if found else None


def _set_point(r: Result, at: PointRef, p: Point | None) -> Result:
    """``r`` with the point at ``at`` replaced by ``p`` (removed when None; a series left
    without points is removed)."""
    si, pi = at
    if si == -1:
        return replace(r, scalar=p)
    s = r.series[si]
    pts = list(s.points)
    if p is None:
        del pts[pi]
    else:
        pts[pi] = p
    series = list(r.series)
    if pts:
        series[si] = ResultSeries(s.labels, tuple(sorted(pts, key=lambda q: q.t)))
    else:
        del series[si]
    return replace(r, series=tuple(series))


def _value_op(r: Result, rng: random.Random, want: Callable[[PointValue], bool],
              change: Callable[[PointValue], PointValue]) -> tuple[Result, Point, PointValue] | None:
    hit = _pick_point(r, rng, want)
    if hit is None:
        return None
    at, p = hit
    new = change(p.v)
    return _set_point(r, at, Point(p.t, new)), p, new


def _fmt(v: PointValue) -> str:
    from promfuzz.oracles.compare import fmt_value

    return fmt_value(v)


def _label_set(labels: Sequence[tuple[str, str]]) -> Labels:
    return tuple(sorted((k, v) for k, v in labels if v != ""))


def _with_series(r: Result, series: Sequence[ResultSeries]) -> Result:
    return replace(r, series=tuple(series))


def _series_result(r: Result) -> bool:
    return r.ok and r.value_type in ("vector", "matrix")


def _mutant(pair: Pair, tgt: Result | None, note: str, ref: Result | None = None) -> Mutant | None:
    if tgt is None:
        return None
    return Mutant(ref if ref is not None else pair.ref, tgt, note)


def _brief(labels: Labels) -> str:
    from promfuzz.model import labels_str

    return labels_str(labels)
