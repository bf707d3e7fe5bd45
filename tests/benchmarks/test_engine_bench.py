"""promfuzz.benchmarks.engines: dataset and workload builders, the comparison, and a smoke
run against the real Go hosts (structure only: never an assertion on times)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from promfuzz.benchmarks.engines import (
    BenchConfig,
    BenchQuery,
    Measurement,
    annotate_with_control,
    build_dataset,
    build_workload,
    compare,
    main,
    proc_status,
    render_report,
    reset_hwm,
    run_bench,
)
from promfuzz.generators.schema import DatasetSchema
from promfuzz.model import Dataset, EvalParams, Histogram

BUILD = Path(__file__).resolve().parents[2] / ".build"


def test_dataset_is_loadable_json_with_counters_gauges_classic_and_native_histograms() -> None:
    ds = build_dataset(60, 0.5, seed=3)
    parsed = Dataset.from_json(ds.body.decode())
    assert len(parsed.series) == ds.series
    names = set(parsed.metric_names())
    assert {"up", "http_requests_total", "http_request_duration_seconds_bucket", "go_goroutines"} <= names
    hist = [x for s in parsed.series for x in s.samples if isinstance(x.v, Histogram)]
    assert len(hist) == ds.histogram_samples > 0
    assert sum(len(s.samples) for s in parsed.series) == ds.float_samples + ds.histogram_samples
    assert ds.schema == DatasetSchema.from_dataset(parsed)


def test_dataset_counters_only_fall_at_a_reset() -> None:
    parsed = Dataset.from_json(build_dataset(1000, 0.25, seed=5).body.decode())
    drops = 0
    for s in parsed.series:
        if s.name.endswith("_total"):
            vals = [float(x.v) for x in s.samples]  # type: ignore[arg-type]
            n = sum(1 for a, b in zip(vals, vals[1:], strict=False) if b < a)
            assert n <= 1
            drops += n
    assert drops > 0  # some pods restart


def test_dataset_size_follows_series_and_hours() -> None:
    small, big = build_dataset(100, 1), build_dataset(400, 2)
    assert 80 <= small.series <= 120 and 360 <= big.series <= 440
    assert small.end_ms == 3_600_000 and big.end_ms == 7_200_000
    assert big.float_samples > 6 * small.float_samples


def test_same_seed_same_dataset_and_workload() -> None:
    a, b, c = build_dataset(50, 0.5, seed=1), build_dataset(50, 0.5, seed=1), build_dataset(50, 0.5, seed=2)
    assert a.body == b.body and a.body != c.body
    qa, qb = build_workload(a.schema, 10, seed=4), build_workload(b.schema, 10, seed=4)
    assert qa == qb
    assert qa != build_workload(a.schema, 10, seed=5)


def test_workload_is_range_queries_over_the_data() -> None:
    ds = build_dataset(100, 24, seed=1)
    qs = build_workload(ds.schema, 25, seed=2)
    assert len(qs) == 25 and len({q.text for q in qs}) == 25
    for q in qs:
        p = q.params
        assert p.is_range and p.end_ms == ds.end_ms and p.start_ms >= 0
        assert 1 <= q.range_hours <= 24
        assert 60 <= p.steps() <= 1_440
        assert any(m.name in q.text for m in ds.schema.metrics)


def _m(engine: str, qid: str, ns: float, alloc: float, rss: float, outcome: str = "ok") -> Measurement:
    return Measurement(
        engine, qid, outcome, engine_ns=ns, wall_ns=ns * 1.1, alloc_bytes=alloc, rss_delta_bytes=rss
    )


def test_compare_ratios_summaries_and_findings() -> None:
    qs = [BenchQuery(f"q{i}", f"up{i}", EvalParams.range(0, 3_600_000, 60_000)) for i in range(3)]
    ref = [_m("p", "q0", 100, 1000, 10), _m("p", "q1", 100, 1000, 10), _m("p", "q2", 100, 1000, 10)]
    tgt = [_m("m", "q0", 50, 500, 5), _m("m", "q1", 300, 200, 20), _m("m", "q2", 1, 1, 1, outcome="error")]
    c = compare(tgt, ref, qs)
    rows = {r["id"]: r for r in c["per_query"]}
    assert rows["q0"]["ratios"]["engine_ns"] == pytest.approx(0.5)
    assert rows["q1"]["ratios"]["engine_ns"] == pytest.approx(3.0)
    assert "skipped" in rows["q2"]
    s = c["summary"]["engine_ns"]
    assert s["n"] == 2 and s["max"] == pytest.approx(3.0) and s["min"] == pytest.approx(0.5)
    assert s["sum_ratio"] == pytest.approx(350 / 200)
    assert s["geomean"] == pytest.approx((0.5 * 3.0) ** 0.5)
    assert [f["id"] for f in c["findings"]] == ["q1"]
    assert set(c["findings"][0]["worse"]) == {"engine_ns", "rss_delta_bytes"}


def test_findings_say_when_the_same_build_control_is_as_slow() -> None:
    qs = [BenchQuery(f"q{i}", f"up{i}", EvalParams.range(0, 3_600_000, 60_000)) for i in range(2)]
    ref = [_m("p", "q0", 100, 1000, 10), _m("p", "q1", 100, 1000, 10)]
    tgt = [_m("m", "q0", 200, 1000, 10), _m("m", "q1", 200, 1000, 10)]
    ctl = [_m("c", "q0", 195, 1000, 10), _m("c", "q1", 100, 1000, 10)]
    main_cmp = compare(tgt, ref, qs)
    annotate_with_control(main_cmp, compare(tgt, ctl, qs))
    by_id = {f["id"]: f for f in main_cmp["findings"]}
    assert by_id["q0"]["same_build_too"] is True  # x1.03 vs its own build: the build is slow
    assert by_id["q1"]["same_build_too"] is False  # x2 vs its own build: the engine is slow
    assert by_id["q1"]["vs_control"]["engine_ns"] == pytest.approx(2.0)


def test_peak_rss_reset_and_read_on_this_process() -> None:
    pid = os.getpid()
    blob = bytearray(64 << 20)
    for i in range(0, len(blob), 4096):
        blob[i] = 1
    high = proc_status(pid)["VmHWM"]
    del blob
    reset_hwm(pid)
    after = proc_status(pid)
    assert after["VmHWM"] <= after["VmRSS"] + (1 << 20) < high


def _need_hosts() -> None:
    for b in ("prometheus-host", "mimir-host"):
        if not (BUILD / b).is_file():
            pytest.skip(f"{BUILD / b} is not built (run `make hosts`)")


@pytest.mark.hosts
def test_smoke_bench_measures_both_engines_and_computes_ratios(tmp_path: Path) -> None:
    _need_hosts()
    cfg = BenchConfig(series=40, hours=1, queries=2, repeats=1, rss_repeats=1, seed=1, build_dir=BUILD)
    report = run_bench(cfg)
    assert report["config"]["engines"] == ["prometheus", "mqe", "mimir-prometheus"]
    assert len(report["queries"]) == 2
    for eng in ("prometheus", "mqe", "mimir-prometheus"):
        ms = report["measurements"][eng]
        assert [m["qid"] for m in ms] == ["q001", "q002"]
        for m in ms:
            assert m["outcome"] == "ok", m
            assert m["engine_ns"] > 0 and m["wall_ns"] >= m["engine_ns"] and m["alloc_bytes"] > 0
            assert m["rss_peak_bytes"] > 0 and m["rss_baseline_bytes"] > 0 and m["load_hwm_bytes"] > 0
            assert m["rss_delta_bytes"] is not None and m["rss_delta_bytes"] >= 0
            assert (m["peak_estimate_bytes"] > 0) == (eng == "mqe")
    main_cmp = report["comparisons"]["mqe/prometheus"]
    for row in main_cmp["per_query"]:
        assert "skipped" not in row
        for k in ("engine_ns", "wall_ns", "alloc_bytes", "rss_peak_bytes"):
            assert row["ratios"][k] > 0
    assert main_cmp["summary"]["engine_ns"]["n"] == 2
    assert set(report["comparisons"]) == {
        "mqe/prometheus",
        "mqe/mimir-prometheus",
        "mimir-prometheus/prometheus",
    }
    text = render_report(report)
    assert "q001" in text and "mqe/prometheus" in text and "findings:" in text
    json.dumps(report)  # serializable


@pytest.mark.hosts
def test_main_writes_the_json_report_and_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _need_hosts()
    out = tmp_path / "out"
    argv = ["--series", "20", "--hours", "0.5", "--queries", "1", "--repeats", "1", "--control", ""]
    assert main([*argv, "--build-dir", str(BUILD), "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["measurements"]) == {"prometheus", "mqe"}
    assert report["dataset"]["series"] > 0
    printed = capsys.readouterr().out
    assert "mqe/prometheus" in printed and str(out / "report.json") in printed
