"""One backend of the tee: a Prometheus-compatible base URL behind a urllib3 pool.

Credentials come from the environment as for ``http:`` targets (``PROMFUZZ_HTTP_BEARER_TOKEN``,
``PROMFUZZ_HTTP_BASIC_AUTH``, ``PROMFUZZ_HTTP_TENANT``; credentials in the URL are used
as basic auth and dropped from it). They override the client's own ``Authorization`` and
``X-Scope-OrgID`` headers, are sent only to the backends, and appear in no message: every
error text goes through :meth:`Backend.redact`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import urllib3

from promfuzz.engines.apijson import parse_body
from promfuzz.engines.http import auth_from_env, split_credentials
from promfuzz.engines.remote_write import (
    READ_HEADERS,
    RemoteProtocolError,
    decode_read_response,
    encode_read_request,
)
from promfuzz.errors import ConfigError
from promfuzz.model import Dataset, Result, ms_to_api_time
from promfuzz.tee.judge import Answer

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailers", "transfer-encoding", "upgrade", "host", "content-length", "expect"})


class Backend:
    def __init__(self, url: str, role: str, env: Mapping[str, str] | None = None, *,
                 timeout_s: float = 120.0, connect_timeout_s: float = 5.0, pool_size: int = 16) -> None:
        import os

        clean, url_basic = split_credentials(url)
        if not clean.startswith(("http://", "https://")):
            raise ConfigError(f"--{role} must be an http:// or https:// URL, got {clean!r}")
        self.url = clean
        self.role = role
        headers, basic, secrets = auth_from_env(os.environ if env is None else env)
        if url_basic is not None:
            basic = url_basic
            secrets.extend(s for s in url_basic if s)
        if basic is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            secrets.append(headers["Authorization"].split(" ", 1)[1])
        self.auth_headers = headers
        self._secrets = tuple(s for s in secrets if s)
        self.timeout = urllib3.Timeout(connect=connect_timeout_s, read=timeout_s)
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=pool_size, block=False, retries=False)
        self._remote_read_ok: bool | None = None

    def __repr__(self) -> str:
        return f"Backend({self.role}, {self.url!r})"

    def redact(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def headers_for(self, client_headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()) -> dict[str, str]:
        items = client_headers.items() if isinstance(client_headers, Mapping) else client_headers
        out = {k: v for k, v in items if k.lower() not in HOP_BY_HOP}
        for k, v in self.auth_headers.items():
            for existing in [e for e in out if e.lower() == k.lower()]:
                del out[existing]
            out[k] = v
        return out

    def forward(self, method: str, path_qs: str, body: bytes | None, headers: Mapping[str, str],
                decode: bool = False) -> tuple[Answer, Any]:
        """Send one request as given; (answer, urllib3 response or None). ``decode``: let
        urllib3 undo a Content-Encoding (the proxy relays the primary's bytes as they came)."""
        t0 = time.perf_counter()
        try:
            r = self.pool.request(method, self.url + path_qs, body=body, headers=headers, timeout=self.timeout,
                                  redirect=False, preload_content=True, decode_content=decode)
        except urllib3.exceptions.HTTPError as e:
            return Answer(error=self.redact(f"{self.role} {self.url}: {type(e).__name__}: {e}"),
                          seconds=time.perf_counter() - t0), None
        return Answer(r.status, r.data, None, time.perf_counter() - t0), r

    def post_form(self, path: str, form: Sequence[tuple[str, str]],
                  client_headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()) -> Answer:
        """A query API request as an urlencoded POST (decoded answer)."""
        h = self.headers_for(client_headers)
        h = {k: v for k, v in h.items() if k.lower() not in ("content-type", "accept-encoding")}
        h["Content-Type"] = "application/x-www-form-urlencoded"
        ans, _ = self.forward("POST", path, urlencode(list(form)).encode(), h, decode=True)
        return ans

    # -- capture ----------------------------------------------------------------------
    def remote_read(self, lo_ms: int, hi_ms: int, matchers: list[tuple[str, str, str]]) -> Dataset | None:
        """Samples by remote read, or None when the backend does not offer it."""
        if self._remote_read_ok is False:
            return None
        h = self.headers_for({})
        h.update(READ_HEADERS)
        ans, _ = self.forward("POST", "/api/v1/read", encode_read_request(lo_ms, hi_ms, matchers), h)
        if ans.error is not None or ans.status != 200:
            self._remote_read_ok = False
            return None
        try:
            ds = decode_read_response(ans.body)
        except RemoteProtocolError:
            self._remote_read_ok = False
            return None
        self._remote_read_ok = True
        return ds

    def instant_query(self, text: str, t_ms: int) -> Result:
        ans = self.post_form("/api/v1/query", [("query", text), ("time", ms_to_api_time(t_ms))])
        if ans.error is not None:
            return Result.failure(self.role, "engine_failure", "target_unavailable", ans.error)
        return parse_body(ans.body, ans.status, self.role)

    def buildinfo_version(self) -> str | None:
        ans, _ = self.forward("GET", "/api/v1/status/buildinfo", None, self.headers_for({}), decode=True)
        if ans.error is not None or ans.status != 200:
            return None
        try:
            import json

            v = json.loads(ans.body).get("data", {}).get("version")
        except (ValueError, AttributeError):
            return None
        return str(v) if v else None

    def close(self) -> None:
        self.pool.clear()
