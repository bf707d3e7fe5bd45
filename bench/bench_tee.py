"""Requests/s through ``promfuzz tee`` and the latency it adds, comparisons on.

Starts two real Prometheus servers (prometheus-live's ``.build/prometheus-server``, on
loopback), loads the same small dataset into both, runs a tee between them
(``--sample`` of requests compared in the background) and drives it with a load
generator written here: ``--clients`` threads, each with one keep-alive HTTP/1.1
connection, sending an instant query at a fixed time. It is bounded by ``--requests``
(per phase) and ``--seconds`` (per phase), loopback only, and stops by itself.

Phases: 1. one client alternating a request straight to the primary and one through the
tee (paired, so the machine's load hits both alike): latency p50/p99 of each and of the
per-pair difference (the latency the tee adds); 2. ``--clients`` clients through the tee:
requests/s; 3. the same straight to the primary, for scale. Prints the load average.

    .venv/bin/python bench/bench_tee.py --requests 2000 --clients 4 --sample 1.0
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promfuzz.engines.http import HttpEngine  # noqa: E402
from promfuzz.engines.live import LiveServer  # noqa: E402
from promfuzz.model import Dataset  # noqa: E402
from promfuzz.tee import TeeConfig, TeeCore, TeeServer  # noqa: E402

QUERY = "sum by (a) (rate(m[5m]))"


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


class Client:
    def __init__(self, url: str) -> None:
        u = urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        self.path = f"/api/v1/query?query={quote(QUERY)}&time=3000"

    def get(self) -> float:
        t0 = time.perf_counter()
        self.conn.request("GET", self.path)
        r = self.conn.getresponse()
        body = r.read()
        dt = time.perf_counter() - t0
        if r.status != 200 or b'"success"' not in body:
            raise RuntimeError(f"bad answer {r.status}: {body[:200]!r}")
        return dt

    def close(self) -> None:
        self.conn.close()


def paired(direct: str, tee: str, n: int, seconds: float) -> tuple[list[float], list[float]]:
    a, b = Client(direct), Client(tee)
    for _ in range(20):  # warm up both connections and the servers
        a.get()
        b.get()
    da: list[float] = []
    db: list[float] = []
    deadline = time.monotonic() + seconds
    for i in range(n):
        if time.monotonic() > deadline:
            break
        if i % 2:
            da.append(a.get())
            db.append(b.get())
        else:
            db.append(b.get())
            da.append(a.get())
    a.close()
    b.close()
    return da, db


def throughput(url: str, clients: int, n: int, seconds: float) -> tuple[int, float, list[float]]:
    lat: list[float] = []
    lock = threading.Lock()
    count = [0]
    deadline = time.monotonic() + seconds

    def run() -> None:
        c = Client(url)
        mine: list[float] = []
        while time.monotonic() < deadline:
            with lock:
                if count[0] >= n:
                    break
                count[0] += 1
            mine.append(c.get())
        c.close()
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(lat), time.perf_counter() - t0, lat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="requests per phase (default 2000)")
    ap.add_argument("--seconds", type=float, default=30.0, help="time bound per phase (default 30)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--sample", type=float, default=1.0, help="share compared (default 1.0: every request)")
    ap.add_argument("--queue", type=int, default=1000)
    args = ap.parse_args(argv)
    binary = ROOT / ".build" / "prometheus-server"
    ds = Dataset.build([({"__name__": "m", "a": str(j % 5), "b": str(j)}, [(i * 15_000, float(i * j)) for i in range(200)])
                        for j in range(50)])
    a, b = LiveServer(binary), LiveServer(binary)
    try:
        ua, ub = a.start(), b.start()
        for u in (ua, ub):
            HttpEngine(u, "remote_write", env={}).load(ds)
        core = TeeCore(TeeConfig(ua, ub, "prometheus", "prometheus", sample=args.sample, queue_size=args.queue))
        with TeeServer(core) as tee:
            load0 = open("/proc/loadavg").read().split()[:3]
            da, db = paired(ua, tee.url, args.requests, args.seconds)
            diff = [y - x for x, y in zip(da, db, strict=True)]
            n_t, s_t, lat_t = throughput(tee.url, args.clients, args.requests, args.seconds)
            core.wait_idle(60)
            n_d, s_d, _ = throughput(ua, args.clients, args.requests, args.seconds)
            load1 = open("/proc/loadavg").read().split()[:3]
            m = core.metrics
            print(f"query {QUERY!r} on 50 series x 200 samples; sample {args.sample:g}; cores {os.cpu_count()}")
            print(f"paired, 1 client, {len(da)} pairs:")
            print(f"  direct to primary  p50 {pct(da, .5) * 1e3:.3f} ms  p99 {pct(da, .99) * 1e3:.3f} ms")
            print(f"  through the tee    p50 {pct(db, .5) * 1e3:.3f} ms  p99 {pct(db, .99) * 1e3:.3f} ms")
            print(f"  added (pairwise)   p50 {pct(diff, .5) * 1e3:.3f} ms  p99 {pct(diff, .99) * 1e3:.3f} ms  "
                  f"mean {statistics.fmean(diff) * 1e3:.3f} ms")
            print(f"{args.clients} clients through the tee: {n_t} requests in {s_t:.2f} s = {n_t / s_t:.0f} req/s "
                  f"(p50 {pct(lat_t, .5) * 1e3:.2f} ms, p99 {pct(lat_t, .99) * 1e3:.2f} ms)")
            print(f"{args.clients} clients straight to the primary: {n_d / s_d:.0f} req/s")
            cmp = {r: int(m.value("promfuzz_tee_comparisons_total", result=r)) for r in
                   ("match", "divergence", "expected", "skipped", "error")}
            print(f"comparisons {cmp}, dropped {int(m.value('promfuzz_tee_dropped_total'))}")
            print(f"load average before {' '.join(load0)}, after {' '.join(load1)}")
    finally:
        a.close()
        b.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
