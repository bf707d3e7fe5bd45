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
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import requests

from promfuzz.engines.apijson import parse_body
from promfuzz.engines.base import (
    DEFAULT_QUERY_TIMEOUT_S,
    EngineBase,
    EngineLoadError,
    LoadInfo,
    api_path,
    query_params,
)
from promfuzz.engines.remote_write import (
    READ_HEADERS,
    WRITE_HEADERS,
    chunk_by_time,
    compress,
    decode_read_response,
    encode_read_request,
    encode_write_request,
)
from promfuzz.errors import ConfigError, EngineError, TargetUnavailableError
from promfuzz.model import Dataset, EvalParams, Histogram, Result, is_stale

Loader = Literal["remote_write", "victoriametrics_import", "none"]
LOADERS: tuple[str, ...] = ("remote_write", "victoriametrics_import", "none")

ENV_BEARER = "PROMFUZZ_HTTP_BEARER_TOKEN"
ENV_BASIC = "PROMFUZZ_HTTP_BASIC_AUTH"
ENV_TENANT = "PROMFUZZ_HTTP_TENANT"

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
        loader: Loader | str = "remote_write",
        *,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        write_url: str | None = None,
        read_url: str | None = None,
        retries: int = 4,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        default_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
        grace_s: float = 5.0,
        write_max_samples: int = 50_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if loader not in LOADERS:
            raise ConfigError(f"unknown loader {loader!r}; known: {', '.join(LOADERS)}")
        self.loader: str = loader
        self.url, url_basic = split_credentials(url)
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"engine URL must start with http:// or https://, got {self.url!r}")
        self.name = name or f"http:{self.url}"
        self.write_url = write_url or f"{self.url}/api/v1/write"
        self.read_url = read_url or f"{self.url}/api/v1/read"
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.default_timeout_s = default_timeout_s
        self.grace_s = grace_s
        self.write_max_samples = write_max_samples
        self._sleep = sleep
        env_headers, basic, secrets = auth_from_env(os.environ if env is None else env)
        if url_basic is not None:
            basic = url_basic
            secrets.extend(s for s in url_basic[1:] if s)
        self._secrets = tuple(secrets)
        self._session = requests.Session()
        self._session.headers.update(env_headers)
        self._session.headers.update(dict(headers or {}))
        if basic is not None:
            self._session.auth = basic
        self._dataset: Dataset | None = None
        self._fp: str | None = None

    def __repr__(self) -> str:
        return f"HttpEngine({self.url!r}, loader={self.loader!r})"

    # ------------------------------------------------------------------ plumbing
    def _redact(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def _send(self, method: str, url: str, timeout_s: float, **kw: Any) -> requests.Response:
        """One request with bounded retries on connection errors and non-envelope 5xx."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))
            try:
                r = self._session.request(method, url, timeout=(5.0, timeout_s), **kw)
            except requests.Timeout as e:
                # A read timeout is an answer ("it hangs"), not unavailability: no retry.
                raise TimeoutError(f"no answer from {url} within {timeout_s:g}s") from e
            except requests.RequestException as e:
                last = f"{type(e).__name__}: {e}"
                continue
            if r.status_code >= 500 and not _is_envelope(r):
                last = f"HTTP {r.status_code}: {r.text[:200]}"
                continue
            return r
        raise _Unavailable(
            self._redact(f"target unavailable: {url} failed {self.retries + 1} times; last: {last}")
        )

    # ------------------------------------------------------------------ Engine
    def load(self, dataset: Dataset) -> LoadInfo:
        fp = dataset.fingerprint()
        t0 = time.perf_counter_ns()
        floats = sum(1 for s in dataset.series for x in s.samples if not isinstance(x.v, Histogram))
        hists = dataset.sample_count - floats
        notes: tuple[str, ...] = ()
        try:
            if self.loader == "remote_write":
                self._load_remote_write(dataset)
            elif self.loader == "victoriametrics_import":
                notes = self._load_vm(dataset)
                hists = 0
        except _Unavailable as e:
            raise TargetUnavailableError(str(e)) from e
        except TimeoutError as e:
            raise TargetUnavailableError(self._redact(f"target unavailable: {e}")) from e
        self._dataset, self._fp = dataset, fp
        return LoadInfo(
            self.name,
            fp,
            len(dataset.series),
            floats,
            hists,
            time.perf_counter_ns() - t0,
            reused=self.loader == "none",
            notes=notes,
        )

    def _load_remote_write(self, dataset: Dataset, shift_ms: int = 0) -> None:
        check_remote_writable(dataset, self.name)
        for chunk in chunk_by_time(dataset, max_samples=self.write_max_samples):
            body = compress(encode_write_request(chunk, shift_ms))
            r = self._send("POST", self.write_url, 60.0, data=body, headers=WRITE_HEADERS)
            if r.status_code not in (200, 204):
                raise EngineLoadError(
                    self._redact(
                        f"{self.write_url} refused remote write (HTTP {r.status_code}): {r.text[:500]}"
                    )
                )

    def _load_vm(self, dataset: Dataset) -> tuple[str, ...]:
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
                values.append(_vm_float(x.v))
                stamps.append(x.t)
            if values:
                lines.append(json.dumps({"metric": dict(s.labels), "values": values, "timestamps": stamps}))
        r = self._send("POST", f"{self.url}/api/v1/import", 60.0, data="\n".join(lines).encode())
        if r.status_code not in (200, 204):
            raise EngineLoadError(
                self._redact(f"{self.url}/api/v1/import refused data (HTTP {r.status_code}): {r.text[:500]}")
            )
        r = self._send("GET", f"{self.url}/internal/force_flush", 60.0)
        if r.status_code not in (200, 204):
            raise EngineLoadError(f"{self.url}/internal/force_flush answered HTTP {r.status_code}")
        notes = []
        if stale:
            notes.append(f"{stale} stale markers sent as NaN (the import format has no stale marker)")
        if hist:
            notes.append(f"{hist} native histogram samples not loaded (the import format has none)")
        return tuple(notes)

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        timeout = self.default_timeout_s if timeout_s is None else timeout_s
        form = {"query": text, **query_params(params, timeout)}
        t0 = time.perf_counter_ns()
        try:
            r = self._send("POST", self.url + api_path(params), timeout + self.grace_s, data=form)
        except _Unavailable as e:
            return Result.failure(
                self.name, "engine_failure", "target_unavailable", str(e), time.perf_counter_ns() - t0
            )
        except TimeoutError as e:
            return Result.failure(
                self.name, "timeout", "client_timeout", self._redact(str(e)), time.perf_counter_ns() - t0
            )
        return parse_body(r.content, r.status_code, self.name, time.perf_counter_ns() - t0)

    def query_many(
        self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None
    ) -> list[Result]:
        return [self.query(text, params, timeout_s) for text, params in items]

    def versions(self) -> dict[str, str]:
        try:
            r = self._send("GET", f"{self.url}/api/v1/status/buildinfo", 10.0)
            data = r.json().get("data") or {}
        except (_Unavailable, TimeoutError, ValueError, AttributeError):
            return {}
        return {str(k): str(v) for k, v in data.items() if k in ("version", "revision", "goVersion")}

    def dump(self) -> Dataset | None:
        """Stored samples read back by remote read (``SAMPLES``), or None when the
        target has no remote read endpoint or the loader is not remote write."""
        if self.loader != "remote_write":
            return None
        return self.remote_read(DUMP_MIN_MS, DUMP_MAX_MS)

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
        self._session.close()


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
