"""``mimir-live``: a real Grafana Mimir monolith the suite starts, queried through its
query-frontend with query sharding and splitting by interval, MQE as its engine.

The binary is ``.build/mimir-server``, ``github.com/grafana/mimir/cmd/mimir`` built by
``make hosts`` from ``hosts/mimir-server`` at the same pinned Mimir commit as
``hosts/mimir`` (so the in-process ``mqe`` and this server run the same MQE code; a
difference between them comes from the query-frontend: sharding, splitting, the
frontend's own engine merging the partial answers, or the wire between them).

What the server is told (:func:`server_args`; every choice measured on the pinned build):

* **Loopback only, advertised and bound.** HTTP, gRPC and memberlist bind 127.0.0.1;
  every ring's ``instance-addr``, the query-frontend's ``instance-addr`` (what it
  advertises to the scheduler: issue #15's hang was the frontend advertising the
  machine's non-loopback address), memberlist's advertise address, and both
  scheduler addresses (frontend and querier worker) are 127.0.0.1. Mimir's rings
  advertise ``-server.grpc-listen-port`` as given, so port 0 cannot be used: the
  ports are picked by binding 127.0.0.1:0 and closing (a rare race with another
  process is a start failure that is retried with new ports). :meth:`MimirServer.start`
  then reads the process's sockets from the kernel (procnet) and refuses any
  listener that is not loopback or not one of the ports it gave.
* **Rings in memory** (``-*.ring.store=inmemory``: one in-process store, nothing to
  gossip; memberlist stays unused, ``/memberlist`` says "This instance doesn't use
  memberlist"), replication factor 1, no ring waiting (``min-ready-duration=0``).
* **Modules**: ``query-frontend, query-scheduler, querier, ingester, distributor,
  store-gateway, compactor`` (``all`` without the ruler; the alertmanager is not in
  ``all``); filesystem storage in a temp dir; usage statistics off (the reporter
  would call grafana.com).
* **The query path**: ``-querier.query-engine=mimir`` and
  ``-query-frontend.query-engine=mimir`` (MQE in the querier and for merging sharded
  answers in the frontend), the fallback to Prometheus's engine off in both (it is on
  by default: MQE's "not supported" answers, e.g. for the ``</`` ``>/`` trim
  operators, were silently answered by Prometheus's engine instead), query sharding on with :data:`DEFAULT_SHARDS` shards,
  range queries split by :data:`DEFAULT_SPLIT` (the default 24h would never split
  promfuzz's datasets, which span about an hour from t=0), **results cache off** (an
  answer must not depend on an earlier query), experimental functions and extended
  range selectors enabled for every tenant (as in the in-process hosts; binop fill
  modifiers stay off: Mimir's parser does not enable them, ``mqe`` parses them and
  answers "not supported").
* **UTF-8 names** (``-validation.name-validation-scheme=utf8``, Prometheus 3's and the
  hosts' scheme): with Mimir's default ``legacy`` the distributor refused a whole write
  for one label such as ``k8s.pod`` (``err-mimir-label-invalid``).
* **Old samples.** Datasets start at 1970-01-01. Measured: the distributor and the
  ingester accept them as they are (``-validation.past-grace-period`` is 0, off, by
  default; writes go oldest window first, so nothing is out of order and no
  out-of-order window is needed), and remote read returns them; but the querier only
  asks the ingesters about the last 13h (``-querier.query-ingesters-within``), so
  every query answered empty until it was set to 0 ("always"). No time shift.
* **Isolation**: a fresh tenant (``X-Scope-OrgID``) per dataset and per shrink
  candidate; every load is read back by remote read and compared sample by sample
  (floats bit for bit, stale markers and NaN apart; histograms field by field but the
  counter-reset hint); a mismatch is a load failure. Each tenant keeps a TSDB head in
  the ingester: measured 6.7 MB of RSS per small tenant with Mimir's defaults, 1.9 MB
  with a 64 KiB head-chunks write buffer (default 4 MiB) and 256 series stripes
  (default 16,384); the server is restarted (a fresh data dir, 0.5-1.5 s) after
  :data:`DEFAULT_TENANTS_PER_SERVER` tenants (about 500 MB).

Stopped by PID (SIGTERM, then SIGKILL). A server that died makes the running queries an
``engine_failure`` with its log tail; the next call starts a new one and reloads.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import requests

from promfuzz.engines.base import DEFAULT_QUERY_TIMEOUT_S, EngineBase, EngineLoadError, LoadInfo, blame_crash
from promfuzz.engines.host import describe_exit
from promfuzz.engines.procnet import Listener, ServerProcess, die_with_parent, listeners
from promfuzz.errors import EngineError, HostNotBuiltError
from promfuzz.model import Dataset, EvalParams, Histogram, Result, ResultError, is_stale

ENV_BINARY = "PROMFUZZ_MIMIR_SERVER"
DEFAULT_SHARDS = 4
"""``-query-frontend.query-sharding-total-shards`` (Mimir's default is 16; 4 keeps the
partial queries per query low on a 2-core machine and still splits every shardable
aggregation)."""
DEFAULT_SPLIT = "20m"
"""``-query-frontend.split-queries-by-interval``: a range query over promfuzz's hour of
data is cut into about three aligned parts."""
DEFAULT_TENANTS_PER_SERVER = 200
"""Tenants (datasets and shrink candidates) one server takes before it is restarted."""

RINGS = ("ingester.ring", "distributor.ring", "compactor.ring", "store-gateway.sharding-ring", "querier.ring",
         "query-scheduler.ring", "ruler.ring", "overrides-exporter.ring", "alertmanager.sharding-ring",
         "usage-tracker.instance-ring")
TARGETS = ("query-frontend", "query-scheduler", "querier", "ingester", "distributor", "store-gateway", "compactor")


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports the OS picks for 127.0.0.1 (bound together, then closed)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def server_args(data: Path, http_port: int, grpc_port: int, memberlist_port: int, *,
                shards: int = DEFAULT_SHARDS, split: str = DEFAULT_SPLIT, extra: Sequence[str] = ()) -> list[str]:
    """The flags ``mimir-live`` starts the monolith with (see the module docstring)."""
    lo = "127.0.0.1"
    grpc = f"{lo}:{grpc_port}"
    args = [
        f"-target={','.join(TARGETS)}",
        "-auth.multitenancy-enabled=true",
        f"-server.http-listen-address={lo}", f"-server.http-listen-port={http_port}",
        f"-server.grpc-listen-address={lo}", f"-server.grpc-listen-port={grpc_port}",
        f"-memberlist.bind-addr={lo}", f"-memberlist.bind-port={memberlist_port}",
        f"-memberlist.advertise-addr={lo}", f"-memberlist.advertise-port={memberlist_port}",
        *(f"-{r}.store=inmemory" for r in RINGS),
        *(f"-{r}.instance-addr={lo}" for r in RINGS),
        f"-query-frontend.instance-addr={lo}", f"-query-frontend.instance-port={grpc_port}",
        f"-query-frontend.scheduler-address={grpc}", f"-querier.scheduler-address={grpc}",
        "-ingester.ring.replication-factor=1", "-store-gateway.sharding-ring.replication-factor=1",
        "-ingester.ring.min-ready-duration=0s", "-ingester.ring.final-sleep=0s",
        "-common.storage.backend=filesystem", f"-common.storage.filesystem.dir={data / 'bucket'}",
        f"-blocks-storage.tsdb.dir={data / 'tsdb'}", f"-blocks-storage.bucket-store.sync-dir={data / 'sync'}",
        "-blocks-storage.tsdb.head-chunks-write-buffer-size-bytes=65536", "-blocks-storage.tsdb.stripe-size=256",
        f"-compactor.data-dir={data / 'compactor'}", f"-activity-tracker.filepath={data / 'activity.log'}",
        "-querier.query-engine=mimir", "-query-frontend.query-engine=mimir",
        "-querier.enable-query-engine-fallback=false", "-query-frontend.enable-query-engine-fallback=false",
        "-query-frontend.parallelize-shardable-queries=true", f"-query-frontend.query-sharding-total-shards={shards}",
        f"-query-frontend.split-queries-by-interval={split}", "-query-frontend.cache-results=false",
        "-query-frontend.enabled-promql-experimental-functions=all",
        "-query-frontend.enabled-promql-extended-range-selectors=all",
        "-querier.query-ingesters-within=0",
        "-validation.name-validation-scheme=utf8",
        "-querier.lookback-delta=5m", "-querier.default-evaluation-interval=1m", "-querier.max-samples=50000000",
        "-querier.timeout=2m",
        "-usage-stats.enabled=false",
        "-log.level=warn",
        *extra,
    ]
    return args


def find_binary(build_dir: Path) -> Path:
    """``$PROMFUZZ_MIMIR_SERVER``, else ``<build>/mimir-server`` (``make hosts``)."""
    env = os.environ.get(ENV_BINARY)
    return Path(env) if env else build_dir / "mimir-server"


class MimirServer(ServerProcess):
    """A Mimir monolith process with a temp data dir; stopped by PID."""

    def __init__(self, binary: str | os.PathLike[str], *, start_timeout_s: float = 90.0,
                 shards: int = DEFAULT_SHARDS, split: str = DEFAULT_SPLIT, extra_args: Sequence[str] = ()) -> None:
        self.binary = Path(binary).absolute()
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise HostNotBuiltError(
                f"Mimir server binary {self.binary} is missing: run `make hosts` (builds "
                f"github.com/grafana/mimir/cmd/mimir at hosts/mimir's pinned commit, hosts/mimir-server) "
                f"or set {ENV_BINARY}"
            )
        self.start_timeout_s = start_timeout_s
        self.shards = shards
        self.split = split
        self.extra_args = tuple(extra_args)
        self._tmp: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_path: Path | None = None
        self.ports: tuple[int, int, int] | None = None  # http, grpc, memberlist
        self.starts = 0
        self.last_start_s = 0.0

    @property
    def base(self) -> str:
        if self.ports is None:
            raise EngineError("Mimir server is not running")
        return f"http://127.0.0.1:{self.ports[0]}"

    def start(self) -> str:
        """Start on a fresh data dir; the base URL once ``/ready`` answers 200 and every
        listener of the process is loopback on a port it was given. A start that lost
        a port to another process is retried with new ports."""
        last = ""
        for _ in range(3):
            try:
                return self._start_once()
            except _PortTaken as e:
                last = str(e)
        raise EngineError(f"Mimir server could not bind its ports three times; last:\n{last}")

    def _start_once(self) -> str:
        self.stop()
        t0 = time.monotonic()
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="promfuzz-mimir-")
        tmp = Path(self._tmp)
        data = tmp / f"data-{self.starts}"
        data.mkdir()
        self._log_path = tmp / f"server-{self.starts}.log"
        self.starts += 1
        http_port, grpc_port, ml_port = free_ports(3)
        self._log = open(self._log_path, "wb")  # noqa: SIM115 -- closed in stop()
        args = server_args(data, http_port, grpc_port, ml_port, shards=self.shards, split=self.split,
                           extra=self.extra_args)
        try:
            self._proc = subprocess.Popen([str(self.binary), *args], stdin=subprocess.DEVNULL, stdout=self._log,
                                          stderr=self._log, cwd=data, close_fds=True,
                                          preexec_fn=die_with_parent())
        except OSError as e:
            raise EngineError(f"cannot start {self.binary}: {e}") from e
        self.ports = (http_port, grpc_port, ml_port)
        deadline = t0 + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                tail = self.log_tail()
                self.stop()
                if "address already in use" in tail:
                    raise _PortTaken(tail)
                raise EngineError(f"Mimir server exited at start ({describe_exit(code)}):\n{tail}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{http_port}/ready", timeout=2).status_code == 200:
                    bad = self.unexpected_listeners()
                    if bad:
                        self.stop()
                        raise EngineError(f"Mimir server listens on {', '.join(map(str, bad))} (only 127.0.0.1 "
                                          f"on ports {http_port}, {grpc_port}, {ml_port} are allowed)")
                    self._check_advertised()
                    self._probe_query(deadline)
                    self.last_start_s = time.monotonic() - t0
                    return self.base
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise EngineError(f"Mimir server not ready within {self.start_timeout_s:g}s:\n{tail}")

    def _check_advertised(self) -> None:
        try:
            bad = non_loopback_advertised(advertised_addresses(self.base))
        except (requests.RequestException, ValueError, EngineError) as e:
            bad = [("reading /config, /memberlist and the ring pages", str(e))]
        if bad:
            self.stop()
            raise EngineError("Mimir server advertises or dials addresses that are not loopback: "
                              + "; ".join(f"{w}: {a}" for w, a in bad))

    def _probe_query(self, deadline: float) -> None:
        """``vector(1)`` through the query-frontend, until it answers: the querier worker
        has reached the scheduler and the frontend (issue #15: a frontend advertising an
        unreachable address left every query hanging with no word)."""
        last = ""
        while time.monotonic() < deadline:
            try:
                r = requests.post(f"{self.base}/prometheus/api/v1/query", data={"query": "vector(1)", "time": "0"},
                                  headers={"X-Scope-OrgID": "promfuzz-probe"},
                                  timeout=max(0.5, min(5.0, deadline - time.monotonic())))
                if r.status_code == 200 and r.json().get("status") == "success":
                    return
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except (requests.RequestException, ValueError) as e:
                last = f"{type(e).__name__}: {e}"
            time.sleep(0.1)
        tail = self.log_tail()
        self.stop()
        raise EngineError(f"Mimir's query-frontend did not answer vector(1) before the start timeout (the querier "
                          f"may not reach the frontend or scheduler); last: {last}\n{tail}")

    def unexpected_listeners(self) -> list[Listener]:
        """Listeners of the process that are not 127.0.0.1 on one of the ports it was given."""
        if self._proc is None or self.ports is None:
            return []
        return [x for x in listeners(self._proc.pid) if x.ip != "127.0.0.1" or x.port not in self.ports]

    STOP_WAIT_S = 15.0

    def _forget(self) -> None:
        self.ports = None


class _PortTaken(EngineError):
    pass


# --------------------------------------------------------------------------- advertised addresses

RING_PAGES = ("/ingester/ring", "/distributor/ring", "/store-gateway/ring", "/compactor/ring", "/querier/ring")
CONFIG_ADDRESS_KEYS = ("http_listen_address", "grpc_listen_address", "instance_addr", "advertise_addr", "bind_addr",
                       "scheduler_address", "address", "join_members")
"""Keys of Mimir's ``/config`` that name an address this server binds, advertises or
dials (``address`` is the query-frontend's advertised one; every other ``address``
found is checked too when not empty)."""


def config_addresses(text: str) -> list[tuple[str, str]]:
    """(``path.to.key``, value) for every :data:`CONFIG_ADDRESS_KEYS` key of Mimir's
    ``/config`` YAML (list values, as ``bind_addr``, give one pair per item). A small
    indentation-based reader: the page is plain block YAML."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if line.startswith("- "):
            if pending is not None and indent >= pending[0]:
                out.append((pending[1], line[2:].strip().strip("'\"")))
            continue
        pending = None
        key, sep, value = line.partition(":")
        if not sep:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [key])
        value = value.strip()
        if key in CONFIG_ADDRESS_KEYS:
            if value in ("", "[]"):
                if value == "":
                    pending = (indent, path)
                out.append((path, ""))
            else:
                out.append((path, value.strip("'\"")))
        if value == "":
            stack.append((indent, key))
    return [(k, v) for k, v in out if not (v == "" and any(k == k2 and v2 for k2, v2 in out))]


def _host(addr: str) -> str:
    from urllib.parse import urlsplit

    if "://" in addr:
        return urlsplit(addr).hostname or ""
    if addr.startswith("["):
        return addr[1:].split("]")[0]
    return addr.rsplit(":", 1)[0] if addr.count(":") == 1 else addr


def _loopback_host(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def advertised_addresses(base: str, timeout_s: float = 5.0) -> list[tuple[str, str]]:
    """Every address the server at ``base`` advertises or is configured with, as
    (where, address): each ring member's address (:data:`RING_PAGES`, JSON), memberlist
    (``/memberlist``: either unused, or its members), and :func:`config_addresses` of
    ``/config`` (the effective configuration)."""
    out: list[tuple[str, str]] = []
    for page in RING_PAGES:
        r = requests.get(base + page, headers={"Accept": "application/json"}, timeout=timeout_s)
        if r.status_code != 200:
            raise EngineError(f"{base}{page} answered HTTP {r.status_code}")
        for shard in r.json().get("shards") or []:
            out.append((f"{page} {shard.get('id')}", str(shard.get("address", ""))))
    r = requests.get(base + "/memberlist", headers={"Accept": "application/json"}, timeout=timeout_s)
    if "doesn't use memberlist" not in r.text:
        try:
            members = r.json().get("Members") or r.json().get("members") or []
        except ValueError:
            members = []
        if not members:
            out.append(("/memberlist", r.text[:200]))  # in use and unreadable: reported, not trusted
        for m in members:
            out.append((f"/memberlist {m.get('Name', '')}", f"{m.get('Addr', '')}:{m.get('Port', '')}"))
    r = requests.get(base + "/config", timeout=timeout_s)
    if r.status_code != 200:
        raise EngineError(f"{base}/config answered HTTP {r.status_code}")
    out.extend((f"/config {k}", v) for k, v in config_addresses(r.text))
    return out


MUST_BE_SET_PATHS = (" frontend.address",)
"""The query-frontend's advertised address (issue #15: left empty, it was eth0's)."""
MUST_BE_SET = ("http_listen_address", "grpc_listen_address", "instance_addr", "advertise_addr", "bind_addr",
               "scheduler_address")


def non_loopback_advertised(addresses: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (where, address) pairs that are not 127.0.0.1/::1: a non-loopback host, or an
    empty value where Mimir would pick an interface address itself (``instance_addr``,
    ``advertise_addr``, listen and bind addresses, scheduler addresses, the
    query-frontend's ``address``). An empty ``join_members`` or other ``address`` is
    fine (nothing dialed)."""
    bad = []
    for where, addr in addresses:
        key = where.rsplit(".", 1)[-1].split(" ")[-1]
        if addr == "":
            if key in MUST_BE_SET or where.endswith(MUST_BE_SET_PATHS):
                bad.append((where, "(empty: Mimir picks an interface address)"))
            continue
        if not _loopback_host(_host(addr)):
            bad.append((where, addr))
    return bad


# --------------------------------------------------------------------------- writes


def stale_as_histograms(dataset: Dataset) -> Dataset:
    """The dataset with every stale marker that follows a histogram sample sent as a
    stale histogram (``sum`` the stale NaN, what TSDB stores for it).

    TSDB turns a stale float into a stale histogram only when the same appender
    appended a histogram to that series before (``typesInBatch``). The hosts load a
    dataset with one appender; remote write goes in 30-minute requests, one appender
    each, so a stale marker opening a request after a histogram series was appended as
    a float and then lost (measured: seed 1025, 1 of 2,799 samples missing in the read
    back). Sent as a histogram, it is stored as the hosts store it."""
    changed = False
    out: list[tuple[Any, list[tuple[int, Any]]]] = []
    for s in dataset.series:
        samples: list[tuple[int, Any]] = []
        prev: Any = None
        for x in s.samples:
            v = x.v
            if not isinstance(v, Histogram) and is_stale(v) and isinstance(prev, Histogram):
                v = Histogram(count=0.0, sum=v)
                changed = True
            samples.append((x.t, v))
            prev = v
        out.append((s.labels, samples))
    return Dataset.build(out) if changed else dataset


# --------------------------------------------------------------------------- read-back


def _bits(v: float) -> bytes:
    return struct.pack("<d", v)


def _same_float(a: float, b: float) -> bool:
    if is_stale(a) or is_stale(b):
        return is_stale(a) and is_stale(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return _bits(a) == _bits(b)


def _bucket_map(spans: tuple[tuple[int, int], ...], buckets: tuple[float, ...]) -> dict[int, bytes]:
    """Absolute bucket index -> count bits, zero buckets left out (the TSDB chunk
    encoder re-lays spans: a bucket may come back as an explicit zero beside others)."""
    out: dict[int, bytes] = {}
    idx = 0
    it = iter(buckets)
    for offset, length in spans:
        idx += offset
        for _ in range(length):
            v = next(it, 0.0)
            if v != 0.0:
                out[idx] = _bits(v)
            idx += 1
    return out


def _same_histogram(a: Histogram, b: Histogram) -> bool:
    """The same histogram up to its bucket layout (zero buckets, span boundaries) and
    its counter-reset hint (the ingester may set its own)."""
    return (
        a.schema == b.schema
        and _same_float(a.count, b.count)
        and _same_float(a.sum, b.sum)
        and _same_float(a.zero_threshold, b.zero_threshold)
        and _same_float(a.zero_count, b.zero_count)
        and tuple(map(_bits, a.custom_values)) == tuple(map(_bits, b.custom_values))
        and _bucket_map(a.positive_spans, a.positive_buckets) == _bucket_map(b.positive_spans, b.positive_buckets)
        and _bucket_map(a.negative_spans, a.negative_buckets) == _bucket_map(b.negative_spans, b.negative_buckets)
    )


def _stale_histogram(v: Any) -> bool:
    """A stale marker in a histogram series: the TSDB stores it in the histogram chunk as
    a histogram whose sum is the stale NaN (Prometheus's ``value.IsStaleNaN(h.Sum)``),
    and remote read returns it so."""
    return isinstance(v, Histogram) and is_stale(v.sum)


def exact_mismatches(expected: Dataset, got: Dataset, limit: int = 3) -> list[str]:
    """Where the stored data differs from ``expected``: series, timestamps, float values
    bit for bit (stale marker and NaN told apart), histograms up to bucket layout and
    counter-reset hint (:func:`_same_histogram`); a stale histogram is a stale marker."""
    from promfuzz.engines.base import stored_mismatches

    return stored_mismatches(expected, got, _same_sample, limit)  # type: ignore[arg-type]


def _same_sample(sent: object, stored: object) -> bool:
    if _stale_histogram(stored) and not isinstance(sent, Histogram):
        return is_stale(sent)  # type: ignore[arg-type]
    if isinstance(sent, Histogram) or isinstance(stored, Histogram):
        return isinstance(sent, Histogram) and isinstance(stored, Histogram) and _same_histogram(sent, stored)
    return _same_float(sent, stored)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- answers

UNSUPPORTED_MARK = "not supported by streaming engine"
_QUERY_PARAM_PREFIX = 'invalid parameter "query": '


def unsupported_answer(r: Result) -> Result:
    """MQE's "not supported" as the hosts report it. Over the HTTP API Mimir answers it
    as ``bad_data``/``execution`` with the message ``[invalid parameter "query": ]not
    supported by streaming engine: ...``; the in-process hosts give it the class
    ``unsupported`` (``IsUnsupported``). The same answer must get the same class."""
    import dataclasses

    if r.outcome != "error" or r.error is None or UNSUPPORTED_MARK not in r.error.message:
        return r
    msg = r.error.message
    if msg.startswith(_QUERY_PARAM_PREFIX):
        msg = msg[len(_QUERY_PARAM_PREFIX):]
    return dataclasses.replace(r, outcome="unsupported", error=ResultError("unsupported", msg))


# --------------------------------------------------------------------------- engine


class MimirLiveEngine(EngineBase):
    """``mimir-live`` (see the module docstring): one server, a fresh tenant per load,
    queries through the query-frontend (``/prometheus/api/v1/query[_range]``)."""

    isolation = "tenant"

    def __init__(self, binary: str | os.PathLike[str], *, name: str = "mimir-live",
                 default_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S, start_timeout_s: float = 90.0,
                 concurrency: int = 4, shards: int = DEFAULT_SHARDS, split: str = DEFAULT_SPLIT,
                 tenants_per_server: int = DEFAULT_TENANTS_PER_SERVER, extra_args: Sequence[str] = ()) -> None:
        self.name = name
        self.family = "mimir-live"
        self.default_timeout_s = default_timeout_s
        self.concurrency = concurrency
        self.tenants_per_server = max(1, tenants_per_server)
        self.server = MimirServer(binary, start_timeout_s=start_timeout_s, shards=shards, split=split,
                                  extra_args=extra_args)
        self._client: Any = None
        self._dataset: Dataset | None = None
        self._loaded_fp: str | None = None
        self._tenants_here = 0
        self.restarts = 0

    @property
    def tenant(self) -> str | None:
        """The tenant the last load went into (what the queries carry)."""
        if self._client is None:
            return None
        return self._client._session.headers.get("X-Scope-OrgID")

    def _connect(self) -> Any:
        from promfuzz.engines.http import HttpEngine

        base = self.server.start()
        if self._client is not None:
            self._client.close()
        self._client = HttpEngine(f"{base}/prometheus", name=self.name, profile="mimir", isolation="tenant",
                                  write_url=f"{base}/api/v1/push", env={}, retries=1,
                                  default_timeout_s=self.default_timeout_s, concurrency=self.concurrency)
        self._loaded_fp = None
        self._tenants_here = 0
        return self._client

    def _load_into(self, client: Any, dataset: Dataset) -> Any:
        info = client.load(stale_as_histograms(dataset))  # a new tenant, remote write, remote read counts checked
        self._tenants_here += 1
        stored = client.dump()
        if stored is None:
            raise EngineLoadError(f"{self.name}: remote read answered nothing (tenant {self.tenant})")
        bad = exact_mismatches(dataset, stored)
        if bad:
            raise EngineLoadError(f"{self.name}: the stored data differs from the dataset: " + "; ".join(bad))
        return info

    def load(self, dataset: Dataset) -> LoadInfo:
        fp = dataset.fingerprint()
        t0 = time.perf_counter_ns()
        self._dataset = dataset
        if self._client is not None and self.server.alive() and self._loaded_fp == fp:
            return LoadInfo(self.name, fp, len(dataset.series), 0, 0, time.perf_counter_ns() - t0, reused=True)
        self._loaded_fp = None
        if self._client is None or not self.server.alive() or self._tenants_here >= self.tenants_per_server:
            self._connect()
        info = self._load_into(self._client, dataset)
        self._loaded_fp = fp
        return LoadInfo(self.name, fp, info.series, info.floats, info.histograms,
                        time.perf_counter_ns() - t0, notes=info.notes)

    def _prepare(self) -> Any:
        if self._client is not None and self.server.alive():
            return self._client
        try:
            if self._client is not None:
                self.restarts += 1
            client = self._connect()
            if self._dataset is not None:
                self._load_into(client, self._dataset)
                self._loaded_fp = self._dataset.fingerprint()
            return client
        except EngineError as e:
            return Result.failure(self.name, "engine_failure", "engine_restart", f"Mimir restart failed: {e}")

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        return self.query_many([(text, params)], timeout_s)[0]

    def query_many(self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None) -> list[Result]:
        client = self._prepare()
        if isinstance(client, Result):
            return [client] * len(items)
        return blame_crash([unsupported_answer(r) for r in client.query_many(items, timeout_s)], self.name, "Mimir server", self.server)

    def versions(self) -> dict[str, str]:
        from promfuzz.engines.live import binary_versions

        return {**binary_versions(self.server.binary, ("grafana/mimir", "prometheus/prometheus")),
                "server": "mimir-server"}

    def dump(self) -> Dataset | None:
        client = self._prepare()
        if isinstance(client, Result):
            raise EngineError(client.error.message if client.error else "Mimir server unavailable")
        return client.dump()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self.server.close()
