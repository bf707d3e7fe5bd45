"""Parsing Prometheus API envelopes into Result objects."""

from __future__ import annotations

import json
import math

import pytest

from promfuzz.engines.apijson import EnvelopeError, parse_body, parse_envelope
from promfuzz.model import Bucket, Histogram, ResultHistogram

HIST = {"count": "4", "sum": "5.5", "buckets": [[0, "0.5", "1", "1"], [3, "-0.001", "0.001", "3"]]}


def test_vector_with_special_floats_and_empty_label_values() -> None:
    env = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"__name__": "a", "job": "x", "empty": ""}, "value": [1.5, "NaN"]},
                {"metric": {"job": "y"}, "value": [1.5, "+Inf"]},
                {"metric": {}, "value": [1.5, "-Inf"]},
                {"metric": {"k": "v"}, "value": [1.5, "-2.5e-3"]},
            ],
        },
    }
    r = parse_envelope(env, "e")
    assert r.ok and r.value_type == "vector" and r.engine == "e"
    assert r.series[0].labels == (("__name__", "a"), ("job", "x"))
    vals = [s.points[0].v for s in r.series]
    assert isinstance(vals[0], float) and math.isnan(vals[0])
    assert vals[1:] == [math.inf, -math.inf, -0.0025]
    assert all(s.points[0].t == 1500 for s in r.series)
    assert r.series[2].labels == ()


def test_matrix_merges_floats_and_histograms_by_time() -> None:
    env = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": "h"},
                    "values": [[0, "1"], [30, "3"]],
                    "histograms": [[15, HIST]],
                },
            ],
        },
    }
    r = parse_envelope(env, "e")
    pts = r.series[0].points
    assert [p.t for p in pts] == [0, 15_000, 30_000]
    h = pts[1].v
    assert isinstance(h, ResultHistogram)
    assert h.count == 4.0 and h.sum == 5.5
    assert h.buckets == (Bucket(0, 0.5, 1.0, 1.0), Bucket(3, -0.001, 0.001, 3.0))
    assert h.full is None


def test_instant_histogram_with_full_form() -> None:
    full = {
        "schema": 0,
        "count": "4",
        "sum": "5.5",
        "positive_spans": [[0, 2]],
        "positive_buckets": ["1", "3"],
    }
    env = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {}, "histogram": [2, {**HIST, "full": full}]}],
        },
    }
    h = parse_envelope(env, "e").series[0].points[0].v
    assert isinstance(h, ResultHistogram)
    assert h.full == Histogram(schema=0, count=4, sum=5.5, positive_spans=((0, 2),), positive_buckets=(1, 3))


def test_scalar_and_string() -> None:
    s = parse_envelope({"status": "success", "data": {"resultType": "scalar", "result": [12.003, "7"]}}, "e")
    assert s.value_type == "scalar" and s.scalar is not None and (s.scalar.t, s.scalar.v) == (12_003, 7.0)
    st = parse_envelope(
        {"status": "success", "data": {"resultType": "string", "result": [0, "hi there"]}}, "e"
    )
    assert st.value_type == "string" and st.string == "hi there"


def test_warnings_infos_and_host_stats() -> None:
    env = {
        "status": "success",
        "data": {"resultType": "vector", "result": []},
        "warnings": ["w1", "w2"],
        "infos": ["i1"],
        "hostStats": {
            "wallNs": 10,
            "engineNs": 7,
            "allocBytes": 100,
            "peakBytes": 50,
            "samples": 3,
            "other": 1,
        },
    }
    r = parse_envelope(env, "e")
    assert r.warnings == ("w1", "w2") and r.infos == ("i1",)
    assert (r.stats.wall_ns, r.stats.engine_ns, r.stats.alloc_bytes, r.stats.peak_bytes, r.stats.samples) == (
        10,
        7,
        100,
        50,
        3,
    )
    assert r.stats.extra == {"other": 1}


@pytest.mark.parametrize(
    ("error_type", "host_unsupported", "outcome"),
    [
        ("bad_data", False, "error"),
        ("execution", False, "error"),
        ("timeout", False, "timeout"),
        ("unsupported", True, "unsupported"),
        ("execution", True, "unsupported"),
        ("engine_panic", False, "engine_failure"),
    ],
)
def test_error_classes_map_to_outcomes(error_type: str, host_unsupported: bool, outcome: str) -> None:
    env = {
        "status": "error",
        "errorType": error_type,
        "error": "boom",
        "warnings": ["w"],
        "hostStats": {"unsupported": host_unsupported},
    }
    r = parse_envelope(env, "e")
    assert r.outcome == outcome and r.value_type is None
    assert r.error is not None and (r.error.error_type, r.error.message) == (error_type, "boom")
    assert r.warnings == ("w",)


def test_non_envelope_bodies_become_engine_failures() -> None:
    r = parse_body(b"<html>502 Bad Gateway</html>", 502, "e")
    assert r.outcome == "engine_failure" and r.error is not None
    assert r.error.error_type == "bad_response" and "HTTP 502" in r.error.message
    r2 = parse_body(json.dumps({"foo": 1}), 200, "e")
    assert r2.outcome == "engine_failure"
    r3 = parse_body(
        json.dumps({"status": "success", "data": {"resultType": "vector", "result": [{"x": 1}]}}), 200, "e"
    )
    assert r3.outcome == "ok" and r3.series[0].points == ()
    with pytest.raises(EnvelopeError):
        parse_envelope({"status": "success", "data": {"resultType": "scalar", "result": [1]}}, "e")
    with pytest.raises(EnvelopeError, match="unknown resultType"):
        parse_envelope({"status": "success", "data": {"resultType": "weird", "result": []}}, "e")


def test_api_times_decode_to_exact_milliseconds() -> None:
    import json
    import random

    from promfuzz.model import api_time_to_ms, ms_to_api_time

    rng = random.Random(7)
    for _ in range(20_000):
        ms = rng.randint(-(10**12), 10**13)
        for text in (f"{ms / 1000:.3f}", repr(ms / 1000), str(ms_to_api_time(ms))):
            assert api_time_to_ms(json.loads(text)) == ms, text
            assert api_time_to_ms(text) == ms, text
    assert api_time_to_ms(60) == 60_000
    assert api_time_to_ms(1e3) == 1_000_000
    # Digits past the millisecond (the API never writes them) are dropped, on both paths.
    assert api_time_to_ms(1.0015) == api_time_to_ms("1.0015") == 1001
    assert api_time_to_ms(1.9999) == api_time_to_ms("1.9999") == 1999
