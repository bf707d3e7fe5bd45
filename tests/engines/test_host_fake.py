"""HostProcess / HostEngine supervision against the Python fake host (fast path)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from promfuzz.engines.base import Engine, EngineLoadError
from promfuzz.engines.host import HostEngine, HostProcess, HostStartError
from promfuzz.errors import HostNotBuiltError
from promfuzz.model import Dataset, EvalParams, stale_nan

DS1 = Dataset.build([({"__name__": "a", "job": "x"}, [(0, 1.0), (15_000, 2.0), (30_000, stale_nan())])])
DS2 = Dataset.build([({"__name__": "b"}, [(0, 5.0)]), ({"__name__": "c"}, [(0, 1.0), (60_000, 2.0)])])
T0 = EvalParams.instant(0)


def _scalar(engine: HostEngine, text: str) -> float:
    r = engine.query(text, T0)
    assert r.ok, r
    assert r.scalar is not None and isinstance(r.scalar.v, float)
    return r.scalar.v


def test_missing_binary_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(HostNotBuiltError, match=r"make hosts"):
        HostProcess(tmp_path / "no-such-host")


def test_start_prints_ready_and_engine_satisfies_protocol(fake_host_binary: Path) -> None:
    with HostProcess(fake_host_binary) as proc:
        eng = HostEngine(proc, "fake")
        assert isinstance(eng, Engine)
        assert proc.ready.addr.startswith("127.0.0.1:")
        assert proc.ready.pid == proc.pid
        assert eng.versions()["fake/module"] == "v0.0.1"
        r = eng.query("anything", EvalParams.instant(1500))
        assert r.ok and r.value_type == "scalar"
        assert r.scalar is not None and r.scalar.t == 1500 and r.scalar.v == 1.5
        assert r.stats.engine_ns == 500


def test_host_without_ready_line_times_out(make_fake_host: Callable[[str], Path]) -> None:
    proc = HostProcess(make_fake_host("--no-ready"), start_timeout_s=1.0)
    with pytest.raises(HostStartError, match="no ready line"):
        proc.start()
    assert not proc.alive()
    proc.close()


def test_host_that_exits_at_start_reports_stderr(make_fake_host: Callable[[str], Path]) -> None:
    proc = HostProcess(make_fake_host("--bogus-flag"), start_timeout_s=10.0)
    with pytest.raises(HostStartError, match=r"(?s)exit code 2.*unrecognized arguments"):
        proc.start()
    proc.close()


def test_load_once_per_process_per_fingerprint(fake_host_binary: Path) -> None:
    with HostProcess(fake_host_binary) as proc:
        a = HostEngine(proc, "fake", name="a")
        b = HostEngine(proc, "fake", name="b")
        first = a.load(DS1)
        assert not first.reused and first.series == 1 and first.floats == 3 and first.load_ns == 1234
        assert b.load(DS1).reused
        assert b.load(DS2).series == 2
        # a's next query must see its own dataset again, reloaded transparently
        r = a.query("loaded", T0)
        assert [dict(s.labels)["__name__"] for s in r.series] == ["a"]
        assert a.dump() == DS1
        assert b.dump() == DS2


def test_crash_mid_query_is_engine_failure_then_restart_reloads(fake_host_binary: Path) -> None:
    with HostProcess(fake_host_binary) as proc:
        eng = HostEngine(proc, "fake")
        eng.load(DS2)
        pid_before = _scalar(eng, "pid")
        r = eng.query("crash", T0)
        assert r.outcome == "engine_failure"
        assert r.error is not None and r.error.error_type == "engine_crash"
        assert "exit code 2" in r.error.message and "panic: fake crash requested" in r.error.message
        pid_after = _scalar(eng, "pid")
        assert pid_after != pid_before
        assert proc.restarts == 1
        r = eng.query("loaded", T0)
        assert len(r.series) == 2, "dataset reloaded after restart"


def test_sigkill_from_outside_is_noticed(fake_host_binary: Path) -> None:
    with HostProcess(fake_host_binary) as proc:
        eng = HostEngine(proc, "fake")
        eng.load(DS1)
        os.kill(proc.ready.pid, signal.SIGKILL)
        time.sleep(0.1)
        r = eng.query("loaded", T0)
        # the host was dead before the query: it is restarted and the query answered
        assert r.ok and len(r.series) == 1


def test_hang_past_timeout_kills_host_and_returns_timeout(fake_host_binary: Path) -> None:
    with HostProcess(fake_host_binary, grace_s=0.5) as proc:
        eng = HostEngine(proc, "fake")
        pid = proc.pid
        t0 = time.monotonic()
        r = eng.query("hang", T0, timeout_s=0.5)
        assert time.monotonic() - t0 < 5
        assert r.outcome == "timeout"
        assert r.error is not None and r.error.error_type == "host_hang" and "killed" in r.error.message
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert eng.query("x", T0).ok


def test_engine_reported_timeout_and_errors(fake_host_binary: Path) -> None:
    with HostProcess(fake_host_binary) as proc:
        eng = HostEngine(proc, "fake")
        r = eng.query("slow:0.3", T0, timeout_s=0.1)
        assert r.outcome == "timeout" and r.error is not None and r.error.error_type == "timeout"
        assert eng.query("slow:0.05", T0, timeout_s=2).ok
        assert eng.query("error", T0).outcome == "error"
        assert eng.query("unsupported", T0).outcome == "unsupported"
        p = eng.query("panic", T0)
        assert p.outcome == "engine_failure" and p.error is not None and p.error.error_type == "engine_panic"


def test_batch_results_in_order_and_crash_in_batch_isolated(fake_host_binary: Path) -> None:
    with HostProcess(fake_host_binary) as proc:
        eng = HostEngine(proc, "fake", batch_size=3)
        items = [(f"q{i}", EvalParams.instant(i * 1000)) for i in range(7)]
        items.insert(4, ("crash", T0))
        items.append(("error", T0))
        results = eng.query_many(items)
        assert len(results) == len(items)
        outcomes = [r.outcome for r in results]
        assert outcomes[4] == "engine_failure"
        assert outcomes[:4] == ["ok"] * 4 and outcomes[5:8] == ["ok"] * 3 and outcomes[8] == "error"
        assert [r.scalar.t for r in results if r.scalar is not None] == [i * 1000 for i in range(7)]


def test_close_stops_process_by_eof(fake_host_binary: Path) -> None:
    proc = HostProcess(fake_host_binary)
    proc.start()
    pid = proc.pid
    assert pid is not None
    proc.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not proc.alive()


def test_load_refused_raises_engine_load_error(fake_host_binary: Path) -> None:
    with HostProcess(fake_host_binary) as proc:
        # send a body that is not a dataset through the raw request path
        r = proc.request("POST", "/load", 5.0, data=b"{", headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        # and a refused load through load() surfaces as EngineLoadError
        bad = _BadDataset()
        with pytest.raises(EngineLoadError, match="refused"):
            proc.load(bad, "fp")  # type: ignore[arg-type]


class _BadDataset:
    series: tuple[object, ...] = ()

    def to_json(self) -> str:
        return '{"series": 1}'

    def fingerprint(self) -> str:
        return "bad"
