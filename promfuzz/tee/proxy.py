"""The tee's HTTP side: a proxy of the Prometheus query API.

Every proxied request goes to the primary and its answer goes back to the client
unchanged (status, body bytes, ``Content-Type``/``Content-Encoding``), before anything
else happens; only then is a query request offered to :class:`~promfuzz.tee.core.TeeCore`
for a sampled background comparison (a random draw and a non-blocking queue put). The
tee's own endpoints: ``/metrics`` (Prometheus exposition), ``/`` (status page: counters
and recent divergences, HTML-escaped), ``/-/healthy`` and ``/-/ready``.

Proxied paths: ``/api/v1/query`` and ``/api/v1/query_range`` (compared), and, passed
through only, ``/api/v1/series``, ``/api/v1/labels``, ``/api/v1/label/<name>/values``,
``/api/v1/metadata``, ``/api/v1/status/buildinfo``; GET and POST. Any other path is a 404
from the tee. When the primary is down the client gets a 502 with a Prometheus error
envelope.
"""

from __future__ import annotations

import html
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from promfuzz.tee.core import TeeCore
from promfuzz.tee.judge import Answer
from promfuzz.tee.metrics import RESULTS
from promfuzz.tee.request import ApiRequest, api_kind, parse_form, path_label

RELAYED_HEADERS = ("content-type", "content-encoding", "vary", "cache-control", "results-cache-gen-number")
MAX_BODY = 64 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    core: TeeCore


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One buffered write per answer (flushed by handle_one_request) and no Nagle: headers
    # and body as two small segments would wait ~40 ms for the client's delayed ACK.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return  # no access log: requests may carry credentials in headers

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _reply(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self, method: str) -> None:
        t0 = time.perf_counter()
        core = self.server.core
        parts = urlsplit(self.path)
        path = parts.path
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self._reply(413, b'{"status":"error","errorType":"bad_data","error":"request body too large"}',
                        "application/json")
            return
        body = self.rfile.read(n) if n else b""
        if path == "/metrics":
            self._reply(200, core.metrics.exposition(), "text/plain; version=0.0.4; charset=utf-8")
            return
        if path in ("/-/healthy", "/-/ready"):
            self._reply(200, b"promfuzz tee is ready\n", "text/plain; charset=utf-8")
            return
        if path == "/":
            self._reply(200, status_page(core).encode(), "text/html; charset=utf-8")
            return
        kind = api_kind(path)
        if kind is None:
            core.metrics.requests.labels("other").inc()
            self._reply(404, json.dumps({"status": "error", "errorType": "not_found",
                                         "error": f"promfuzz tee does not proxy {path}"}).encode(),
                        "application/json")
            return
        core.metrics.requests.labels(path_label(path)).inc()
        headers = core.primary.headers_for(list(self.headers.items()))
        ans, resp = core.primary.forward(method, self.path, body if method == "POST" else None, headers)
        if ans.error is not None:
            core.metrics.backend_errors.labels("primary").inc()
            msg = json.dumps({"status": "error", "errorType": "unavailable", "error": ans.error}).encode()
            self._reply(502, msg, "application/json")
            return
        core.metrics.backend_latency.labels("primary").observe(ans.seconds)
        extra = {k: v for k, v in resp.headers.items() if k.lower() in RELAYED_HEADERS and k.lower() != "content-type"}
        self._reply(ans.status, ans.body, resp.headers.get("Content-Type", "application/json"), extra)
        core.metrics.added_latency.observe(max(0.0, time.perf_counter() - t0 - ans.seconds))
        if kind in ("query", "query_range"):
            req = ApiRequest(method, path, parse_form(parts.query, body, self.headers.get("Content-Type", "")),
                             int((time.time() - (time.perf_counter() - t0)) * 1000))
            core.offer(req, ans, resp.headers.get("Content-Encoding"), list(self.headers.items()))


class TeeServer:
    """A running tee: ``TeeServer(core, "127.0.0.1", 0).start()``; ``.url``; ``.close()``."""

    def __init__(self, core: TeeCore, host: str = "127.0.0.1", port: int = 0) -> None:
        self.core = core
        self.httpd = _Server((host, port), _Handler)
        self.httpd.core = core
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        h, p = self.httpd.server_address[:2]
        return str(h), int(p)

    @property
    def url(self) -> str:
        h, p = self.address
        return f"http://{h}:{p}"

    def start(self) -> TeeServer:
        self.core.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="tee-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.core.start()
        self.httpd.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.core.stop()

    def __enter__(self) -> TeeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def status_page(core: TeeCore) -> str:
    m = core.metrics
    e = html.escape
    counts = "".join(f"<tr><td>{e(r)}</td><td>{m.value('promfuzz_tee_comparisons_total', result=r):g}</td></tr>"
                     for r in RESULTS)
    rows = []
    for d in reversed(core.recent_divergences()):
        detail = d.get("capture_detail") or {}
        where = detail.get("case_file") or detail.get("live_finding") or ""
        rows.append(
            "<tr>" + "".join(f"<td>{e(str(x))}</td>" for x in (
                d.get("time", ""), d.get("path", ""), d.get("query", ""), d.get("title") or d.get("reason", ""),
                d.get("capture", ""), where)) + "</tr>")
    table = "".join(rows) or '<tr><td colspan="6">no divergences yet</td></tr>'
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>promfuzz tee</title>
<style>body{{font-family:sans-serif;margin:1.5em}} td,th{{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}}
table{{border-collapse:collapse;margin-bottom:1.5em}} code{{white-space:pre-wrap}}</style></head><body>
<h1>promfuzz tee</h1>
<p>primary {e(core.primary.url)} ({e(core.judge.primary_engine)}), secondary {e(core.secondary.url)}
({e(core.judge.secondary_engine)}); sample {core.cfg.sample:g}, window {core.cfg.window_ms / 1000:g}s;
dropped {m.value('promfuzz_tee_dropped_total'):g}; <a href="/metrics">/metrics</a></p>
<table><tr><th>comparison</th><th>count</th></tr>{counts}</table>
<h2>Recent divergences</h2>
<table><tr><th>time</th><th>path</th><th>query</th><th>what</th><th>capture</th><th>stored</th></tr>{table}</table>
</body></html>
"""


def answer_of(status: int, body: bytes) -> Answer:
    return Answer(status, body)
