"""thanos-live: a real Thanos Receive + Query the suite starts (loopback only, a fresh
tenant per dataset, verified loads, Query on the Thanos engine), compared with the
in-process ``thanos`` host; and the pure pieces of the ``query`` read-back."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from promfuzz.engines.base import EngineLoadError
from promfuzz.engines.http import DatasetNotLoadableError, HttpEngine, readback_query_mismatches
from promfuzz.engines.procnet import listeners, non_loopback
from promfuzz.engines.thanos_live import (
    TENANT_HEADER,
    TENANT_LABEL,
    ThanosLiveEngine,
    ThanosServers,
    find_binary,
    query_args,
    receive_args,
)
from promfuzz.model import Dataset, EvalParams, Histogram, Point, Result, ResultSeries, stale_nan

BUILD = Path(__file__).resolve().parents[2] / ".build"
H = Histogram(count=3, sum=5, positive_spans=((0, 2),), positive_buckets=(1, 2))


def skip_or_fail(message: str) -> None:
    """Skip locally; fail under CI=true (as tests/engines/conftest.py does for hosts)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def thanos_binary() -> Path:
    path = find_binary(BUILD)
    if not path.is_file():
        skip_or_fail(f"{path} is missing: run `make thanos` (or `make deps`)")
    return path


def ds_a() -> Dataset:
    return Dataset.build(
        [
            ({"__name__": "a", "job": "x"}, [(0, 1.0), (15_000, math.nan), (30_000, stale_nan()), (45_000, 3.0),
                                            (60_000, math.inf)]),
            ({"__name__": "g", "job": "y"}, [(t * 15_000, t * 0.5) for t in range(40)]),
            ({"__name__": "h"}, [(t * 15_000, H) for t in range(4)]),
        ]
    )


def ds_b() -> Dataset:
    return Dataset.build([({"__name__": "b"}, [(t * 15_000, float(t)) for t in range(10)])])


# ------------------------------------------------------------------- pure pieces


def _matrix(series: list[ResultSeries]) -> Result:
    return Result("t", "ok", "matrix", tuple(series))


def test_every_listen_address_is_loopback_on_an_os_picked_port() -> None:
    args = receive_args(Path("/tmp/x")) + query_args("127.0.0.1:1")
    addrs = [a.split("=", 1)[1] for a in args if a.split("=")[0].endswith("address")]
    assert len(addrs) == 6 and all(a == "127.0.0.1:0" for a in addrs), addrs
    assert "--query.promql-engine=thanos" in args and "--query.enforce-tenancy" in args


def test_query_readback_compare_finds_lost_and_changed_samples() -> None:
    ds = Dataset.build([({"__name__": "m"}, [(0, 1.0), (15_000, stale_nan()), (30_000, math.nan)])])
    lab = (("__name__", "m"),)
    good = _matrix([ResultSeries(lab, (Point(0, 1.0), Point(30_000, math.nan)))])
    assert readback_query_mismatches(ds, good) == []  # the stale marker is not expected back
    lost = _matrix([ResultSeries(lab, (Point(0, 1.0),))])
    assert "1 stored (missing t=[30000]" in readback_query_mismatches(ds, lost)[0].replace("2 samples sent, ", "")
    changed = _matrix([ResultSeries(lab, (Point(0, 2.0), Point(30_000, math.nan)))])
    assert "t=0: 1.0 stored as 2.0" in readback_query_mismatches(ds, changed)[0]
    assert "1 of 1 series not stored" in readback_query_mismatches(ds, _matrix([]))[0]


def test_registry_knows_thanos_live_and_its_same_build_reference(tmp_path: Path) -> None:
    from promfuzz.engines.registry import open_engine, resolve_reference

    assert resolve_reference("auto", "thanos-live") == "thanos-prometheus"
    fake = tmp_path / "thanos"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    eng = open_engine("thanos-live", build_dir=tmp_path)
    try:
        assert isinstance(eng, ThanosLiveEngine) and eng.name == "thanos-live" and eng.isolation == "tenant"
    finally:
        eng.close()


def test_missing_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from promfuzz.errors import HostNotBuiltError

    monkeypatch.setenv("PROMFUZZ_THANOS", str(tmp_path / "no-such-thanos"))
    with pytest.raises(HostNotBuiltError, match="make thanos"):
        ThanosLiveEngine(find_binary(BUILD))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        thanos_binary()


# ------------------------------------------------------------------- the real servers


@pytest.fixture(scope="module")
def thanos() -> Iterator[ThanosLiveEngine]:
    eng = ThanosLiveEngine(thanos_binary())
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def thanos_host() -> Iterator[object]:
    from promfuzz.engines.registry import open_engine

    if not (BUILD / "thanos-host").is_file():
        skip_or_fail(f"{BUILD / 'thanos-host'} is missing: run `make hosts`")
    eng = open_engine("thanos")
    yield eng
    eng.close()


@pytest.mark.live
def test_listens_on_loopback_only(thanos: ThanosLiveEngine) -> None:
    thanos.load(ds_b())
    found = thanos.server.listeners()
    assert set(found) == {"receive", "query"}
    for role, socks in found.items():
        assert socks, f"no listener found for {role}"
        assert all(s.ip == "127.0.0.1" for s in socks), f"{role} listens on {socks}"
    for pid in thanos.server.pids:
        assert non_loopback(pid) == []
    assert thanos.server.receive is not None and thanos.server.query is not None
    assert {p for p in thanos.server.receive.ports.values()} <= {s.port for s in found["receive"]}
    assert thanos.server.query_url == f"http://127.0.0.1:{thanos.server.query.ports['http']}"


@pytest.mark.live
def test_load_read_back_and_queries_agree_with_the_in_process_engine(thanos: ThanosLiveEngine,
                                                                     thanos_host: object) -> None:
    info = thanos.load(ds_a())
    assert info.series == 3
    back = thanos.readback()
    assert readback_query_mismatches(ds_a(), back) == []
    assert all(TENANT_LABEL not in dict(s.labels) for s in back.series)  # removed by deduplication
    thanos_host.load(ds_a())  # type: ignore[attr-defined]
    queries = [
        ("a", EvalParams.instant(20_000)),
        ("a", EvalParams.instant(50_000)),
        ("sum(g)", EvalParams.range(0, 600_000, 15_000)),
        ("rate(g[1m])", EvalParams.range(60_000, 600_000, 30_000)),
        ("histogram_count(h)", EvalParams.instant(40_000)),
        ("timestamp(g)", EvalParams.instant(31_000)),
        ('count by (job) ({__name__=~".+"})', EvalParams.instant(45_000)),
    ]
    for text, params in queries:
        live = thanos.query(text, params)
        host = thanos_host.query(text, params)  # type: ignore[attr-defined]
        assert live.ok and host.ok, (text, live.error, host.error)
        got = sorted((s.labels, s.points) for s in live.series)
        want = sorted((s.labels, s.points) for s in host.series)
        assert got == want, (text, got, want)
    assert thanos.query("sum(", EvalParams.instant(0)).outcome == "error"


@pytest.mark.live
def test_datasets_are_isolated_by_tenant_in_one_server(thanos: ThanosLiveEngine) -> None:
    thanos.load(ds_a())
    tenant_a, pids = thanos.tenant, thanos.server.pids
    thanos.load(ds_b())
    assert thanos.tenant != tenant_a and thanos.server.pids == pids  # same servers, new tenant
    r = thanos.query('{__name__=~".+"}', EvalParams.instant(30_000))
    assert r.ok and {s.labels for s in r.series} == {(("__name__", "b"),)}
    # The same dataset again (a shrink candidate equal to it) is a fresh tenant too.
    thanos.load(ds_a())
    thanos.load(ds_b())
    assert {s.labels for s in thanos.query('{__name__=~".+"}', EvalParams.instant(30_000)).series} == {
        (("__name__", "b"),)}


@pytest.mark.live
def test_a_load_that_does_not_read_back_fails(thanos: ThanosLiveEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fault the read-back must catch: Query showing one sample fewer than was sent."""
    thanos.load(ds_b())
    client = thanos._client
    assert isinstance(client, HttpEngine)
    real = client.query_readback

    def lossy(ds: Dataset) -> Result:
        r = real(ds)  # empty until Query has seen the new tenant, then b's last sample is lost
        return _matrix([ResultSeries(s.labels, s.points[:-1] if s.labels == (("__name__", "b"),) else s.points)
                        for s in r.series])

    monkeypatch.setattr(client, "query_readback", lossy)
    monkeypatch.setattr(client, "readback_wait_s", 3.0)
    with pytest.raises(EngineLoadError, match=r"b: 10 samples sent, 9 stored \(missing t=\[135000\]"):
        thanos.load(Dataset.build([({"__name__": "b"}, [(t * 15_000, float(t)) for t in range(10)]),
                                   ({"__name__": "c"}, [(0, 1.0)])]))


@pytest.mark.live
def test_a_dataset_with_the_tenant_label_is_refused(thanos: ThanosLiveEngine) -> None:
    with pytest.raises(DatasetNotLoadableError, match=TENANT_LABEL):
        thanos.load(Dataset.build([({"__name__": "m", TENANT_LABEL: "x"}, [(0, 1.0)])]))


@pytest.mark.live
def test_writes_and_reads_in_different_tenants_fail_the_load_in_one_line() -> None:
    """Bad input: the read tenant differs from the write tenant. Query takes the tenant
    from ``X-Scope-OrgID`` (a gateway's header, set to another tenant), Receive from
    THANOS-TENANT (the fresh tenant promfuzz writes to): the read-back through Query finds
    nothing, a one-line load failure instead of a run of empty answers."""
    srv = ThanosServers(thanos_binary(), query_tenant_header="X-Scope-OrgID")
    try:
        url = srv.start()
        eng = HttpEngine(url, name="thanos-mismatch", profile="thanos", write_url=srv.write_url, env={},
                         headers={"X-Scope-OrgID": "someone-else"})
        eng.readback_wait_s = 3.0
        with pytest.raises(EngineLoadError) as ei:
            eng.load(ds_b())
        assert "\n" not in str(ei.value) and "1 of 1 series not stored (e.g. b)" in str(ei.value)
        assert eng._session.headers[TENANT_HEADER].startswith("promfuzz-")
        eng.close()
    finally:
        srv.close()


@pytest.mark.live
def test_stop_by_pid() -> None:
    eng = ThanosLiveEngine(thanos_binary())
    eng.load(ds_b())
    pids = eng.server.pids
    assert len(pids) == 2 and all(Path(f"/proc/{p}").exists() for p in pids)
    assert all(listeners(p) for p in pids)
    eng.close()
    assert not eng.server.alive() and eng.server.pids == []
    assert not any(Path(f"/proc/{p}").exists() and "zombie" not in Path(f"/proc/{p}/status").read_text().lower()
                   for p in pids)
