"""``prometheus-live``: a real Prometheus server started by the suite, loaded by remote write.

The server (``.build/prometheus-server``, built from the same Prometheus module as the
``prometheus`` host) runs on loopback with an OS-chosen port (``--web.listen-address
127.0.0.1:0``; the port is read from its "Listening on" log line), a temp data dir, a
config with no scrape jobs, ``evaluation_interval: 1m`` (the default subquery step, as
in the hosts), an out-of-order window of 30d, the remote-write receiver, the admin
API, and the same PromQL features as the hosts (experimental functions, binop fill
modifiers; extended range selectors and duration expressions are always on).

Decisions (measured, see the report in the commit history / docs):

* **Timestamps are not shifted.** The server accepts samples at 1970 (t=0) through
  remote write, so datasets go in as they are, and queries and results are untouched:
  exactly transparent, including ``time()``, ``timestamp()``, ``@`` and date functions.
* **Writes go oldest window first** (:func:`~promfuzz.engines.remote_write.chunk_by_time`),
  so every sample is appended in order and nothing lands in out-of-order chunks (which
  could differ from the host's storage, e.g. in histogram counter-reset hints).
* **A fresh server (fresh data dir) per dataset** (``reset="restart"``, the default):
  exact by construction and cheap (start 0.2-0.4 s, load of 100 series x 500 samples
  0.5-1.2 s including the start, measured on a shared 2-core machine).
  ``reset="delete"`` keeps one server and deletes through the admin API
  (``delete_series`` + ``clean_tombstones``). Measured: no faster (0.4-0.9 s per load),
  and not exact: with Prometheus v0.316.0, the third load of a delete/rewrite cycle
  (same timestamps, new series) made queries fail with ``runtime error: index out of
  range [2] with length 2`` (a panic in ``tombstones.Intervals.Add`` under
  ``blockBaseSeriesSet.Next``) and remote read returned deleted samples again. It is
  kept only to reproduce that.
* **Series without ``__name__`` cannot be loaded**: the receiver drops them (HTTP 204
  and a log line). ``load`` raises
  :class:`~promfuzz.engines.http.DatasetNotLoadableError` for such datasets.
* ``dump()`` uses remote read (``SAMPLES``): it returns float samples with stale markers
  bit-exact and float histograms with their stored counter-reset hints.

Supervision matches the hosts: a server that died makes the running query an
``engine_failure`` (with its log tail); the next call starts a new server and reloads.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Literal

import requests

from promfuzz.engines.base import DEFAULT_QUERY_TIMEOUT_S, EngineBase, EngineLoadError, LoadInfo
from promfuzz.engines.host import describe_exit
from promfuzz.engines.http import HttpEngine
from promfuzz.engines.procnet import ServerProcess, die_with_parent
from promfuzz.errors import EngineError, HostNotBuiltError
from promfuzz.model import Dataset, EvalParams, Result

LIVE_CONFIG = """\
# promfuzz prometheus-live: no scrape jobs; data arrives by remote write.
global:
  evaluation_interval: 1m
storage:
  tsdb:
    out_of_order_time_window: 30d
"""

FEATURES = (
    "promql-experimental-functions",
    "promql-binop-fill-modifiers",
)

_LISTEN_RE = re.compile(rb'msg="Listening on".*?address=([0-9.]+:[0-9]+)')

Reset = Literal["restart", "delete"]


def server_args(config: Path, data: Path, extra: Sequence[str] = ()) -> list[str]:
    """The flags ``prometheus-live`` starts the server with; a flag in ``extra`` replaces
    the default of the same name (the server refuses a flag given twice)."""
    given = {a.split("=", 1)[0] for a in extra if a.startswith("--")}
    base = [
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        "--web.listen-address=127.0.0.1:0",
        "--web.enable-remote-write-receiver",
        "--web.enable-admin-api",
        f"--enable-feature={','.join(FEATURES)}",
        "--query.lookback-delta=5m",
        "--query.max-samples=50000000",
        "--query.timeout=2m",
        "--storage.tsdb.retention.time=100y",
        "--log.level=info",
    ]
    return [a for a in base if a.split("=", 1)[0] not in given] + list(extra)



class LiveServer(ServerProcess):
    """A Prometheus server process with a temp data dir; stopped by PID."""

    def __init__(
        self,
        binary: str | os.PathLike[str],
        *,
        start_timeout_s: float = 60.0,
        extra_args: Sequence[str] = (),
        query_log_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.binary = Path(binary).absolute()
        self.query_log_file = Path(query_log_file).absolute() if query_log_file is not None else None
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise HostNotBuiltError(
                f"Prometheus server binary {self.binary} is missing: build it with `make hosts` "
                "(from the repository root; needs Go)"
            )
        self.start_timeout_s = start_timeout_s
        self.extra_args = tuple(extra_args)
        self._tmp: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_path: Path | None = None
        self.addr: str | None = None
        self.starts = 0
        self.last_start_s = 0.0

    def __repr__(self) -> str:
        return f"LiveServer({self.binary.name}, addr={self.addr}, pid={self.pid})"

    @property
    def url(self) -> str:
        if self.addr is None:
            raise EngineError("live Prometheus server is not running")
        return f"http://{self.addr}"

    def start(self) -> str:
        """Start on a fresh data dir; returns the base URL once ``/-/ready`` answers 200."""
        self.stop()
        t0 = time.monotonic()
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="promfuzz-live-")
        tmp = Path(self._tmp)
        config = tmp / "prometheus.yml"
        text = LIVE_CONFIG
        if self.query_log_file is not None:  # Prometheus's query log (JSON lines), e.g. for replay-log
            text = text.replace("global:\n", f"global:\n  query_log_file: {json.dumps(str(self.query_log_file))}\n", 1)
        config.write_text(text)
        data = tmp / f"data-{self.starts}"
        self._log_path = tmp / f"server-{self.starts}.log"
        self.starts += 1
        self._log = open(self._log_path, "wb")  # noqa: SIM115 -- closed in stop()
        try:
            self._proc = subprocess.Popen(
                [str(self.binary), *server_args(config, data, self.extra_args)],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                cwd=tmp,
                close_fds=True,
                preexec_fn=die_with_parent(),
            )
        except OSError as e:
            raise EngineError(f"cannot start {self.binary}: {e}") from e
        deadline = t0 + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                tail = self.log_tail()
                self.stop()
                raise EngineError(f"Prometheus server exited at start ({describe_exit(code)}):\n{tail}")
            if self.addr is None:
                m = _LISTEN_RE.search(self._log_path.read_bytes())
                if m:
                    self.addr = m.group(1).decode()
            if self.addr is not None:
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"http://{self.addr}/-/ready", timeout=2).status_code == 200:
                        self.last_start_s = time.monotonic() - t0
                        return self.url
            time.sleep(0.02)
        tail = self.log_tail()
        self.stop()
        raise EngineError(f"Prometheus server not ready within {self.start_timeout_s:g}s:\n{tail}")

    STOP_WAIT_S = 10.0

    def _forget(self) -> None:
        self.addr = None

    def kill(self) -> None:
        """SIGKILL by PID (tests use it to simulate a crash)."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=10)


class LiveEngine(EngineBase):
    """The ``prometheus-live`` engine (see the module docstring)."""

    def __init__(
        self,
        binary: str | os.PathLike[str],
        *,
        name: str = "prometheus-live",
        reset: Reset = "restart",
        default_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
        start_timeout_s: float = 60.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        if reset not in ("restart", "delete"):
            raise EngineError(f"unknown reset strategy {reset!r} (restart or delete)")
        self.name = name
        self.reset = reset
        self.default_timeout_s = default_timeout_s
        self.server = LiveServer(binary, start_timeout_s=start_timeout_s, extra_args=extra_args)
        self._client: HttpEngine | None = None
        self._dataset: Dataset | None = None
        self._fp: str | None = None
        self._loaded_fp: str | None = None
        self.restarts = 0

    def __repr__(self) -> str:
        return f"LiveEngine({self.server!r}, reset={self.reset!r})"

    def _connect(self) -> HttpEngine:
        url = self.server.start()
        if self._client is not None:
            self._client.close()
        self._client = HttpEngine(
            url, "remote_write", name=self.name, env={}, retries=1, default_timeout_s=self.default_timeout_s
        )
        self._loaded_fp = None
        return self._client

    def _ensure(self) -> HttpEngine:
        if self._client is None or not self.server.alive():
            if self._client is not None:
                self.restarts += 1
            return self._connect()
        return self._client

    # -- Engine ------------------------------------------------------------------------
    def load(self, dataset: Dataset) -> LoadInfo:
        fp = dataset.fingerprint()
        t0 = time.perf_counter_ns()
        self._dataset, self._fp = dataset, fp
        if self._client is not None and self.server.alive() and self._loaded_fp == fp:
            return LoadInfo(
                self.name, fp, len(dataset.series), 0, 0, time.perf_counter_ns() - t0, reused=True
            )
        if self.reset == "restart" or self._client is None or not self.server.alive():
            client = self._connect()
        else:
            client = self._client
            self._delete_all(client)
        info = client.load(dataset)
        self._loaded_fp = fp
        return LoadInfo(
            self.name,
            fp,
            info.series,
            info.floats,
            info.histograms,
            time.perf_counter_ns() - t0,
            notes=info.notes,
        )

    def _delete_all(self, client: HttpEngine) -> None:
        base = client.url
        r = requests.post(
            f"{base}/api/v1/admin/tsdb/delete_series",
            params={"match[]": '{__name__=~".+"}', "start": "-292275055", "end": "292277025"},
            timeout=60,
        )
        if r.status_code not in (200, 204):
            raise EngineLoadError(f"delete_series answered HTTP {r.status_code}: {r.text[:300]}")
        r = requests.post(f"{base}/api/v1/admin/tsdb/clean_tombstones", timeout=300)
        if r.status_code not in (200, 204):
            raise EngineLoadError(f"clean_tombstones answered HTTP {r.status_code}: {r.text[:300]}")
        self._loaded_fp = None

    def _prepare(self) -> HttpEngine | Result:
        try:
            was_alive = self._client is not None and self.server.alive()
            client = self._ensure()
            if self._dataset is not None and (not was_alive or self._loaded_fp != self._fp):
                client.load(self._dataset)
                self._loaded_fp = self._fp
            return client
        except EngineError as e:
            return Result.failure(
                self.name, "engine_failure", "engine_restart", f"live server restart failed: {e}"
            )

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        client = self._prepare()
        if isinstance(client, Result):
            return client
        r = client.query(text, params, timeout_s)
        if r.outcome == "engine_failure" and not self.server.alive():
            assert r.error is not None
            return Result.failure(
                self.name,
                "engine_failure",
                "engine_crash",
                f"Prometheus server died ({self.server.exit_description()}) during the query. "
                f"log tail:\n{self.server.log_tail()}",
                r.stats.wall_ns,
            )
        return r

    def versions(self) -> dict[str, str]:
        return {**binary_versions(self.server.binary), "server": "prometheus-server"}

    def dump(self) -> Dataset | None:
        client = self._prepare()
        if isinstance(client, Result):
            raise EngineError(client.error.message if client.error else "live server unavailable")
        return client.remote_read(-(2**62), 2**62)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self.server.close()


def binary_versions(binary: Path, modules: Sequence[str] = ("prometheus/prometheus",)) -> dict[str, str]:
    """Versions embedded in a Go binary (``go version -m``) of the modules whose path
    contains one of ``modules`` (replacements shown as ``path => other version``), plus
    ``go``; empty when Go is not installed."""
    go = shutil.which("go")
    if go is None or not binary.is_file():
        return {}
    try:
        out = subprocess.run(
            [go, "version", "-m", str(binary)], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    versions: dict[str, str] = {}
    last: str | None = None
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0].endswith(":") and len(parts) >= 2 and "go" not in versions:
            versions["go"] = parts[1]
        elif parts[0] in ("mod", "dep") and len(parts) >= 3:
            last = parts[1] if any(m in parts[1] for m in modules) else None
            if last is not None:
                versions[last] = parts[2]
        elif parts[0] == "=>" and last is not None and len(parts) >= 3:
            versions[last] = f"{versions[last]} => {parts[1]} {parts[2]}"
    return versions
