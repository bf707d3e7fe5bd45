"""How big a case is: the well-founded order the shrinker descends.

:class:`CaseSize` compares lexicographically, most important first: query tokens, series,
samples, evaluation steps, query characters (then the text itself, shortlex, so ``7m``
becomes ``1m`` and ``9`` becomes ``0``), label pairs, histogram buckets, a value cost (small
integers are cheap, long decimals and special values dear) and a time cost (timestamps
late or off whole seconds and minutes are dear). Every component is a natural number or a
string of bounded length, so any strictly decreasing sequence is finite: the shrinker
always terminates, and "smaller" has one meaning for every pass.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ParamSpec

from promfuzz.errors import PromQLSyntaxError
from promfuzz.model import Case, Histogram, Series, Value, is_stale
from promfuzz.promql.parser import parse
from promfuzz.shrink._tree import count_nodes, count_tokens

MINUTE_MS = 60_000


@dataclass(frozen=True, order=True)
class CaseSize:
    query_tokens: int
    series: int
    samples: int
    steps: int
    query_chars: int
    query_text: str
    labels: int
    histogram_buckets: int
    value_cost: int
    time_cost: int
    query_nodes: int = 0  # reported, not part of the order's meaning (follows tokens)

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "query_tokens": self.query_tokens,
            "query_nodes": self.query_nodes,
            "query_chars": self.query_chars,
            "series": self.series,
            "samples": self.samples,
            "steps": self.steps,
            "labels": self.labels,
            "histogram_buckets": self.histogram_buckets,
        }


def float_cost(v: float) -> int:
    """0 for 0; digits for a small integer; more for decimals, huge values and NaN/Inf/stale."""
    if math.isnan(v):
        return 6 if is_stale(v) else 5
    if math.isinf(v):
        return 5
    neg = 1 if v < 0 or (v == 0 and math.copysign(1.0, v) < 0) else 0
    a = abs(v)
    if a == 0:
        return neg
    if a == int(a) and a < 1e6:
        return neg + len(str(int(a)))
    return neg + len(repr(a)) + 8


def histogram_cost(h: Histogram) -> int:
    c = 4 + float_cost(h.count) + float_cost(h.sum) + float_cost(h.zero_count)
    c += (h.schema != 0) + (h.zero_threshold != 0) + (h.counter_reset_hint != "unknown")
    c += sum(float_cost(b) for b in h.positive_buckets + h.negative_buckets + h.custom_values)
    c += len(h.positive_spans) + len(h.negative_spans)
    return c


def value_cost(v: Value) -> int:
    return histogram_cost(v) if isinstance(v, Histogram) else float_cost(v)


def buckets(v: Value) -> int:
    if isinstance(v, Histogram):
        return len(v.positive_buckets) + len(v.negative_buckets) + len(v.custom_values) + (v.zero_count != 0)
    return 0


def time_cost(t: int) -> int:
    """Minutes since 0, plus a penalty for a time off whole minutes and another off whole seconds."""
    a = abs(t)
    return a // MINUTE_MS + (1000 if a % MINUTE_MS else 0) + (1000 if a % 1000 else 0)


SeriesMemo = dict[int, tuple[Series, tuple[int, int, int, int, int]]]
"""Per-series size figures keyed by ``id(series)`` (the series is kept alive in the value)."""

_MEMO_LIMIT = 20_000


def _series_figures(s: Series, memo: SeriesMemo | None) -> tuple[int, int, int, int, int]:
    if memo is not None:
        hit = memo.get(id(s))
        if hit is not None and hit[0] is s:
            return hit[1]
    figs = (
        len(s.samples),
        len(s.labels),
        sum(buckets(x.v) for x in s.samples),
        sum(value_cost(x.v) for x in s.samples),
        sum(time_cost(x.t) for x in s.samples),
    )
    if memo is not None:
        if len(memo) > _MEMO_LIMIT:
            memo.clear()
        memo[id(s)] = (s, figs)
    return figs


def size_of(case: Case, memo: SeriesMemo | None = None) -> CaseSize:
    """The size of ``case``. ``memo`` (any dict the caller owns) caches per-series figures
    for candidates that share series objects with the case they came from."""
    ds = case.dataset
    p = case.params
    figs = [_series_figures(s, memo) for s in ds.series]
    tc = sum(f[4] for f in figs)
    if p.is_range:
        tc += time_cost(p.start_ms) + time_cost(p.end_ms) + time_cost(p.step_ms)
    else:
        tc += time_cost(p.time_ms)
    try:
        nodes = count_nodes(parse(case.query))
    except PromQLSyntaxError:
        nodes = 0
    return CaseSize(
        query_tokens=count_tokens(case.query),
        series=len(ds.series),
        samples=sum(f[0] for f in figs),
        steps=p.steps(),
        query_chars=len(case.query),
        query_text=case.query,
        labels=sum(f[1] for f in figs),
        histogram_buckets=sum(f[2] for f in figs),
        value_cost=sum(f[3] for f in figs),
        time_cost=tc,
        query_nodes=nodes,
    )


P = ParamSpec("P")


def strictly_smaller(fn: Callable[P, Iterator[Case]]) -> Callable[P, Iterator[Case]]:
    """Decorate a pass ``(case, ...) -> Iterator[Case]`` so it yields only candidates
    strictly smaller than ``case`` (by :func:`size_of`)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[Case]:
        case = args[0] if args else kwargs["case"]
        assert isinstance(case, Case)
        memo: SeriesMemo = {}
        limit = size_of(case, memo)
        for cand in fn(*args, **kwargs):
            if size_of(cand, memo) < limit:
                yield cand

    return wrapper
