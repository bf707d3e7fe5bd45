"""promfuzz.tee without servers: request parameters, the window, capture spans, log lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promfuzz.model import Dataset, EvalParams, Point, Result, ResultSeries
from promfuzz.promql import parse
from promfuzz.tee.capture import capture, dataset_differences, selector_spans
from promfuzz.tee.judge import Answer, Judge, drop_recent
from promfuzz.tee.replaylog import LogFormatError, parse_line, read_log
from promfuzz.tee.request import ApiRequest, RequestError, parse_form, path_label


def test_request_params_get_and_post_forms() -> None:
    form = parse_form("query=up&time=12.5")
    assert ApiRequest("GET", "/api/v1/query", form).params() == EvalParams.instant(12_500)
    body = b"query=rate(x%5B5m%5D)&start=2024-01-01T00:00:00Z&end=2024-01-01T00:10:00Z&step=1m"
    req = ApiRequest("POST", "/api/v1/query_range", parse_form("", body, "application/x-www-form-urlencoded"))
    p = req.params()
    assert req.query == "rate(x[5m])"
    assert (p.start_ms, p.end_ms - p.start_ms, p.step_ms) == (1_704_067_200_000, 600_000, 60_000)
    with pytest.raises(RequestError, match="without step"):
        ApiRequest("GET", "/api/v1/query_range", parse_form("query=up&start=1&end=2")).params()
    with pytest.raises(RequestError, match="RFC 3339"):
        ApiRequest("GET", "/api/v1/query", parse_form("query=up&time=yesterday")).params()
    # An instant query without time is pinned to the tee's receive time for the secondary.
    r = ApiRequest("GET", "/api/v1/query", parse_form("query=up"), received_ms=5_000)
    assert ("time", "5.000") in r.pinned_form()
    assert path_label("/api/v1/label/job/values") == "/api/v1/label/:name/values"
    assert path_label("/api/v1/admin/tsdb/delete_series") == "other"


def _vec(engine: str, t: int, v: float) -> Result:
    return Result(engine, "ok", "vector", series=(ResultSeries((("__name__", "m"),), (Point(t, v),)),))


def test_window_skips_recent_and_drops_recent_points() -> None:
    j = Judge("prometheus", "mqe", window_ms=120_000)
    now = 10_000_000
    body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "m"}, "value": [(now - 1000) / 1000, "1"]}]}}).encode()
    other = body.replace(b'"1"', b'"2"')
    recent = ApiRequest("GET", "/api/v1/query", parse_form(f"query=m&time={(now - 1000) / 1000}"), received_ms=now)
    assert j.judge(recent, Answer(200, body), Answer(200, other)).result == "skipped"
    old = ApiRequest("GET", "/api/v1/query", parse_form(f"query=m&time={(now - 1000) / 1000}"), received_ms=now + 600_000)
    got = j.judge(old, Answer(200, body), Answer(200, other))
    assert got.result == "divergence", got.reason
    assert j.judge(old, Answer(200, body), Answer(200, body)).result == "match"
    assert j.judge(old, Answer(200, body), Answer(error="connection refused")).result == "error"
    bad = ApiRequest("GET", "/api/v1/query", parse_form("query=sum(&time=1"), received_ms=now)
    assert "parser rejects" in j.judge(bad, Answer(200, body), Answer(200, other)).reason
    r = Result("x", "ok", "matrix", series=(ResultSeries((("a", "1"),), (Point(1, 1.0), Point(5, 2.0))),
                                           ResultSeries((("a", "2"),), (Point(6, 1.0),))))
    kept = drop_recent(r, 5)
    assert [len(s.points) for s in kept.series] == [2]
    assert [len(s.points) for s in drop_recent(r, 4).series] == [1]


def test_selector_spans_cover_lookback_ranges_offsets_subqueries_and_at() -> None:
    p = EvalParams.range(1_000_000, 2_000_000, 60_000)
    spans = {s.selector.name: (s.lo_ms, s.hi_ms) for s in selector_spans(
        parse("a + rate(b[5m] offset 1m) + max_over_time(rate(c[1m])[10m:1m]) + d @ 500"), p)}
    assert spans["a"] == (1_000_000 - 300_000, 2_000_000)
    assert spans["b"] == (1_000_000 - 60_000 - 300_000, 2_000_000 - 60_000)
    assert spans["c"] == (1_000_000 - 600_000 - 60_000, 2_000_000)
    assert spans["d"] == (500_000 - 300_000, 500_000)
    # the same selector twice: one span covering both uses
    both = selector_spans(parse("x offset 1h or x"), EvalParams.instant(5_000_000))
    assert [(s.lo_ms, s.hi_ms) for s in both] == [(5_000_000 - 3_600_000 - 300_000, 5_000_000)]


def test_capture_by_query_api_merges_selectors_and_keeps_only_the_span() -> None:
    calls: list[tuple[str, int]] = []

    def instant(text: str, t: int) -> Result:
        calls.append((text, t))
        pts = tuple(Point(x, float(x)) for x in (0, 60_000, 120_000) if t - 600_000 < x <= t)
        return Result("b", "ok", "matrix", series=(ResultSeries((("__name__", "m"),), pts),))

    got = capture(parse("m"), EvalParams.instant(120_000), None, instant)
    assert calls == [("m[120001ms]", 120_000)]
    assert got.method == "query_api" and got.dataset.sample_count == 3
    assert any("stale markers" in n for n in got.notes)
    a = Dataset.build([({"__name__": "m"}, [(0, 1.0), (10, 2.0)])])
    b = Dataset.build([({"__name__": "m"}, [(0, 1.0), (10, 3.0)]), ({"__name__": "n"}, [(0, 1.0)])])
    diffs = dataset_differences(a, b)
    assert any("only the secondary holds" in d for d in diffs) and any("samples differ" in d for d in diffs)
    assert dataset_differences(a, a) == []


def test_log_formats(tmp_path: Path) -> None:
    ql = ('{"params":{"end":"1970-01-01T00:10:00.000Z","query":"rate(m[5m])","start":"1970-01-01T00:00:00.000Z",'
          '"step":60},"ts":"2026-01-01T00:00:00.000Z"}')
    e = parse_line(ql, 1, "f", 0, 0)
    assert e is not None and e.params == EvalParams.range(0, 600_000, 60_000) and e.source == "prometheus-query-log"
    inst = '{"params":{"end":"1970-01-01T00:10:00.000Z","query":"m","start":"1970-01-01T00:10:00.000Z","step":0}}'
    e = parse_line(inst, 1, "f", 0, 0)
    assert e is not None and e.params == EvalParams.instant(600_000)
    mimir = ('level=info ts=2026-01-01T00:00:00Z caller=handler.go msg="query stats" method=GET '
             'path=/prometheus/api/v1/query_range param_end=600 param_query="sum by (a) (m{b=\\"c d\\"})" '
             'param_start=0 param_step=30')
    e = parse_line(mimir, 3, "f", 0, 0)
    assert e is not None and e.query == 'sum by (a) (m{b="c d"})' and e.params == EvalParams.range(0, 600_000, 30_000)
    e = parse_line("120\tm > 1", 4, "f", 0, 7)
    assert e is not None and e.params == EvalParams.instant(120_000)
    assert parse_line("# comment", 5, "f", 0, 0) is None
    f = tmp_path / "q.log"
    f.write_text("m\n0\t600\t60\tm\n{\"params\": 3}\n1\t2\t3\n")
    with pytest.raises(LogFormatError) as ei:
        read_log(f)
    assert f"{f}:3" in str(ei.value) and "query log object" in str(ei.value)
    errors: list[str] = []
    got = read_log(f, skip_malformed=True, errors=errors)
    assert len(got) == 2 and len(errors) == 2
    assert f"{f}:4" in errors[1] and "tab-separated" in errors[1]


def test_a_full_queue_drops_and_counts_never_blocks() -> None:
    from promfuzz.tee import TeeConfig, TeeCore

    core = TeeCore(TeeConfig("http://127.0.0.1:1", "http://127.0.0.1:2", sample=1.0, queue_size=2))
    req = ApiRequest("GET", "/api/v1/query", parse_form("query=up&time=1"))
    # workers not started: nothing drains the queue
    assert [core.offer(req, Answer(200, b"{}"), None) for _ in range(5)] == [True, True, False, False, False]
    assert core.metrics.value("promfuzz_tee_dropped_total") == 3
    none = TeeCore(TeeConfig("http://127.0.0.1:1", "http://127.0.0.1:2", sample=0.0))
    assert not none.offer(req, Answer(200, b"{}"), None) and none.queue.qsize() == 0
    with pytest.raises(Exception, match="between 0 and 1"):
        TeeCore(TeeConfig("http://127.0.0.1:1", "http://127.0.0.1:2", sample=2.0))
