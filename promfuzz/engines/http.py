"""Any Prometheus-compatible HTTP target as an engine (Prometheus, Mimir, Thanos, Cortex,
VictoriaMetrics, ...).

``HttpEngine(url, loader=...)``:

* ``loader="remote_write"`` -- ``load`` POSTs the dataset as remote-write 1.0 requests
  (snappy protobuf) to ``<url>/api/v1/write`` (``write_url`` overrides it, e.g. Mimir's
  ``/api/v1/push``);
* ``loader="victoriametrics_import"`` -- JSON lines to ``<url>/api/v1/import`` (ms
  timestamps), then ``<url>/internal/force_flush``. The format cannot carry stale
  markers (sent as ``NaN``, which VictoriaMetrics drops) nor native histograms (not
  sent); ``LoadInfo.notes`` says what was lost;
* ``loader="none"`` -- the data is already there; ``load`` only records the fingerprint.

Nothing is ever deleted from a target: load each dataset into a fresh target, or use
datasets whose series do not collide.

Credentials come only from the environment and are never echoed (not in ``repr``,
messages, logs or results): ``PROMFUZZ_HTTP_BEARER_TOKEN`` (``Authorization: Bearer``),
``PROMFUZZ_HTTP_BASIC_AUTH`` (``user:pass``), ``PROMFUZZ_HTTP_TENANT``
(``X-Scope-OrgID``). Credentials written into the URL (``http://u:p@host``) are used
as basic auth and dropped from the URL.

Connection errors and 5xx answers that are not a Prometheus API envelope (a gateway
error page) are retried with exponential backoff, a bounded number of times; then a
query returns an ``engine_failure`` Result with error class ``target_unavailable`` and a
message starting ``target unavailable:`` (clearly not a query answer), and a load
raises :class:`~promfuzz.errors.TargetUnavailableError`. A 5xx that *is* an envelope
(Prometheus answers 503 for a query timeout) is the query's answer and is not retried.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import requests
import requests.adapters

from promfuzz.engines import victoriametrics as vm
from promfuzz.engines.apijson import parse_body
from promfuzz.engines.base import (
    DEFAULT_QUERY_TIMEOUT_S,
    EngineBase,
    EngineLoadError,
    LoadInfo,
    api_path,
    query_params,
)
from promfuzz.engines.profiles import ISOLATIONS, get_profile
from promfuzz.engines.remote_write import (
    READ_HEADERS,
    WRITE_HEADERS,
    RemoteProtocolError,
    chunk_by_time,
    compress,
    decode_read_response,
    encode_read_request,
    encode_write_request,
)
from promfuzz.errors import ConfigError, EngineError, TargetUnavailableError
from promfuzz.model import Dataset, EvalParams, Histogram, Result, is_stale, ms_to_api_time

Loader = Literal["remote_write", "victoriametrics_import", "none"]
LOADERS: tuple[str, ...] = ("remote_write", "victoriametrics_import", "none")

ENV_BEARER = "PROMFUZZ_HTTP_BEARER_TOKEN"
ENV_BASIC = "PROMFUZZ_HTTP_BASIC_AUTH"
ENV_TENANT = "PROMFUZZ_HTTP_TENANT"
TENANTLESS_PROFILES = ("prometheus", "victoriametrics")

DUMP_MIN_MS = -(2**62)
DUMP_MAX_MS = 2**62


class DatasetNotLoadableError(EngineLoadError):
    """The dataset holds something this engine's loader cannot store (the case cannot
    run on this engine; skip it rather than compare)."""


def check_remote_writable(dataset: Dataset, engine: str) -> None:
    """Remote-write receivers silently drop series without ``__name__`` (Prometheus
    answers 204 and logs "Invalid metric names or labels"): refuse such datasets."""
    nameless = [s for s in dataset.series if not s.name]
    if nameless:
        from promfuzz.model import labels_str

        raise DatasetNotLoadableError(
            f"{engine}: {len(nameless)} series without a metric name (e.g. {labels_str(nameless[0].labels)}) "
            "cannot be loaded by remote write: receivers drop them"
        )


class _Unavailable(Exception):
    """Internal: retries exhausted."""


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``http://u:p@host/x`` -> (``http://host/x``, ("u", "p")); other URLs unchanged."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/"), None
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean.rstrip("/"), (parts.username or "", parts.password or "")


def auth_from_env(env: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, str] | None, list[str]]:
    """(extra headers, basic auth, secret strings to redact) from the environment."""
    headers: dict[str, str] = {}
    basic: tuple[str, str] | None = None
    secrets: list[str] = []
    token = env.get(ENV_BEARER, "")
    if token:
        headers["Authorization"] = f"Bearer {token}"
        secrets.append(token)
    up = env.get(ENV_BASIC, "")
    if up:
        if ":" not in up:
            raise ConfigError(f"{ENV_BASIC} must be user:password")
        user, _, pw = up.partition(":")
        basic = (user, pw)
        secrets.extend(s for s in (pw,) if s)
    tenant = env.get(ENV_TENANT, "")
    if tenant:
        headers["X-Scope-OrgID"] = tenant
    return headers, basic, secrets


class HttpEngine(EngineBase):
    """A Prometheus-compatible HTTP API as an :class:`~promfuzz.engines.base.Engine`."""

    def __init__(
        self,
        url: str,
        loader: Loader | str | None = None,
        *,
        name: str | None = None,
        profile: str = "generic",
        isolation: str | None = None,
        headers: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        write_url: str | None = None,
        read_url: str | None = None,
        retries: int = 4,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        default_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
        grace_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        dataset_timeout_s: float = 300.0,
        concurrency: int = 4,
        verify: bool = True,
        write_max_samples: int = 50_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.profile = get_profile(profile)
        loader = loader or self.profile.loader
        if loader not in LOADERS:
            raise ConfigError(f"unknown loader {loader!r}; known: {', '.join(LOADERS)}")
        self.loader: str = loader
        self.isolation = isolation or self.profile.isolation
        if self.isolation not in ISOLATIONS:
            raise ConfigError(f"unknown isolation {self.isolation!r}; known: {', '.join(ISOLATIONS)}")
        self.url, url_basic = split_credentials(url)
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"engine URL must start with http:// or https://, got {self.url!r}")
        self.name = name or f"http:{self.url}"
        self.family = self.profile.name if self.profile.name != "generic" else self.name
        self.write_url = write_url or f"{self.url}{self.profile.write_path}"
        self.read_url = read_url or f"{self.url}{self.profile.read_path}"
        self.shift_ms = self.profile.shift_ms
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.default_timeout_s = default_timeout_s
        self.grace_s = grace_s
        self.connect_timeout_s = connect_timeout_s
        self.dataset_timeout_s = dataset_timeout_s
        self.concurrency = max(1, int(concurrency))
        self.verify = verify and self.loader != "none"
        self.write_max_samples = write_max_samples
        self._sleep = sleep
        env_headers, basic, secrets = auth_from_env(os.environ if env is None else env)
        if "X-Scope-OrgID" in env_headers and self.profile.name in TENANTLESS_PROFILES:
            raise ConfigError(
                f"{ENV_TENANT} is set but a {self.profile.name} server has no tenants (the header would be ignored "
                f"and every dataset land in one store); unset it, or use profile generic for a tenant-aware proxy"
            )
        if "X-Scope-OrgID" in env_headers and self.profile.tenant_header != "X-Scope-OrgID":
            env_headers[self.profile.tenant_header] = env_headers.pop("X-Scope-OrgID")
        if url_basic is not None:
            basic = url_basic
            secrets.extend(s for s in url_basic[1:] if s)
        self._secrets = tuple(secrets)
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=self.concurrency + 2)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(env_headers)
        self._session.headers.update(dict(headers or {}))
        if basic is not None:
            self._session.auth = basic
        self._tenants = 0
        self._dataset: Dataset | None = None
        self._fp: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._down_lock = threading.Lock()
        self._down = 0  # requests in a row that exhausted their retries
        self._down_since = 0.0
        self._down_last = ""
        self._next_probe = 0.0

    BREAKER_AFTER = 3
    """After this many requests in a row failed every retry, the target is taken as down:
    further requests fail at once (``not sent``), one probe request every
    :attr:`PROBE_EVERY_S` goes out to notice it is back (a dead target must not cost every
    query of a dataset its full retry schedule)."""
    PROBE_EVERY_S = 2.0

    def __repr__(self) -> str:
        return f"HttpEngine({self.url!r}, profile={self.profile.name!r}, loader={self.loader!r})"

    def carry(self, dataset: Dataset) -> tuple[Dataset, tuple[str, ...]]:
        """The dataset as this target stores it (what the reference should hold too)."""
        if self.profile.name == "victoriametrics":
            return vm.carry(dataset)
        return dataset, ()

    # ------------------------------------------------------------------ plumbing
    def _redact(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def _send(self, method: str, url: str, timeout_s: float, **kw: Any) -> requests.Response:
        """One request with bounded retries on transport errors and non-envelope 5xx
        (never on a read timeout: a target that took the request and did not answer)."""
        last = ""
        attempts = self.retries + 1
        with self._down_lock:
            now = time.monotonic()
            if self._down >= self.BREAKER_AFTER:
                if now < self._next_probe:
                    raise _Unavailable(self._redact(
                        f"target unavailable: {method} {url} not sent: {self._down} requests in a row failed over "
                        f"{now - self._down_since:.0f}s; last: {self._down_last}"
                    ))
                self._next_probe = now + self.PROBE_EVERY_S
                attempts = 1  # the probe
        for attempt in range(attempts):
            if attempt:
                self._sleep(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))
            try:
                r = self._session.request(method, url, timeout=(self.connect_timeout_s, timeout_s), **kw)
            except requests.ConnectTimeout as e:
                last = f"no connection within {self.connect_timeout_s:g}s ({type(e).__name__})"
                continue
            except requests.Timeout as e:
                raise TimeoutError(
                    f"target unavailable: {method} {url} gave no answer within {timeout_s:g}s "
                    f"(attempt {attempt + 1}; a read timeout is not retried)"
                ) from e
            except requests.RequestException as e:
                last = f"{type(e).__name__}: {e}"
                continue
            if r.status_code >= 500 and not _is_envelope(r):
                last = f"HTTP {r.status_code}: {r.text[:200]}"
                continue
            with self._down_lock:
                self._down = 0
            return r
        msg = self._redact(f"target unavailable: {method} {url} failed {attempts} times; last: {last}")
        with self._down_lock:
            if self._down == 0:
                self._down_since = time.monotonic()
            self._down += 1
            self._down_last = msg
        raise _Unavailable(msg)

    # ------------------------------------------------------------------ Engine
    def load(self, dataset: Dataset) -> LoadInfo:
        fp = dataset.fingerprint()
        t0 = time.perf_counter_ns()
        deadline = time.monotonic() + self.dataset_timeout_s
        carried, notes = self.carry(dataset)
        floats = sum(1 for s in carried.series for x in s.samples if not isinstance(x.v, Histogram))
        hists = carried.sample_count - floats
        try:
            if self.loader != "none":
                self._isolate(fp)
            if self.loader == "remote_write":
                self._load_remote_write(carried, self.shift_ms, deadline)
                if self.profile.name == "victoriametrics":
                    self._flush_vm()
            elif self.loader == "victoriametrics_import":
                notes = notes + self._load_vm_import(carried)
                hists = 0
            if self.verify:
                self._verify(carried, deadline)
        except _Unavailable as e:
            raise TargetUnavailableError(str(e)) from e
        except TimeoutError as e:
            raise TargetUnavailableError(self._redact(str(e))) from e
        self._dataset, self._fp = dataset, fp
        return LoadInfo(self.name, fp, len(carried.series), floats, hists, time.perf_counter_ns() - t0,
                        reused=self.loader == "none", notes=notes)

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"target unavailable: loading one dataset into {self.url} took over {self.dataset_timeout_s:g}s")
        return left

    def _isolate(self, fp: str) -> None:
        if self.isolation == "tenant":
            self._tenants += 1
            self._session.headers[self.profile.tenant_header] = f"promfuzz-{fp}-{self._tenants}"
        elif self.isolation == "delete":
            self._delete_all()

    def _delete_all(self) -> None:
        """Delete every series (the admin API), then prove the target is empty."""
        if self.profile.name == "victoriametrics":
            r = self._send("POST", f"{self.url}/api/v1/admin/tsdb/delete_series", 60.0,
                           data={"match[]": '{__name__=~".*"}'})
        else:
            r = self._send("POST", f"{self.url}/api/v1/admin/tsdb/delete_series", 60.0,
                           params={"match[]": '{__name__=~".+"}', "start": "-292275055", "end": "292277025"})
            if r.status_code in (200, 204):
                r = self._send("POST", f"{self.url}/api/v1/admin/tsdb/clean_tombstones", 300.0)
        if r.status_code not in (200, 204):
            raise EngineLoadError(self._redact(
                f"{self.name}: cannot isolate datasets: delete_series answered HTTP {r.status_code}: {r.text[:200]}"
            ))
        left = self._stored(None)
        if left is not None and left.series:
            raise EngineLoadError(f"{self.name}: {len(left.series)} series still stored after delete_series")

    def _flush_vm(self) -> None:
        r = self._send("GET", f"{self.url}/internal/force_flush", 60.0)
        if r.status_code not in (200, 204):
            raise EngineLoadError(f"{self.url}/internal/force_flush answered HTTP {r.status_code}")

    def _load_remote_write(self, dataset: Dataset, shift_ms: int = 0, deadline: float | None = None) -> None:
        check_remote_writable(dataset, self.name)
        for chunk in chunk_by_time(dataset, max_samples=self.write_max_samples):
            body = compress(encode_write_request(chunk, shift_ms))
            timeout = 60.0 if deadline is None else min(60.0, self._left(deadline))
            r = self._send("POST", self.write_url, timeout, data=body, headers=WRITE_HEADERS)
            if r.status_code not in (200, 204):
                raise EngineLoadError(
                    self._redact(
                        f"{self.write_url} refused remote write (HTTP {r.status_code}): {_one_line(r.text, 300)}"
                    )
                )

    def _load_vm_import(self, dataset: Dataset) -> tuple[str, ...]:
        lines = []
        stale = hist = 0
        for s in dataset.series:
            values: list[Any] = []
            stamps: list[int] = []
            for x in s.samples:
                if isinstance(x.v, Histogram):
                    hist += 1
                    continue
                if is_stale(x.v):
                    stale += 1
                    continue  # the import format has no stale marker; a string "NaN" voids the line on 1.79
                values.append(x.v)
                stamps.append(x.t + self.shift_ms)
            if values:
                lines.append(json.dumps({"metric": dict(s.labels), "values": values, "timestamps": stamps}))
        r = self._send("POST", f"{self.url}/api/v1/import", 60.0, data="\n".join(lines).encode())
        if r.status_code not in (200, 204):
            raise EngineLoadError(
                self._redact(f"{self.url}/api/v1/import refused data (HTTP {r.status_code}): {_one_line(r.text, 300)}")
            )
        self._flush_vm()
        notes = []
        if stale:
            notes.append(f"{stale} stale markers not sent (the import format has no stale marker)")
        if hist:
            notes.append(f"{hist} native histogram samples not loaded (the import format has none)")
        return tuple(notes)

    def _stored(self, deadline: float | None) -> Dataset | None:
        """Everything the target holds (unshifted), or None when it cannot be read back."""
        if self.profile.readback == "export":
            r = self._send("POST", f"{self.url}/api/v1/export", 120.0, data={"match[]": '{__name__=~".*"}'})
            if r.status_code != 200:
                raise EngineLoadError(f"{self.name}: /api/v1/export answered HTTP {r.status_code}: {_one_line(r.text, 200)}")
            if r.content.lstrip()[:1] not in (b"", b"{"):
                raise EngineLoadError(f"{self.name}: /api/v1/export answered {_kind(r)}, not JSON lines")
            return vm.parse_export(r.content, self.shift_ms)
        if self.profile.readback == "remote_read" and self.loader == "remote_write":
            try:
                return self.remote_read(DUMP_MIN_MS, DUMP_MAX_MS, self.shift_ms)
            except (EngineError, RemoteProtocolError):
                return None  # no usable remote read: the series API check decides
        return None

    def _verify(self, dataset: Dataset, deadline: float) -> None:
        """Read the load back; a difference is a load failure (the dataset is skipped)."""
        self._left(deadline)
        if self.profile.readback == "export":
            got = None
            for _ in range(50):  # VictoriaMetrics makes flushed rows searchable within ~1 s
                got = self._stored(deadline)
                if got is not None and len(got.series) >= len(dataset.series):
                    break
                self._sleep(0.05)
            assert got is not None
            bad = vm.readback_mismatches(dataset, got)
            if bad:
                raise EngineLoadError(f"{self.name}: the stored data differs from the dataset: " + "; ".join(bad))
            return
        if self.profile.readback == "query":
            self._verify_by_query(dataset, deadline)
            return
        got = self._stored(deadline)
        if got is not None:
            exp = {s.labels: len(s.samples) for s in dataset.series}
            have = {s.labels: len(s.samples) for s in got.series}
            if exp != have:
                lost = [k for k in exp if have.get(k) != exp[k]]
                raise EngineLoadError(
                    f"{self.name}: read back {len(have)} series, {sum(have.values())} samples; sent {len(exp)} series, "
                    f"{sum(exp.values())} samples ({len(lost)} series differ)"
                )
            return
        # No read-back endpoint: ask the query API which series it holds.
        names = sorted({s.name for s in dataset.series if s.name})
        if not names:
            return
        hi = max(x.t for s in dataset.series for x in s.samples) + self.shift_ms
        lo = min(x.t for s in dataset.series for x in s.samples) + self.shift_ms
        r = self._send("POST", f"{self.url}/api/v1/series", 60.0,
                       data={"match[]": '{__name__=~".+"}', "start": ms_to_api_time(lo), "end": ms_to_api_time(hi)})
        if not _is_envelope(r):
            raise EngineLoadError(
                f"{self.name}: /api/v1/series answered {_kind(r)} (HTTP {r.status_code}), not a Prometheus API"
            )
        held = r.json().get("data") or []
        if len(held) < len(dataset.series):
            raise EngineLoadError(
                f"{self.name}: accepted the write but holds {len(held)} of {len(dataset.series)} series "
                f"(/api/v1/series)"
            )

    readback_wait_s = 15.0
    """How long a ``query`` read-back may take to see a load (Thanos Query refreshes what
    its stores hold, the tenants' label sets, every few seconds)."""

    def query_readback(self, dataset: Dataset) -> Result:
        """Every raw sample the target holds over the dataset's time span through the query
        API: the range-vector selector ``{__name__=~".+"}[span]`` at the last timestamp
        (a range selector never returns stale markers; histograms come back as count/sum/buckets)."""
        ts = [x.t for s in dataset.series for x in s.samples] or [0]
        lo, hi = min(ts), max(ts)
        form = {"query": f'{{__name__=~".+"}}[{hi - lo + 1}ms]', "time": ms_to_api_time(hi + self.shift_ms)}
        r = self._send("POST", f"{self.url}/api/v1/query", 120.0, data=form)
        if not _is_envelope(r):
            raise EngineLoadError(
                f"{self.name}: read-back query answered {_kind(r)} (HTTP {r.status_code}), not a Prometheus API envelope"
            )
        res = parse_body(r.content, r.status_code, self.name)
        if not res.ok:
            raise EngineLoadError(f"{self.name}: read-back query failed: {res.error.message if res.error else res.outcome}")
        return vm.unshift_result(res, self.shift_ms) if self.shift_ms else res

    def _verify_by_query(self, dataset: Dataset, deadline: float) -> None:
        """Poll :meth:`query_readback` until it shows exactly the dataset's samples (stale
        markers left out), at most :attr:`readback_wait_s`; else the load fails."""
        until = min(deadline, time.monotonic() + self.readback_wait_s)
        pause = 0.05
        while True:
            bad = readback_query_mismatches(dataset, self.query_readback(dataset))
            if not bad:
                return
            if time.monotonic() + pause > until:
                raise EngineLoadError(
                    f"{self.name}: the stored data differs from the dataset (read back by a range query, "
                    f"{self.readback_wait_s:g}s): " + "; ".join(bad)
                )
            self._sleep(pause)
            pause = min(0.5, pause * 2)

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        timeout = self.default_timeout_s if timeout_s is None else timeout_s
        sent_params = vm.shift_params(params, self.shift_ms) if self.shift_ms else params
        sent_text = vm.shift_query(text, self.shift_ms) if self.shift_ms else text
        form = {"query": sent_text, **query_params(sent_params, timeout), **dict(self.profile.query_extra)}
        t0 = time.perf_counter_ns()
        try:
            r = self._send("POST", self.url + api_path(params), timeout + self.grace_s, data=form)
        except _Unavailable as e:
            return Result.failure(
                self.name, "engine_failure", "target_unavailable", str(e), time.perf_counter_ns() - t0
            )
        except TimeoutError as e:
            return Result.failure(
                self.name, "engine_failure", "target_unavailable", self._redact(str(e)), time.perf_counter_ns() - t0
            )
        if not _is_envelope(r) and r.status_code == 200:
            return Result.failure(
                self.name, "engine_failure", "target_unavailable",
                f"target unavailable: {self.url}{api_path(params)} answered {_kind(r)}, not a Prometheus API envelope",
                time.perf_counter_ns() - t0,
            )
        res = parse_body(r.content, r.status_code, self.name, time.perf_counter_ns() - t0)
        return vm.unshift_result(res, self.shift_ms) if self.shift_ms else res

    def query_many(
        self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None
    ) -> list[Result]:
        """Up to ``concurrency`` queries in flight over one connection pool, answers in order."""
        if self.concurrency <= 1 or len(items) <= 1:
            return [self.query(text, params, timeout_s) for text, params in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="http-target")
        return list(self._pool.map(lambda it: self.query(it[0], it[1], timeout_s), items))

    def versions(self) -> dict[str, str]:
        try:
            r = self._send("GET", f"{self.url}/api/v1/status/buildinfo", 10.0)
            data = r.json().get("data") or {}
        except (_Unavailable, TimeoutError, ValueError, AttributeError):
            return {}
        return {str(k): str(v) for k, v in data.items() if k in ("version", "revision", "goVersion")}

    def dump(self) -> Dataset | None:
        """Stored samples read back (VictoriaMetrics export, or remote read ``SAMPLES``),
        or None when the target cannot be read back."""
        if self.loader == "none":
            return None
        if self.profile.readback == "export":
            return self._stored(None)
        if self.loader != "remote_write":
            return None
        return self.remote_read(DUMP_MIN_MS, DUMP_MAX_MS, self.shift_ms)

    def remote_read(self, start_ms: int, end_ms: int, shift_ms: int = 0) -> Dataset | None:
        # Prometheus needs a matcher; `=~".*"` on a label every series lacks matches all.
        body = encode_read_request(start_ms, end_ms, [("=~", "__promfuzz_any__", ".*")])
        try:
            r = self._send("POST", self.read_url, 120.0, data=body, headers=READ_HEADERS)
        except (_Unavailable, TimeoutError) as e:
            raise EngineError(self._redact(f"remote read from {self.read_url}: {e}")) from e
        if r.status_code in (404, 405):
            return None
        if r.status_code != 200:
            raise EngineError(
                self._redact(f"remote read from {self.read_url}: HTTP {r.status_code}: {r.text[:300]}")
            )
        return decode_read_response(r.content, shift_ms)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._session.close()


def readback_query_mismatches(expected: Dataset, got: Result, limit: int = 3) -> list[str]:
    """Where a :meth:`HttpEngine.query_readback` answer differs from ``expected`` without
    its stale markers: series, timestamps, float values bit for bit (NaN equals NaN),
    histogram count and sum (empty: identical)."""
    from promfuzz.model import ResultHistogram, labels_str

    exp: dict[Any, list[tuple[int, Any]]] = {}
    for s in expected.series:
        kept = [(x.t, x.v) for x in s.samples if not (isinstance(x.v, float) and is_stale(x.v))]
        if kept:
            exp[s.labels] = kept
    have = {s.labels: [(p.t, p.v) for p in s.points] for s in got.series}
    out: list[str] = []
    missing = [k for k in exp if k not in have]
    extra = [k for k in have if k not in exp]
    if missing:
        out.append(f"{len(missing)} of {len(exp)} series not stored (e.g. {labels_str(missing[0])})")
    if extra:
        out.append(f"{len(extra)} series stored that the dataset lacks (e.g. {labels_str(extra[0])})")

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, Histogram):
            return isinstance(b, ResultHistogram) and _same_float(a.count, b.count) and _same_float(a.sum, b.sum)
        return isinstance(b, float) and _same_float(a, b)

    for k, xs in exp.items():
        g = have.get(k)
        if g is None:
            continue
        if [t for t, _ in xs] != [t for t, _ in g]:
            lost = sorted({t for t, _ in xs} - {t for t, _ in g})[:3]
            added = sorted({t for t, _ in g} - {t for t, _ in xs})[:3]
            out.append(f"{labels_str(k)}: {len(xs)} samples sent, {len(g)} stored (missing t={lost}, extra t={added})")
        else:
            bad = [(t, v, w) for (t, v), (_, w) in zip(xs, g, strict=True) if not same(v, w)]
            if bad:
                ex = ", ".join(f"t={t}: {v!r} stored as {w!r}" for t, v, w in bad[:2])
                out.append(f"{labels_str(k)}: {len(bad)} values stored changed ({ex})")
        if len(out) >= limit:
            break
    return out


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _one_line(text: str, n: int) -> str:
    return " ".join(text.split())[:n]


def _kind(r: requests.Response) -> str:
    ctype = r.headers.get("Content-Type", "")
    if "html" in ctype or r.content.lstrip()[:1] == b"<":
        return "HTML"
    return f"{ctype or 'a body'} ({_one_line(r.text, 60)!r})"


def _is_envelope(r: requests.Response) -> bool:
    try:
        obj = r.json()
    except ValueError:
        return False
    return isinstance(obj, dict) and obj.get("status") in ("success", "error")


def _vm_float(x: float) -> float | str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return x
