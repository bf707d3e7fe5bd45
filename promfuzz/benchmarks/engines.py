"""``bench engines``: the streaming engine's speed and memory against Prometheus's engine.

Mimir says its streaming engine MQE is "80% faster, 70% less memory" than Prometheus's
engine. This benchmark measures it on a generated, realistic workload; it prints numbers
and never passes or fails.

1. :func:`build_dataset` -- a large dataset built as ``/load`` JSON directly (no model
   objects): ``targets`` of a few jobs, each with ``up``, a build ``_info`` metric, gauges,
   counters, a classic histogram (``_bucket``/``_sum``/``_count``) and, on every other
   target, a native histogram; 15 s scrape interval, a few counter resets (pod restarts).
2. :func:`build_workload` -- range queries from the ``realistic`` query generator profile
   (rate, sum by, histogram_quantile, topk...) over 1 h..24 h windows ending at the end of
   the data, at steps that give 60..1,440 points. Same seed, same workload.
3. Measurements, one engine at a time (the machine is small):

   * **latency**: one host per engine loads the dataset once; every query runs once as
     a warm-up, then ``repeats`` times (round robin over the queries); medians of the
     host's ``engineNs`` (inside ``Exec``) and ``wallNs`` (request handling incl.
     encoding), of Go bytes allocated during the query (``allocBytes``) and of MQE's own
     peak memory estimate (``peakBytes``, 0 for the Prometheus engines).
   * **peak RSS**: a *fresh* host process per (query, engine, repeat): start it, load the
     dataset, read ``VmRSS``/``VmHWM`` from ``/proc/<pid>/status`` (the load's peak), then
     reset the high-water mark by writing ``5`` to ``/proc/<pid>/clear_refs`` (Linux >= 4.0:
     ``VmHWM`` := current ``VmRSS``), read ``VmRSS`` again (the baseline: stored data plus
     whatever heap the Go runtime kept from the load), run the one query, read ``VmHWM``.
     ``rss_delta`` = ``VmHWM`` after the query - baseline ``VmRSS``: the query's own peak
     resident growth. ``rss_peak`` = max(load ``VmHWM``, query ``VmHWM``): the process's
     peak. Caveat: the load's garbage stays resident (no GC runs after it: measured
     baseline ~= load peak) and the query's allocations reuse it, so ``rss_delta`` is a
     lower bound of what the query needs; both engines of a comparison start from the same
     load. A host that offers ``POST /debug/freememory`` (``runtime.GC()`` +
     ``debug.FreeOSMemory()``) gets it called after the load, which removes the caveat.
4. :func:`compare` -- per query and in total, ratios target/reference (and target/control)
   of each metric: median, geometric mean, worst case, ratio of sums, and the list of
   queries where the target is slower or uses more memory than the reference (findings).

``python -m promfuzz.benchmarks.engines --reference prometheus --target mqe --series 1000
--hours 6 --queries 30`` prints the table and writes ``report.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from promfuzz.engines.base import EngineLoadError
from promfuzz.engines.host import LOAD_TIMEOUT_S, HostCrashed, HostEngine, HostProcess
from promfuzz.engines.registry import HOST_ENGINES, default_build_dir
from promfuzz.errors import ConfigError
from promfuzz.generators.choices import RandomChoices
from promfuzz.generators.queries import QueryConfig, generate_queries
from promfuzz.generators.schema import DatasetSchema, MetricInfo
from promfuzz.model import EvalParams, Result

SCRAPE_MS = 15_000
HOUR_MS = 3_600_000
RSS_SETTLE_S = 0.2
CONTROL_TOLERANCE = 1.1
"""A target within 10% of the same-build control is "as slow/big as its own build"."""
"""Pause between the load and the baseline RSS reading (same for every engine)."""

JOBS = ("api", "web", "checkout", "auth", "search", "ingest", "cache", "db")
CLUSTERS = ("eu-west", "us-east")
BUCKETS_LE = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")
HTTP_SERIES = (("GET", "200"), ("GET", "404"), ("GET", "500"), ("POST", "200"), ("POST", "500"))
NATIVE_SPAN_OFFSET = -8  # schema 0: bucket i covers (2^(i-1), 2^i]; -8..1 is ~4 ms..2 s
NATIVE_BUCKETS = 10

METRICS = (
    "up",
    "build_info",
    "process_resident_memory_bytes",
    "go_goroutines",
    "process_cpu_seconds_total",
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count",
)
NATIVE_METRIC = "http_request_duration_native_seconds"


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class BenchDataset:
    """A generated dataset as the ``/load`` body, with its schema for the query generator."""

    body: bytes
    schema: DatasetSchema
    series: int
    float_samples: int
    histogram_samples: int
    start_ms: int
    end_ms: int
    build_s: float

    def describe(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "float_samples": self.float_samples,
            "histogram_samples": self.histogram_samples,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "json_bytes": len(self.body),
            "build_seconds": round(self.build_s, 3),
        }


def _series_per_target(native: bool) -> int:
    return 5 + len(HTTP_SERIES) + len(BUCKETS_LE) + 2 + (1 if native else 0)


def _labels_json(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(labels), separators=(",", ":"), sort_keys=True)


def _samples_json(ts: Sequence[str], values: Sequence[str]) -> str:
    return ",".join(f"[{t},{v}]" for t, v in zip(ts, values, strict=True))


def build_dataset(series: int, hours: float, seed: int = 1) -> BenchDataset:
    """About ``series`` series (whole targets of ~21 series) of ``hours`` hours at 15 s.

    Built straight into the ``/load`` JSON: plain Python, one pass per series."""
    if series < 1 or hours <= 0:
        raise ConfigError("--series must be >= 1 and --hours > 0")
    t0 = time.perf_counter()
    rng = random.Random(seed)
    steps = int(hours * HOUR_MS // SCRAPE_MS) + 1
    ts = [str(i * SCRAPE_MS) for i in range(steps)]
    end_ms = (steps - 1) * SCRAPE_MS
    per_target = (_series_per_target(True) + _series_per_target(False)) / 2
    n_targets = max(1, round(series / per_target))
    parts: list[str] = []
    n_series = n_float = n_hist = 0
    label_values: dict[str, set[str]] = {}
    metric_labels: dict[str, set[str]] = {}
    metric_count: dict[str, int] = {}

    def emit(labels: dict[str, str], values: Sequence[str]) -> None:
        nonlocal n_series, n_float
        parts.append('{"labels":' + _labels_json(labels) + ',"samples":[' + _samples_json(ts, values) + "]}")
        n_series += 1
        n_float += len(values)
        name = labels["__name__"]
        metric_count[name] = metric_count.get(name, 0) + 1
        ls = metric_labels.setdefault(name, set())
        for k, v in labels.items():
            if k != "__name__":
                ls.add(k)
                label_values.setdefault(k, set()).add(v)

    def counter(rate: float, reset_at: int | None) -> list[str]:
        out = []
        total = rng.uniform(0, 1000) * rate
        for i in range(steps):
            if i == reset_at:
                total = 0.0
            total += rate * 15 * rng.uniform(0.5, 1.5)
            out.append(f'"{int(total)}"')
        return out

    for k in range(n_targets):
        job = JOBS[k % len(JOBS)]
        pod = f"{job}-{rng.getrandbits(20):05x}"
        base = {
            "cluster": CLUSTERS[k % len(CLUSTERS)],
            "namespace": f"team-{k % 3}",
            "job": job,
            "instance": f"10.{k // 250}.{k % 250}.{rng.randint(2, 250)}:8080",
            "pod": pod,
        }
        reset_at = rng.randrange(steps) if rng.random() < 0.1 else None
        down = rng.randrange(steps) if rng.random() < 0.05 else None
        emit(
            {"__name__": "up", **base},
            ['"0"' if down is not None and down <= i < down + 8 else '"1"' for i in range(steps)],
        )
        emit({"__name__": "build_info", **base, "version": f"1.{k % 4}.0"}, ['"1"'] * steps)
        mem = rng.uniform(50e6, 2e9)
        emit(
            {"__name__": "process_resident_memory_bytes", **base},
            [f'"{int(mem * (1 + 0.2 * math.sin(i / 240 + k)))}"' for i in range(steps)],
        )
        gor = rng.randint(20, 400)
        emit({"__name__": "go_goroutines", **base}, [f'"{gor + rng.randint(-10, 10)}"' for _ in range(steps)])
        emit({"__name__": "process_cpu_seconds_total", **base}, counter(rng.uniform(0.01, 2.0), reset_at))
        for method, code in HTTP_SERIES:
            r = rng.uniform(1, 200) * (0.02 if code != "200" else 1.0)
            emit(
                {"__name__": "http_requests_total", **base, "method": method, "code": code},
                counter(r, reset_at),
            )
        # Classic histogram: a fixed latency CDF per target, counts cumulative in le and time.
        scale = rng.uniform(0.3, 3.0)
        cdf = [min(1.0, 1 - math.exp(-float(le) * 10 / scale)) if le != "+Inf" else 1.0 for le in BUCKETS_LE]
        totals: list[float] = []
        tot = rng.uniform(0, 1e4)
        rate = rng.uniform(5, 100)
        for i in range(steps):
            if i == reset_at:
                tot = 0.0
            tot += rate * 15 * rng.uniform(0.7, 1.3)
            totals.append(tot)
        for le, p in zip(BUCKETS_LE, cdf, strict=True):
            emit(
                {"__name__": "http_request_duration_seconds_bucket", **base, "le": le},
                [f'"{int(x * p)}"' for x in totals],
            )
        mean = 0.1 * scale
        emit({"__name__": "http_request_duration_seconds_sum", **base}, [f'"{x * mean:.3f}"' for x in totals])
        emit({"__name__": "http_request_duration_seconds_count", **base}, [f'"{int(x)}"' for x in totals])
        if k % 2 == 0:
            parts.append(_native_series(rng, {"__name__": NATIVE_METRIC, **base}, ts, reset_at))
            n_series += 1
            n_hist += steps
            metric_count[NATIVE_METRIC] = metric_count.get(NATIVE_METRIC, 0) + 1
            metric_labels.setdefault(NATIVE_METRIC, set()).update(base)
    body = ('{"series":[' + ",".join(parts) + "]}").encode()
    metrics = tuple(
        MetricInfo(
            name,
            "histogram" if name == NATIVE_METRIC else "float",
            tuple(sorted(metric_labels[name])),
            metric_count[name],
        )
        for name in sorted(metric_count)
    )
    schema = DatasetSchema(
        metrics=metrics,
        label_values=tuple((k, tuple(sorted(v))) for k, v in sorted(label_values.items())),
        start_ms=0,
        end_ms=end_ms,
        interval_ms=SCRAPE_MS,
    )
    return BenchDataset(body, schema, n_series, n_float, n_hist, 0, end_ms, time.perf_counter() - t0)


def _native_series(
    rng: random.Random, labels: dict[str, str], ts: Sequence[str], reset_at: int | None
) -> str:
    """One counter native histogram (schema 0, 10 positive buckets) as dataset JSON."""
    weights = [rng.uniform(0.2, 1.0) * math.exp(-abs(i - 5) / 2) for i in range(NATIVE_BUCKETS)]
    wsum = sum(weights)
    counts = [0.0] * NATIVE_BUCKETS
    total_sum = 0.0
    rate = rng.uniform(5, 100)
    samples = []
    for i, t in enumerate(ts):
        if i == reset_at:
            counts = [0.0] * NATIVE_BUCKETS
            total_sum = 0.0
        n = int(rate * 15 * rng.uniform(0.7, 1.3))
        for b in range(NATIVE_BUCKETS):
            counts[b] += int(n * weights[b] / wsum)
        total_sum += n * 0.08
        count = sum(counts)
        buckets = ",".join(f'"{int(c)}"' for c in counts)
        samples.append(
            f'[{t},{{"schema":0,"count":"{int(count)}","sum":"{total_sum:.3f}",'
            f'"positive_spans":[[{NATIVE_SPAN_OFFSET},{NATIVE_BUCKETS}]],"positive_buckets":[{buckets}]}}]'
        )
    return '{"labels":' + _labels_json(labels) + ',"samples":[' + ",".join(samples) + "]}"


# --------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class BenchQuery:
    """One range query of the workload."""

    qid: str
    text: str
    params: EvalParams

    @property
    def range_hours(self) -> float:
        return (self.params.end_ms - self.params.start_ms) / HOUR_MS

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.qid,
            "query": self.text,
            **self.params.to_json_obj(),
            "points": self.params.steps(),
        }


RANGE_HOURS = (1, 3, 6, 12, 24)
STEPS_MS = (15_000, 30_000, 60_000, 120_000, 300_000)
MIN_POINTS, MAX_POINTS = 60, 1_440


def workload_config() -> QueryConfig:
    """The realistic profile without experimental functions/syntax (not every engine has
    them), without deliberately invalid queries, with few empty selectors and no surface
    variants (texts are printed canonically)."""
    return QueryConfig.realistic(
        max_depth=3,
        experimental=False,
        experimental_syntax=False,
        invalid_p=0.0,
        no_match_p=0.01,
        variant_p=0.0,
        top_types=(("vector", 1.0),),
    )


def build_workload(schema: DatasetSchema, n: int, seed: int = 1) -> list[BenchQuery]:
    """``n`` distinct range queries that select data, ending at the end of the data."""
    choices = RandomChoices(seed)
    rng = random.Random(seed * 7919 + 1)
    span_ms = schema.end_ms - schema.start_ms
    out: list[BenchQuery] = []
    seen: set[str] = set()
    rounds = 0
    while len(out) < n and rounds < 50:
        rounds += 1
        for g in generate_queries(choices, schema, n * 2, workload_config()):
            if len(out) >= n:
                break
            if g.invalid is not None or g.text in seen or not any(m.name in g.text for m in schema.metrics):
                continue
            seen.add(g.text)
            hours = [h for h in RANGE_HOURS if h * HOUR_MS <= span_ms] or [max(1, span_ms // HOUR_MS)]
            rng_ms = min(rng.choice(hours) * HOUR_MS, span_ms)
            steps = [s for s in STEPS_MS if MIN_POINTS <= rng_ms // s + 1 <= MAX_POINTS] or [STEPS_MS[0]]
            step = rng.choice(steps)
            end = schema.end_ms
            out.append(BenchQuery(f"q{len(out) + 1:03d}", g.text, EvalParams.range(end - rng_ms, end, step)))
    return out


# --------------------------------------------------------------------------- measurement


@dataclass(frozen=True)
class Measurement:
    """One engine on one query: medians over the repeats (None when never measured)."""

    engine: str
    qid: str
    outcome: str
    error: str = ""
    engine_ns: float | None = None
    wall_ns: float | None = None
    alloc_bytes: float | None = None
    peak_estimate_bytes: float | None = None
    samples: float | None = None
    series_out: int | None = None
    rss_delta_bytes: float | None = None
    rss_peak_bytes: float | None = None
    rss_baseline_bytes: float | None = None
    load_hwm_bytes: float | None = None
    runs: dict[str, list[float]] = field(default_factory=dict)


def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS``, ``VmHWM`` (bytes) of a process, from ``/proc/<pid>/status``."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def reset_hwm(pid: int) -> None:
    """Reset the peak RSS (``VmHWM``) of ``pid`` to its current RSS."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def _median(xs: Sequence[float]) -> float | None:
    return float(statistics.median(xs)) if xs else None


def _open_host(engine: str, build_dir: Path) -> HostEngine:
    spec = HOST_ENGINES.get(engine)
    if spec is None:
        raise ConfigError(f"engine {engine!r} is not a Go host engine; choose from {', '.join(HOST_ENGINES)}")
    proc = HostProcess(build_dir / spec.binary, host_name=spec.binary)
    return HostEngine(proc, spec.engine, name=engine, full_histograms=False, owns_process=True)


def _load(eng: HostEngine, ds: BenchDataset) -> float:
    """POST the prebuilt ``/load`` body to the engine's host (started if needed); the
    host's own load time in seconds."""
    try:
        r = eng.process.request(
            "POST", "/load", LOAD_TIMEOUT_S, data=ds.body, headers={"Content-Type": "application/json"}
        )
    except HostCrashed as e:
        raise EngineLoadError(f"loading the bench dataset into {eng.name}: {e.message}") from e
    if r.status_code != 200:
        raise EngineLoadError(
            f"{eng.name} host refused the bench dataset (HTTP {r.status_code}): {r.text[:500]}"
        )
    return float(r.json().get("loadNs", 0)) / 1e9


def _query(eng: HostEngine, ds: BenchDataset, q: BenchQuery, timeout_s: float) -> Result:
    """Run ``q``; a host that died on an earlier query is restarted and reloaded first."""
    if not eng.process.alive():
        _load(eng, ds)
    return eng.query(q.text, q.params, timeout_s)


def _check(r: Result) -> tuple[str, str]:
    if r.ok:
        return "ok", ""
    msg = r.error.message if r.error is not None else ""
    return r.outcome, msg[:300]


def measure_latency(
    engine: str,
    ds: BenchDataset,
    queries: Sequence[BenchQuery],
    repeats: int,
    build_dir: Path,
    timeout_s: float,
    log: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """One host, one load; a warm-up run then ``repeats`` round-robin runs of each query."""
    runs: dict[str, dict[str, list[float]]] = {q.qid: {} for q in queries}
    status: dict[str, tuple[str, str, int | None]] = {}
    with contextlib.closing(_open_host(engine, build_dir)) as eng:
        t0 = time.perf_counter()
        _load(eng, ds)
        log(f"  {engine}: loaded in {time.perf_counter() - t0:.1f}s")
        for q in queries:  # warm-up; also the outcome of record
            r = _query(eng, ds, q, timeout_s)
            status[q.qid] = (*_check(r), len(r.series) if r.ok else None)
        for _ in range(repeats):
            for q in queries:
                if status[q.qid][0] != "ok":
                    continue
                r = _query(eng, ds, q, timeout_s)
                if not r.ok:
                    continue
                st = r.stats
                d = runs[q.qid]
                d.setdefault("engine_ns", []).append(st.engine_ns)
                d.setdefault("wall_ns", []).append(st.wall_ns)
                d.setdefault("alloc_bytes", []).append(st.alloc_bytes)
                d.setdefault("peak_estimate_bytes", []).append(st.peak_bytes)
                d.setdefault("samples", []).append(st.samples)
    return {qid: {"status": status[qid], "runs": runs[qid]} for qid in runs}


FREE_MEMORY_PATH = "/debug/freememory"


def free_host_memory(eng: HostEngine) -> bool:
    """Ask the host to collect the load's garbage and return it to the OS (an endpoint
    running ``runtime.GC(); debug.FreeOSMemory()``), if the host has one. Without it the
    load's garbage stays resident and the query's allocations reuse it, so ``rss_delta``
    is only a lower bound. True when the host did it."""
    try:
        r = eng.process.request("POST", FREE_MEMORY_PATH, 60.0)
    except HostCrashed:
        return False
    return r.status_code == 200


def measure_rss(
    engine: str, ds: BenchDataset, q: BenchQuery, build_dir: Path, timeout_s: float
) -> dict[str, float] | None:
    """A fresh host: load, reset VmHWM, run ``q`` once; the process's RSS figures."""
    with contextlib.closing(_open_host(engine, build_dir)) as eng:
        _load(eng, ds)
        pid = eng.process.pid
        assert pid is not None
        freed = free_host_memory(eng)
        time.sleep(RSS_SETTLE_S)
        load_hwm = proc_status(pid)["VmHWM"]
        reset_hwm(pid)
        base = proc_status(pid)["VmRSS"]
        r = _query(eng, ds, q, timeout_s)
        if not r.ok:
            return None
        after = proc_status(pid)
        return {
            "rss_delta_bytes": float(after["VmHWM"] - base),
            "rss_peak_bytes": float(max(load_hwm, after["VmHWM"])),
            "rss_baseline_bytes": float(base),
            "load_hwm_bytes": float(load_hwm),
            "freed_after_load": float(freed),
        }


def measure_engine(
    engine: str,
    ds: BenchDataset,
    queries: Sequence[BenchQuery],
    *,
    repeats: int = 3,
    rss_repeats: int = 1,
    rss_queries: int | None = None,
    build_dir: Path | None = None,
    timeout_s: float = 60.0,
    log: Callable[[str], None] = lambda s: None,
) -> list[Measurement]:
    """Latency, allocations and peak RSS of every query on one engine (peak RSS of the
    first ``rss_queries`` only, when given: a fresh process per run is slow on big data)."""
    bdir = build_dir or default_build_dir()
    lat = measure_latency(engine, ds, queries, repeats, bdir, timeout_s, log)
    out = []
    t0 = time.perf_counter()
    for i, q in enumerate(queries):
        outcome, err, n_series = lat[q.qid]["status"]
        runs: dict[str, list[float]] = dict(lat[q.qid]["runs"])
        if outcome == "ok" and (rss_queries is None or i < rss_queries):
            for _ in range(rss_repeats):
                log(f"  {engine}: RSS {q.qid}")
                rss = measure_rss(engine, ds, q, bdir, timeout_s)
                if rss is not None:
                    for k, v in rss.items():
                        runs.setdefault(k, []).append(v)
        med = {k: _median(v) for k, v in runs.items()}
        out.append(
            Measurement(
                engine=engine,
                qid=q.qid,
                outcome=outcome,
                error=err,
                engine_ns=med.get("engine_ns"),
                wall_ns=med.get("wall_ns"),
                alloc_bytes=med.get("alloc_bytes"),
                peak_estimate_bytes=med.get("peak_estimate_bytes"),
                samples=med.get("samples"),
                series_out=n_series,
                rss_delta_bytes=med.get("rss_delta_bytes"),
                rss_peak_bytes=med.get("rss_peak_bytes"),
                rss_baseline_bytes=med.get("rss_baseline_bytes"),
                load_hwm_bytes=med.get("load_hwm_bytes"),
                runs=runs,
            )
        )
    log(f"  {engine}: RSS runs in {time.perf_counter() - t0:.1f}s")
    return out


# --------------------------------------------------------------------------- comparison

METRICS_COMPARED = ("engine_ns", "wall_ns", "alloc_bytes", "rss_delta_bytes", "rss_peak_bytes")
LATENCY_METRICS = ("engine_ns", "wall_ns")
MEMORY_METRICS = ("alloc_bytes", "rss_delta_bytes")


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return a / b


def _summary(ratios: Sequence[float], target_sum: float, ref_sum: float) -> dict[str, Any]:
    if not ratios:
        return {"n": 0}
    return {
        "n": len(ratios),
        "median": statistics.median(ratios),
        "geomean": math.exp(sum(math.log(r) for r in ratios) / len(ratios)),
        "min": min(ratios),
        "max": max(ratios),
        "sum_ratio": target_sum / ref_sum if ref_sum > 0 else None,
    }


def compare(
    target: Sequence[Measurement], reference: Sequence[Measurement], queries: Sequence[BenchQuery]
) -> dict[str, Any]:
    """Per-query ratios target/reference and their summaries; the queries where the target
    is slower (``engine_ns``) or uses more memory (``alloc_bytes`` or ``rss_delta_bytes``)."""
    by_t = {m.qid: m for m in target}
    by_r = {m.qid: m for m in reference}
    per_query: list[dict[str, Any]] = []
    ratios: dict[str, list[float]] = {k: [] for k in METRICS_COMPARED}
    sums: dict[str, list[float]] = {k: [0.0, 0.0] for k in METRICS_COMPARED}
    findings: list[dict[str, Any]] = []
    for q in queries:
        t, r = by_t.get(q.qid), by_r.get(q.qid)
        row: dict[str, Any] = {"id": q.qid, "ratios": {}}
        if t is None or r is None or t.outcome != "ok" or r.outcome != "ok":
            row["skipped"] = (
                f"target {t.outcome if t else 'missing'}, reference {r.outcome if r else 'missing'}"
            )
            per_query.append(row)
            continue
        for k in METRICS_COMPARED:
            tv, rv = getattr(t, k), getattr(r, k)
            x = _ratio(tv, rv)
            row["ratios"][k] = x
            if x is not None:
                ratios[k].append(x)
                sums[k][0] += tv
                sums[k][1] += rv
        worse = {
            k: row["ratios"][k]
            for k in ("engine_ns", *MEMORY_METRICS)
            if row["ratios"].get(k) is not None and row["ratios"][k] > 1.0
        }
        if worse:
            findings.append({"id": q.qid, "query": q.text, "worse": worse})
        per_query.append(row)
    return {
        "per_query": per_query,
        "summary": {k: _summary(ratios[k], *sums[k]) for k in METRICS_COMPARED},
        "findings": findings,
    }


def annotate_with_control(main: dict[str, Any], vs_control: Mapping[str, Any]) -> None:
    """Give each finding of ``main`` (target/reference) the same metrics' ratios
    target/control (``vs_control``) and say whether the control build is worse too
    (``same_build_too``: the target is within :data:`CONTROL_TOLERANCE` of its own build's
    Prometheus engine on every metric of the finding, so the gap is the build or storage
    rather than the engine)."""
    rows = {r["id"]: r.get("ratios", {}) for r in vs_control["per_query"]}
    for f in main["findings"]:
        ctl = rows.get(f["id"], {})
        f["vs_control"] = {k: ctl.get(k) for k in f["worse"]}
        f["same_build_too"] = all(v is not None and v <= CONTROL_TOLERANCE for v in f["vs_control"].values())


# --------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_bytes": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def host_versions(engines: Sequence[str], build_dir: Path) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for e in engines:
        spec = HOST_ENGINES[e]
        path = build_dir / spec.binary
        try:
            text = subprocess.run(
                ["go", "version", "-m", str(path)], capture_output=True, text=True, timeout=30, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            text = ""
        mods = {}
        for line in text.splitlines():
            f = line.split()
            if (
                len(f) >= 3
                and f[0] in ("dep", "=>")
                and any(m in f[1] for m in ("prometheus/prometheus", "grafana/mimir"))
            ):
                mods[f[1]] = f[2]
        out[e] = mods
    return out


@dataclass(frozen=True)
class BenchConfig:
    reference: str = "prometheus"
    target: str = "mqe"
    control: str | None = "mimir-prometheus"
    series: int = 1000
    hours: float = 6.0
    queries: int = 30
    seed: int = 1
    repeats: int = 3
    rss_repeats: int = 1
    rss_queries: int | None = None
    timeout_s: float = 60.0
    build_dir: Path | None = None

    @property
    def engines(self) -> tuple[str, ...]:
        es = [self.reference, self.target]
        if self.control and self.control not in es:
            es.append(self.control)
        return tuple(es)


def run_bench(
    cfg: BenchConfig, log: Callable[[str], None] = lambda s: None, command: str = ""
) -> dict[str, Any]:
    """Build the dataset and workload, measure every engine, compare. The JSON report."""
    bdir = cfg.build_dir or default_build_dir()
    for e in cfg.engines:
        _open_host(e, bdir)  # fails early, with the build hint, when a binary is missing
    ds = build_dataset(cfg.series, cfg.hours, cfg.seed)
    log(
        f"dataset: {ds.series} series, {ds.float_samples} float + {ds.histogram_samples} histogram samples, "
        f"{len(ds.body) / 1e6:.1f} MB JSON, built in {ds.build_s:.1f}s"
    )
    queries = build_workload(ds.schema, cfg.queries, cfg.seed)
    log(f"workload: {len(queries)} range queries")
    t0 = time.perf_counter()
    results: dict[str, list[Measurement]] = {}
    for e in cfg.engines:
        log(f"measuring {e}...")
        results[e] = measure_engine(
            e,
            ds,
            queries,
            repeats=cfg.repeats,
            rss_repeats=cfg.rss_repeats,
            rss_queries=cfg.rss_queries,
            build_dir=bdir,
            timeout_s=cfg.timeout_s,
            log=log,
        )
    comparisons = {
        f"{cfg.target}/{cfg.reference}": compare(results[cfg.target], results[cfg.reference], queries)
    }
    if cfg.control and cfg.control in results and cfg.control != cfg.target:
        comparisons[f"{cfg.target}/{cfg.control}"] = compare(
            results[cfg.target], results[cfg.control], queries
        )
        if cfg.control != cfg.reference:
            comparisons[f"{cfg.control}/{cfg.reference}"] = compare(
                results[cfg.control], results[cfg.reference], queries
            )
        annotate_with_control(
            comparisons[f"{cfg.target}/{cfg.reference}"], comparisons[f"{cfg.target}/{cfg.control}"]
        )
    return {
        "config": {
            **{k: v for k, v in asdict(cfg).items() if k != "build_dir"},
            "engines": list(cfg.engines),
        },
        "command": command,
        "machine": machine_info(),
        "versions": host_versions(cfg.engines, bdir),
        "dataset": ds.describe(),
        "queries": [q.describe() for q in queries],
        "measurements": {e: [asdict(m) for m in ms] for e, ms in results.items()},
        "comparisons": comparisons,
        "bench_seconds": round(time.perf_counter() - t0, 1),
        "method": {
            "latency": "median of host hostStats.engineNs / wallNs over repeats after one warm-up, one host per engine",
            "rss": "fresh host per run: load, POST /debug/freememory when the host has it "
            "(runs.freed_after_load), sleep 0.2s, VmHWM (load peak), echo 5 > /proc/pid/clear_refs, "
            "VmRSS (baseline), query, VmHWM; rss_delta = VmHWM - baseline",
        },
    }


# --------------------------------------------------------------------------- table


def _fmt_ns(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1e9:
        return f"{x / 1e9:.2f}s"
    return f"{x / 1e6:.1f}ms"


def _fmt_bytes(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1e9:
        return f"{x / 1e9:.2f}GB"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.1f}MB"
    return f"{x / 1e3:.0f}kB"


def _fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns: the first and the last left-aligned, numbers right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, r in enumerate(rows):
        out.append(
            "  ".join(
                c.rjust(w) if 0 < i < len(r) - 1 else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def render_report(report: Mapping[str, Any], query_width: int = 60) -> str:
    """The report as plain-text tables (per query, then totals and findings)."""
    cfg = report["config"]
    ref, tgt = cfg["reference"], cfg["target"]
    ms = {e: {m["qid"]: m for m in v} for e, v in report["measurements"].items()}
    key = f"{tgt}/{ref}"
    cmp_main = report["comparisons"][key]
    ratios = {r["id"]: r for r in cmp_main["per_query"]}
    mach = report["machine"]
    d = report["dataset"]
    lines = [
        f"bench engines: {tgt} vs {ref} (control {cfg.get('control') or '-'}), seed {cfg['seed']}, "
        f"{cfg['repeats']} latency repeats, {cfg['rss_repeats']} RSS run(s) per query",
        f"machine: {mach['nproc']} CPUs, {mach['cpu_model']}, {_fmt_bytes(mach['mem_total_bytes'])} RAM",
        f"dataset: {d['series']} series, {d['float_samples']} float + {d['histogram_samples']} histogram samples, "
        f"{(d['end_ms'] - d['start_ms']) / HOUR_MS:g} h at 15 s, {_fmt_bytes(d['json_bytes'])} JSON",
        "",
    ]
    head = [
        "id",
        "range/step",
        f"{ref} exec",
        f"{tgt} exec",
        "x",
        f"{ref} alloc",
        f"{tgt} alloc",
        "x",
        f"{ref} dRSS",
        f"{tgt} dRSS",
        "x",
        f"{tgt} est",
        "query",
    ]
    rows = [head]
    for q in report["queries"]:
        qid = q["id"]
        r, t = ms[ref].get(qid, {}), ms[tgt].get(qid, {})
        rr = ratios.get(qid, {}).get("ratios", {})
        text = q["query"] if len(q["query"]) <= query_width else q["query"][: query_width - 3] + "..."
        if "skipped" in ratios.get(qid, {}):
            text = f"[{ratios[qid]['skipped']}] {text}"
        rows.append(
            [
                qid,
                f"{(q['end_ms'] - q['start_ms']) / HOUR_MS:g}h/{q['step_ms'] // 1000}s",
                _fmt_ns(r.get("engine_ns")),
                _fmt_ns(t.get("engine_ns")),
                _fmt_ratio(rr.get("engine_ns")),
                _fmt_bytes(r.get("alloc_bytes")),
                _fmt_bytes(t.get("alloc_bytes")),
                _fmt_ratio(rr.get("alloc_bytes")),
                _fmt_bytes(r.get("rss_delta_bytes")),
                _fmt_bytes(t.get("rss_delta_bytes")),
                _fmt_ratio(rr.get("rss_delta_bytes")),
                _fmt_bytes(t.get("peak_estimate_bytes")),
                text,
            ]
        )
    lines += _table(rows)
    lines.append("")
    srows = [["ratio", "metric", "n", "median", "geomean", "best", "worst", "sum ratio"]]
    for name, c in report["comparisons"].items():
        for k in METRICS_COMPARED:
            s = c["summary"][k]
            if not s.get("n"):
                srows.append([name, k, "0", "-", "-", "-", "-", "-"])
                continue
            srows.append(
                [
                    name,
                    k,
                    str(s["n"]),
                    _fmt_ratio(s["median"]),
                    _fmt_ratio(s["geomean"]),
                    _fmt_ratio(s["min"]),
                    _fmt_ratio(s["max"]),
                    _fmt_ratio(s["sum_ratio"]),
                ]
            )
    lines += _table(srows)
    lines.append("")
    f = cmp_main["findings"]
    lines.append(
        f"findings: {len(f)} queries where {tgt} is slower (engine_ns) or uses more memory "
        f"(alloc_bytes or rss_delta_bytes) than {ref}"
    )
    for x in f:
        worse = ", ".join(f"{k} x{v:.2f}" for k, v in x["worse"].items())
        ctl = ""
        if "vs_control" in x:
            vc = ", ".join(f"{k} x{_fmt_ratio(v)}" for k, v in x["vs_control"].items())
            note = "; control as slow/big: build or storage, not the engine" if x["same_build_too"] else ""
            ctl = f" (vs {cfg.get('control')}: {vc}{note})"
        lines.append(f"  {x['id']} [{worse}]{ctl} {x['query']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="promfuzz bench engines",
        description="Speed and memory of a target engine against a reference on generated range queries.",
    )
    p.add_argument("--reference", default="prometheus")
    p.add_argument("--target", default="mqe")
    p.add_argument("--control", default="mimir-prometheus", help="same-build control engine ('' for none)")
    p.add_argument("--series", type=int, default=1000)
    p.add_argument("--hours", type=float, default=6.0)
    p.add_argument("--queries", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="latency runs per query (after one warm-up)")
    p.add_argument("--rss-repeats", type=int, default=1, help="fresh-process RSS runs per query and engine")
    p.add_argument(
        "--rss-queries",
        type=int,
        default=None,
        help="measure peak RSS on the first N queries only (default all)",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="per-query timeout, seconds")
    p.add_argument("--build-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("reports/bench-engines"), help="folder for report.json")
    p.add_argument("--quiet", action="store_true")
    return p


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    return BenchConfig(
        reference=args.reference,
        target=args.target,
        control=args.control or None,
        series=args.series,
        hours=args.hours,
        queries=args.queries,
        seed=args.seed,
        repeats=max(1, args.repeats),
        rss_repeats=max(0, args.rss_repeats),
        rss_queries=args.rss_queries,
        timeout_s=args.timeout,
        build_dir=args.build_dir,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)

    def log(s: str) -> None:
        if not args.quiet:
            print(s, file=sys.stderr, flush=True)

    report = run_bench(cfg, log, command=" ".join(["promfuzz bench engines", *argv]))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "report.json"
    path.write_text(json.dumps(report, indent=1, sort_keys=True))
    print(render_report(report))
    print(f"\nJSON report: {path}")
    return 0


def iter_findings(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every finding of every comparison, tagged with the comparison's name."""
    for name, c in report["comparisons"].items():
        for f in c["findings"]:
            yield {"comparison": name, **f}


if __name__ == "__main__":
    raise SystemExit(main())
