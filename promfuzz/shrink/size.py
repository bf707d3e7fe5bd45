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

import math
from dataclasses import dataclass
from typing import Any

from promfuzz.errors import PromQLSyntaxError
from promfuzz.model import Case, Histogram, Value, is_stale
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


def size_of(case: Case) -> CaseSize:
    ds = case.dataset
    p = case.params
    tc = sum(time_cost(x.t) for s in ds.series for x in s.samples)
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
        samples=ds.sample_count,
        steps=p.steps(),
        query_chars=len(case.query),
        query_text=case.query,
        labels=sum(len(s.labels) for s in ds.series),
        histogram_buckets=sum(buckets(x.v) for s in ds.series for x in s.samples),
        value_cost=sum(value_cost(x.v) for s in ds.series for x in s.samples),
        time_cost=tc,
        query_nodes=nodes,
    )
