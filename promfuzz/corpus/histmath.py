"""Native-histogram arithmetic that promqltest needs, on :class:`promfuzz.model.Histogram`.

Written after Prometheus's ``model/histogram/float_histogram.go`` (v0.316.0):

* :func:`add` / :func:`sub` -- ``FloatHistogram.Add``/``Sub`` as the series-description
  forms ``{{a}}+{{b}}xN`` and ``{{a}}-{{b}}xN`` use them: counter-reset hint reconciliation,
  zero-bucket reconciliation, schema reduction of the finer side, custom-bucket bound
  intersection.
* :func:`compact` -- ``Compact(maxEmptyBuckets)``.
* :func:`classic_to_nhcb` -- ``util/convertnhcb`` (``load_with_nhcb``).
* :func:`bucket_map` / :func:`semantic_equal` -- the comparison promqltest makes after
  ``Compact(0)``: same schema, zero threshold, custom bounds, and the same non-empty
  buckets at the same indices.
* :func:`api_buckets` -- the ``[boundary, lower, upper, count]`` buckets the HTTP API shows.

Bucket layouts after an addition are rebuilt from the union of bucket indices (adjacent
buckets share a span); Prometheus's in-place algorithm can leave adjacent spans with offset
0 instead. Both describe the same buckets, and the TSDB re-lays spans out on append anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from promfuzz.model import Bucket, CounterResetHint, Histogram, Span

CUSTOM_BUCKETS_SCHEMA = -53


class HistogramError(ValueError):
    """An operation Prometheus would refuse (mixed schemas, bad layout...)."""


def uses_custom_buckets(h: Histogram) -> bool:
    return h.schema == CUSTOM_BUCKETS_SCHEMA


# ----------------------------------------------------------------------------- layout


def indexed(spans: Sequence[Span], buckets: Sequence[float]) -> list[tuple[int, float]]:
    """(absolute bucket index, count) pairs in layout order (empty buckets included)."""
    out: list[tuple[int, float]] = []
    idx = 0
    b = 0
    for offset, length in spans:
        idx += offset
        for _ in range(length):
            if b >= len(buckets):
                raise HistogramError("spans describe more buckets than given")
            out.append((idx, buckets[b]))
            idx += 1
            b += 1
    if b != len(buckets):
        raise HistogramError(f"spans describe {b} buckets but {len(buckets)} are given")
    return out


def layout(items: Iterable[tuple[int, float]]) -> tuple[tuple[Span, ...], tuple[float, ...]]:
    """Spans and buckets for sorted, unique (index, count) pairs: adjacent indices share a span."""
    spans: list[list[int]] = []
    buckets: list[float] = []
    last: int | None = None
    for idx, v in items:
        if last is not None and idx == last + 1:
            spans[-1][1] += 1
        else:
            spans.append([idx if last is None else idx - last - 1, 1])
        buckets.append(v)
        last = idx
    return tuple((a, b) for a, b in spans), tuple(buckets)


def bucket_map(spans: Sequence[Span], buckets: Sequence[float]) -> dict[int, float]:
    """Non-empty buckets by index (what survives ``Compact(0)``)."""
    return {i: v for i, v in indexed(spans, buckets) if v != 0}


def compact(h: Histogram, max_empty: int = 0) -> Histogram:
    """``Compact(maxEmptyBuckets)``: drop empty buckets at span edges and runs of more than
    ``max_empty`` empty buckets; merge spans whose gap is at most ``max_empty``."""

    def one(spans: Sequence[Span], buckets: Sequence[float]) -> tuple[tuple[Span, ...], tuple[float, ...]]:
        items = [(i, v) for i, v in indexed(spans, buckets)]
        nonempty = [i for i, v in items if v != 0]
        if not nonempty:
            return (), ()
        values = dict(items)
        keep: list[tuple[int, float]] = []
        prev: int | None = None
        for i in nonempty:
            if prev is not None and 0 < i - prev - 1 <= max_empty:
                for j in range(prev + 1, i):
                    keep.append((j, values.get(j, 0.0)))
            keep.append((i, values[i]))
            prev = i
        return layout(keep)

    ps, pb = one(h.positive_spans, h.positive_buckets)
    ns, nb = one(h.negative_spans, h.negative_buckets)
    return replace(h, positive_spans=ps, positive_buckets=pb, negative_spans=ns, negative_buckets=nb)


# ----------------------------------------------------------------------------- bounds


def exponential_bound(idx: int, schema: int) -> float:
    """Upper bound of exponential bucket ``idx`` (``getBoundExponential``)."""
    if schema <= 0:
        exp = idx << -schema
        if exp > 1024:
            return math.inf
        if exp < -1074:
            return 0.0
        return math.ldexp(1.0, exp)
    try:
        return float(2.0 ** (idx / (1 << schema)))
    except OverflowError:
        return math.inf


def _bucket_bounds(h: Histogram, idx: int, positive: bool) -> tuple[float, float]:
    if uses_custom_buckets(h):
        cv = h.custom_values
        lower = -math.inf if idx == 0 else (cv[idx - 1] if idx - 1 < len(cv) else math.inf)
        upper = cv[idx] if idx < len(cv) else math.inf
        return lower, upper
    lo = exponential_bound(idx - 1, h.schema)
    up = exponential_bound(idx, h.schema)
    return (lo, up) if positive else (-up, -lo)


def api_buckets(h: Histogram) -> tuple[Bucket, ...]:
    """The non-empty buckets as the HTTP API lists them (negative, zero, positive)."""
    out: list[Bucket] = []
    if not uses_custom_buckets(h):
        for idx, v in reversed(indexed(h.negative_spans, h.negative_buckets)):
            if v != 0:
                lo, up = _bucket_bounds(h, idx, False)
                out.append(Bucket(1, lo, up, v))
        if h.zero_count != 0:
            out.append(Bucket(3, -h.zero_threshold, h.zero_threshold, h.zero_count))
    for idx, v in indexed(h.positive_spans, h.positive_buckets):
        if v != 0:
            lo, up = _bucket_bounds(h, idx, True)
            out.append(Bucket(0, lo, up, v))
    return tuple(out)


# ----------------------------------------------------------------------------- add / sub


def _adjust_hint(a: CounterResetHint, b: CounterResetHint) -> CounterResetHint:
    if a == b or a == "gauge":
        return a
    if b == "gauge":
        return "gauge"
    return "unknown"


def _reduce(items: list[tuple[int, float]], origin: int, target: int) -> list[tuple[int, float]]:
    if origin <= target:
        return items
    out: dict[int, float] = {}
    for idx, v in items:
        t = ((idx - 1) >> (origin - target)) + 1
        out[t] = out.get(t, 0.0) + v
    return sorted(out.items())


def _zero_count_for_larger_threshold(h: Histogram, larger: float) -> tuple[float, float]:
    if larger == h.zero_threshold:
        return h.zero_count, larger
    while True:
        zc = h.zero_count
        for idx, v in indexed(h.positive_spans, h.positive_buckets):
            lo, up = _bucket_bounds(h, idx, True)
            if lo >= larger:
                break
            zc += v
            if up > larger:
                if v != 0:
                    larger = up
                break
        restart = False
        for idx, v in indexed(h.negative_spans, h.negative_buckets):
            lo, up = _bucket_bounds(h, idx, False)
            if up <= -larger:
                break
            zc += v
            if lo < -larger:
                if v != 0:
                    larger = -lo
                    restart = True
                break
        if not restart:
            return zc, larger


def _trim_in_zero_bucket(h: Histogram) -> Histogram:
    def trim(spans: Sequence[Span], buckets: Sequence[float], positive: bool) -> list[tuple[int, float]]:
        out = []
        for idx, v in indexed(spans, buckets):
            lo, up = _bucket_bounds(h, idx, positive)
            inside = lo < h.zero_threshold if positive else up > -h.zero_threshold
            out.append((idx, 0.0 if inside else v))
        return out

    ps, pb = layout(trim(h.positive_spans, h.positive_buckets, True))
    ns, nb = layout(trim(h.negative_spans, h.negative_buckets, False))
    return compact(
        replace(h, positive_spans=ps, positive_buckets=pb, negative_spans=ns, negative_buckets=nb), 0
    )


def _add_items(
    a: list[tuple[int, float]], b: list[tuple[int, float]], schema: int, threshold: float, negate: bool
) -> list[tuple[int, float]]:
    out = dict(a)
    lower_than_threshold = True
    for idx, v in b:
        if (
            lower_than_threshold
            and schema != CUSTOM_BUCKETS_SCHEMA
            and exponential_bound(idx, schema) <= threshold
        ):
            continue
        lower_than_threshold = False
        out[idx] = out.get(idx, 0.0) + (-v if negate else v)
    return sorted(out.items())


def _combine(h: Histogram, other: Histogram, negate: bool) -> Histogram:
    if uses_custom_buckets(h) != uses_custom_buckets(other):
        raise HistogramError(
            "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas"
        )
    sign = -1.0 if negate else 1.0
    hint = _adjust_hint(h.counter_reset_hint, other.counter_reset_hint)
    if uses_custom_buckets(h):
        a = indexed(h.positive_spans, h.positive_buckets)
        b = indexed(other.positive_spans, other.positive_buckets)
        if list(h.custom_values) == list(other.custom_values):
            ps, pb = layout(_add_items(a, b, h.schema, h.zero_threshold, negate))
            cv = h.custom_values
        else:
            cv = tuple(sorted(set(h.custom_values) & set(other.custom_values)))
            target = [0.0] * (len(cv) + 1)

            def map_into(items: list[tuple[int, float]], bounds: Sequence[float], s: float) -> None:
                for idx, v in items:
                    t = len(target) - 1
                    if idx < len(bounds):
                        for k, bound in enumerate(cv):
                            if bound >= bounds[idx]:
                                t = k
                                break
                    target[t] += s * v

            map_into(a, h.custom_values, 1.0)
            map_into(b, other.custom_values, sign)
            ps, pb = layout((i, v) for i, v in enumerate(target) if v != 0)
        return replace(
            h,
            count=h.count + sign * other.count,
            sum=h.sum + sign * other.sum,
            positive_spans=ps,
            positive_buckets=pb,
            custom_values=cv,
            counter_reset_hint=hint,
        )

    # Zero buckets: widen the narrower one until both thresholds agree.
    other_zc, other_zt = other.zero_count, other.zero_threshold
    while other_zt != h.zero_threshold:
        if h.zero_threshold > other_zt:
            other_zc, other_zt = _zero_count_for_larger_threshold(other, h.zero_threshold)
        if other_zt > h.zero_threshold:
            zc, zt = _zero_count_for_larger_threshold(h, other_zt)
            h = _trim_in_zero_bucket(replace(h, zero_count=zc, zero_threshold=zt))
    hp = indexed(h.positive_spans, h.positive_buckets)
    hn = indexed(h.negative_spans, h.negative_buckets)
    op = indexed(other.positive_spans, other.positive_buckets)
    on = indexed(other.negative_spans, other.negative_buckets)
    schema = h.schema
    if other.schema < h.schema:
        hp, hn = _reduce(hp, h.schema, other.schema), _reduce(hn, h.schema, other.schema)
        schema = other.schema
    elif other.schema > h.schema:
        op, on = _reduce(op, other.schema, h.schema), _reduce(on, other.schema, h.schema)
    ps, pb = layout(_add_items(hp, op, schema, h.zero_threshold, negate))
    ns, nb = layout(_add_items(hn, on, schema, h.zero_threshold, negate))
    return replace(
        h,
        schema=schema,
        zero_count=h.zero_count + sign * other_zc,
        count=h.count + sign * other.count,
        sum=h.sum + sign * other.sum,
        positive_spans=ps,
        positive_buckets=pb,
        negative_spans=ns,
        negative_buckets=nb,
        counter_reset_hint=hint,
    )


def add(h: Histogram, other: Histogram) -> Histogram:
    return _combine(h, other, False)


def sub(h: Histogram, other: Histogram) -> Histogram:
    return _combine(h, other, True)


# ----------------------------------------------------------------------------- comparison


def semantic_equal(
    exp: Histogram,
    got: Histogram,
    close: Callable[[float, float], bool],
    check_hint: bool,
) -> bool:
    """promqltest's ``compareNativeHistogram`` on the ``Compact(0)`` forms."""
    if exp.schema != got.schema or not close(exp.count, got.count) or not close(exp.sum, got.sum):
        return False
    if uses_custom_buckets(exp) and list(exp.custom_values) != list(got.custom_values):
        return False
    if exp.zero_threshold != got.zero_threshold or not close(exp.zero_count, got.zero_count):
        return False
    for es, eb, gs, gb in (
        (exp.negative_spans, exp.negative_buckets, got.negative_spans, got.negative_buckets),
        (exp.positive_spans, exp.positive_buckets, got.positive_spans, got.positive_buckets),
    ):
        em, gm = bucket_map(es, eb), bucket_map(gs, gb)
        if em.keys() != gm.keys():
            return False
        if not all(close(em[i], gm[i]) for i in em):
            return False
    return not (check_hint and exp.counter_reset_hint != got.counter_reset_hint)


# ----------------------------------------------------------------------------- NHCB


def classic_to_nhcb(buckets: Sequence[tuple[float, float]], count: float | None, total: float) -> Histogram:
    """``convertnhcb.TempHistogram``: cumulative ``(le, count)`` pairs (in input order),
    optional ``_count`` and the ``_sum`` to a custom-buckets histogram. Raises
    :class:`HistogramError` where convertnhcb returns an error."""
    tb: list[tuple[float, float]] = []
    for le, c in buckets:
        if math.isnan(le):
            raise HistogramError("bucket boundary must not be NaN")
        if c < 0:
            raise HistogramError(f"bucket count must be non-negative: le={le:g}, count={c:g}")
        if not tb or tb[-1][0] < le:
            if tb and c < tb[-1][1]:
                raise HistogramError(f"count is not cumulative: {c:g} < {tb[-1][1]:g}")
            tb.append((le, c))
        elif tb[-1][0] == le:
            continue
        else:
            i = next(k for k, b in enumerate(tb) if b[0] >= le)
            if tb[i][0] == le:
                continue
            if i > 0 and c < tb[i - 1][1]:
                raise HistogramError(f"count is not cumulative: {c:g} < {tb[i - 1][1]:g}")
            if c > tb[i][1]:
                raise HistogramError(f"count is not cumulative: {c:g} > {tb[i][1]:g}")
            tb.insert(i, (le, c))
    if count is not None and count < 0:
        raise HistogramError(f"count must be non-negative: count={count:g}")
    if count is None:
        if not tb:
            raise HistogramError("count must be provided when no buckets are present")
        count = tb[-1][1]
    if not tb or tb[-1][0] != math.inf:
        tb.append((math.inf, count))
    integral = all(b[1] == round(b[1]) for b in tb if not math.isinf(b[1]) and not math.isnan(b[1]))
    integral = integral and all(not (math.isinf(b[1]) or math.isnan(b[1])) for b in tb)
    integral = (
        integral and not (math.isinf(count) or math.isnan(count)) and count == round(count) and count >= 0
    )
    if integral:
        if int(count) != int(tb[-1][1]):
            raise HistogramError(
                f"count mismatch: count={int(count)} != le={tb[-1][0]:g} count={tb[-1][1]:g}"
            )
    elif count != tb[-1][1]:
        raise HistogramError(f"count mismatch: count={count:g} != le={tb[-1][0]:g} count={tb[-1][1]:g}")
    absolute = []
    prev = 0.0
    for _, c in tb:
        absolute.append(c - prev)
        prev = c
    h = Histogram(
        schema=CUSTOM_BUCKETS_SCHEMA,
        count=float(count),
        sum=total,
        positive_spans=((0, len(tb)),),
        positive_buckets=tuple(absolute),
        custom_values=tuple(b[0] for b in tb[:-1]),
    )
    h = compact(h, 2 if integral else 0)
    for v in h.positive_buckets:
        if v < 0:
            raise HistogramError("invalid histogram: negative bucket count")
    return h
