"""Supervision and batching against the real Go prometheus host (``make hosts``)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from promfuzz.engines.host import HostEngine, HostProcess
from promfuzz.engines.registry import EngineRegistry
from promfuzz.model import Dataset, EvalParams, Histogram, stale_nan

pytestmark = pytest.mark.hosts

EXPENSIVE = "count_over_time(vector(1)[6h:1ms])"  # ~21.6M samples: several seconds
H = Histogram(schema=0, count=4, sum=5, positive_spans=((0, 2),), positive_buckets=(1, 3))
DS = Dataset.build(
    [
        ({"__name__": "a", "job": "x"}, [(0, 1.0), (15_000, 2.0), (30_000, stale_nan()), (60_000, 4.0)]),
        ({"__name__": "b"}, [(t * 15_000, float(t)) for t in range(40)]),
        ({"__name__": "h"}, [(0, H), (15_000, H), (45_000, H)]),
    ]
)


@pytest.fixture
def prom(real_binary: Callable[[str], Path]) -> Iterator[HostEngine]:
    proc = HostProcess(real_binary("prometheus-host"), grace_s=2.0)
    eng = HostEngine(proc, "prometheus", owns_process=True)
    eng.load(DS)
    yield eng
    eng.close()


def test_dump_is_the_loaded_dataset(prom: HostEngine) -> None:
    dumped = prom.dump()
    assert dumped is not None
    # floats and stale markers come back bit-exact; the histogram series differs only in
    # the counter-reset hints TSDB sets on read (see hosts/README.md)
    assert Dataset(dumped.series[:2]) == Dataset(DS.series[:2])
    assert [x.t for x in dumped.series[2].samples] == [0, 15_000, 45_000]


def test_sigkill_mid_query_is_engine_failure_then_restarted_host_answers(prom: HostEngine) -> None:
    pid = prom.process.pid
    assert pid is not None
    killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))
    killer.start()
    r = prom.query(EXPENSIVE, EvalParams.instant(0), timeout_s=60)
    killer.join()
    assert r.outcome == "engine_failure", r
    assert r.error is not None and "SIGKILL" in r.error.message
    after = prom.query("b", EvalParams.instant(30_000))
    assert after.ok and len(after.series) == 1 and after.series[0].points[0].v == 2.0
    assert prom.process.pid != pid and prom.process.restarts == 1


def test_query_past_timeout_is_timeout_result(prom: HostEngine) -> None:
    t0 = time.monotonic()
    # (a query that checks its context often; EXPENSIVE notices the deadline only after ~1.5 s)
    r = prom.query("sum_over_time(sum(b)[6h:1ms])", EvalParams.instant(7_000_000), timeout_s=0.3)
    assert time.monotonic() - t0 < 5
    assert r.outcome == "timeout" and r.error is not None and r.error.error_type == "timeout"
    assert prom.query("a", EvalParams.instant(0)).ok


def test_batch_equals_single_queries(prom: HostEngine) -> None:
    queries = [
        "a",
        "b",
        "h",
        "rate(b[1m])",
        "sum(b) by (job)",
        "1/0",
        "time()",
        '"s"',
        "b[1m]",
        "nosuch(",
        "histogram_count(h)",
    ]
    items = [(q, EvalParams.instant(t)) for q in queries for t in (0, 20_000, 61_000)]
    items += [(q, EvalParams.range(0, 120_000, 15_000)) for q in queries[:6]]
    single = [prom.query(q, p) for q, p in items]
    prom.batch_size = 7
    batch = prom.query_many(items)
    assert batch == single
    assert {r.outcome for r in batch} == {"ok", "error"}


def test_digest_only_answers_match_for_equal_values_and_decode_by_asking_again(prom: HostEngine) -> None:
    items = [(q, EvalParams.instant(20_000)) for q in ("a", "a", "b", "h", "nosuch(", "a offset 0s")]
    items.append(("rate(b[1m])", EvalParams.range(0, 120_000, 15_000)))
    bare = prom.query_many_raw(items, bodies=False)
    full = prom.query_many_raw(items)
    assert all(a.bodiless for a in bare) and not any(a.bodiless for a in full)
    d = [a.digest for a in bare]
    # The same value gives the same digest (also from another spelling); others differ.
    assert d[0] == d[1] == d[5] and len({d[0], d[2], d[3], d[4], d[6]}) == 5
    assert all(a.stats.engine_ns > 0 for a in bare)
    assert [a.result() for a in bare] == [a.result() for a in full]


def test_registry_shares_one_process_per_host(real_binary: Callable[[str], Path], build_dir: Path) -> None:
    real_binary("prometheus-host")
    with EngineRegistry(build_dir) as reg:
        a = reg.open("prometheus")
        b = reg.open("prometheus", name="prometheus-2")
        assert isinstance(a, HostEngine) and isinstance(b, HostEngine)
        assert a.process is b.process
        a.load(DS)
        assert b.load(DS).reused
        assert a.versions()["github.com/prometheus/prometheus"].startswith("v0.")


@pytest.mark.parametrize("step_ms", [32_474, 1_001, 15_000, 7])
def test_range_steps_are_exact_to_the_millisecond(prom: HostEngine, step_ms: int) -> None:
    """A step such as 32.474 s sent as float seconds became a 32473 ms interval (the API's
    float parse truncates); each point must sit at start + k * step, single and batched."""
    start = 1_234
    params = EvalParams.range(start, start + 10 * step_ms, step_ms)
    want = [start + k * step_ms for k in range(11)]
    single = prom.query("vector(1)", params)
    (batched,) = prom.query_many([("vector(1)", params)])
    for r in (single, batched):
        assert r.ok and [p.t for p in r.series[0].points] == want
