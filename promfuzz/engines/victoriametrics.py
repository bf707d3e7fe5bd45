"""VictoriaMetrics: what it can store, how to read it back, and ``victoriametrics-live``.

Measured on VictoriaMetrics v1.151.0 (built from its Go module) and 1.79.5 (Debian):

* **No samples before 1970-01-02.** v1.151 drops them ("cannot insert row with too small
  timestamp 0; minimum allowed timestamp is 86400000", counted in
  ``vm_rows_ignored_total{reason="small_timestamp"}``, HTTP 204 all the same); 1.79 stores
  them but a query whose fetch window starts before 0 finds no series. So the profile
  moves data and evaluation times one day later (:data:`VM_SHIFT_MS`) and the answers
  back. Queries are rewritten so that absolute time reads as unshifted: ``@ t`` gets
  ``+1d``, ``time()``/``timestamp(x)`` become ``(time() - 86400)``/``(timestamp(x) -
  86400)``, and the argument-less ``day_of_month()``, ``day_of_week()``,
  ``day_of_year()`` get ``- 1`` (1970-01-02 is one day later in month, week and year;
  the data spans hours, so no month or week boundary is crossed).
* **NaN is dropped** (remote write and import alike); the **stale marker is stored**
  (remote write; exported as ``null``). The JSON import cannot carry a stale marker, and
  on 1.79 rejects a whole line holding the string ``"NaN"`` (the 14,363 lines of issue
  #15): the loader is remote write.
* **Native histograms are converted** into ``_sum``/``_count``/``_bucket{vmrange}``
  float series, so they are not sent.
* :func:`carry` applies these (NaN and histogram samples out), and ``LoadInfo.notes``
  says how many; the pipeline gives the reference the same carried data, so an answer
  is compared on what both engines hold.
* Every load is read back (``/api/v1/export``) and compared with the carried dataset:
  timestamps and stale markers exactly, values to VictoriaMetrics's ~12 significant
  digits (:data:`VM_REL_PRECISION`). It rounds harder when a block mixes very different
  magnitudes (1.0 next to 1.8e308 is stored as 0): such a load fails with a message
  naming the series and the first values, and the dataset is skipped.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import requests

from promfuzz.engines.base import DEFAULT_QUERY_TIMEOUT_S, EngineBase, LoadInfo, blame_crash
from promfuzz.engines.host import describe_exit
from promfuzz.engines.procnet import ServerProcess, die_with_parent, listeners, non_loopback
from promfuzz.errors import EngineError, HostNotBuiltError
from promfuzz.model import Dataset, EvalParams, Histogram, Point, Result, ResultSeries, is_stale, stale_nan

VM_VERSION = "v1.151.0"
"""The VictoriaMetrics module version ``make deps`` builds into ``.build/victoria-metrics``
(v1.154.1 needs Go 1.27.2; the project's Go is 1.26: v1.151.0 is the newest it builds)."""

ENV_BINARY = "PROMFUZZ_VICTORIAMETRICS"


# --------------------------------------------------------------------------- data


def carry(dataset: Dataset) -> tuple[Dataset, tuple[str, ...]]:
    """The dataset as VictoriaMetrics stores it: NaN samples (not stale markers) and
    native histogram samples left out; series left without samples dropped."""
    nan = hist = 0
    out: list[tuple[Any, list[tuple[int, Any]]]] = []
    changed = False
    for s in dataset.series:
        keep: list[tuple[int, Any]] = []
        for x in s.samples:
            if isinstance(x.v, Histogram):
                hist += 1
                continue
            if math.isnan(x.v) and not is_stale(x.v):
                nan += 1
                continue
            keep.append((x.t, x.v))
        if len(keep) != len(s.samples):
            changed = True
        if keep:
            out.append((s.labels, keep))
    notes = []
    if nan:
        notes.append(f"{nan} NaN samples left out (VictoriaMetrics drops NaN)")
    if hist:
        notes.append(f"{hist} native histogram samples left out (VictoriaMetrics converts them to vmrange buckets)")
    return (Dataset.build(out) if changed else dataset), tuple(notes)


def _export_value(v: Any) -> float:
    if v is None:
        return stale_nan()
    if isinstance(v, str):
        v = float(v.replace("Infinity", "inf"))
    v = float(v)
    # NaN is dropped at ingestion, so a NaN read back is a stale marker (1.79 exports
    # some stale markers as NaN rather than null).
    return stale_nan() if math.isnan(v) else v


def _export_line(line: bytes) -> Any:
    """One export line; VictoriaMetrics 1.79 writes infinities as bare ``+Inf``/``-Inf``
    (not JSON): they are rewritten inside the ``values`` array only."""
    try:
        return json.loads(line)
    except ValueError:
        text = line.decode("utf-8", "replace")
        i = text.find('"values":[')
        j = text.find("]", i)
        if i < 0 or j < 0:
            raise
        vals = ",".join({"+Inf": '"Infinity"', "Inf": '"Infinity"', "-Inf": '"-Infinity"'}.get(x, x)
                        for x in text[i + 10:j].split(","))
        return json.loads(text[: i + 10] + vals + text[j:])


def parse_export(body: bytes, shift_ms: int = 0) -> Dataset:
    """``/api/v1/export`` JSON lines as a Dataset (``null`` is the stale marker; the
    values ``"Infinity"``/``"-Infinity"`` as strings), timestamps moved back by ``shift_ms``."""
    series = []
    for line in body.splitlines():
        if not line.strip():
            continue
        obj = _export_line(line)
        samples = [(int(t) - shift_ms, _export_value(v)) for t, v in zip(obj["timestamps"], obj["values"], strict=True)]
        series.append((obj["metric"], samples))
    return Dataset.build(series)


VM_REL_PRECISION = 1e-11
"""VictoriaMetrics stores a float as a decimal with about 12 significant digits
(1.002515297352896 is stored as 1.002515297352): a read-back value within this relative
distance is the value sent; anything farther (1.0 stored as 0 beside 1.8e308) fails the load."""


def _same_value(a: Any, b: Any) -> bool:
    if is_stale(a) or is_stale(b):
        return is_stale(a) and is_stale(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= VM_REL_PRECISION * max(abs(a), abs(b))


def readback_mismatches(expected: Dataset, got: Dataset, limit: int = 3) -> list[str]:
    """Where the stored data differs from ``expected`` (empty: identical), values compared
    as VictoriaMetrics stores them (:func:`_same_value`)."""
    from promfuzz.engines.base import stored_mismatches

    return stored_mismatches(expected, got, _same_value, limit)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- queries


def shift_query(text: str, shift_ms: int) -> str:
    """The query that, on data moved ``shift_ms`` later, answers what ``text`` answers on
    the unshifted data (see the module docstring). Unparsable text is sent unchanged (the
    target's parse error is the answer)."""
    if shift_ms == 0:
        return text
    from promfuzz.promql import ast
    from promfuzz.promql.parser import parse
    from promfuzz.promql.printer import to_text

    try:
        root = parse(text)
    except Exception:  # noqa: BLE001 - our parser refusing it: let the target say why
        return text
    secs = shift_ms / 1000
    days = shift_ms // 86_400_000

    def minus(node: ast.Expr, amount: float) -> ast.Expr:
        return ast.ParenExpr(ast.BinaryExpr("-", node, ast.NumberLiteral(amount)))

    changed = False

    def fn(node: ast.Node) -> ast.Node:
        nonlocal changed
        if isinstance(node, (ast.VectorSelector, ast.SubqueryExpr)) and isinstance(node.at, int) and not isinstance(node.at, bool):
            changed = True
            return _replace(node, at=node.at + shift_ms)
        if isinstance(node, ast.Call):
            if node.func in ("time", "timestamp"):
                changed = True
                return minus(node, secs)
            if node.func in ("day_of_month", "day_of_week", "day_of_year") and not node.args and days:
                changed = True
                return minus(node, float(days))
        return node

    new = ast.transform(root, fn)
    return to_text(new, prometheus=True) if changed else text


def _replace(node: Any, **kw: Any) -> Any:
    import dataclasses

    return dataclasses.replace(node, **kw)


def shift_params(params: EvalParams, shift_ms: int) -> EvalParams:
    if params.is_range:
        return EvalParams.range(params.start_ms + shift_ms, params.end_ms + shift_ms, params.step_ms)
    return EvalParams.instant(params.time_ms + shift_ms)


def unshift_result(r: Result, shift_ms: int) -> Result:
    import dataclasses

    if shift_ms == 0 or not r.ok:
        return r
    series = tuple(ResultSeries(s.labels, tuple(Point(p.t - shift_ms, p.v) for p in s.points)) for s in r.series)
    scalar = Point(r.scalar.t - shift_ms, r.scalar.v) if r.scalar is not None else None
    return dataclasses.replace(r, series=series, scalar=scalar)


# --------------------------------------------------------------------------- server


def server_args(data: Path, extra: Sequence[str] = ()) -> list[str]:
    """Flags of ``victoriametrics-live``: loopback HTTP on an OS-picked port, every other
    listener off (they are off unless given: graphite, influx, opentsdb, opentsdbHTTP),
    retention reaching 1970, no response cache (answers must not depend on earlier
    queries), Prometheus's lookback."""
    return [
        "-httpListenAddr=127.0.0.1:0",
        f"-storageDataPath={data}",
        "-retentionPeriod=100y",
        "-search.disableCache",
        "-search.maxLookback=5m",
        "-search.latencyOffset=0s",
        "-search.maxPointsPerTimeseries=1000000",
        "-search.maxQueryDuration=2m",
        "-loggerLevel=WARN",
        "-http.shutdownDelay=0s",
        *extra,
    ]


def find_binary(build_dir: Path) -> Path:
    """``$PROMFUZZ_VICTORIAMETRICS``, else ``<build>/victoria-metrics`` (built by ``make
    deps`` from the Go module), else Debian's ``/usr/bin/victoria-metrics``."""
    env = os.environ.get(ENV_BINARY)
    if env:
        return Path(env)
    built = build_dir / "victoria-metrics"
    if built.is_file():
        return built
    deb = shutil.which("victoria-metrics")
    return Path(deb) if deb else built


class VMServer(ServerProcess):
    """A VictoriaMetrics single-node process with a temp data dir; stopped by PID."""

    def __init__(self, binary: str | os.PathLike[str], *, start_timeout_s: float = 60.0,
                 extra_args: Sequence[str] = ()) -> None:
        self.binary = Path(binary).absolute()
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise HostNotBuiltError(
                f"VictoriaMetrics binary {self.binary} is missing: run `make deps` (builds "
                f"github.com/VictoriaMetrics/VictoriaMetrics {VM_VERSION} into .build/) or set {ENV_BINARY}"
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

    @property
    def url(self) -> str:
        if self.addr is None:
            raise EngineError("VictoriaMetrics server is not running")
        return f"http://{self.addr}"

    def start(self) -> str:
        """Start on a fresh data dir; the base URL once ``/health`` answers 200. The port
        is read from the kernel (VictoriaMetrics logs the ``:0`` it was given); a
        listener on anything but loopback stops the server with an error."""
        self.stop()
        t0 = time.monotonic()
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="promfuzz-vm-")
        tmp = Path(self._tmp)
        data = tmp / f"data-{self.starts}"
        self._log_path = tmp / f"server-{self.starts}.log"
        self.starts += 1
        self._log = open(self._log_path, "wb")  # noqa: SIM115 -- closed in stop()
        try:
            self._proc = subprocess.Popen(
                [str(self.binary), *server_args(data, self.extra_args)],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, cwd=tmp, close_fds=True,
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
                raise EngineError(f"VictoriaMetrics exited at start ({describe_exit(code)}):\n{tail}")
            if self.addr is None:
                tcp = [x for x in listeners(self._proc.pid) if x.proto.startswith("tcp")]
                if tcp:
                    bad = non_loopback(self._proc.pid)
                    if bad:
                        self.stop()
                        raise EngineError(f"VictoriaMetrics listens on non-loopback {', '.join(map(str, bad))}")
                    self.addr = f"{tcp[0].ip}:{tcp[0].port}"
            if self.addr is not None:
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"http://{self.addr}/health", timeout=2).status_code == 200:
                        self.last_start_s = time.monotonic() - t0
                        return self.url
            time.sleep(0.02)
        tail = self.log_tail()
        self.stop()
        raise EngineError(f"VictoriaMetrics not ready within {self.start_timeout_s:g}s:\n{tail}")

    STOP_WAIT_S = 10.0

    def _forget(self) -> None:
        self.addr = None


class VictoriaMetricsLiveEngine(EngineBase):
    """``victoriametrics-live``: a fresh VictoriaMetrics per dataset (and per shrink
    candidate), loaded and queried through the ``victoriametrics`` profile of
    :class:`~promfuzz.engines.http.HttpEngine` (verified loads, time shift)."""

    isolation = "restart"

    def __init__(self, binary: str | os.PathLike[str], *, name: str = "victoriametrics-live",
                 default_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S, start_timeout_s: float = 60.0,
                 concurrency: int = 4, extra_args: Sequence[str] = ()) -> None:
        self.name = name
        self.family = "victoriametrics"
        self.default_timeout_s = default_timeout_s
        self.concurrency = concurrency
        self.server = VMServer(binary, start_timeout_s=start_timeout_s, extra_args=extra_args)
        self._client: Any = None
        self._dataset: Dataset | None = None
        self._loaded_fp: str | None = None
        self.restarts = 0

    def carry(self, dataset: Dataset) -> tuple[Dataset, tuple[str, ...]]:
        """:func:`carry`, then the values as this server stored them: the dataset is
        loaded (verified) and read back, and the read-back is what the reference gets, so
        VictoriaMetrics's ~12-digit rounding does not show as value differences. The
        server keeps holding exactly that data (the next ``load`` of it is reused)."""
        base, notes = carry(dataset)
        try:
            self.load(base)
            stored = self._client.dump() if self._client is not None else None
        except EngineError:
            return base, notes  # the campaign's own load fails the same way, with its message
        if stored is None or stored == base:
            return base, notes
        self._dataset = stored
        self._loaded_fp = stored.fingerprint()
        return stored, (*notes, "values as VictoriaMetrics stored them (about 12 significant digits)")

    def _connect(self) -> Any:
        from promfuzz.engines.http import HttpEngine

        url = self.server.start()
        if self._client is not None:
            self._client.close()
        self._client = HttpEngine(url, name=self.name, profile="victoriametrics", isolation="none", env={},
                                  retries=1, default_timeout_s=self.default_timeout_s,
                                  concurrency=self.concurrency)
        self._loaded_fp = None
        return self._client

    def load(self, dataset: Dataset) -> LoadInfo:
        fp = dataset.fingerprint()
        t0 = time.perf_counter_ns()
        self._dataset = dataset
        if self._client is not None and self.server.alive() and self._loaded_fp == fp:
            return LoadInfo(self.name, fp, len(dataset.series), 0, 0, time.perf_counter_ns() - t0, reused=True)
        client = self._connect()  # a fresh server: nothing of the last dataset is left
        info = client.load(dataset)
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
                client.load(self._dataset)
                self._loaded_fp = self._dataset.fingerprint()
            return client
        except EngineError as e:
            return Result.failure(self.name, "engine_failure", "engine_restart", f"VictoriaMetrics restart failed: {e}")

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        return self.query_many([(text, params)], timeout_s)[0]

    def query_many(self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None) -> list[Result]:
        client = self._prepare()
        if isinstance(client, Result):
            return [client] * len(items)
        return blame_crash(client.query_many(items, timeout_s), self.name, "VictoriaMetrics", self.server)

    def versions(self) -> dict[str, str]:
        from promfuzz.engines.live import binary_versions

        v = binary_versions(self.server.binary, ("VictoriaMetrics/VictoriaMetrics",))
        if not any("VictoriaMetrics" in k for k in v):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                out = subprocess.run([str(self.server.binary), "-version"], capture_output=True, text=True, timeout=10)
                v["victoria-metrics"] = out.stdout.strip() or "unknown (Debian package)"
        return v

    def dump(self) -> Dataset | None:
        client = self._prepare()
        if isinstance(client, Result):
            raise EngineError(client.error.message if client.error else "VictoriaMetrics unavailable")
        return client.dump()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self.server.close()
