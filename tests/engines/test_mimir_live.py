"""mimir-live: a real Mimir monolith the suite starts (loopback listeners and advertised
addresses, a fresh tenant per load read back exactly, queries through the sharding and
splitting query-frontend compared with the in-process mqe), and its pure pieces."""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from promfuzz.engines import mimir_live
from promfuzz.engines.base import EngineLoadError
from promfuzz.engines.mimir_live import (
    MimirLiveEngine,
    MimirServer,
    advertised_addresses,
    config_addresses,
    exact_mismatches,
    find_binary,
    non_loopback_advertised,
    server_args,
    stale_as_histograms,
    unsupported_answer,
)
from promfuzz.engines.procnet import Listener, listeners
from promfuzz.engines.registry import resolve_reference
from promfuzz.model import Dataset, EvalParams, Histogram, Result, ResultError, is_stale, stale_nan

BUILD = Path(__file__).resolve().parents[2] / ".build"


def skip_or_fail(message: str) -> None:
    """Skip locally; fail under CI=true (tests/conftest.py also fails a skipped live test)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


H = Histogram(count=3, sum=2.5, positive_spans=((0, 2),), positive_buckets=(1, 2))


def stale(v: object) -> bool:
    return not isinstance(v, Histogram) and is_stale(v)  # type: ignore[arg-type]


def ds_a() -> Dataset:
    return Dataset.build(
        [
            ({"__name__": "a", "job": "x"}, [(0, 1.0), (15_000, math.nan), (30_000, stale_nan()), (45_000, 3.0),
                                            (60_000, math.inf)]),
            *[({"__name__": "g", "job": "y", "i": str(i)}, [(t * 15_000, t * 0.5 + i) for t in range(241)])
              for i in range(6)],
            # The stale marker opens the second 30-minute write request (see stale_as_histograms).
            ({"__name__": "h"}, [(0, H), (60_000, H), (1_900_000, stale_nan()), (1_960_000, H)]),
            ({"__name__": "u", "k8s.pod": "p-1"}, [(0, 1.0)]),  # a UTF-8 label name
        ]
    )


def ds_b() -> Dataset:
    return Dataset.build([({"__name__": "b"}, [(t * 15_000, float(t)) for t in range(10)])])


# ------------------------------------------------------------------- pure pieces


def test_every_address_flag_is_loopback() -> None:
    args = server_args(Path("/tmp/x"), 1, 2, 3)
    addr_flags = [a for a in args if re.search(r"(addr|address)=", a)]
    assert len(addr_flags) == 17  # 2 listen, bind, advertise, 10 rings, the frontend, 2 schedulers
    assert [a for a in addr_flags if not a.split("=", 1)[1].startswith("127.0.0.1")] == []
    assert "-query-frontend.instance-addr=127.0.0.1" in args and "-query-frontend.scheduler-address=127.0.0.1:2" in args
    assert "-querier.query-engine=mimir" in args and "-query-frontend.parallelize-shardable-queries=true" in args
    assert "-query-frontend.cache-results=false" in args and "-usage-stats.enabled=false" in args
    assert not any(a.startswith("-target=") and "ruler" in a for a in args)


CONFIG = """\
server:
    http_listen_address: 127.0.0.1
    grpc_listen_address: 127.0.0.1
ingester:
    ring:
        instance_addr: 10.1.2.3
frontend:
    scheduler_address: 127.0.0.1:9095
    address: ""
querier:
    ring:
        instance_addr: ""
memberlist:
    advertise_addr: 127.0.0.1
    join_members: ""
    bind_addr:
        - 0.0.0.0
"""


def test_the_advertised_address_check_catches_non_loopback_and_unset() -> None:
    found = dict(config_addresses(CONFIG))
    assert found["ingester.ring.instance_addr"] == "10.1.2.3" and found["memberlist.bind_addr"] == "0.0.0.0"
    bad = dict(non_loopback_advertised([(f"/config {k}", v) for k, v in config_addresses(CONFIG)]))
    assert set(bad) == {"/config ingester.ring.instance_addr", "/config querier.ring.instance_addr",
                        "/config memberlist.bind_addr", "/config frontend.address"}
    assert "empty" in bad["/config querier.ring.instance_addr"]
    assert non_loopback_advertised([("/ingester/ring x", "127.0.0.1:9095"), ("/ring y", "[::1]:1")]) == []
    assert non_loopback_advertised([("/ingester/ring x", "192.168.1.5:9095")]) == [("/ingester/ring x",
                                                                                   "192.168.1.5:9095")]


def test_exact_readback_compare() -> None:
    sent = ds_a()
    assert exact_mismatches(sent, sent) == []
    # The chunk encoder re-lays spans (an explicit zero bucket) and sets its own hint: same histogram.
    relaid = Histogram(count=3, sum=2.5, positive_spans=((0, 3),), positive_buckets=(1, 2, 0), counter_reset_hint="gauge")
    got = Dataset.build([(s.labels, [(x.t, relaid if isinstance(x.v, Histogram) else x.v) for x in s.samples])
                         for s in sent.series])
    assert exact_mismatches(sent, got) == []
    moved = Dataset.build([(s.labels, [(x.t, H if isinstance(x.v, Histogram) else x.v) for x in s.samples])
                           for s in sent.series])
    assert exact_mismatches(sent, moved) == []
    # A stale marker stored as a stale histogram is the stale marker.
    stale_h = Histogram(count=0.0, sum=stale_nan())
    got = Dataset.build([(s.labels, [(x.t, stale_h if s.name == "h" and stale(x.v) else x.v) for x in s.samples])
                         for s in sent.series])
    assert exact_mismatches(sent, got) == []
    # Faults it must catch: a value off by one ulp, NaN for the stale marker, a lost sample, a lost series.
    off = Dataset.build([(s.labels, [(x.t, math.nextafter(x.v, 9) if s.name == "b" else x.v) for x in s.samples])
                         for s in ds_b().series])
    assert exact_mismatches(ds_b(), off)[0].startswith("b: 9 values stored changed (t=0: 0.0 stored as 5e-324, t=15000")
    nan_for_stale = Dataset.build([(s.labels, [(x.t, math.nan if stale(x.v) else x.v) for x in s.samples])
                                   for s in sent.series])
    assert exact_mismatches(sent, nan_for_stale) == ['a{job="x"}: 1 values stored changed (t=30000: nan stored as nan)',
                                                     "h: 1 values stored changed (t=1900000: nan stored as nan)"]
    lost = Dataset.build([(s.labels, [(x.t, x.v) for x in s.samples[:-1]]) for s in sent.series])
    assert "samples sent" in exact_mismatches(sent, lost)[0]
    assert "not stored" in exact_mismatches(sent, Dataset.build([]))[0]


def test_stale_after_a_histogram_is_sent_as_a_stale_histogram() -> None:
    got = stale_as_histograms(ds_a())
    h = next(s for s in got.series if s.name == "h").samples[2].v
    assert isinstance(h, Histogram) and is_stale(h.sum)
    a = next(s for s in got.series if s.name == "a").samples[2].v
    assert not isinstance(a, Histogram) and is_stale(a)  # after a float: stays a float
    assert stale_as_histograms(ds_b()) is ds_b() or stale_as_histograms(ds_b()) == ds_b()


def test_unsupported_answers_get_the_hosts_class() -> None:
    r = Result.failure("mimir-live", "error", "bad_data",
                       'invalid parameter "query": not supported by streaming engine: unknown binary operation: >/')
    u = unsupported_answer(r)
    assert u.outcome == "unsupported" and u.error == ResultError(
        "unsupported", "not supported by streaming engine: unknown binary operation: >/")
    other = Result.failure("mimir-live", "error", "bad_data", "parse error: unexpected end of input")
    assert unsupported_answer(other) is other


def test_registry_knows_mimir_live() -> None:
    assert resolve_reference("auto", "mimir-live") == "mimir-prometheus"


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    from promfuzz.errors import HostNotBuiltError

    with pytest.raises(HostNotBuiltError, match="make hosts"):
        MimirLiveEngine(tmp_path / "no-such-mimir")


# ------------------------------------------------------------------- the real server


def mimir_binary() -> Path:
    path = find_binary(BUILD)
    if not path.is_file():
        skip_or_fail(f"Mimir server binary {path} is missing (run `make hosts`)")
    return path


@pytest.fixture(scope="module")
def mimir() -> Iterator[MimirLiveEngine]:
    eng = MimirLiveEngine(mimir_binary())
    yield eng
    eng.close()


@pytest.mark.live
def test_listeners_are_loopback_on_the_given_ports(mimir: MimirLiveEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    mimir.load(ds_b())
    pid, ports = mimir.server.pid, mimir.server.ports
    assert pid is not None and ports is not None
    found = listeners(pid)
    assert {x.port for x in found if x.proto.startswith("tcp")} >= {ports[0], ports[1]}  # HTTP and gRPC
    bad = [x for x in found if x.ip != "127.0.0.1" or x.port not in ports]
    assert bad == [], f"Mimir listens on {bad}"
    assert mimir.server.unexpected_listeners() == []
    # The fault the check must catch: a listener on a wildcard address.
    real = mimir_live.listeners
    monkeypatch.setattr(mimir_live, "listeners", lambda p: [*real(p), Listener("tcp", "0.0.0.0", 7946)])
    assert mimir.server.unexpected_listeners() == [Listener("tcp", "0.0.0.0", 7946)]


@pytest.mark.live
def test_advertised_addresses_are_loopback(mimir: MimirLiveEngine) -> None:
    mimir.load(ds_b())
    found = advertised_addresses(mimir.server.base)
    wheres = {w.split(" ")[0] for w, _ in found}
    assert {"/ingester/ring", "/distributor/ring", "/store-gateway/ring", "/compactor/ring", "/config"} <= wheres
    keys = {w for w, _ in found}
    for key in ("/config frontend.address", "/config frontend.scheduler_address",
                "/config frontend_worker.scheduler_address", "/config memberlist.advertise_addr",
                "/config ingester.ring.instance_addr", "/config server.grpc_listen_address"):
        assert key in keys, key
    assert non_loopback_advertised(found) == []  # start() checks it too; here on the running server
    assert "doesn't use memberlist" in requests.get(mimir.server.base + "/memberlist", timeout=5).text


@pytest.mark.live
def test_a_non_loopback_advertised_address_is_caught() -> None:
    """The fault the advertised-address check must catch, on a real server: a ring that
    advertises another address (what issue #15's frontend did). The start refuses it,
    naming the ring page and the /config key, and stops the server."""
    from promfuzz.errors import EngineError

    srv = MimirServer(mimir_binary(), extra_args=["-compactor.ring.instance-addr=10.255.0.1"])
    try:
        with pytest.raises(EngineError, match=r"not loopback: /compactor/ring vm: 10\.255\.0\.1:\d+; "
                                              r"/config compactor\.sharding_ring\.instance_addr: 10\.255\.0\.1"):
            srv.start()
        assert srv.pid is None and not srv.alive()
    finally:
        srv.close()


@pytest.fixture(scope="module")
def mqe() -> Iterator[object]:
    from promfuzz.engines.registry import open_engine

    if not (BUILD / "mimir-host").is_file():
        skip_or_fail(f"{BUILD / 'mimir-host'} is missing (run `make hosts`)")
    eng = open_engine("mqe")
    yield eng
    eng.close()


QUERIES = [
    ("a", EvalParams.instant(20_000)),
    ("g", EvalParams.instant(600_000)),
    ("sum by (job) (g)", EvalParams.range(0, 3_600_000, 60_000)),
    ("sum(rate(g[5m]))", EvalParams.range(0, 3_600_000, 30_000)),
    ("count(g > 10) / count(g)", EvalParams.range(0, 3_600_000, 120_000)),
    ("max_over_time(g[10m:1m])", EvalParams.range(600_000, 3_000_000, 300_000)),
    ("topk(2, g)", EvalParams.instant(1_800_000)),
    ("histogram_count(h)", EvalParams.instant(90_000)),
    ("sort_by_label(g, \"i\")", EvalParams.instant(60_000)),
    ("sum(", EvalParams.instant(0)),
]


@pytest.mark.live
@pytest.mark.hosts
def test_load_read_back_and_queries_agree_with_mqe(mimir: MimirLiveEngine, mqe: object) -> None:
    from promfuzz.oracles.compare import compare_results

    info = mimir.load(ds_a())
    assert info.series == 9 and not info.reused
    stored = mimir.dump()
    assert stored is not None and exact_mismatches(ds_a(), stored) == []
    mqe.load(ds_a())  # type: ignore[attr-defined]
    got = mimir.query_many(QUERIES)
    want = mqe.query_many(QUERIES)  # type: ignore[attr-defined]
    for (text, params), g, w in zip(QUERIES, got, want, strict=True):
        c = compare_results(text, params, w, g)
        assert c.equal, f"{text}: {c.summary()}"
    assert got[0].ok and math.isnan(got[0].series[0].points[0].v)  # the NaN at 15s, not the stale marker
    assert got[1].ok and len(got[1].series) == 6
    assert got[2].ok and len(got[2].series[0].points) == 61
    assert got[-1].outcome == "error"


def _counter(base: str, name: str) -> float:
    text = requests.get(base + "/metrics", timeout=5).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")
               or line.startswith(name + "{"))


@pytest.mark.live
def test_queries_are_sharded_and_split(mimir: MimirLiveEngine) -> None:
    mimir.load(ds_a())
    base = mimir.server.base
    sharded = _counter(base, "cortex_frontend_query_sharding_rewrites_succeeded_total")
    split = _counter(base, "cortex_frontend_split_queries_total")
    r = mimir.query("sum by (job) (rate(g[5m]))", EvalParams.range(0, 3_600_000, 60_000))
    assert r.ok and r.series
    assert _counter(base, "cortex_frontend_query_sharding_rewrites_succeeded_total") > sharded
    assert _counter(base, "cortex_frontend_split_queries_total") >= split + 3  # an hour in 20m parts


@pytest.mark.live
def test_datasets_are_isolated_by_tenant(mimir: MimirLiveEngine) -> None:
    mimir.load(ds_a())
    tenant_a, pid = mimir.tenant, mimir.server.pid
    mimir.load(ds_b())
    assert mimir.tenant != tenant_a and mimir.server.pid == pid  # the same server, a new tenant
    r = mimir.query('{__name__=~".+"}', EvalParams.instant(30_000))
    assert r.ok and {s.labels for s in r.series} == {(("__name__", "b"),)}
    stored = mimir.dump()
    assert stored is not None and [s.name for s in stored.series] == ["b"]
    # ds_a is still there under its own tenant: isolation, not deletion.
    r2 = requests.post(mimir.server.base + "/prometheus/api/v1/query", data={"query": "count(g)", "time": "60"},
                       headers={"X-Scope-OrgID": str(tenant_a)}, timeout=10)
    assert r2.json()["data"]["result"][0]["value"][1] == "6"
    # Loading the same dataset again reuses the tenant that holds it.
    assert mimir.load(ds_b()).reused


@pytest.mark.live
def test_a_load_that_does_not_read_back_fails(mimir: MimirLiveEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    client = mimir._client
    assert client is not None or mimir.load(ds_b())
    client = mimir._client
    real = client.dump

    def lossy() -> Dataset:
        got = real()
        return Dataset.build([(s.labels, [(x.t, x.v + 1 if x.t == 15_000 and not isinstance(x.v, Histogram) else x.v)
                                          for x in s.samples]) for s in got.series])

    monkeypatch.setattr(client, "dump", lossy)
    bad = Dataset.build([({"__name__": "m"}, [(0, 1.0), (15_000, 2.0)])])
    with pytest.raises(EngineLoadError, match=r'm\{\}|m: 1 values stored changed \(t=15000: 2.0 stored as 3.0'):
        mimir.load(bad)


@pytest.mark.live
def test_restart_after_many_tenants_and_stop_by_pid() -> None:
    eng = MimirLiveEngine(mimir_binary(), tenants_per_server=1)
    try:
        eng.load(ds_b())
        pid = eng.server.pid
        assert pid is not None and Path(f"/proc/{pid}").exists()
        eng.load(ds_a())
        assert eng.server.pid != pid and eng.server.starts == 2
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists(), "the first server is still running"
        r = eng.query("count(g)", EvalParams.instant(60_000))
        assert r.ok and r.series[0].points[0].v == 6.0
        pid2 = eng.server.pid
    finally:
        eng.close()
    assert not eng.server.alive() and eng.server.pid is None
    assert pid2 is not None and not Path(f"/proc/{pid2}").exists()


def test_missing_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROMFUZZ_MIMIR_SERVER", str(tmp_path / "no-such-mimir"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="make hosts"):
        mimir_binary()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        mimir_binary()


@pytest.mark.live
@pytest.mark.hosts
def test_findings_still_differ_through_the_frontend(mimir: MimirLiveEngine, mqe: object) -> None:
    """findings/mimir-live: each case (in-process MQE's answer) still fails through the
    real frontend and passes on in-process mqe, so the difference is the production path's."""
    from promfuzz.corpus.replay import replay

    folder = Path(__file__).resolve().parents[2] / "findings" / "mimir-live"
    cases = sorted(folder.glob("*/*.test"))
    assert len(cases) >= 3
    on_mqe = replay(cases, mqe, range_check=False, at_variants=False)
    assert [o.kind for o in on_mqe.outcomes] == ["passed"] * len(cases), [o.detail for o in on_mqe.outcomes]
    live = replay(cases, mimir, range_check=False, at_variants=False)
    assert [o.kind for o in live.outcomes] == ["failed"] * len(cases), [(o.query, o.kind) for o in live.outcomes]
