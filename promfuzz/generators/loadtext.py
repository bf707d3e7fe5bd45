"""A minimal promqltest ``load`` writer, for showing generated cases to people.

The full promqltest reader/writer lives in :mod:`promfuzz.corpus.promqltest`; this one
only writes: one ``load <interval>`` block where the interval is the greatest common
divisor of all timestamps, ``_xN`` for gaps, ``stale`` for stale markers and native
histograms as ``{{schema:.. sum:.. count:.. buckets:[..] offset:..}}`` (spans are
flattened into one span padded with zero buckets, which is how promqltest reads them).
"""

from __future__ import annotations

import math
from functools import reduce

from promfuzz.model import Dataset, Histogram, is_stale, labels_str


def format_duration_ms(ms: int) -> str:
    """A Prometheus duration for ``ms`` milliseconds (``1h``, ``90s``, ``1500ms``, ``0s``)."""
    if ms == 0:
        return "0s"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _num(x: float) -> str:
    if is_stale(x):
        return "stale"
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == int(x) and abs(x) < 1e15:
        return ("-" if math.copysign(1, x) < 0 else "") + str(abs(int(x)))
    return repr(x)


def _flatten(spans: tuple[tuple[int, int], ...], buckets: tuple[float, ...]) -> tuple[int, list[float]]:
    """One (offset, buckets) run covering all spans, zero-filled between them."""
    out: list[float] = []
    first = 0
    idx = 0
    pos = 0
    for n, (off, length) in enumerate(spans):
        if n == 0:
            idx = off
            first = off
        else:
            out.extend([0.0] * off)
            idx += off
        out.extend(buckets[pos : pos + length])
        pos += length
        idx += length
    return first, out


def format_histogram(h: Histogram) -> str:
    parts = [f"schema:{h.schema}", f"sum:{_num(h.sum)}", f"count:{_num(h.count)}"]
    if h.zero_threshold:
        parts.append(f"z_bucket_w:{_num(h.zero_threshold)}")
    if h.zero_count:
        parts.append(f"z_bucket:{_num(h.zero_count)}")
    if h.positive_buckets:
        off, bs = _flatten(h.positive_spans, h.positive_buckets)
        parts.append(f"buckets:[{' '.join(_num(b) for b in bs)}]")
        if off:
            parts.append(f"offset:{off}")
    if h.negative_buckets:
        off, bs = _flatten(h.negative_spans, h.negative_buckets)
        parts.append(f"n_buckets:[{' '.join(_num(b) for b in bs)}]")
        if off:
            parts.append(f"n_offset:{off}")
    if h.custom_values:
        parts.append(f"custom_values:[{' '.join(_num(b) for b in h.custom_values)}]")
    if h.counter_reset_hint != "unknown":
        parts.append(f"counter_reset_hint:{h.counter_reset_hint}")
    return "{{" + " ".join(parts) + "}}"


def load_interval(ds: Dataset) -> int:
    """The greatest common divisor of all timestamps (at least 1 ms)."""
    ts = {x.t for s in ds.series for x in s.samples}
    g = reduce(math.gcd, ts, 0)
    return g or 60_000


def format_load(ds: Dataset) -> str:
    """The dataset as one promqltest ``load`` block (ends with a newline)."""
    interval = load_interval(ds)
    lines = [f"load {format_duration_ms(interval)}"]
    for s in ds.series:
        items: list[str] = []
        slot = 0
        for x in s.samples:
            k = x.t // interval
            gap = k - slot
            if gap == 1:
                items.append("_")
            elif gap > 1:
                items.append(f"_x{gap}")
            items.append(format_histogram(x.v) if isinstance(x.v, Histogram) else _num(x.v))
            slot = k + 1
        lines.append(f"  {labels_str(s.labels)} {' '.join(items)}")
    return "\n".join(lines) + "\n"
