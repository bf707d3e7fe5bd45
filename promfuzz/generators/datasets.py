"""Random datasets shaped to make PromQL engines disagree.

:func:`generate_dataset` builds a :class:`~promfuzz.model.Dataset` from a
:class:`~promfuzz.generators.choices.Choices` and a :class:`DatasetConfig`:

* metric *families* (counters, gauges, classic histograms ``_bucket``/``_count``/``_sum``
  with ``le`` up to ``+Inf``, native histograms with exponential schemas -4..8 or custom
  buckets (schema -53), gauge histograms, series mixing floats and histograms, info
  metrics), named with and without the usual suffixes, rarely with UTF-8 names;
* label sets drawn from one small shared pool of names and values, so joins match,
  collide and become many-to-many, and series collide after ``without`` or
  ``label_replace`` (values such as ``a:1``/``a:2``);
* samples at regular or jittered intervals, with gaps longer than the 5m lookback, stale
  markers, NaN, ±Inf, counter resets, constant and tied values, negatives and (rarely)
  magnitudes from 1e-300 to 1e300.

Structural decisions (families, label sets, patterns, where gaps, resets and special
values go) are drawn from ``choices``; per-sample noise comes from a per-series
:class:`RandomChoices` seeded by one draw, so a Hypothesis- or atheris-driven dataset
costs a few hundred draws, not one per sample. All timestamps are >= 0 (t starts at 0,
as in promqltest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from promfuzz.generators.choices import TIE_VALUES, Choices, RandomChoices
from promfuzz.model import CounterResetHint, Dataset, Histogram, Labels, Value, make_labels, stale_nan

FamilyKind = Literal[
    "counter", "gauge", "classic_histogram", "native_histogram", "gauge_histogram", "nhcb", "mixed", "info"
]

FAMILY_KINDS: tuple[FamilyKind, ...] = (
    "counter",
    "gauge",
    "classic_histogram",
    "native_histogram",
    "gauge_histogram",
    "nhcb",
    "mixed",
    "info",
)

DEFAULT_ZERO_THRESHOLD = 2.938735877055719e-39
"""Prometheus's default zero bucket width (2^-128)."""

MINUTE_MS = 60_000


@dataclass(frozen=True)
class DatasetConfig:
    """Sizes and toggles of a generated dataset. The defaults give a fast case
    (10-30 series over an hour, one sample every 15s-60s)."""

    min_series: int = 10
    max_series: int = 30
    duration_ms: int = 60 * MINUTE_MS
    intervals_ms: tuple[int, ...] = (15_000, 30_000, 60_000)
    jitter_p: float = 0.15
    """Share of series whose timestamps are jittered (not on the interval grid)."""
    gap_p: float = 0.2
    """Share of series with a gap longer than the 5m lookback."""
    stale_p: float = 0.2
    """Share of series carrying stale markers."""
    special_p: float = 0.15
    """Share of series with NaN / ±Inf samples."""
    extreme_p: float = 0.03
    """Share of series with huge or tiny magnitudes (1e-300..1e300)."""
    reset_p: float = 0.3
    """Share of counter-like series with a counter reset."""
    partial_p: float = 0.2
    """Share of series that start late or end early."""
    native_histograms: bool = True
    classic_histograms: bool = True
    utf8_p: float = 0.03
    """Share of metric and label names that need quoting (UTF-8, dots, dashes)."""
    max_series_per_family: int = 6
    family_weights: tuple[tuple[FamilyKind, float], ...] = (
        ("counter", 4.0),
        ("gauge", 3.0),
        ("classic_histogram", 1.5),
        ("native_histogram", 1.5),
        ("gauge_histogram", 0.5),
        ("nhcb", 0.7),
        ("mixed", 0.4),
        ("info", 0.6),
    )
    label_names: tuple[str, ...] = ("job", "instance", "env", "code", "method", "pod", "a", "b")
    label_values: tuple[str, ...] = (
        "a",
        "b",
        "c",
        "1",
        "2",
        "prod",
        "dev",
        "a:1",
        "a:2",
        "b:1",
        "0.5",
        "x y",
    )
    utf8_label_names: tuple[str, ...] = ("service.name", "host-name", "ünïcode", "k8s.pod")
    utf8_metric_names: tuple[str, ...] = ("http.server.requests", "latency-seconds", "café_total", "a.b.c")
    base_names: tuple[str, ...] = (
        "http_requests",
        "node_cpu_seconds",
        "process_memory_bytes",
        "queue_length",
        "request_duration_seconds",
        "foo",
        "bar",
        "x",
        "up",
        "errors",
    )

    @staticmethod
    def small() -> DatasetConfig:
        """A tiny dataset (2-6 series, 20 minutes): for Hypothesis strategies and shrinking."""
        return DatasetConfig(min_series=2, max_series=6, duration_ms=20 * MINUTE_MS, max_series_per_family=3)


# --------------------------------------------------------------------------- helpers


def _metric_name(choices: Choices, config: DatasetConfig, kind: FamilyKind) -> str:
    if config.utf8_p > 0 and choices.boolean(config.utf8_p):
        return choices.choice(config.utf8_metric_names)
    base = choices.choice(config.base_names)
    if kind == "counter":
        return base + choices.weighted((("_total", 3.0), ("", 1.0), ("_count", 0.3), ("_sum", 0.3)))
    if kind == "gauge":
        return base + choices.weighted((("", 4.0), ("_total", 0.3), ("_bucket", 0.2)))
    if kind == "info":
        return choices.choice(("target_info", "build_info", base + "_info"))
    if kind in ("native_histogram", "gauge_histogram", "nhcb"):
        return base + choices.weighted((("", 3.0), ("_seconds", 1.0), ("_bucket", 0.2)))
    return base


def _label_sets(
    choices: Choices, config: DatasetConfig, n: int, extra: Sequence[str] = ()
) -> list[dict[str, str]]:
    """``n`` label sets (without ``__name__``) over a shared pool of names and values."""
    names = choices.subset(config.label_names, max_size=3, min_size=1 if n > 1 else 0)
    if config.utf8_p > 0 and choices.boolean(config.utf8_p):
        names.append(choices.choice(config.utf8_label_names))
    names.extend(e for e in extra if e not in names)
    out: list[dict[str, str]] = []
    for _ in range(n):
        d = {}
        for name in names:
            # An occasional empty value: the label is absent for that series.
            d[name] = "" if choices.boolean(0.05) else choices.choice(config.label_values)
        out.append(d)
    return out


@dataclass
class _SeriesPlan:
    """Timestamps and special events for one series (or one classic-histogram group)."""

    times: list[int] = field(default_factory=list)
    stale_after: set[int] = field(default_factory=set)  # indexes followed by a stale marker
    specials: dict[int, float] = field(default_factory=dict)  # index -> NaN / ±Inf
    resets: set[int] = field(default_factory=set)  # indexes where a counter resets
    extreme: bool = False


def _plan(choices: Choices, config: DatasetConfig, base_interval: int) -> _SeriesPlan:
    """Pick the timestamps and events of one series."""
    interval = base_interval if choices.boolean(0.7) else choices.choice(config.intervals_ms)
    n_total = max(1, config.duration_ms // interval + 1)
    first, last = 0, n_total - 1
    if choices.boolean(config.partial_p):
        if choices.boolean():
            first = choices.integer(0, n_total // 2)
        else:
            last = choices.integer(n_total // 2, n_total - 1)
    jitter = interval // 3 if choices.boolean(config.jitter_p) else 0
    gap: tuple[int, int] | None = None
    if choices.boolean(config.gap_p):
        # A gap longer than the 5m lookback (or just a short one, sometimes).
        min_len = max(1, (5 * MINUTE_MS) // interval + choices.integer(0, 1))
        length = choices.integer(min_len if choices.boolean(0.8) else 1, max(min_len, n_total // 3))
        start = choices.integer(first, max(first, last - 1))
        gap = (start, start + length)
    noise = RandomChoices(choices.integer(0, 2**31 - 1))
    plan = _SeriesPlan(extreme=choices.boolean(config.extreme_p))
    prev = -1
    for i in range(first, last + 1):
        if gap is not None and gap[0] <= i < gap[1]:
            continue
        t = i * interval
        if jitter:
            t += noise.integer(-jitter, jitter)
        t = max(t, prev + 1, 0)
        plan.times.append(t)
        prev = t
    if not plan.times:
        plan.times.append(first * interval)
    n = len(plan.times)
    if choices.boolean(config.stale_p):
        for _ in range(choices.integer(1, 2)):
            plan.stale_after.add(choices.integer(0, n - 1))
        if last < n_total - 1 and choices.boolean():
            plan.stale_after.add(n - 1)  # the series ends with a stale marker
    if gap is not None and choices.boolean(0.3):
        # Stale marker right where the gap starts (the scrape target went away).
        idx = sum(1 for t in plan.times if t < gap[0] * interval) - 1
        if idx >= 0:
            plan.stale_after.add(idx)
    if choices.boolean(config.special_p):
        for _ in range(choices.integer(1, 3)):
            plan.specials[choices.integer(0, n - 1)] = choices.choice((math.nan, math.inf, -math.inf))
    if choices.boolean(config.reset_p) and n > 2:
        for _ in range(choices.integer(1, 2)):
            plan.resets.add(choices.integer(1, n - 1))
    return plan


def _with_stale(plan: _SeriesPlan, values: list[Value], interval_hint: int) -> list[tuple[int, Value]]:
    """Pair times and values, inserting stale markers after the planned indexes."""
    out: list[tuple[int, Value]] = []
    times = plan.times
    for i, (t, v) in enumerate(zip(times, values, strict=True)):
        out.append((t, v))
        if i in plan.stale_after:
            nxt = times[i + 1] if i + 1 < len(times) else t + interval_hint
            ts = t + max(1, (nxt - t) // 2)
            if ts < nxt or i + 1 == len(times):
                out.append((ts, stale_nan()))
    return out


# --------------------------------------------------------------------------- float patterns


def _float_values(choices: Choices, kind: str, plan: _SeriesPlan) -> list[float]:
    noise = RandomChoices(choices.integer(0, 2**31 - 1))
    n = len(plan.times)
    out: list[float] = []
    if kind == "counter":
        v = choices.weighted(((0.0, 3.0), (float(choices.integer(1, 10_000)), 1.0), (1e15, 0.1)))
        rate = choices.weighted(
            ((1.0, 2.0), (0.0, 0.5), (choices.floating(0, 100, special=0, extreme=0), 3.0))
        )
        integral = choices.boolean(0.6)
        for i in range(n):
            if i in plan.resets:
                v = choices.weighted(((0.0, 2.0), (v / 2, 1.0), (1.0, 1.0)))
            out.append(v)
            inc = rate * noise.fraction() * 2
            v += float(round(inc)) if integral else inc
    else:
        pattern = choices.weighted(
            (("walk", 3.0), ("constant", 1.5), ("ints", 2.0), ("sine", 1.0), ("random", 1.0), ("info", 0.0))
            if kind != "info"
            else (("info", 1.0),)
        )
        if pattern == "info":
            out = [1.0] * n
        elif pattern == "constant":
            c = choices.choice(TIE_VALUES + (-5.0, 0.1, 1e-3))
            out = [c] * n
        elif pattern == "ints":
            hi = choices.integer(1, 10)
            lo = -hi if choices.boolean(0.3) else 0
            out = [float(noise.integer(lo, hi)) for _ in range(n)]
        elif pattern == "sine":
            amp = choices.floating(0.1, 100, special=0, extreme=0)
            off = choices.floating(-100, 100, special=0, extreme=0)
            period = choices.integer(5, 60)
            out = [off + amp * math.sin(2 * math.pi * i / period) for i in range(n)]
        elif pattern == "random":
            lo_, hi_ = (-1000.0, 1000.0) if choices.boolean() else (0.0, 1.0)
            out = [noise.floating(lo_, hi_, special=0, extreme=0, ties=0.05) for _ in range(n)]
        else:  # walk
            v = choices.floating(-100, 100, special=0, extreme=0)
            step = choices.floating(0.01, 10, special=0, extreme=0)
            for _ in range(n):
                out.append(v)
                v += (noise.fraction() * 2 - 1) * step
    if plan.extreme:
        scale = choices.choice((1e300, 1e-300, 1e200, 1e-200, 1e100))
        out = [x * scale for x in out]
        for _ in range(min(n, 2)):
            out[noise.integer(0, n - 1)] = noise.floating(extreme=1.0, special=0)
    for i, sv in plan.specials.items():
        if i < n:
            out[i] = sv
    return out


# --------------------------------------------------------------------------- histograms


def _exp_index(v: float, schema: int) -> int:
    """Bucket index of |v| for an exponential schema: upper bound 2^(idx * 2^-schema)."""
    frac, exp = math.frexp(abs(v))  # |v| = frac * 2^exp, frac in [0.5, 1)
    if schema > 0:
        # ceil(log2(v) * 2^schema), computed from frexp for stability.
        return math.ceil((exp + math.log2(frac)) * (1 << schema) - 1e-9)
    # For schema <= 0 buckets merge 2^-schema base-2 buckets.
    idx = exp if frac != 0.5 else exp - 1
    return (idx + (1 << -schema) - 1) >> -schema


def _spans(
    counts: dict[int, float], fill_gaps: bool
) -> tuple[tuple[tuple[int, int], ...], tuple[float, ...]]:
    """Spans and absolute bucket counts for a sparse ``{index: count}`` (Prometheus layout)."""
    if not counts:
        return (), ()
    idxs = sorted(counts)
    spans: list[list[int]] = []
    buckets: list[float] = []
    prev_end = 0
    for i in idxs:
        if spans and i == prev_end:
            spans[-1][1] += 1
        elif spans and fill_gaps and i - prev_end <= 2:
            # Prometheus encodes short gaps as zero buckets inside one span.
            for _ in range(i - prev_end):
                buckets.append(0.0)
            spans[-1][1] += i - prev_end + 1
        else:
            offset = i if not spans else i - prev_end
            spans.append([offset, 1])
        buckets.append(counts[i])
        prev_end = i + 1
    return tuple((a, b) for a, b in spans), tuple(buckets)


@dataclass
class _HistState:
    schema: int
    zero_threshold: float
    custom_values: tuple[float, ...]
    pos: dict[int, float] = field(default_factory=dict)
    neg: dict[int, float] = field(default_factory=dict)
    zero: float = 0.0
    count: float = 0.0
    total: float = 0.0

    def observe(self, v: float) -> None:
        self.count += 1
        self.total += v
        if math.isnan(v):
            return  # counted, not in any bucket
        if self.custom_values:
            idx = len(self.custom_values)
            for j, b in enumerate(self.custom_values):
                if v <= b:
                    idx = j
                    break
            self.pos[idx] = self.pos.get(idx, 0.0) + 1
            return
        if abs(v) <= self.zero_threshold:
            self.zero += 1
            return
        side = self.pos if v > 0 else self.neg
        idx = _exp_index(v, self.schema)
        side[idx] = side.get(idx, 0.0) + 1

    def snapshot(self, hint: CounterResetHint, fill_gaps: bool) -> Histogram:
        ps, pb = _spans(self.pos, fill_gaps)
        ns, nb = _spans(self.neg, fill_gaps)
        return Histogram(
            schema=self.schema,
            count=self.count,
            sum=self.total,
            zero_threshold=0.0 if self.custom_values else self.zero_threshold,
            zero_count=0.0 if self.custom_values else self.zero,
            positive_spans=ps,
            positive_buckets=pb,
            negative_spans=ns,
            negative_buckets=nb,
            custom_values=self.custom_values,
            counter_reset_hint=hint,
        )


_CUSTOM_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _histogram_values(choices: Choices, kind: FamilyKind, plan: _SeriesPlan) -> list[Value]:
    noise = RandomChoices(choices.integer(0, 2**31 - 1))
    custom = kind == "nhcb"
    if custom:
        bounds = sorted(choices.subset(_CUSTOM_BOUNDS, max_size=6, min_size=1))
        if choices.boolean(0.2):
            bounds = [-1.0] + bounds  # negative custom bound
        custom_values = tuple(bounds)
        schema = -53
        zt = 0.0
    else:
        custom_values = ()
        schema = choices.weighted(((0, 2.0), (3, 2.0), (choices.integer(-4, 8), 3.0)))
        zt = choices.weighted(((DEFAULT_ZERO_THRESHOLD, 3.0), (0.0, 1.0), (0.001, 1.0)))
    gauge = kind == "gauge_histogram"
    negatives = not custom and choices.boolean(0.3)
    zeros = choices.boolean(0.3)
    nan_obs = choices.boolean(0.05)
    scale = choices.choice((0.01, 1.0, 100.0))
    fill_gaps = choices.boolean(0.5)
    explicit_hints = choices.boolean(0.3)
    schema_change = (
        None if custom or not choices.boolean(0.1) else choices.integer(0, max(0, len(plan.times) - 1))
    )
    per_step = choices.integer(0, 8)
    state = _HistState(schema, zt, custom_values)

    def draw_obs() -> float:
        if nan_obs and noise.boolean(0.02):
            return math.nan
        if zeros and noise.boolean(0.1):
            return 0.0
        v = scale * math.exp(noise.fraction() * 8 - 4)
        if negatives and noise.boolean(0.3):
            v = -v
        return v

    out: list[Value] = []
    for i in range(len(plan.times)):
        hint: CounterResetHint = "unknown"
        if gauge:
            state = _HistState(state.schema, zt, custom_values)
            for _ in range(noise.integer(0, per_step + 2)):
                state.observe(draw_obs())
            hint = "gauge"
        else:
            if i in plan.resets:
                state = _HistState(state.schema, zt, custom_values)
                hint = "reset" if explicit_hints else "unknown"
            elif explicit_hints and i > 0:
                hint = "not_reset"
            for _ in range(noise.integer(0, per_step)):
                state.observe(draw_obs())
        if schema_change is not None and i == schema_change:
            # A finer or coarser schema from here on: a fresh state (engines must reconcile).
            state = _HistState(max(-4, min(8, state.schema + choices.choice((-1, 1)))), zt, custom_values)
            for _ in range(noise.integer(1, per_step + 1)):
                state.observe(draw_obs())
            if not gauge:
                hint = "unknown"
        out.append(state.snapshot(hint, fill_gaps))
    return out


# --------------------------------------------------------------------------- families


def _classic_histogram(
    choices: Choices, config: DatasetConfig, name: str, labels: dict[str, str], plan: _SeriesPlan
) -> list[tuple[dict[str, str], list[tuple[int, Value]]]]:
    noise = RandomChoices(choices.integer(0, 2**31 - 1))
    bounds = sorted(choices.subset((0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0), max_size=6, min_size=1))
    les = [repr(b) if b != int(b) else str(int(b)) if choices.boolean(0.5) else repr(b) for b in bounds]
    broken = choices.boolean(0.05)  # non-monotonic buckets: engines must fix them up
    cumulative = [0.0] * (len(bounds) + 1)
    total = 0.0
    rows: list[list[float]] = []
    sums: list[float] = []
    for i in range(len(plan.times)):
        if i in plan.resets:
            cumulative = [0.0] * len(cumulative)
            total = 0.0
        for _ in range(noise.integer(0, 10)):
            v = math.exp(noise.fraction() * 6 - 3)
            total += v
            for j, b in enumerate(bounds):
                if v <= b:
                    cumulative[j] += 1
            cumulative[-1] += 1
        row = list(cumulative)
        if broken and len(row) > 1 and noise.boolean(0.3):
            row[0] += 1  # the first bucket exceeds the next one
        rows.append(row)
        sums.append(total)
    out: list[tuple[dict[str, str], list[tuple[int, Value]]]] = []
    interval = plan.times[1] - plan.times[0] if len(plan.times) > 1 else MINUTE_MS
    for j, le in enumerate([*les, "+Inf"]):
        vals: list[Value] = [r[j] for r in rows]
        for i, sv in plan.specials.items():
            if i < len(vals) and j == len(les):
                vals[i] = sv
        out.append(({**labels, "__name__": name + "_bucket", "le": le}, _with_stale(plan, vals, interval)))
    counts: list[Value] = [r[-1] for r in rows]
    out.append(({**labels, "__name__": name + "_count"}, _with_stale(plan, counts, interval)))
    out.append(({**labels, "__name__": name + "_sum"}, _with_stale(plan, list(sums), interval)))
    return out


def _family(
    choices: Choices, config: DatasetConfig, kind: FamilyKind, base_interval: int, budget: int
) -> list[tuple[dict[str, str], list[tuple[int, Value]]]]:
    name = _metric_name(choices, config, kind)
    n = choices.integer(1, max(1, min(config.max_series_per_family, budget)))
    if kind == "info":
        label_sets = _label_sets(choices, config, n, extra=("version",))
        for d in label_sets:
            d["version"] = choices.choice(("1.0", "2.0", "v3"))
    else:
        label_sets = _label_sets(choices, config, n)
    out: list[tuple[dict[str, str], list[tuple[int, Value]]]] = []
    for labels in label_sets:
        plan = _plan(choices, config, base_interval)
        interval = plan.times[1] - plan.times[0] if len(plan.times) > 1 else base_interval
        if kind == "classic_histogram":
            out.extend(_classic_histogram(choices, config, name, labels, plan))
            continue
        values: list[Value]
        if kind in ("native_histogram", "gauge_histogram", "nhcb"):
            values = list(_histogram_values(choices, kind, plan))
        elif kind == "mixed":
            floats = _float_values(choices, "gauge", plan)
            hists = _histogram_values(choices, "native_histogram", plan)
            cut = choices.integer(0, len(plan.times))
            if choices.boolean():
                values = [*floats[:cut], *hists[cut:]]
            else:
                values = [*hists[:cut], *floats[cut:]]
        else:
            values = list(_float_values(choices, kind, plan))
        out.append(({**labels, "__name__": name}, _with_stale(plan, values, interval)))
    return out


def generate_dataset(choices: Choices, config: DatasetConfig | None = None) -> Dataset:
    """A random, valid dataset (sorted, histograms consistent, timestamps >= 0)."""
    config = config or DatasetConfig()
    kinds = [
        (k, w)
        for k, w in config.family_weights
        if w > 0
        and (config.native_histograms or k not in ("native_histogram", "gauge_histogram", "nhcb", "mixed"))
        and (config.classic_histograms or k != "classic_histogram")
    ]
    target = choices.integer(config.min_series, config.max_series)
    base_interval = choices.choice(config.intervals_ms)
    seen: dict[Labels, list[tuple[int, Value]]] = {}
    families = 0
    while len(seen) < target and families < 4 * config.max_series + 4:
        families += 1
        kind = choices.weighted(kinds)
        for raw, samples in _family(choices, config, kind, base_interval, target - len(seen)):
            labels = make_labels(raw)
            if labels not in seen:  # two label sets may coincide once empty values drop
                seen[labels] = samples
    return Dataset.build(seen.items())


# --------------------------------------------------------------------------- validation


def histogram_problems(h: Histogram) -> list[str]:
    """Why Prometheus's ``FloatHistogram.Validate`` (and our generator's stricter
    consistency rule) would reject ``h``; empty when the histogram is valid.

    Beyond Prometheus: ``count`` must equal the sum of all buckets plus the zero count,
    unless ``sum`` is NaN (a NaN observation is counted but lands in no bucket), in which
    case ``count`` may be larger.
    """
    problems: list[str] = []

    def check_spans(
        side: str, spans: tuple[tuple[int, int], ...], n: int, first_may_be_negative: bool
    ) -> None:
        total = 0
        for i, (off, length) in enumerate(spans):
            if off < 0 and (i > 0 or not first_may_be_negative):
                problems.append(f"{side} span {i} has negative offset {off}")
            if length < 0:
                problems.append(f"{side} span {i} has negative length {length}")
            total += length
        if total != n:
            problems.append(f"{side} spans need {total} buckets, have {n}")

    custom = h.schema == -53
    if not custom and not -4 <= h.schema <= 8:
        problems.append(f"invalid schema {h.schema}")
    check_spans("positive", h.positive_spans, len(h.positive_buckets), not custom)
    check_spans("negative", h.negative_spans, len(h.negative_buckets), True)
    if custom:
        cv = h.custom_values
        if any(math.isnan(x) for x in cv):
            problems.append("NaN custom bound")
        if any(b <= a for a, b in zip(cv, cv[1:], strict=False)):
            problems.append("custom bounds not strictly increasing")
        if cv and cv[-1] == math.inf:
            problems.append("explicit +Inf custom bound")
        if h.zero_count or h.zero_threshold:
            problems.append("zero bucket with custom buckets")
        if h.negative_spans or h.negative_buckets:
            problems.append("negative buckets with custom buckets")
        covered = sum(o + n for o, n in h.positive_spans)
        if covered > len(cv) + 1:
            problems.append(f"spans cover {covered} buckets, only {len(cv) + 1} custom buckets")
    elif h.custom_values:
        problems.append("custom values with an exponential schema")
    if any(b < 0 for b in h.positive_buckets + h.negative_buckets) or h.zero_count < 0:
        problems.append("negative bucket count")
    if h.count < 0:
        problems.append("negative count")
    in_buckets = sum(h.positive_buckets) + sum(h.negative_buckets) + h.zero_count
    if math.isnan(h.sum):
        if h.count < in_buckets:
            problems.append(f"count {h.count} < buckets {in_buckets}")
    elif h.count != in_buckets:
        problems.append(f"count {h.count} != buckets {in_buckets}")
    return problems


def dataset_problems(ds: Dataset) -> list[str]:
    """Structural problems of a dataset: unsorted series or samples, negative or duplicate
    timestamps, invalid histograms. Empty for every dataset :func:`generate_dataset` makes."""
    problems: list[str] = []
    labels = [s.labels for s in ds.series]
    if labels != sorted(labels) or len(set(labels)) != len(labels):
        problems.append("series not sorted by labels or duplicated")
    for s in ds.series:
        if s.labels != make_labels(s.labels):
            problems.append(f"{s.labels}: label set not canonical")
        ts = [x.t for x in s.samples]
        if ts != sorted(set(ts)):
            problems.append(f"{s.labels}: timestamps not strictly increasing")
        if ts and ts[0] < 0:
            problems.append(f"{s.labels}: negative timestamp")
        for x in s.samples:
            if isinstance(x.v, Histogram):
                problems.extend(f"{s.labels} t={x.t}: {p}" for p in histogram_problems(x.v))
    return problems
