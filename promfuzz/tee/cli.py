"""The ``promfuzz tee`` and ``promfuzz replay-log`` subcommands (registered by promfuzz/cli.py)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from promfuzz.errors import ConfigError


def _duration_ms(text: str, what: str) -> int:
    from promfuzz.engines.spec import parse_duration_ms

    if text in ("0", "0s"):
        return 0
    try:
        return parse_duration_ms(text)
    except Exception as e:  # noqa: BLE001 - any parse failure is the user's input
        raise ConfigError(f"{what}: expected a duration such as 2m or 30s, got {text!r}") from e


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"--listen: expected HOST:PORT (e.g. 127.0.0.1:9091), got {text!r}")
    return host.strip("[]"), int(port)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "tee",
        help="proxy the Prometheus query API to a primary, mirror a sample to a secondary, judge both answers, "
             "turn divergences into reproducible shrunk cases (docs/tee.md)",
    )
    p.add_argument("--listen", default="127.0.0.1:9091", help="HOST:PORT to serve on (default 127.0.0.1:9091; "
                                                              "port 0 picks a free one)")
    p.add_argument("--primary", required=True, help="URL of the backend whose answers clients get")
    p.add_argument("--secondary", required=True, help="URL of the backend compared with it")
    p.add_argument("--primary-engine", default="generic",
                   help="engine name of the primary for known-difference rules and the in-process reference "
                        "(prometheus, mimir-prometheus, ...; default generic)")
    p.add_argument("--secondary-engine", default="generic",
                   help="engine name of the secondary (mqe, thanos, prometheus[lookback=1m], ...): rules and the "
                        "in-process re-run (default generic: no re-run)")
    p.add_argument("--reference", default="auto",
                   help="in-process reference engine spec (default auto: the primary's engine, else the "
                        "secondary's same-build reference)")
    p.add_argument("--corpus", type=Path, default=None, help="capture divergences and store them here")
    p.add_argument("--sample", type=float, default=0.1, help="share of query requests compared (default 0.1)")
    p.add_argument("--window", default="2m", help="skip samples newer than this before the request time (default 2m)")
    p.add_argument("--lookback", default="5m", help="the backends' lookback delta, for the capture (default 5m)")
    p.add_argument("--queue", type=int, default=1000, help="comparisons waiting at most (default 1000; more are dropped)")
    p.add_argument("--workers", type=int, default=2, help="comparison threads (default 2)")
    p.add_argument("--shrink-seconds", type=float, default=30.0, help="shrink budget per captured case (default 30)")

    p = sub.add_parser(
        "replay-log",
        help="replay a query log (Prometheus query_log_file, Mimir query-frontend lines, or plain queries) "
             "against two backends or two in-process engines, with the tee's comparison and capture",
    )
    p.add_argument("log", type=Path, metavar="FILE")
    p.add_argument("--primary", default=None, help="URL of the primary backend")
    p.add_argument("--secondary", default=None, help="URL of the secondary backend")
    p.add_argument("--primary-engine", default="generic")
    p.add_argument("--secondary-engine", default="generic")
    p.add_argument("--reference", default="auto")
    p.add_argument("--engines", default=None, help="REFERENCE,TARGET: in-process engines instead of URLs (needs --data)")
    p.add_argument("--data", type=Path, default=None, help="dataset for --engines: promfuzz JSON or a .test file")
    p.add_argument("--corpus", type=Path, default=None, help="capture and store divergences here")
    p.add_argument("--window", default="2m")
    p.add_argument("--time", default=None, help="evaluation time of plain lines without one (default: now)")
    p.add_argument("--shrink-seconds", type=float, default=30.0)
    p.add_argument("--skip-malformed", action="store_true",
                   help="skip and count malformed lines (each named on stderr) instead of stopping at the first")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--fail-on-divergence", action="store_true", help="exit 1 when any query diverged")


def cmd_tee(args: argparse.Namespace) -> int:
    from promfuzz.tee.core import TeeConfig, TeeCore
    from promfuzz.tee.proxy import TeeServer

    host, port = _listen(args.listen)
    cfg = TeeConfig(primary=args.primary, secondary=args.secondary, primary_engine=args.primary_engine,
                    secondary_engine=args.secondary_engine, reference=args.reference, corpus=args.corpus,
                    sample=args.sample, window_ms=_duration_ms(args.window, "--window"),
                    queue_size=args.queue, workers=args.workers, shrink_seconds=args.shrink_seconds,
                    lookback_ms=_duration_ms(args.lookback, "--lookback"))
    core = TeeCore(cfg)
    try:
        server = TeeServer(core, host, port)
    except OSError as e:
        raise ConfigError(f"--listen {args.listen}: {e}") from e
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(f"promfuzz tee listening on {server.url} (primary {core.primary.url}, secondary {core.secondary.url}, "
          f"sample {cfg.sample:g})", flush=True)
    stop.wait()
    server.close()
    return 0


def cmd_replay_log(args: argparse.Namespace) -> int:
    from promfuzz.tee.replaylog import (
        ReplayLogReport,
        load_dataset_file,
        print_malformed,
        read_log,
        replay_backends,
        replay_engines,
    )
    from promfuzz.tee.request import parse_api_time

    errors: list[str] = []
    t = parse_api_time(args.time, "--time") if args.time else None
    entries = read_log(args.log, skip_malformed=args.skip_malformed, time_ms=t, errors=errors)
    print_malformed(errors)
    rep = ReplayLogReport(malformed=errors)
    if args.engines:
        if args.data is None:
            raise ConfigError("--engines needs --data DATASET")
        replay_engines(entries, [e.strip() for e in args.engines.split(",")], load_dataset_file(args.data),
                       corpus=args.corpus, shrink_seconds=args.shrink_seconds, report=rep)
    else:
        if not args.primary or not args.secondary:
            raise ConfigError("replay-log needs --primary URL --secondary URL, or --engines REF,TARGET --data DATASET")
        replay_backends(entries, args.primary, args.secondary, corpus=args.corpus,
                        primary_engine=args.primary_engine, secondary_engine=args.secondary_engine,
                        reference=args.reference, window_ms=_duration_ms(args.window, "--window"),
                        shrink_seconds=args.shrink_seconds, report=rep)
    if args.json:
        print(json.dumps(rep.to_json_obj(), indent=1, default=str))
    else:
        print(rep.format())
    sys.stdout.flush()
    return 1 if args.fail_on_divergence and rep.divergences else 0
