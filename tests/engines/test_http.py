"""HttpEngine against an in-process fake Prometheus-compatible target."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from promfuzz.engines.base import EngineLoadError
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
    mode: str = "ok"  # ok | html (a web page on every path) | blackhole (takes writes, holds nothing)
    delay_s: float = 0.0  # queries answer after this long
    in_flight: int = 0
    max_in_flight: int = 0


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
            if state.mode == "html":
                self.reply(200, b"<!doctype html><html><body>Welcome to nginx!</body></html>", "text/html")
                return
            if self.path == "/api/v1/write":
                if state.mode != "blackhole":
                    state.written.append(decode_write_request(body))
                self.reply(204, b"")
            elif self.path in ("/api/v1/import", "/internal/force_flush"):
                self.reply(204, b"")
            elif self.path == "/api/v1/series":
                data = [dict(s.labels) for d in state.written for s in d.series]
                self.reply(200, json.dumps({"status": "success", "data": data}).encode())
            elif self.path == "/api/v1/query":
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
                time.sleep(state.delay_s)
                state.in_flight -= 1
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
    eng = HttpEngine(target.url, "victoriametrics_import", env={}, sleep=_no_sleep, verify=False)
    info = eng.load(DS)
    paths = [p for _, p, _, _ in target.requests]
    assert paths[:2] == ["/api/v1/import", "/internal/force_flush"]
    lines = [json.loads(x) for x in target.requests[0][3].decode().splitlines()]
    # No "NaN" string (VictoriaMetrics 1.79 rejects the whole line for it): the stale
    # marker is left out and said so.
    assert lines == [{"metric": {"__name__": "a", "job": "x"}, "values": [1.0], "timestamps": [0]}]
    assert info.histograms == 0 and any("stale markers not sent" in n for n in info.notes)
    assert any("native histogram samples not loaded" in n for n in info.notes)
    assert eng.dump() is None


def test_bad_loader_and_url_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown loader"):
        HttpEngine("http://127.0.0.1:1", "ftp")
    with pytest.raises(ConfigError, match="http://"):
        HttpEngine("localhost:9090", "none")


# ------------------------------------------------------------ bad input, one line each


def _one_line(e: BaseException) -> str:
    text = str(e)
    assert "\n" not in text, text
    return text


def test_unreachable_url_is_one_line_target_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    eng = HttpEngine(f"http://127.0.0.1:{port}", profile="prometheus", env={}, retries=1, sleep=_no_sleep)
    with pytest.raises(TargetUnavailableError) as ei:
        eng.load(DS)
    assert "target unavailable" in _one_line(ei.value) and "failed 2 times" in str(ei.value)
    r = eng.query("up", EvalParams.instant(0))
    assert r.outcome == "engine_failure" and r.error is not None and r.error.error_type == "target_unavailable"


def test_url_answering_html_fails_the_load_and_queries(target: Target) -> None:
    target.mode = "html"
    eng = HttpEngine(target.url, env={}, sleep=_no_sleep)
    with pytest.raises(EngineLoadError) as ei:
        eng.load(Dataset.build([({"__name__": "a"}, [(0, 1.0)])]))
    assert "HTML" in _one_line(ei.value)
    r = eng.query("up", EvalParams.instant(0))
    assert r.outcome == "engine_failure" and r.error is not None
    assert r.error.error_type == "target_unavailable" and "HTML" in r.error.message


def test_target_that_takes_writes_but_holds_nothing_fails_the_load(target: Target) -> None:
    target.mode = "blackhole"
    eng = HttpEngine(target.url, env={}, sleep=_no_sleep)
    with pytest.raises(EngineLoadError) as ei:
        eng.load(Dataset.build([({"__name__": "a"}, [(0, 1.0)]), ({"__name__": "b"}, [(0, 2.0)])]))
    assert "holds 0 of 2 series" in _one_line(ei.value)


def test_unknown_profile_is_a_config_error() -> None:
    from promfuzz.engines.registry import open_engine

    with pytest.raises(ConfigError, match="unknown target profile 'vm'"):
        HttpEngine("http://127.0.0.1:1", profile="vm")
    with pytest.raises(ConfigError) as ei:
        open_engine("x=http:http://127.0.0.1:1?profile=victoria")
    assert "unknown profile 'victoria'" in _one_line(ei.value)


def test_no_answer_within_the_timeout_is_target_unavailable_not_retried(target: Target) -> None:
    target.delay_s = 1.5
    eng = HttpEngine(target.url, "none", env={}, sleep=_no_sleep, default_timeout_s=0.2, grace_s=0.1)
    r = eng.query("x", EvalParams.instant(0))
    assert r.outcome == "engine_failure" and r.error is not None and r.error.error_type == "target_unavailable"
    assert "no answer within 0.3s" in r.error.message and "not retried" in r.error.message
    assert sum(1 for _, p, _, _ in target.requests if p == "/api/v1/query") == 1


def test_queries_run_concurrently_in_order(target: Target) -> None:
    target.delay_s = 0.2
    eng = HttpEngine(target.url, "none", env={}, sleep=_no_sleep, concurrency=4)
    t0 = time.monotonic()
    rs = eng.query_many([("x", EvalParams.instant(i * 1000)) for i in range(8)])
    took = time.monotonic() - t0
    assert [r.scalar.t for r in rs if r.scalar] == [i * 1000 for i in range(8)]
    assert target.max_in_flight == 4 and took < 1.2  # 8 x 0.2 s one at a time would be 1.6 s
    eng.close()


def test_named_target_and_profile_through_the_registry(target: Target) -> None:
    from promfuzz.engines.registry import check_isolation, open_engine

    eng = open_engine(f"vm=http:{target.url}?profile=victoriametrics&concurrency=3&timeout=7")
    assert isinstance(eng, HttpEngine)
    assert eng.name == "vm" and eng.profile.name == "victoriametrics" and eng.family == "victoriametrics"
    assert eng.concurrency == 3 and eng.default_timeout_s == 7 and eng.isolation == "delete"
    assert eng.shift_ms == 86_400_000 and "profile" not in eng.url
    check_isolation([f"vm=http:{target.url}?profile=victoriametrics"], shared_target=False)
    with pytest.raises(ConfigError) as ei:
        check_isolation([f"http:{target.url}"], shared_target=False)
    assert "--shared-target" in _one_line(ei.value)
    check_isolation([f"http:{target.url}"], shared_target=True)


def test_blame_crash_names_a_dead_server_and_leaves_other_answers() -> None:
    """The live targets' shared crash wording: an engine_failure while the server is gone
    becomes an engine_crash with its exit and log tail; a running server's failures and
    every ordinary answer stay as they are."""
    from promfuzz.engines.base import blame_crash
    from promfuzz.model import Result

    class Server:
        def __init__(self, alive: bool) -> None:
            self._alive = alive

        def alive(self) -> bool:
            return self._alive

        def exit_description(self) -> str:
            return "killed by signal 9"

        def log_tail(self) -> str:
            return "panic: boom"

    failed = Result.failure("t", "engine_failure", "target_unavailable", "connection refused")
    ok = Result(engine="t", outcome="ok", value_type="vector")
    out = blame_crash([failed, ok], "t", "VictoriaMetrics", Server(alive=False))
    assert out[1] is ok and out[0].outcome == "engine_failure"
    assert out[0].error is not None and out[0].error.error_type == "engine_crash"
    assert "VictoriaMetrics died (killed by signal 9)" in out[0].error.message and "panic: boom" in out[0].error.message
    assert blame_crash([failed, ok], "t", "VictoriaMetrics", Server(alive=True)) == [failed, ok]
