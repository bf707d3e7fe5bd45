"""The tee end to end with real parts only: three Prometheus servers the suite starts
(``prometheus-live``'s server), real clients (promtool built from the pinned Prometheus
module, and curl) sending through the tee, the in-process engines re-running the
captured data, the shrinker and the corpus.

* primary A: dataset D, with a query log (replayed at the end);
* secondary B: D with one sample changed (a data difference);
* secondary C: D, but ``--query.lookback-delta=1m`` (an engine-setting difference, which
  the in-process ``prometheus[lookback=1m]`` reproduces).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from build_helpers import need_binary

from promfuzz.corpus.store import CorpusStore
from promfuzz.engines.http import HttpEngine
from promfuzz.engines.live import LiveServer
from promfuzz.model import Dataset
from promfuzz.tee import TeeConfig, TeeCore, TeeServer
from promfuzz.tee.reproduce import live_findings

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
PROMFUZZ = str(Path(sys.executable).parent / "promfuzz")

D = Dataset.build([({"__name__": "m", "a": str(j)}, [(i * 60_000, float(i * (j + 1))) for i in range(10)])
                   for j in range(3)])
D_CHANGED = Dataset.build([(s.labels, [(x.t, (x.v + 100.0 if (s.labels[1][1] == "1" and x.t == 300_000) else x.v))
                                       for x in s.samples]) for s in D.series])


def _metric(text: str, name: str, **labels: str) -> float:
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    binary = need_binary("prometheus-server")
    log = tmp_path_factory.mktemp("qlog") / "query.log"
    a = LiveServer(binary, query_log_file=log)
    b = LiveServer(binary)
    c = LiveServer(binary, extra_args=["--query.lookback-delta=1m"])
    try:
        urls = {"a": a.start(), "b": b.start(), "c": c.start()}
        for key, ds in (("a", D), ("b", D_CHANGED), ("c", D)):
            HttpEngine(urls[key], "remote_write", env={}).load(ds)
        yield {**urls, "log": log}
    finally:
        for s in (a, b, c):
            s.close()


class _SlowServer:
    """A backend that answers every request after ``delay`` seconds (a slow secondary)."""

    def __init__(self, delay: float) -> None:
        import http.server
        import threading

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(delay)
                body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *a: Any) -> None:
                return

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is not installed (a real client for the tee test)")
    return subprocess.run([curl, "-sS", *args], capture_output=True, text=True, timeout=60)


def test_engine_difference_is_captured_reproduced_shrunk_and_stored(servers: dict[str, Any], tmp_path: Path) -> None:
    promtool = need_binary("promtool")
    corpus = tmp_path / "corpus"
    core = TeeCore(TeeConfig(servers["a"], servers["c"], "prometheus", "prometheus[lookback=1m]",
                             corpus=corpus, sample=1.0, shrink_seconds=8))
    with TeeServer(core) as tee:
        # promtool, a client nobody here wrote: the answer is the primary's, unchanged.
        out = subprocess.run([str(promtool), "query", "-o", "json", "instant", "--time=620", tee.url,
                              "sum by (a) (m)"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        direct = requests.get(servers["a"] + "/api/v1/query", params={"query": "sum by (a) (m)", "time": "620"}).json()
        assert sorted(json.loads(out.stdout), key=str) == sorted(direct["data"]["result"], key=str)
        # and curl, a range query (POST form) that matches, and a pass-through
        r = _curl("--data-urlencode", "query=m", "-d", "start=0", "-d", "end=540", "-d", "step=60",
                  tee.url + "/api/v1/query_range")
        assert json.loads(r.stdout)["status"] == "success"
        assert json.loads(_curl(tee.url + "/api/v1/label/a/values").stdout)["data"] == ["0", "1", "2"]
        assert core.wait_idle(180)
        metrics = _curl(tee.url + "/metrics").stdout
        page = _curl(tee.url + "/").stdout
    assert _metric(metrics, "promfuzz_tee_comparisons_total", result="divergence") == 1
    assert _metric(metrics, "promfuzz_tee_comparisons_total", result="match") == 1
    assert _metric(metrics, "promfuzz_tee_requests_total", path="/api/v1/query") == 1
    assert _metric(metrics, "promfuzz_tee_requests_total", path="/api/v1/label/:name/values") == 1
    assert _metric(metrics, "promfuzz_tee_captures_total", outcome="reproduced") == 1
    assert _metric(metrics, "promfuzz_tee_backend_request_duration_seconds_count", backend="secondary") == 2
    assert "sum by (a) (m)" in page and "reproduced" in page
    entries = list(CorpusStore(corpus).entries())
    assert len(entries) == 1, [e.meta.signature_key for e in entries]
    meta = entries[0].meta
    assert "live request (promfuzz tee)" in meta.note and '"time", "620"' in meta.note
    assert meta.shrink["after"]["series"] < meta.shrink["before"]["series"]
    assert set(meta.engines) == {"prometheus", "prometheus[lookback=1m]"}
    assert entries[0].test_path.read_text().count("eval instant at") == 1
    assert "Authorization" not in entries[0].json_path.read_text()


def test_data_difference_keeps_both_datasets(servers: dict[str, Any], tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    core = TeeCore(TeeConfig(servers["a"], servers["b"], "prometheus", "prometheus", corpus=corpus, sample=1.0,
                             shrink_seconds=5))
    with TeeServer(core) as tee:
        r = _curl("-G", "--data-urlencode", 'query=m{a="1"}', "-d", "start=0", "-d", "end=540", "-d", "step=60",
                  tee.url + "/api/v1/query_range")
        assert json.loads(r.stdout)["status"] == "success"
        assert core.wait_idle(180)
    assert list(CorpusStore(corpus).entries()) == []
    found = live_findings(corpus)
    assert len(found) == 1
    f = found[0]
    assert f["outcome"] == "data_difference", f
    assert any("samples differ (t=300000" in d for d in f["data_differences"])
    assert "ingestion" in f["reason"] or "different values" in f["reason"]
    assert f["data_explains"] is True
    folder = Path(f"{corpus}/.live/{f['id']}")
    p = Dataset.from_json((folder / "primary.dataset.json").read_text())
    s = Dataset.from_json((folder / "secondary.dataset.json").read_text())
    assert p != s and p.sample_count == s.sample_count == 10


def test_secondary_down_and_unparsed_query(servers: dict[str, Any]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed
    core = TeeCore(TeeConfig(servers["a"], dead, sample=1.0))
    with TeeServer(core) as tee:
        r = _curl("-G", "--data-urlencode", "query=sum(m)", "-d", "time=300", tee.url + "/api/v1/query")
        assert json.loads(r.stdout)["data"]["result"][0]["value"] == [300, "30"]
        bad = _curl("-G", "--data-urlencode", "query=sum(", "-w", "%{http_code}", tee.url + "/api/v1/query")
        assert bad.stdout.endswith("400") and "parse error" in bad.stdout
        assert core.wait_idle(60)
        metrics = _curl(tee.url + "/metrics").stdout
    assert _metric(metrics, "promfuzz_tee_comparisons_total", result="error") == 1
    assert _metric(metrics, "promfuzz_tee_backend_errors_total", backend="secondary") == 1
    assert _metric(metrics, "promfuzz_tee_comparisons_total", result="skipped") == 1
    assert _metric(metrics, "promfuzz_tee_skipped_total", reason="unparsed") == 1
    # a secondary that takes seconds: the client does not wait for it
    slow = _SlowServer(6.0)
    core3 = TeeCore(TeeConfig(servers["a"], slow.url, sample=1.0))
    try:
        with TeeServer(core3) as tee:
            t0 = time.monotonic()
            r = _curl("-G", "--data-urlencode", "query=sum(m)", "-d", "time=300", tee.url + "/api/v1/query")
            took = time.monotonic() - t0
            assert json.loads(r.stdout)["data"]["result"][0]["value"] == [300, "30"]
            assert took < 3.0, f"the primary path waited for the slow secondary ({took:.1f}s)"
            assert core3.wait_idle(30)
    finally:
        slow.close()
    # a primary that is down: the client gets a 502 envelope, counted
    core2 = TeeCore(TeeConfig(dead, servers["a"], sample=1.0))
    with TeeServer(core2) as tee:
        r = _curl("-w", "\n%{http_code}", tee.url + "/api/v1/query?query=1")
        assert r.stdout.endswith("502") and '"errorType": "unavailable"' in r.stdout
        assert core2.metrics.value("promfuzz_tee_backend_errors_total", backend="primary") == 1


def test_replay_log_of_the_primarys_query_log(servers: dict[str, Any], tmp_path: Path) -> None:
    log: Path = servers["log"]
    # The log holds whatever the tests before sent through the tees to A, plus this query.
    requests.get(servers["a"] + "/api/v1/query", params={"query": "sum by (a) (m)", "time": "620"})
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    assert any(x["params"]["query"] == "sum by (a) (m)" for x in lines)
    corpus = tmp_path / "corpus"
    env = {**os.environ, "PROMFUZZ_HTTP_BEARER_TOKEN": "s3cret-token"}
    out = subprocess.run([PROMFUZZ, "replay-log", str(log), "--primary", servers["a"],
                          "--secondary", servers["c"], "--primary-engine", "prometheus", "--secondary-engine",
                          "prometheus[lookback=1m]", "--corpus", str(corpus), "--shrink-seconds", "5", "--json"],
                         capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["entries"] == len(lines) and rep["malformed"] == []
    assert any(d["query"] == "sum by (a) (m)" for d in rep["divergences"]), rep
    assert any(d["capture"]["outcome"] == "reproduced" for d in rep["divergences"])
    stored = "".join(p.read_text() for p in corpus.rglob("*") if p.is_file())
    assert "s3cret-token" not in stored
    bad = tmp_path / "bad.log"
    bad.write_text(log.read_text().splitlines()[0] + "\n{not json\n")
    out = subprocess.run([PROMFUZZ, "replay-log", str(bad), "--primary", servers["a"],
                          "--secondary", servers["c"]], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 2 and f"{bad}:2" in out.stderr and "query log JSON object" in out.stderr
