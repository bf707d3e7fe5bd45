"""``thanos-live``: a real Thanos Receive + Thanos Query pair the suite starts itself.

Built by ``make thanos`` (part of ``make test``'s dependencies) from the Go module
``github.com/thanos-io/thanos`` :data:`THANOS_VERSION` into ``.build/thanos``
(v0.42.5 needs Go 1.26.10; the project's Go is 1.26.8, and v0.42.4 is the newest it
builds; both pin promql-engine c5f6038078e3, the commit ``hosts/thanos`` uses, and
Prometheus v0.309.1).

Layout (every listener ``127.0.0.1:0``; the ports the OS picked are read from the
kernel's socket table of each PID, :mod:`promfuzz.engines.procnet`, and told apart by
probing them; a listener on anything but loopback stops both with an error):

* **Receive** (``thanos receive``): one process, a temp TSDB dir, no object storage, no
  hashring (a single ingesting node), ``--tsdb.retention=0d`` (no retention: the data is
  at 1970), ``--receive.tenant-header=THANOS-TENANT``. Listens on four ports: status
  HTTP (``/-/ready``), remote write (``/api/v1/receive``), gRPC StoreAPI and Cap'n Proto
  replication (unused, but always opened).
* **Query** (``thanos query``): ``--endpoint=<Receive's gRPC>``,
  ``--query.promql-engine=thanos`` (the promql-engine), ``--query.enforce-tenancy`` (the
  query text is rewritten to carry ``promfuzz_tenant="<THANOS-TENANT>"`` in every
  selector, as a multi-tenant Thanos does), ``--query.replica-label`` ``promfuzz_tenant``
  and ``promfuzz_receive`` (the tenant label and the external label Receive adds to every
  series, which it refuses to start without, are removed from the answers by
  deduplication, which passes a single replica through unchanged),
  ``--query.lookback-delta=5m``, experimental functions on, the hidden
  ``--endpoint.info-timeout=1s`` (how often Query refreshes what each store holds: a new
  tenant is invisible to Query until its label set is seen, so a load is read back until
  it shows, about 1 s).

Isolation: a fresh tenant (``THANOS-TENANT: promfuzz-<fingerprint>-<n>``) per dataset
and per shrink candidate, in one long-lived pair; the pair is restarted every
:data:`MAX_TENANTS` tenants (each tenant is a TSDB of its own in Receive's memory).

Old samples: Receive appends into a per-tenant TSDB whose head starts empty, so samples
from 1970 (t=0) are accepted as they are and no time shift is needed, as long as each
series is written in time order: TSDB refuses a sample older than the head's in-order
window (``out of bounds`` for samples before head max time - 1 h, the chunk range / 2)
unless an out-of-order window is set. The writes go oldest window first
(:func:`~promfuzz.engines.remote_write.chunk_by_time`), and ``--tsdb.out-of-order.time-window``
is left at 0 so nothing lands in out-of-order chunks (as for ``prometheus-live``).

Every load is read back through Query (one range-vector selector over the dataset's span,
``readback="query"`` in the ``thanos`` profile) and compared sample by sample with the
dataset without its stale markers; a mismatch fails the load and the dataset is skipped.
A dataset with a label named ``promfuzz_tenant`` cannot be loaded (the tenant label).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from promfuzz.engines.base import DEFAULT_QUERY_TIMEOUT_S, EngineBase, LoadInfo, blame_crash
from promfuzz.engines.host import describe_exit
from promfuzz.engines.procnet import Listener, die_with_parent, listeners, non_loopback, stop_by_pid
from promfuzz.errors import EngineError, HostNotBuiltError
from promfuzz.model import Dataset, EvalParams, Result

THANOS_VERSION = "v0.42.4"
"""The Thanos module version ``make thanos`` builds (v0.42.5 needs Go >= 1.26.10)."""

ENV_BINARY = "PROMFUZZ_THANOS"
TENANT_HEADER = "THANOS-TENANT"
TENANT_LABEL = "promfuzz_tenant"
RECEIVE_LABEL = "promfuzz_receive"
"""Receive's external label (it refuses to start without one); like the tenant label, a
replica label of Query, so deduplication removes both from every answer."""
MAX_TENANTS = 500
"""Tenants per Receive before the pair is restarted (each tenant is a TSDB in memory)."""


def receive_args(data: Path, extra: Sequence[str] = ()) -> list[str]:
    """The flags ``thanos-live`` starts Receive with (see the module docstring)."""
    return [
        "receive",
        "--http-address=127.0.0.1:0",
        "--grpc-address=127.0.0.1:0",
        "--remote-write.address=127.0.0.1:0",
        "--receive.capnproto-address=127.0.0.1:0",
        f"--tsdb.path={data}",
        "--tsdb.retention=0d",
        f"--receive.tenant-header={TENANT_HEADER}",
        f"--receive.tenant-label-name={TENANT_LABEL}",
        f'--label={RECEIVE_LABEL}="0"',
        "--http-grace-period=0s",
        "--grpc-grace-period=0s",
        "--log.level=warn",
        *extra,
    ]


def query_args(store: str, extra: Sequence[str] = (), tenant_header: str = TENANT_HEADER) -> list[str]:
    """The flags ``thanos-live`` starts Query with, ``store`` being Receive's gRPC address;
    a ``tenant_header`` other than Receive's makes reads and writes disagree (a test)."""
    return [
        "query",
        "--http-address=127.0.0.1:0",
        "--grpc-address=127.0.0.1:0",
        f"--endpoint={store}",
        "--query.promql-engine=thanos",
        "--query.enforce-tenancy",
        f"--query.tenant-header={tenant_header}",
        f"--query.tenant-label-name={TENANT_LABEL}",
        f"--query.replica-label={TENANT_LABEL}",
        f"--query.replica-label={RECEIVE_LABEL}",
        "--query.lookback-delta=5m",
        "--query.timeout=2m",
        "--enable-feature=promql-experimental-functions",
        "--endpoint.info-timeout=1s",
        "--http-grace-period=0s",
        "--grpc-grace-period=0s",
        "--log.level=warn",
        *extra,
    ]


def find_binary(build_dir: Path) -> Path:
    """``$PROMFUZZ_THANOS``, else ``<build>/thanos`` (``make thanos``)."""
    env = os.environ.get(ENV_BINARY)
    return Path(env) if env else build_dir / "thanos"


# --------------------------------------------------------------------------- ports


def probe(port: int, timeout_s: float = 1.0) -> str:
    """What answers on ``127.0.0.1:port``: ``http`` (a status server: ``/-/ready``
    answers 200 or 503), ``remote_write`` (``/api/v1/receive`` refuses GET with 405),
    ``grpc`` (answers an HTTP/2 preface with a SETTINGS frame), else ``other``."""
    with contextlib.suppress(requests.RequestException):
        r = requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=timeout_s)
        if r.status_code in (200, 503):
            return "http"
        r = requests.get(f"http://127.0.0.1:{port}/api/v1/receive", timeout=timeout_s)
        return "remote_write" if r.status_code == 405 else "other"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            head = s.recv(9)
    except OSError:
        return "other"
    return "grpc" if len(head) >= 4 and head[3] == 0x04 else "other"


@dataclass
class _Proc:
    role: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path
    ports: dict[str, int]

    def addr(self, kind: str) -> str:
        return f"127.0.0.1:{self.ports[kind]}"


class ThanosServers:
    """Thanos Receive + Thanos Query processes with a temp data dir; stopped by PID."""

    def __init__(self, binary: str | os.PathLike[str], *, start_timeout_s: float = 90.0,
                 receive_extra: Sequence[str] = (), query_extra: Sequence[str] = (),
                 query_tenant_header: str = TENANT_HEADER) -> None:
        self.binary = Path(binary).absolute()
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise HostNotBuiltError(
                f"Thanos binary {self.binary} is missing: run `make thanos` (builds github.com/thanos-io/thanos "
                f"{THANOS_VERSION} into .build/) or set {ENV_BINARY}"
            )
        self.start_timeout_s = start_timeout_s
        self.receive_extra = tuple(receive_extra)
        self.query_extra = tuple(query_extra)
        self.query_tenant_header = query_tenant_header
        self._tmp: str | None = None
        self.receive: _Proc | None = None
        self.query: _Proc | None = None
        self.starts = 0
        self.last_start_s = 0.0

    @property
    def pids(self) -> list[int]:
        return [p.proc.pid for p in (self.receive, self.query) if p is not None]

    @property
    def query_url(self) -> str:
        if self.query is None:
            raise EngineError("Thanos Query is not running")
        return f"http://{self.query.addr('http')}"

    @property
    def write_url(self) -> str:
        if self.receive is None:
            raise EngineError("Thanos Receive is not running")
        return f"http://{self.receive.addr('remote_write')}/api/v1/receive"

    def alive(self) -> bool:
        return all(p is not None and p.proc.poll() is None for p in (self.receive, self.query))

    def listeners(self) -> dict[str, list[Listener]]:
        return {p.role: listeners(p.proc.pid) for p in (self.receive, self.query) if p is not None}

    def start(self) -> str:
        """Start Receive on a fresh TSDB dir, then Query pointed at its gRPC; the Query
        URL once Query lists Receive as a healthy store."""
        self.stop()
        t0 = time.monotonic()
        deadline = t0 + self.start_timeout_s
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="promfuzz-thanos-")
        tmp = Path(self._tmp)
        n = self.starts
        self.starts += 1
        try:
            self.receive = self._spawn("receive", receive_args(tmp / f"data-{n}", self.receive_extra), tmp, n)
            self._wait_ports(self.receive, ("http",), 1, deadline)
            self._wait_ready(self.receive, deadline)
            # Receive opens its gRPC server, then restarts it on a new port once its (empty)
            # hashring is set up: the ports are read only after it reports ready.
            self._wait_ports(self.receive, ("http", "remote_write", "grpc"), 4, deadline)
            self.query = self._spawn("query", query_args(self.receive.addr("grpc"), self.query_extra, self.query_tenant_header), tmp, n)
            self._wait_ports(self.query, ("http", "grpc"), 2, deadline)
            self._wait_ready(self.query, deadline)
            self._wait_store(deadline)
        except BaseException:
            self.stop()
            raise
        self.last_start_s = time.monotonic() - t0
        return self.query_url

    def _spawn(self, role: str, args: list[str], tmp: Path, n: int) -> _Proc:
        log_path = tmp / f"{role}-{n}.log"
        log = open(log_path, "wb")  # noqa: SIM115 -- closed in stop()
        try:
            proc = subprocess.Popen([str(self.binary), *args], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    cwd=tmp, close_fds=True, preexec_fn=die_with_parent())
        except OSError as e:
            log.close()
            raise EngineError(f"cannot start {self.binary} {role}: {e}") from e
        return _Proc(role, proc, log, log_path, {})

    def _check_running(self, p: _Proc) -> None:
        if p.proc.poll() is not None:
            raise EngineError(f"Thanos {p.role} exited at start ({describe_exit(p.proc.returncode)}):\n{self._tail(p)}")

    def _wait_ports(self, p: _Proc, kinds: tuple[str, ...], count: int, deadline: float) -> None:
        """Wait for ``count`` TCP listeners of the process, refuse any non-loopback one,
        and tell the ports apart by probing them."""
        p.ports.clear()
        while time.monotonic() < deadline:
            self._check_running(p)
            tcp = [x for x in listeners(p.proc.pid) if x.proto.startswith("tcp")]
            if len(tcp) >= count:
                bad = non_loopback(p.proc.pid)
                if bad:
                    raise EngineError(f"Thanos {p.role} listens on non-loopback {', '.join(map(str, bad))}")
                for x in tcp:
                    kind = probe(x.port)
                    if kind in kinds and kind not in p.ports:
                        p.ports[kind] = x.port
                if all(k in p.ports for k in kinds):
                    return
            time.sleep(0.05)
        raise EngineError(f"Thanos {p.role}: listeners {sorted(p.ports)} of {list(kinds)} within "
                          f"{self.start_timeout_s:g}s:\n{self._tail(p)}")

    def _wait_ready(self, p: _Proc, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_running(p)
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://{p.addr('http')}/-/ready", timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        raise EngineError(f"Thanos {p.role} not ready within {self.start_timeout_s:g}s:\n{self._tail(p)}")

    def _wait_store(self, deadline: float) -> None:
        """Until Query lists Receive's gRPC address as a store without an error."""
        assert self.query is not None and self.receive is not None
        want = self.receive.addr("grpc")
        last: Any = None
        while time.monotonic() < deadline:
            self._check_running(self.query)
            with contextlib.suppress(requests.RequestException, ValueError):
                data = requests.get(f"{self.query_url}/api/v1/stores", timeout=2).json().get("data") or {}
                last = data
                for group in data.values():
                    for st in group or ():
                        if st.get("name") == want and not st.get("lastError"):
                            return
            time.sleep(0.1)
        raise EngineError(f"Thanos Query did not list Receive ({want}) as a healthy store within "
                          f"{self.start_timeout_s:g}s (last /api/v1/stores: {last!r})")

    def stop(self, wait_s: float = 10.0) -> None:
        """SIGTERM each process by PID (Query first), wait, SIGKILL; remove the data dir."""
        for p in (self.query, self.receive):
            if p is not None:
                stop_by_pid(p.proc, wait_s)
                p.log.close()
        self.query = self.receive = None
        if self._tmp is not None:
            for d in Path(self._tmp).glob("data-*"):
                shutil.rmtree(d, ignore_errors=True)

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    @staticmethod
    def _tail(p: _Proc, n: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return p.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        return ""

    def log_tail(self, n: int = 2000) -> str:
        return "\n".join(f"[{p.role}] {self._tail(p, n)}" for p in (self.receive, self.query) if p is not None)

    def exit_description(self) -> str:
        parts = [f"{p.role} {describe_exit(p.proc.poll())}" for p in (self.receive, self.query) if p is not None]
        return ", ".join(parts) or "not started"


class ThanosLiveEngine(EngineBase):
    """``thanos-live``: datasets remote-written into Thanos Receive (a fresh tenant each),
    queried through Thanos Query's promql-engine, via the ``thanos`` profile of
    :class:`~promfuzz.engines.http.HttpEngine` (verified loads)."""

    isolation = "tenant"

    def __init__(self, binary: str | os.PathLike[str], *, name: str = "thanos-live",
                 default_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S, start_timeout_s: float = 90.0,
                 concurrency: int = 4, max_tenants: int = MAX_TENANTS,
                 receive_extra: Sequence[str] = (), query_extra: Sequence[str] = ()) -> None:
        self.name = name
        self.family = "thanos-live"
        self.default_timeout_s = default_timeout_s
        self.concurrency = concurrency
        self.max_tenants = max_tenants
        self.server = ThanosServers(binary, start_timeout_s=start_timeout_s, receive_extra=receive_extra,
                                    query_extra=query_extra)
        self._client: Any = None
        self._dataset: Dataset | None = None
        self._loaded_fp: str | None = None
        self.restarts = 0

    def _connect(self) -> Any:
        from promfuzz.engines.http import HttpEngine

        url = self.server.start()
        if self._client is not None:
            self._client.close()
        self._client = HttpEngine(url, name=self.name, profile="thanos", write_url=self.server.write_url, env={},
                                  retries=1, default_timeout_s=self.default_timeout_s, concurrency=self.concurrency)
        self._loaded_fp = None
        return self._client

    def _ensure(self) -> Any:
        if self._client is None or not self.server.alive() or self._client._tenants >= self.max_tenants:
            if self._client is not None and not self.server.alive():
                self.restarts += 1
            return self._connect()
        return self._client

    @property
    def tenant(self) -> str | None:
        """The tenant the current dataset was written to."""
        if self._client is None:
            return None
        return self._client._session.headers.get(TENANT_HEADER)

    def load(self, dataset: Dataset) -> LoadInfo:
        from promfuzz.engines.http import DatasetNotLoadableError

        fp = dataset.fingerprint()
        t0 = time.perf_counter_ns()
        self._dataset = dataset
        if self._client is not None and self.server.alive() and self._loaded_fp == fp:
            return LoadInfo(self.name, fp, len(dataset.series), 0, 0, time.perf_counter_ns() - t0, reused=True)
        clash = [s for s in dataset.series if any(k in (TENANT_LABEL, RECEIVE_LABEL) for k, _ in s.labels)]
        if clash:
            raise DatasetNotLoadableError(
                f"{self.name}: {len(clash)} series carry the label {TENANT_LABEL!r} or {RECEIVE_LABEL!r}, which "
                "Thanos Receive sets itself"
            )
        client = self._ensure()
        self._loaded_fp = None
        info = client.load(dataset)  # a fresh tenant: nothing of another dataset is visible
        self._loaded_fp = fp
        return LoadInfo(self.name, fp, info.series, info.floats, info.histograms, time.perf_counter_ns() - t0,
                        notes=info.notes)

    def _prepare(self) -> Any:
        if self._client is not None and self.server.alive():
            return self._client
        try:
            client = self._ensure()
            if self._dataset is not None:
                client.load(self._dataset)
                self._loaded_fp = self._dataset.fingerprint()
            return client
        except EngineError as e:
            return Result.failure(self.name, "engine_failure", "engine_restart", f"Thanos restart failed: {e}")

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        return self.query_many([(text, params)], timeout_s)[0]

    def query_many(self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None) -> list[Result]:
        client = self._prepare()
        if isinstance(client, Result):
            return [client] * len(items)
        return blame_crash(client.query_many(items, timeout_s), self.name, "Thanos", self.server)

    def readback(self) -> Result:
        """Every raw sample the current tenant holds, through Query (see HttpEngine.query_readback)."""
        client = self._prepare()
        if isinstance(client, Result):
            raise EngineError(client.error.message if client.error else "Thanos unavailable")
        if self._dataset is None:
            raise EngineError(f"{self.name}: nothing loaded")
        return client.query_readback(self._dataset)

    def versions(self) -> dict[str, str]:
        from promfuzz.engines.live import binary_versions

        return binary_versions(self.server.binary, ("thanos-io/thanos", "thanos-io/promql-engine",
                                                    "prometheus/prometheus"))

    def dump(self) -> Dataset | None:
        return None  # Thanos Query has no remote read; readback() shows what a tenant holds

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self.server.close()
