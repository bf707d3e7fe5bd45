"""HttpEngine against an in-process fake Prometheus-compatible target."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from promfuzz.engines.http import ENV_BASIC, ENV_BEARER, ENV_TENANT, HttpEngine
from promfuzz.engines.remote_write import decode_write_request
from promfuzz.errors import ConfigError, TargetUnavailableError
from promfuzz.model import Dataset, EvalParams, Histogram, stale_nan

DS = Dataset.build(
    [
        ({"__name__": "a", "job": "x"}, [(0, 1.0), (15_000, stale_nan())]),
        (
            {"__name__": "h"},
            [(0, Histogram(count=1, sum=2, positive_spans=((0, 1),), positive_buckets=(1,)))],
        ),
    ]
)
SECRET = "s3cr3t-token-value"


@dataclass
class Target:
    url: str
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    fail_next: int = 0  # answer this many requests with a bare 502
    written: list[Dataset] = field(default_factory=list)


@pytest.fixture
def target() -> Iterator[Target]:
    state = Target(url="")

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def reply(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            state.requests.append((self.command, self.path, dict(self.headers), body))
            if state.fail_next > 0:
                state.fail_next -= 1
                self.reply(502, b"<html>bad gateway</html>", "text/html")
                return
            if self.path == "/api/v1/write":
                state.written.append(decode_write_request(body))
                self.reply(204, b"")
            elif self.path in ("/api/v1/import", "/internal/force_flush"):
                self.reply(204, b"")
            elif self.path == "/api/v1/query":
                q = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                if q["query"] == "slow":
                    env = {"status": "error", "errorType": "timeout", "error": "query timed out"}
                    self.reply(503, json.dumps(env).encode())
                    return
                ok: dict[str, Any] = {
                    "status": "success",
                    "data": {"resultType": "scalar", "result": [float(q["time"]), "42"]},
                }
                self.reply(200, json.dumps(ok).encode())
            elif self.path == "/api/v1/status/buildinfo":
                self.reply(
                    200, b'{"status":"success","data":{"version":"9.9.9","revision":"abc","branch":"x"}}'
                )
            else:
                self.reply(404, b"not found", "text/plain")

        do_GET = handle_any
        do_POST = handle_any

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    state.url = f"http://127.0.0.1:{srv.server_address[1]}"
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield state
    srv.shutdown()
    srv.server_close()


def _no_sleep(_: float) -> None:
    pass


def test_remote_write_load_sends_snappy_protobuf_with_headers(target: Target) -> None:
    eng = HttpEngine(target.url, "remote_write", env={}, sleep=_no_sleep)
    info = eng.load(DS)
    assert (info.series, info.floats, info.histograms) == (2, 2, 1)
    assert target.written == [DS]
    _, path, headers, _ = target.requests[0]
    assert path == "/api/v1/write"
    assert headers["Content-Encoding"] == "snappy"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"


def test_query_and_versions(target: Target) -> None:
    eng = HttpEngine(target.url, "none", env={}, sleep=_no_sleep)
    r = eng.query("x", EvalParams.instant(2500))
    assert r.ok and r.scalar is not None and (r.scalar.t, r.scalar.v) == (2500, 42.0)
    assert eng.versions() == {"version": "9.9.9", "revision": "abc"}
    assert eng.load(DS).reused and target.written == []


def test_503_envelope_is_an_answer_not_retried(target: Target) -> None:
    eng = HttpEngine(target.url, "none", env={}, sleep=_no_sleep)
    r = eng.query("slow", EvalParams.instant(0))
    assert r.outcome == "timeout" and r.error is not None and r.error.error_type == "timeout"
    assert len(target.requests) == 1


def test_gateway_errors_are_retried_with_backoff(target: Target) -> None:
    delays: list[float] = []
    eng = HttpEngine(target.url, "none", env={}, retries=4, backoff_s=0.1, sleep=delays.append)
    target.fail_next = 3
    assert eng.query("x", EvalParams.instant(0)).ok
    assert delays == [0.1, 0.2, 0.4]
    target.fail_next = 10
    r = eng.query("x", EvalParams.instant(0))
    assert r.outcome == "engine_failure" and r.error is not None
    assert r.error.error_type == "target_unavailable" and r.error.message.startswith("target unavailable:")
    assert "HTTP 502" in r.error.message


def test_refused_connection_is_target_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # nothing listens on `port` now
    eng = HttpEngine(f"http://127.0.0.1:{port}", "remote_write", env={}, retries=2, sleep=_no_sleep)
    r = eng.query("up", EvalParams.instant(0))
    assert r.outcome == "engine_failure" and r.error is not None
    assert r.error.error_type == "target_unavailable" and "failed 3 times" in r.error.message
    with pytest.raises(TargetUnavailableError, match="target unavailable"):
        eng.load(DS)


def test_credentials_sent_but_never_echoed(target: Target) -> None:
    env = {ENV_BEARER: SECRET, ENV_TENANT: "tenant-1"}
    eng = HttpEngine(target.url, "remote_write", env=env, sleep=_no_sleep)
    eng.load(DS)
    r = eng.query("x", EvalParams.instant(0))
    for _, _, headers, _ in target.requests:
        assert headers["Authorization"] == f"Bearer {SECRET}"
        assert headers["X-Scope-OrgID"] == "tenant-1"
    assert SECRET not in repr(eng) and SECRET not in repr(r) and SECRET not in eng.name
    target.fail_next = 100
    bad = eng.query("x", EvalParams.instant(0))
    assert SECRET not in repr(bad)


def test_basic_auth_from_env_and_from_url(target: Target) -> None:
    eng = HttpEngine(target.url, "none", env={ENV_BASIC: "bob:pw-xyz"}, sleep=_no_sleep)
    eng.query("x", EvalParams.instant(0))
    assert target.requests[-1][2]["Authorization"].startswith("Basic ")
    url_with_creds = target.url.replace("http://", "http://alice:hunter2@")
    eng2 = HttpEngine(url_with_creds, "none", env={}, sleep=_no_sleep)
    assert "hunter2" not in repr(eng2) and "hunter2" not in eng2.name
    assert eng2.query("x", EvalParams.instant(0)).ok
    with pytest.raises(ConfigError, match="user:password"):
        HttpEngine(target.url, "none", env={ENV_BASIC: "nocolon"})


def test_victoriametrics_import_posts_json_lines_then_flushes(target: Target) -> None:
    eng = HttpEngine(target.url, "victoriametrics_import", env={}, sleep=_no_sleep)
    info = eng.load(DS)
    paths = [p for _, p, _, _ in target.requests]
    assert paths == ["/api/v1/import", "/internal/force_flush"]
    lines = [json.loads(x) for x in target.requests[0][3].decode().splitlines()]
    assert lines == [
        {"metric": {"__name__": "a", "job": "x"}, "values": [1.0, "NaN"], "timestamps": [0, 15000]}
    ]
    assert info.histograms == 0 and len(info.notes) == 2
    assert eng.dump() is None


def test_bad_loader_and_url_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown loader"):
        HttpEngine("http://127.0.0.1:1", "ftp")
    with pytest.raises(ConfigError, match="http://"):
        HttpEngine("localhost:9090", "none")
