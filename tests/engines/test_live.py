"""prometheus-live against the prometheus host: same data stored, same answers.

Both run Prometheus v0.316.0 (the server is built from the host's module), so any
difference here is a bug in how promfuzz loads, queries or parses -- the bar is zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from promfuzz.engines.host import HostEngine, HostProcess
from promfuzz.engines.http import DatasetNotLoadableError
from promfuzz.engines.live import LiveEngine
from promfuzz.model import (
    Dataset,
    EvalParams,
    Histogram,
    Result,
    ResultHistogram,
    encode_float,
    stale_nan,
)

pytestmark = [pytest.mark.live, pytest.mark.hosts]

H0 = Histogram(schema=0, count=4, sum=5, positive_spans=((0, 2),), positive_buckets=(1, 3))
H1 = Histogram(
    schema=1,
    count=9,
    sum=-2.5,
    zero_threshold=0.001,
    zero_count=1,
    positive_spans=((-1, 2), (2, 1)),
    positive_buckets=(1, 2, 3),
    negative_spans=((0, 1),),
    negative_buckets=(2,),
)
HC = Histogram(
    schema=-53, count=3, sum=7, positive_spans=((0, 2),), positive_buckets=(1, 2), custom_values=(1.0, 5.0)
)


def _hist(i: int, base: Histogram) -> Histogram:
    k = float(i + 1)
    return Histogram(
        schema=base.schema,
        count=base.count * k,
        sum=base.sum * k,
        zero_threshold=base.zero_threshold,
        zero_count=base.zero_count * k,
        positive_spans=base.positive_spans,
        positive_buckets=tuple(b * k for b in base.positive_buckets),
        negative_spans=base.negative_spans,
        negative_buckets=tuple(b * k for b in base.negative_buckets),
        custom_values=base.custom_values,
    )


def dataset() -> Dataset:
    series: list[tuple[dict[str, str], list[tuple[int, Any]]]] = []
    for i in range(6):
        samples: list[tuple[int, Any]] = [(t * 15_000, float(t * (i + 1) % 37)) for t in range(80)]
        if i == 1:
            samples[20] = (samples[20][0], stale_nan())
            samples[50] = (samples[50][0], math.nan)
        if i == 2:
            samples[10] = (samples[10][0], math.inf)
            samples[11] = (samples[11][0], -math.inf)
        series.append(({"__name__": "metric_total", "job": f"j{i % 2}", "inst": str(i)}, samples))
    series.append(({"__name__": "gauge", "job": "j0"}, [(t * 30_000, t * 0.25 - 3) for t in range(40)]))
    series.append(({"__name__": "gauge", "job": "j1"}, [(t * 30_000, -(t % 7) * 1.5) for t in range(40)]))
    hist: list[tuple[int, Any]] = [(t * 15_000, _hist(t, H0)) for t in range(60)]
    hist[30] = (hist[30][0], stale_nan())
    series.append(({"__name__": "req_hist", "job": "j0"}, hist))
    series.append(({"__name__": "req_hist", "job": "j1"}, [(t * 15_000, _hist(t, H1)) for t in range(60)]))
    series.append(({"__name__": "custom_hist"}, [(t * 15_000, _hist(t % 10, HC)) for t in range(60)]))
    return Dataset.build(series)


EXPRS = [
    "metric_total",
    "gauge",
    "req_hist",
    "custom_hist",
    "rate(metric_total[1m])",
    "increase(metric_total[2m])",
    "sum by (job) (rate(metric_total[1m]))",
    "avg(gauge)",
    "max_over_time(gauge[3m])",
    "deriv(gauge[5m])",
    "changes(metric_total[5m])",
    "resets(metric_total[5m])",
    "last_over_time(metric_total[10m])",
    "count_over_time(metric_total[1m])",
    "timestamp(metric_total)",
    "metric_total offset 1m",
    "metric_total @ 300",
    "gauge > 0",
    "gauge + on(job) group_left sum by (job) (metric_total)",
    "topk(2, metric_total)",
    "sort_desc(metric_total)",
    "quantile(0.9, gauge)",
    "quantile(2, gauge)",  # warning: quantile out of range
    "rate(gauge[1m])",  # info: not a counter name
    "histogram_quantile(0.5, rate(req_hist[1m]))",
    "histogram_count(req_hist)",
    "histogram_sum(rate(req_hist[2m]))",
    "histogram_fraction(0, 2, req_hist)",
    "sum(req_hist)",
    "histogram_quantile(0.9, custom_hist)",
    "rate(custom_hist[1m])",
    "absent(nothing)",
    "vector(time())",
    "scalar(sum(gauge))",
    "1 / 0",
    "time()",
    '"a string"',
    "metric_total[1m]",
    "max_over_time(rate(metric_total[1m])[5m:30s])",
    "label_replace(gauge, 'x', '$1', 'job', 'j(.*)')",
    "gauge + on() gauge",  # error: many-to-many matching
    "sum(",  # error: parse
]
TIMES = [0, 150_000, 301_000, 600_000, 1_185_000]


def queries() -> list[tuple[str, EvalParams]]:
    out = [(e, EvalParams.instant(t)) for e in EXPRS for t in (TIMES[1], TIMES[3])]
    out += [
        (e, EvalParams.range(0, 1_200_000, 60_000))
        for e in EXPRS
        if e not in ('"a string"', "metric_total[1m]")
    ]
    out += [("metric_total", EvalParams.instant(t)) for t in TIMES]
    return out


def norm(r: Result) -> Any:
    """Everything an oracle compares, with floats as exact strings (NaN == NaN, stale kept)."""

    def val(v: float | ResultHistogram) -> Any:
        if isinstance(v, ResultHistogram):
            return (
                "H",
                encode_float(v.count),
                encode_float(v.sum),
                tuple(
                    (b.boundary, encode_float(b.lower), encode_float(b.upper), encode_float(b.count))
                    for b in v.buckets
                ),
            )
        return encode_float(v)

    return (
        r.outcome,
        r.value_type,
        tuple((s.labels, tuple((p.t, val(p.v)) for p in s.points)) for s in r.series),
        None if r.scalar is None else (r.scalar.t, val(r.scalar.v)),
        r.string,
        None if r.error is None else (r.error.error_type, r.error.message),
        tuple(sorted(r.warnings)),
        tuple(sorted(r.infos)),
    )


@pytest.fixture(scope="module")
def pair(real_binary_module: Callable[[str], Path]) -> Iterator[tuple[HostEngine, LiveEngine]]:
    host = HostEngine(HostProcess(real_binary_module("prometheus-host")), "prometheus", owns_process=True)
    live = LiveEngine(real_binary_module("prometheus-server"))
    yield host, live
    host.close()
    live.close()


def test_same_dataset_gives_identical_dumps(pair: tuple[HostEngine, LiveEngine]) -> None:
    host, live = pair
    ds = dataset()
    host.load(ds)
    live.load(ds)
    hd, ld = host.dump(), live.dump()
    assert hd is not None and ld is not None
    assert hd.fingerprint() == ld.fingerprint()
    assert hd.sample_count == ds.sample_count


def test_fixed_queries_give_identical_results(pair: tuple[HostEngine, LiveEngine]) -> None:
    host, live = pair
    ds = dataset()
    host.load(ds)
    live.load(ds)
    items = queries()
    assert len(items) >= 100
    hr = host.query_many(items)
    lr = live.query_many(items)
    diffs = [
        (q, p, norm(a), norm(b)) for (q, p), a, b in zip(items, hr, lr, strict=True) if norm(a) != norm(b)
    ]
    assert diffs == []
    outcomes = {r.outcome for r in hr}
    assert outcomes == {"ok", "error"}
    assert any(r.warnings for r in hr) and any(r.infos for r in hr)
    assert any(isinstance(p.v, ResultHistogram) for r in hr for s in r.series for p in s.points)


def test_nameless_series_are_refused_not_silently_dropped(pair: tuple[HostEngine, LiveEngine]) -> None:
    _, live = pair
    ds = Dataset.build([({"job": "x"}, [(0, 1.0)])])
    with pytest.raises(DatasetNotLoadableError, match="without a metric name"):
        live.load(ds)


def test_live_server_crash_is_engine_failure_then_restarts(pair: tuple[HostEngine, LiveEngine]) -> None:
    _, live = pair
    ds = dataset()
    live.load(ds)
    live.server.kill()
    r = live.query("gauge", EvalParams.instant(0))
    # the server was dead before the query: it is restarted, reloaded, and answers
    assert r.ok and len(r.series) == 2
    assert live.restarts == 1
