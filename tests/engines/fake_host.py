"""A tiny stand-in for a Go engine host, speaking docs/host-protocol.md (test fixture).

Queries it understands (anything else answers a scalar equal to the evaluation time):

* ``crash``     -- writes a panic text to stderr and exits with status 2 mid-request
* ``hang``      -- never answers
* ``slow:<s>``  -- sleeps <s> seconds; answers a ``timeout`` error when <s> exceeds the
                   request's ``timeout`` parameter, else a scalar
* ``error`` / ``unsupported`` / ``panic`` -- the matching error envelopes
* ``pid``       -- a scalar holding the host's PID
* ``loaded``    -- a vector: one series per loaded series, value = its sample count
* ``restarts``  -- not special; use ``pid`` to tell a restarted host apart

``--engines a,b`` sets the engine names (default ``fake``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

STATE: dict[str, Any] = {"dataset": {"series": []}, "loads": 0}


def fmt_time(ms: int) -> float:
    return ms / 1000.0


def parse_time(s: str) -> int:
    return round(float(s) * 1000)


def answer(q: dict[str, str], engines: list[str]) -> tuple[int, dict[str, Any]]:
    text = q.get("query", "")
    eng = q.get("engine", engines[0])
    stats = {
        "wallNs": 1000,
        "engineNs": 500,
        "allocBytes": 64,
        "peakBytes": 0,
        "samples": 1,
        "unsupported": False,
    }
    if eng not in engines:
        return 400, {
            "status": "error",
            "errorType": "bad_data",
            "error": f"unknown engine {eng}",
            "hostStats": stats,
        }
    if "time" in q:
        t_ms = parse_time(q["time"])
    else:
        t_ms = parse_time(q.get("start", "0"))
    if text == "crash":
        sys.stderr.write("panic: fake crash requested\n\ngoroutine 1 [running]:\nmain.main()\n")
        sys.stderr.flush()
        os._exit(2)
    if text == "hang":
        time.sleep(3600)
    if text.startswith("slow:"):
        secs = float(text[5:])
        limit = float(q.get("timeout", "10"))
        if secs > limit:
            time.sleep(limit)
            return 503, {
                "status": "error",
                "errorType": "timeout",
                "error": "query timed out in expression evaluation",
                "hostStats": stats,
            }
        time.sleep(secs)
    if text == "error":
        return 422, {
            "status": "error",
            "errorType": "execution",
            "error": "fake execution error",
            "hostStats": stats,
        }
    if text == "unsupported":
        stats["unsupported"] = True
        return 422, {
            "status": "error",
            "errorType": "unsupported",
            "error": "not supported by fake engine",
            "hostStats": stats,
        }
    if text == "panic":
        return 500, {
            "status": "error",
            "errorType": "engine_panic",
            "error": "fake panic\nstack",
            "hostStats": stats,
        }
    if text == "pid":
        return 200, {
            "status": "success",
            "data": {"resultType": "scalar", "result": [fmt_time(t_ms), str(os.getpid())]},
            "hostStats": stats,
        }
    if text == "loaded":
        result = [
            {"metric": s["labels"], "value": [fmt_time(t_ms), str(len(s["samples"]))]}
            for s in STATE["dataset"]["series"]
        ]
        return 200, {
            "status": "success",
            "data": {"resultType": "vector", "result": result},
            "hostStats": stats,
        }
    return 200, {
        "status": "success",
        "data": {"resultType": "scalar", "result": [fmt_time(t_ms), str(t_ms / 1000.0)]},
        "warnings": ["fake warning"] if text == "warn" else [],
        "hostStats": stats,
    }


def make_handler(engines: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def send_lines(self, req: dict[str, Any]) -> None:
            """The batch "lines" format: hostStats, a tab, the envelope (left out when
            the request says "bodies":"none"), a newline."""
            out = []
            for item in req["queries"]:
                item = {key: str(v) for key, v in item.items()}
                item["engine"] = req.get("engine", engines[0])
                env = answer(item, engines)[1]
                hs = env.pop("hostStats", {})
                body = json.dumps(env, separators=(",", ":"))
                hs = {**hs, "digest": hashlib.sha256(body.encode()).hexdigest()[:24]}
                if req.get("bodies") == "none":
                    body = ""
                out.append(json.dumps(hs) + "\t" + body + "\n")
            self.send(200, "".join(out), "text/plain")

        def send(self, code: int, obj: Any, content_type: str = "application/json") -> None:
            body = obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def params(self) -> dict[str, str]:
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                raw = self.rfile.read(n)
                if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    q.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
                else:
                    q["__body__"] = raw.decode()
            return q

        def do_GET(self) -> None:
            self.route()

        def do_POST(self) -> None:
            self.route()

        def route(self) -> None:
            path = urlparse(self.path).path
            q = self.params()
            if path == "/health":
                n = len(STATE["dataset"]["series"])
                self.send(
                    200,
                    {
                        "status": "ok",
                        "engines": engines,
                        "modules": {"fake/module": "v0.0.1"},
                        "go": "go0",
                        "loaded": {"series": n},
                    },
                )
            elif path == "/load":
                try:
                    ds = json.loads(q["__body__"])
                    assert isinstance(ds["series"], list)
                except Exception as e:  # noqa: BLE001
                    self.send(400, {"status": "error", "errorType": "bad_data", "error": f"bad dataset: {e}"})
                    return
                STATE["dataset"] = ds
                STATE["loads"] += 1
                floats = sum(1 for s in ds["series"] for _, v in s["samples"] if not isinstance(v, dict))
                hists = sum(1 for s in ds["series"] for _, v in s["samples"] if isinstance(v, dict))
                self.send(
                    200,
                    {
                        "status": "success",
                        "series": len(ds["series"]),
                        "floats": floats,
                        "histograms": hists,
                        "loadNs": 1234,
                    },
                )
            elif path == "/dump":
                self.send(200, STATE["dataset"])
            elif path in ("/api/v1/query", "/api/v1/query_range"):
                code, obj = answer(q, engines)
                self.send(code, obj)
            elif path == "/api/v1/batch":
                req = json.loads(q["__body__"])
                if req.get("format") == "lines":
                    self.send_lines(req)
                    return
                out = []
                for item in req["queries"]:
                    item = {k: str(v) for k, v in item.items()}
                    item["engine"] = req.get("engine", engines[0])
                    out.append(answer(item, engines)[1])
                self.send(200, {"results": out})
            else:
                self.send(404, {"status": "error", "errorType": "bad_data", "error": "no such endpoint"})

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--engines", default="fake")
    ap.add_argument("--no-ready", action="store_true")
    args = ap.parse_args()
    engines = args.engines.split(",")
    host, port = args.listen.rsplit(":", 1)
    srv = ThreadingHTTPServer((host, int(port)), make_handler(engines))
    srv.daemon_threads = True

    def watch_stdin() -> None:
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    sys.stderr.write("fake host starting\n")
    sys.stderr.flush()
    if args.no_ready:
        time.sleep(3600)
    ready = {
        "ready": True,
        "addr": f"{host}:{srv.server_address[1]}",
        "pid": os.getpid(),
        "engines": engines,
        "modules": {"fake/module": "v0.0.1"},
        "go": "go0",
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
