"""A tiny in-memory PromQL evaluator for a fragment of the language, for oracle tests.

It is *consistent* by construction (range queries are instant evaluations repeated, ``@``
and ``offset`` move the selector's time), so the metamorphic properties hold on it; a
``bug`` switch injects one specific violation per oracle.

Fragment: selectors (any matcher, ``offset``, ``@``), range selectors under
``sum_over_time``/``count_over_time``, number literals, parentheses, unary minus,
``vector()``, ``time()``, ``abs()``, ``clamp()``, ``sum``/``count`` (``by``/``without``), arithmetic and
comparison operators between vectors and scalars, one-to-one vector arithmetic,
vector ``!=`` filter, ``or``, ``unless``. Lookback 5 minutes; stale markers end a series.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from promfuzz.model import Dataset, EvalParams, Labels, Point, Result, ResultSeries, is_stale
from promfuzz.promql import (
    AggregateExpr,
    BinaryExpr,
    Call,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    UnaryExpr,
    VectorSelector,
)
from promfuzz.promql.parser import parse

LOOKBACK = 300_000
Vec = list[tuple[Labels, float]]

BUGS = ("none", "range_plus_one", "ignore_at", "ignore_offset", "filter_drops_first", "sum_by_drops_group")


class Unsupported(Exception):
    pass


def _drop_name(lb: Labels) -> Labels:
    return tuple(kv for kv in lb if kv[0] != "__name__")


@dataclass
class MiniEngine:
    name: str = "mini"
    bug: str = "none"
    dataset: Dataset | None = None
    queries: int = 0

    def load(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        self.queries += 1
        try:
            expr = parse(text)
            if params.is_range:
                steps = range(params.start_ms, params.end_ms + 1, params.step_ms)
                by: dict[Labels, list[Point]] = {}
                for t in steps:
                    v = self._eval(expr, t)
                    if isinstance(v, float):
                        v = [((), v)]
                    for lb, x in v:
                        if self.bug == "range_plus_one":
                            x += 1
                        by.setdefault(lb, []).append(Point(t, x))
                series = tuple(ResultSeries(k, tuple(p)) for k, p in sorted(by.items()))
                return Result(self.name, "ok", "matrix", series)
            v = self._eval(expr, params.time_ms)
            if isinstance(v, float):
                return Result(self.name, "ok", "scalar", scalar=Point(params.time_ms, v))
            return Result(self.name, "ok", "vector",
                          tuple(ResultSeries(lb, (Point(params.time_ms, x),)) for lb, x in sorted(v)))
        except Unsupported as e:
            return Result.failure(self.name, "unsupported", "unsupported", str(e))
        except ValueError as e:
            return Result.failure(self.name, "error", "execution", str(e))

    def query_many(self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None) -> list[Result]:
        return [self.query(q, p) for q, p in items]

    # ------------------------------------------------------------------ evaluation
    def _select(self, vs: VectorSelector, t: int, window: int | None) -> list[tuple[Labels, list[tuple[int, float]]]]:
        assert self.dataset is not None
        at = vs.at if isinstance(vs.at, int) and self.bug != "ignore_at" else t
        if not isinstance(vs.offset, int):
            raise Unsupported("mini engine: duration expressions")
        offset = 0 if self.bug == "ignore_offset" else vs.offset
        ref = at - offset
        out = []
        for s in self.dataset.series:
            d = dict(s.labels)
            if vs.name is not None and d.get("__name__") != vs.name:
                continue
            if not all(_matches(m.op, m.value, d.get(m.name, "")) for m in vs.matchers):
                continue
            lo = ref - (window if window is not None else LOOKBACK)
            pts = [(x.t, float(x.v)) for x in s.samples if lo < x.t <= ref and isinstance(x.v, float)]
            if window is None:
                if not pts or is_stale(pts[-1][1]):
                    continue
                pts = pts[-1:]
            else:
                pts = [p for p in pts if not is_stale(p[1])]
            out.append((s.labels, pts))
        return out

    def _eval(self, e: Any, t: int) -> Vec | float:
        if isinstance(e, NumberLiteral):
            return float(e.value)
        if isinstance(e, ParenExpr):
            return self._eval(e.expr, t)
        if isinstance(e, UnaryExpr):
            v = self._eval(e.expr, t)
            if e.op == "+":
                return v
            return -v if isinstance(v, float) else [(_drop_name(lb), -x) for lb, x in v]
        if isinstance(e, VectorSelector):
            return [(lb, pts[0][1]) for lb, pts in self._select(e, t, None)]
        if isinstance(e, Call):
            return self._call(e, t)
        if isinstance(e, AggregateExpr):
            return self._aggregate(e, t)
        if isinstance(e, BinaryExpr):
            return self._binary(e, t)
        raise Unsupported(f"mini engine: {type(e).__name__}")

    def _call(self, e: Call, t: int) -> Vec | float:
        if e.func == "time":
            return t / 1000
        if e.func == "vector":
            s = self._eval(e.args[0], t)
            assert isinstance(s, float)
            return [((), s)]
        if e.func == "abs":
            v = self._eval(e.args[0], t)
            assert not isinstance(v, float)
            return [(_drop_name(lb), abs(x)) for lb, x in v]
        if e.func == "clamp":
            v, lo, hi = (self._eval(a, t) for a in e.args)
            assert not isinstance(v, float) and isinstance(lo, float) and isinstance(hi, float)
            return [(_drop_name(lb), x if math.isnan(x) else max(lo, min(hi, x))) for lb, x in v]
        if e.func in ("sum_over_time", "count_over_time") and isinstance(e.args[0], MatrixSelector):
            ms = e.args[0]
            out = []
            if not isinstance(ms.range, int):
                raise Unsupported("mini engine: duration expressions")
            for lb, pts in self._select(ms.selector, t, ms.range):
                if pts:
                    vals = [x for _, x in pts]
                    out.append((_drop_name(lb), math.fsum(vals) if e.func == "sum_over_time" else float(len(vals))))
            return out
        raise Unsupported(f"mini engine: function {e.func}")

    def _aggregate(self, e: AggregateExpr, t: int) -> Vec:
        if e.op not in ("sum", "count"):
            raise Unsupported(f"mini engine: aggregation {e.op}")
        v = self._eval(e.expr, t)
        assert not isinstance(v, float)
        groups: dict[Labels, list[float]] = {}
        for lb, x in v:
            if e.grouping is None:
                key: Labels = ()
            elif e.without:
                key = tuple(kv for kv in _drop_name(lb) if kv[0] not in e.grouping)
            else:
                key = tuple(kv for kv in lb if kv[0] in e.grouping)
            groups.setdefault(key, []).append(x)
        keys = sorted(groups)
        if self.bug == "sum_by_drops_group" and e.grouping and len(keys) > 1:
            keys = keys[:-1]
        return [(k, math.fsum(groups[k]) if e.op == "sum" else float(len(groups[k]))) for k in keys]

    def _binary(self, e: BinaryExpr, t: int) -> Vec | float:
        lhs, rhs = self._eval(e.lhs, t), self._eval(e.rhs, t)
        op = e.op
        if op in ("or", "unless"):
            assert not isinstance(lhs, float) and not isinstance(rhs, float)
            if op == "unless":
                drop = {_drop_name(lb) for lb, _ in rhs}
                return [(lb, x) for lb, x in lhs if _drop_name(lb) not in drop]
            seen = {_drop_name(lb) for lb, _ in lhs}
            return lhs + [(lb, x) for lb, x in rhs if _drop_name(lb) not in seen]
        comparison = op in ("==", "!=", "<", "<=", ">", ">=")
        if isinstance(lhs, float) and isinstance(rhs, float):
            return float(_apply(op, lhs, rhs)) if comparison else _apply(op, lhs, rhs)
        if isinstance(lhs, float) or isinstance(rhs, float):
            out = []
            for lb, x in (rhs if isinstance(lhs, float) else lhs):  # type: ignore[union-attr]
                a, b = (lhs, x) if isinstance(lhs, float) else (x, rhs)
                r = _apply(op, a, b)  # type: ignore[arg-type]
                if comparison:
                    if e.return_bool:
                        out.append((_drop_name(lb), float(r)))
                    elif r:
                        out.append((lb, x))
                else:
                    out.append((_drop_name(lb), r))
            if comparison and not e.return_bool and self.bug == "filter_drops_first":
                out = out[1:]
            return out
        index: dict[Labels, float] = {}
        for lb, x in rhs:
            k = _drop_name(lb)
            if k in index:
                raise ValueError("found duplicate series for the match group; many-to-many matching not allowed")
            index[k] = x
        out = []
        for lb, x in lhs:
            y = index.get(_drop_name(lb))
            if y is None:
                continue
            r = _apply(op, x, y)
            if comparison:
                if r:
                    out.append((lb, x))
            else:
                out.append((_drop_name(lb), r))
        return out


def _apply(op: str, a: float, b: float) -> Any:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b if b != 0 else (math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a * b or a))
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    raise Unsupported(f"mini engine: operator {op}")


def _matches(op: str, want: str, have: str) -> bool:
    if op == "=":
        return have == want
    if op == "!=":
        return have != want
    full = re.fullmatch(want, have) is not None
    return full if op == "=~" else not full
