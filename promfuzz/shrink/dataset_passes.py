"""Dataset passes: each proposes smaller datasets for a case, keeping query and evaluation.

Every pass is a pure function ``(case) -> Iterator[Case]``; every proposed dataset is
valid (built through :meth:`Dataset.build`: no duplicate series, sorted samples, no
negative timestamps) and series left without samples are dropped. Order: what removes
most first -- series the query cannot select, then halves of the series, then quarters,
down to single series; the same for samples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace

from promfuzz.errors import DatasetError, PromQLSyntaxError
from promfuzz.model import Case, Dataset, Histogram, Labels, Sample, Series, Value
from promfuzz.promql.ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    DurationExpr,
    Expr,
    LabelMatcher,
    MatrixSelector,
    Node,
    StringLiteral,
    SubqueryExpr,
    VectorSelector,
    walk,
)
from promfuzz.promql.parser import parse
from promfuzz.shrink.size import strictly_smaller, value_cost

DatasetPass = Callable[[Case], Iterator[Case]]

LOOKBACK_MS = 5 * 60_000
MINUTE_MS = 60_000


def _without(case: Case, series: Iterable[Series]) -> Case:
    """``case`` with only some of its series and samples (order and validity kept)."""
    return Case(Dataset(tuple(s for s in series if s.samples)), case.query, case.params)


def _with(case: Case, series: Iterable[Series]) -> Case | None:
    kept = [s for s in series if s.samples]
    try:
        ds = Dataset.build((s.labels, ((x.t, x.v) for x in s.samples)) for s in kept)
    except DatasetError:
        return None
    return Case(ds, case.query, case.params)


def _distinct(case: Case, cands: Iterable[Case | None]) -> Iterator[Case]:
    seen = {case.dataset.fingerprint()}
    for c in cands:
        if c is None:
            continue
        fp = c.dataset.fingerprint()
        if fp in seen:
            continue
        seen.add(fp)
        yield c


def chunks(n: int, min_size: int = 1) -> Iterator[tuple[int, int]]:
    """Index ranges ``[i, j)`` of sizes n/2, n/4, ..., ``min_size``: halves first, then smaller."""
    k = n // 2 if n > 1 else 1
    while k >= min_size and k >= 1:
        for i in range(0, n, k):
            yield i, min(n, i + k)
        if k == 1:
            break
        k //= 2


def _tree(case: Case) -> Expr | None:
    try:
        return parse(case.query)
    except PromQLSyntaxError:
        return None


# --------------------------------------------------------------------------- series


def _matches(m: LabelMatcher, value: str) -> bool:
    if m.op == "=":
        return value == m.value
    if m.op == "!=":
        return value != m.value
    try:
        hit = re.fullmatch(m.value, value, re.DOTALL) is not None
    except re.error:
        return True
    return hit if m.op == "=~" else not hit


def selector_matches(vs: VectorSelector, labels: Labels) -> bool:
    """Whether a selector selects a series (regexes with Python's ``re``, anchored)."""
    d = dict(labels)
    if vs.name is not None and d.get("__name__", "") != vs.name:
        return False
    return all(_matches(m, d.get(m.name, "")) for m in vs.matchers)


@strictly_smaller
def drop_unselected_series(case: Case) -> Iterator[Case]:
    """Drop every series no selector of the query selects (``info()`` also reads ``*_info``)."""
    tree = _tree(case)
    if tree is None:
        return
    sels = [n for n, _ in walk(tree) if isinstance(n, VectorSelector)]
    uses_info = any(isinstance(n, Call) and n.func == "info" for n, _ in walk(tree))

    def wanted(s: Series) -> bool:
        if uses_info and s.name.endswith("_info"):
            return True
        return any(selector_matches(v, s.labels) for v in sels)

    kept = [s for s in case.dataset.series if wanted(s)]
    if len(kept) < len(case.dataset.series):
        yield _without(case, kept)


@strictly_smaller
def drop_series(case: Case) -> Iterator[Case]:
    """Drop series: halves first, then quarters, ... then one by one."""
    ss = case.dataset.series

    for i, j in chunks(len(ss)):
        if j - i < len(ss):
            yield _without(case, ss[:i] + ss[j:])


# --------------------------------------------------------------------------- samples


def _dur(d: int | DurationExpr | None, fallback: int) -> int | None:
    if d is None:
        return fallback
    if isinstance(d, DurationExpr):
        return None
    return d


def visible_window(tree: Node, lo: int, hi: int) -> tuple[int, int] | None:
    """The time span of samples the query can read when evaluated over ``[lo, hi]``
    (None when it cannot tell: duration expressions)."""
    spans: list[tuple[int, int]] = []
    extra = (
        LOOKBACK_MS
        if any(isinstance(n, VectorSelector) and (n.anchored or n.smoothed) for n, _ in walk(tree))
        else 0
    )

    def pin(at: object, a: int, b: int) -> tuple[int, int]:
        if isinstance(at, int):
            return at, at
        if at == "start":
            return lo, lo
        if at == "end":
            return hi, hi
        return a, b

    def visit(n: Node, a: int, b: int) -> bool:
        if isinstance(n, MatrixSelector):
            r, off = _dur(n.range, 0), _dur(n.selector.offset, 0)
            if r is None or off is None:
                return False
            a2, b2 = pin(n.selector.at, a, b)
            spans.append((a2 - off - r - extra, b2 - off))
            return True
        if isinstance(n, VectorSelector):
            off = _dur(n.offset, 0)
            if off is None:
                return False
            a2, b2 = pin(n.at, a, b)
            spans.append((a2 - off - LOOKBACK_MS - extra, b2 - off))
            return True
        if isinstance(n, SubqueryExpr):
            r, off = _dur(n.range, 0), _dur(n.offset, 0)
            if r is None or off is None:
                return False
            a2, b2 = pin(n.at, a, b)
            return visit(n.expr, a2 - off - r, b2 - off)
        from promfuzz.promql.ast import children

        return all(visit(c, a, b) for c in children(n))

    if not visit(tree, lo, hi):
        return None
    if not spans:
        return (lo, lo)
    return min(s[0] for s in spans), max(s[1] for s in spans)


def _eval_span(case: Case) -> tuple[int, int]:
    p = case.params
    return (p.start_ms, p.end_ms) if p.is_range else (p.time_ms, p.time_ms)


@strictly_smaller
def cut_time_range(case: Case) -> Iterator[Case]:
    """Drop samples the query cannot see; then cut the data's time span from either end
    (halves of the distinct timestamps first)."""
    ss = case.dataset.series
    tree = _tree(case)
    cands: list[Case | None] = []
    if tree is not None:
        lo, hi = _eval_span(case)
        win = visible_window(tree, lo, hi)
        if win is not None:
            a, b = win
            cands.append(
                _without(case, [Series(s.labels, tuple(x for x in s.samples if a <= x.t <= b)) for s in ss])
            )
    yield from _distinct(case, cands)
    times = sorted({x.t for s in ss for x in s.samples})

    for i, j in chunks(len(times)):
        if j - i >= len(times):
            continue
        a, b = times[i], times[j - 1]
        yield _without(
            case,
            [
                s
                if not any(a <= x.t <= b for x in s.samples)
                else Series(s.labels, tuple(x for x in s.samples if not a <= x.t <= b))
                for s in ss
            ],
        )


@strictly_smaller
def drop_samples(case: Case) -> Iterator[Case]:
    """Per series, drop runs of samples: halves first, down to single samples."""
    ss = case.dataset.series

    for k, s in enumerate(ss):
        for i, j in chunks(len(s.samples)):
            if j - i >= len(s.samples):
                continue
            new = Series(s.labels, s.samples[:i] + s.samples[j:])
            yield _without(case, ss[:k] + (new,) + ss[k + 1 :])


def _round_series(s: Series, fn: Callable[[int], int]) -> Series:
    out: dict[int, Sample] = {}
    for x in s.samples:
        t = fn(x.t)
        if t >= 0 and t not in out:
            out[t] = Sample(t, x.v)
    return Series(s.labels, tuple(out[t] for t in sorted(out)))


@strictly_smaller
def round_sample_times(case: Case) -> Iterator[Case]:
    """Sample timestamps to whole minutes (down, then nearest), then whole seconds: every
    series at once, then one series at a time (a sample landing on a taken time is dropped)."""
    ss = case.dataset.series
    grids: list[Callable[[int], int]] = [
        lambda t: t // MINUTE_MS * MINUTE_MS,
        lambda t: (t + MINUTE_MS // 2) // MINUTE_MS * MINUTE_MS,
        lambda t: t // 1000 * 1000,
        lambda t: (t + 500) // 1000 * 1000,
    ]

    def gen() -> Iterator[Case | None]:
        for fn in grids:
            yield _with(case, [_round_series(s, fn) for s in ss])
        if len(ss) > 1:
            for fn in grids:
                for k, s in enumerate(ss):
                    yield _with(case, ss[:k] + (_round_series(s, fn),) + ss[k + 1 :])

    yield from _distinct(case, gen())


# --------------------------------------------------------------------------- values


def _simplify_float(v: float) -> list[float]:
    out = [0.0, 1.0]
    if math.isfinite(v) and abs(v) < 1e15:
        out += [float(round(v)), float(math.trunc(v))]
        try:
            out.append(float(f"{v:.2g}"))
        except (ValueError, OverflowError):
            pass
    return [x for x in dict.fromkeys(out) if value_cost(x) < value_cost(v)]


def _hist_count(h: Histogram) -> float:
    return h.zero_count + sum(h.positive_buckets) + sum(h.negative_buckets)


def _consistent(h: Histogram) -> bool:
    return math.isfinite(h.count) and abs(_hist_count(h) - h.count) <= 1e-9 * max(1.0, abs(h.count))


def simpler_histograms(h: Histogram) -> list[Histogram]:
    """Histograms like ``h`` with fewer buckets or simpler numbers (count kept consistent)."""
    out: list[Histogram] = []
    consistent = _consistent(h)

    def fix(x: Histogram) -> Histogram:
        return replace(x, count=_hist_count(x)) if consistent else x

    if h.negative_buckets:
        out.append(fix(replace(h, negative_spans=(), negative_buckets=())))
    if h.positive_buckets and not h.custom_values:
        out.append(fix(replace(h, positive_spans=(), positive_buckets=())))
        if len(h.positive_buckets) > 1:
            out.append(
                fix(
                    replace(
                        h,
                        positive_spans=((h.positive_spans[0][0], 1),),
                        positive_buckets=h.positive_buckets[:1],
                    )
                )
            )
    if h.zero_count:
        out.append(fix(replace(h, zero_count=0.0)))
    if h.zero_threshold and not h.zero_count:
        out.append(replace(h, zero_threshold=0.0))
    # round() raises on NaN and infinities: check finiteness first.
    if math.isfinite(h.sum) and h.sum != round(h.sum):
        out.append(replace(h, sum=float(round(h.sum))))
    if all(math.isfinite(b) for b in h.positive_buckets):
        rounded = tuple(float(round(b)) for b in h.positive_buckets)
        if rounded != h.positive_buckets:
            out.append(fix(replace(h, positive_buckets=rounded)))
    if h.counter_reset_hint not in ("unknown", "gauge"):
        out.append(replace(h, counter_reset_hint="unknown"))
    return [x for x in out if x != h]


def _valid_hist(new: Histogram, old: Histogram) -> bool:
    """``new`` breaks no rule ``old`` kept (a case read from a file may hold odd histograms)."""
    from promfuzz.generators.datasets import histogram_problems

    return len(histogram_problems(new)) <= len(histogram_problems(old))


@strictly_smaller
def simplify_values(case: Case) -> Iterator[Case]:
    """Per series: every value 0, 1, 0,1,2,... (a counter), or rounded; histograms simpler.
    Then (for small datasets) per sample."""
    ss = case.dataset.series

    def series_with(k: int, values: Sequence[Value]) -> Case | None:
        s = ss[k]
        new = Series(s.labels, tuple(Sample(x.t, v) for x, v in zip(s.samples, values, strict=True)))
        return _with(case, ss[:k] + (new,) + ss[k + 1 :])

    def gen() -> Iterator[Case | None]:
        for k, s in enumerate(ss):
            vals = [x.v for x in s.samples]
            if all(isinstance(v, float) for v in vals):
                fl: list[float] = vals  # type: ignore[assignment]
                for cand in (
                    [0.0] * len(fl),
                    [1.0] * len(fl),
                    [float(i) for i in range(len(fl))],
                    [float(round(v)) if math.isfinite(v) else v for v in fl],
                ):
                    if sum(map(value_cost, cand)) < sum(map(value_cost, fl)):
                        yield series_with(k, cand)
            elif all(isinstance(v, Histogram) for v in vals):
                hs: list[Histogram] = vals  # type: ignore[assignment]
                # the same simplification on every histogram of the series
                for idx in range(8):
                    new: list[Value] = []
                    changed = False
                    for h in hs:
                        opts = simpler_histograms(h)
                        if idx < len(opts) and _valid_hist(opts[idx], h):
                            new.append(opts[idx])
                            changed = True
                        else:
                            new.append(h)
                    if changed:
                        yield series_with(k, new)
        if case.dataset.sample_count <= 200:
            for k, s in enumerate(ss):
                for i, x in enumerate(s.samples):
                    if isinstance(x.v, Histogram):
                        opts_h: list[Value] = [h for h in simpler_histograms(x.v) if _valid_hist(h, x.v)]
                    else:
                        opts_h = list(_simplify_float(x.v))
                    for v in opts_h:
                        vals2 = [y.v for y in s.samples]
                        vals2[i] = v
                        yield series_with(k, vals2)

    yield from _distinct(case, gen())


# --------------------------------------------------------------------------- labels


def referenced_labels(tree: Node) -> set[str]:
    """Label names the query names anywhere (matchers, grouping, matching, string arguments)."""
    out = {"__name__"}
    for n, _ in walk(tree):
        if isinstance(n, VectorSelector):
            out.update(m.name for m in n.matchers)
        elif isinstance(n, AggregateExpr) and n.grouping:
            out.update(n.grouping)
        elif isinstance(n, BinaryExpr) and n.matching is not None:
            out.update(n.matching.labels)
            out.update(n.matching.include)
        elif isinstance(n, StringLiteral):
            out.add(n.value)
    return out


def _without_labels(case: Case, names: set[str], only: int | None = None) -> Case | None:
    ss = case.dataset.series
    new = [
        Series(tuple((k, v) for k, v in s.labels if k not in names), s.samples)
        if only is None or i == only
        else s
        for i, s in enumerate(ss)
    ]
    return _with(case, new)


@strictly_smaller
def drop_labels(case: Case) -> Iterator[Case]:
    """Remove label names the query does not reference (all at once, then one by one, from
    every series), then any label but the metric name one name at a time, then per series."""
    ss = case.dataset.series
    tree = _tree(case)
    names = sorted({k for s in ss for k, _ in s.labels} - {"__name__"})
    ref = referenced_labels(tree) if tree is not None else set(names)

    def gen() -> Iterator[Case | None]:
        unref = {n for n in names if n not in ref}
        if unref:
            yield _without_labels(case, unref)
        for n in names:
            yield _without_labels(case, {n})
        for i, s in enumerate(ss):
            for k, _ in s.labels:
                if k != "__name__":
                    yield _without_labels(case, {k}, only=i)

    yield from _distinct(case, gen())


DATASET_PASSES: tuple[DatasetPass, ...] = (
    drop_unselected_series,
    drop_series,
    cut_time_range,
    drop_samples,
    drop_labels,
    round_sample_times,
    simplify_values,
)
"""The dataset passes in the order the orchestrator runs them."""
