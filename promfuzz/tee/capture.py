"""Capture the data a live query read, from a backend, as a promfuzz :class:`Dataset`.

For every selector of the query (promfuzz's parser), the time span it reads is worked
out from the evaluation times and everything around the selector: the lookback delta
for an instant selector, the range of a range selector (plus the lookback for
``anchored``/``smoothed`` ones), offsets, ``@`` and subquery ranges (nested ones add
up). Each selector's samples over that span are fetched:

1. by remote read (``/api/v1/read``, ``SAMPLES``), where the backend offers it: exact,
   stale markers included;
2. else by the query API: ``{matchers}[span]`` at the span's end, a range vector of the
   raw samples (no stale markers; histograms as count/sum only, so a histogram series
   is reported as not captured exactly).

Only what the query itself reads is fetched: the selector's own matchers over its own
span. Credentials come from the environment (``PROMFUZZ_HTTP_*``) like every backend
request of the tee, and are never written anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from promfuzz.model import Dataset, EvalParams, Histogram, Labels, Value, labels_str, ms_to_api_time
from promfuzz.promql.ast import (
    DurationExpr,
    Expr,
    MatrixSelector,
    NumberLiteral,
    SubqueryExpr,
    VectorSelector,
    children,
)

DEFAULT_LOOKBACK_MS = 300_000


def duration_ms(d: Any, step_ms: int, range_ms: int) -> int:
    """A duration field (ms or a :class:`DurationExpr`) in milliseconds; ``step()`` and
    ``range()`` take the query's step and range."""
    if isinstance(d, int):
        return d
    if isinstance(d, NumberLiteral):
        return round(d.value * 1000)

    def sec(n: Any) -> float:
        if isinstance(n, NumberLiteral):
            return n.value
        if isinstance(n, DurationExpr):
            return _dexpr(n)
        return 0.0

    def _dexpr(e: DurationExpr) -> float:
        if e.op == "step":
            return step_ms / 1000
        if e.op == "range":
            return range_ms / 1000
        a = sec(e.lhs) if e.lhs is not None else 0.0
        b = sec(e.rhs) if e.rhs is not None else 0.0
        if e.lhs is None:
            return -b if e.op == "-" else b
        try:
            return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else math.inf,
                    "%": math.fmod(a, b) if b else math.nan, "^": a ** b,
                    "min_of": min(a, b), "max_of": max(a, b)}[e.op]
        except (OverflowError, ZeroDivisionError):
            return math.inf

    if isinstance(d, DurationExpr):
        v = _dexpr(d)
        return round(v * 1000) if math.isfinite(v) else 0
    return 0


@dataclass
class SelectorSpan:
    selector: VectorSelector
    lo_ms: int
    hi_ms: int


def selector_spans(expr: Expr, params: EvalParams, lookback_ms: int | None = None) -> list[SelectorSpan]:
    """Every distinct selector of ``expr`` (modifiers stripped) with the time span it may
    read, [lo, hi] inclusive, under ``params``."""
    lb = params.lookback_ms if params.lookback_ms is not None else (lookback_ms or DEFAULT_LOOKBACK_MS)
    q_lo, q_hi = (params.start_ms, params.end_ms) if params.is_range else (params.time_ms, params.time_ms)
    step = params.step_ms or 60_000
    qrange = q_hi - q_lo
    out: dict[VectorSelector, SelectorSpan] = {}

    def at_window(at: Any, lo: int, hi: int) -> tuple[int, int]:
        if at is None:
            return lo, hi
        if at == "start":
            return q_lo, q_lo
        if at == "end":
            return q_hi, q_hi
        return int(at), int(at)

    def add(sel: VectorSelector, lo: int, hi: int) -> None:
        key = VectorSelector(sel.name, sel.matchers)
        cur = out.get(key)
        if cur is None:
            out[key] = SelectorSpan(key, lo, hi)
        else:
            cur.lo_ms, cur.hi_ms = min(cur.lo_ms, lo), max(cur.hi_ms, hi)

    def visit(n: Any, lo: int, hi: int) -> None:
        if isinstance(n, VectorSelector):
            a, b = at_window(n.at, lo, hi)
            off = duration_ms(n.offset, step, qrange)
            add(n, a - off - lb, b - off)
            return
        if isinstance(n, MatrixSelector):
            s = n.selector
            a, b = at_window(s.at, lo, hi)
            off = duration_ms(s.offset, step, qrange)
            rng = duration_ms(n.range, step, qrange)
            extra = lb if (s.anchored or s.smoothed) else 0
            add(s, a - off - rng - extra, b - off + (lb if s.smoothed else 0))
            return
        if isinstance(n, SubqueryExpr):
            a, b = at_window(n.at, lo, hi)
            off = duration_ms(n.offset, step, qrange)
            rng = duration_ms(n.range, step, qrange)
            visit(n.expr, a - off - rng, b - off)
            return
        for c in children(n):
            if isinstance(c, Expr):
                visit(c, lo, hi)

    visit(expr, q_lo, q_hi)
    return list(out.values())


def selector_matchers(sel: VectorSelector) -> list[tuple[str, str, str]]:
    """(op, name, value) matchers of a selector, the metric name as ``__name__``."""
    ms: list[tuple[str, str, str]] = [(m.op, m.name, m.value) for m in sel.matchers]
    if sel.name:
        ms.insert(0, ("=", "__name__", sel.name))
    return ms


def selector_text(sel: VectorSelector) -> str:
    from promfuzz.promql.printer import to_text

    return to_text(VectorSelector(sel.name, sel.matchers))


@dataclass
class Captured:
    """One backend's captured data: the dataset, how it was read, what was not exact."""

    dataset: Dataset
    method: str  # remote_read | query_api | mixed
    notes: list[str] = field(default_factory=list)
    spans: list[tuple[str, int, int]] = field(default_factory=list)

    def to_json_obj(self) -> dict[str, Any]:
        return {"method": self.method, "notes": list(self.notes),
                "spans": [{"selector": s, "lo_ms": lo, "hi_ms": hi} for s, lo, hi in self.spans],
                "dataset": self.dataset.to_json_obj()}


RemoteRead = Callable[[int, int, list[tuple[str, str, str]]], Dataset | None]
RangeQuery = Callable[[str, int], Any]  # (query text, time ms) -> Result


def capture(expr: Expr, params: EvalParams, remote_read: RemoteRead | None, instant_query: RangeQuery,
            lookback_ms: int | None = None) -> Captured:
    """The data ``expr`` reads under ``params``, from one backend."""
    merged: dict[Labels, dict[int, Value]] = {}
    methods: set[str] = set()
    notes: list[str] = []
    spans: list[tuple[str, int, int]] = []
    for sp in selector_spans(expr, params, lookback_ms):
        lo, hi = max(0, sp.lo_ms), sp.hi_ms
        text = selector_text(sp.selector)
        spans.append((text, lo, hi))
        if hi < lo:
            continue
        got: Dataset | None = None
        if remote_read is not None:
            got = remote_read(lo, hi, selector_matchers(sp.selector))
        if got is not None:
            methods.add("remote_read")
            for s in got.series:
                dst = merged.setdefault(s.labels, {})
                for x in s.samples:
                    if lo <= x.t <= hi:
                        dst[x.t] = x.v
            continue
        methods.add("query_api")
        r = instant_query(f"{text}[{hi - lo + 1}ms]", hi)
        if not r.ok:
            msg = r.error.message if r.error else r.outcome
            notes.append(f"{text}: the query API did not return its raw samples: {msg[:200]}")
            continue
        for s in r.series:
            dst = merged.setdefault(s.labels, {})
            for p in s.points:
                if isinstance(p.v, float):
                    dst[p.t] = p.v
                else:
                    notes.append(f"{labels_str(s.labels)}: histogram samples read by the query API are not "
                                 "exact (count and sum only); not captured")
                    break
    if "query_api" in methods:
        notes.append("read through the query API: stale markers are not visible, so series that went stale "
                     "may answer differently in-process")
    ds = Dataset.build((labels, sorted(samples.items())) for labels, samples in merged.items() if samples)
    method = "mixed" if len(methods) > 1 else (next(iter(methods)) if methods else "none")
    return Captured(ds, method, sorted(set(notes)), spans)


def dataset_differences(a: Dataset, b: Dataset, limit: int = 5) -> list[str]:
    """How two captured datasets differ (empty: the same samples), in words."""
    def by_labels(d: Dataset) -> Mapping[Labels, dict[int, Value]]:
        return {s.labels: {x.t: x.v for x in s.samples} for s in d.series}

    def same(x: Value, y: Value) -> bool:
        if isinstance(x, Histogram) or isinstance(y, Histogram):
            return x == y
        from promfuzz.model import float_bits

        return float_bits(x) == float_bits(y) or (x == y)

    sa, sb = by_labels(a), by_labels(b)
    out: list[str] = []
    for k in sorted(set(sa) - set(sb))[:limit]:
        out.append(f"{labels_str(k)}: only the primary holds this series ({len(sa[k])} samples)")
    for k in sorted(set(sb) - set(sa))[:limit]:
        out.append(f"{labels_str(k)}: only the secondary holds this series ({len(sb[k])} samples)")
    for k in sorted(set(sa) & set(sb)):
        xa, xb = sa[k], sb[k]
        missing = sorted(set(xa) - set(xb))
        extra = sorted(set(xb) - set(xa))
        changed = sorted(t for t in set(xa) & set(xb) if not same(xa[t], xb[t]))
        if missing:
            out.append(f"{labels_str(k)}: {len(missing)} samples missing on the secondary (t={missing[:3]})")
        if extra:
            out.append(f"{labels_str(k)}: {len(extra)} samples only on the secondary (t={extra[:3]})")
        if changed:
            t = changed[0]
            out.append(f"{labels_str(k)}: {len(changed)} samples differ (t={t}: primary {xa[t]!r}, "
                       f"secondary {xb[t]!r})")
        if len(out) >= limit:
            break
    return out[:limit]


def likely_reason(diffs: Iterable[str], received_ms: int, window_ms: int) -> str:
    """A data difference's likely cause, in words."""
    d = list(diffs)
    text = " ".join(d)
    if "missing on the secondary" in text or "only the primary" in text:
        return ("the secondary lacks samples the primary holds: ingestion lag (samples newer than "
                f"{window_ms // 1000}s before the request are ignored, older ones should have arrived), a "
                "dropped or rejected sample (out of order, too old, limits), or a series outside its shard")
    if "only on the secondary" in text or "only the secondary" in text:
        return "the secondary holds samples the primary lacks: the primary dropped them, or different sources"
    return "the backends hold different values for the same samples: a different source, a rewrite, or corruption"


def api_time(ms: int) -> str:
    return ms_to_api_time(ms)
