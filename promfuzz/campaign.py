"""Fuzz campaigns: many datasets, many queries each, judged by oracles, shrunk and stored.

Work is split by **dataset index**: dataset ``d`` (and its queries) is a pure function of
``(seed, d)``, so the set of cases of a run depends only on the seed and the budget, not on
the number of workers or their timing. Shard ``i/n`` takes the indices ``d = i, i+n, ...``;
within a shard, worker ``w`` of ``W`` takes every ``W``-th of those. A case-count budget
fixes how many datasets each shard runs, so "1 worker" and "2 workers" produce the same cases.

Workers are processes (each with its own engine hosts) that send events to the parent:
progress deltas, new findings (already shrunk) and occurrences of known signatures. The
parent owns the corpus and the report folder, so only one process ever writes them.

Ctrl-C: the first one asks workers to stop after their current dataset, then the corpus
and report are written; a second one stops at once (the report is still written).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import queue as queue_mod
import signal
import sys
import time
from collections import Counter
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promfuzz.errors import ConfigError
from promfuzz.plan import (  # noqa: F401  (re-exported: the public names of a campaign)
    DEFAULT_QUERIES_PER_DATASET,
    STATE_FILE,
    CampaignConfig,
    dataset_seed,
    plan_cases,
    shard_indices,
)
from promfuzz.reports.records import Finding, RunStats, ThroughputSample, write_json_atomic
from promfuzz.reports.writer import FINDINGS_FILE, summary_dict, write_report

REPORT_EVERY_S = 15.0

TARGET_DOWN_STOP_S = 60.0
"""A campaign stops when, for this long, every dataset failed because a target was
unavailable (issue #15 item 4); ``$PROMFUZZ_TARGET_DOWN_STOP_S`` changes it (tests)."""


def target_down_stop_s() -> float:
    import os

    raw = os.environ.get("PROMFUZZ_TARGET_DOWN_STOP_S", "")
    try:
        return float(raw) if raw else TARGET_DOWN_STOP_S
    except ValueError:
        raise ConfigError(f"PROMFUZZ_TARGET_DOWN_STOP_S={raw!r} is not a number of seconds") from None


# ----------------------------------------------------------------------------- worker


def _worker_main(
    cfg: CampaignConfig, worker: int, skip: frozenset[int], events: Any, stop: Any, deadline: float | None
) -> None:
    """One worker process. It stops taking datasets when the parent sets ``stop`` or, for
    a time budget, at ``deadline`` (``time.monotonic()``, one clock for all processes on
    the machine) by itself, so a busy parent cannot stretch the budget."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    from promfuzz.pipeline import Pipeline

    def should_stop() -> bool:
        return stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

    try:
        with Pipeline(cfg) as pipe:
            pipe.deadline = deadline
            for ev in pipe.run_worker(worker, skip, should_stop):
                events.put(ev)
    except BaseException as e:  # report, never hang the parent
        import traceback

        events.put(("error", worker, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    finally:
        events.put(("exit", worker))


# ----------------------------------------------------------------------------- parent


class _Run:
    """Parent-side state: merged stats, distinct findings, the corpus and the report folder."""

    def __init__(self, cfg: CampaignConfig, state: dict[str, Any] | None) -> None:
        self.cfg = cfg
        self.out = cfg.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.stats = RunStats()
        self.findings: dict[str, Finding] = {}
        self.completed: set[int] = set()
        self.elapsed_before = 0.0
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.engine_versions: dict[str, dict[str, str]] = {}
        self.dataset_errors: list[str] = []
        self.down_since: float | None = None  # the first of the datasets in a row that found a target unavailable
        self.down_datasets = 0
        self.down_last = ""
        self.stop_reason: str | None = None
        self.left_out: dict[str, str] = dict(state.get("left_out", {})) if state else {}
        self._lines: dict[str, tuple[tuple[Any, ...], str]] = {}
        if state:
            self.completed = set(state.get("completed", []))
            self.elapsed_before = float(state.get("elapsed_s", 0.0))
            self.started_at = state.get("started_at", self.started_at)
            st = state.get("stats", {})
            self.stats.cases = st.get("cases", 0)
            self.stats.datasets = st.get("datasets", 0)
            self.stats.verdicts = Counter(st.get("verdicts", {}))
            self.stats.engine_seconds = dict(st.get("engine_seconds", {}))
            self.stats.suite_seconds = dict(st.get("suite_seconds", {}))
            self.stats.features = Counter(st.get("features", {}))
            self.stats.invalid_queries = st.get("invalid_queries", 0)
            self.stats.cases_fingerprint = int(st.get("cases_fingerprint", "0"), 16)
            self.stats.throughput = [ThroughputSample(**t) for t in st.get("throughput", [])]
            self.engine_versions = state.get("engine_versions", {})
            fpath = self.out / FINDINGS_FILE
            if fpath.exists():
                for line in fpath.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        f = Finding.from_json_obj(json.loads(line))
                        self.findings[f.signature] = f
        self.t0 = time.monotonic()
        from promfuzz.bugs.grouping import RunBugs

        self.bugs = RunBugs(cfg.corpus)
        self.store = None
        if cfg.corpus is not None:
            from promfuzz.corpus.store import CorpusStore

            self.store = CorpusStore(cfg.corpus)

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self.t0)

    def handle(self, ev: tuple[Any, ...]) -> None:
        kind = ev[0]
        if kind == "progress":
            delta: RunStats = ev[1]
            self.stats.merge(delta)
        elif kind == "dataset_done":
            self.down_since = None
            self.completed.add(ev[1])
            self.write_state()
        elif kind == "versions":
            self.engine_versions.update(ev[1])
        elif kind == "left_out":  # what the generator left out: one side's parser lacks it
            self.left_out.update(ev[1])
        elif kind == "dataset_error":
            # Counted and reported; the dataset is not marked done, so --resume retries it.
            self.dataset_errors.append(f"dataset {ev[1]}: {ev[2]}")
            unavailable = "target unavailable" in ev[2]
            if not (unavailable and self.down_since is not None):  # one line per outage, not per dataset
                print(f"promfuzz: dataset {ev[1]} failed: {ev[2].splitlines()[0]}", file=sys.stderr)
            if unavailable:
                if self.down_since is None:
                    self.down_since, self.down_datasets = time.monotonic(), 0
                self.down_datasets += 1
                self.down_last = ev[2].splitlines()[0].removeprefix("load failed: ")
        elif kind == "finding":
            self._finding(ev[1], ev[2])
        elif kind == "occurrence":
            f = self.findings.get(ev[1])
            if f is not None:
                f.occurrences += 1

    def _finding(self, f: Finding, stored: Any) -> None:
        known = self.findings.get(f.signature)
        if known is not None:
            known.occurrences += f.occurrences
            return
        f.first_seen_s = round(self.elapsed, 3)
        if self.store is not None and stored is not None and f.verdict in ("divergence", "engine_failure"):
            try:
                f.case_file = self._store_case(stored, f)
            except ValueError as e:  # a case promqltest cannot express: keep the finding, say why
                f.shrink = {**f.shrink, "not_stored": str(e)}
        # Its bug: a ledger entry of the corpus (whose last_seen this updates; a fixed one is
        # flagged as a regression) or a new one named by its grouping key.
        self.bugs.assign(f, stored, self.engine_versions)
        # The range chart is drawn when the report is next written (render_html), not here.
        self.findings[f.signature] = f

    def _store_case(self, stored: Any, f: Finding) -> str | None:
        from promfuzz.pipeline import store_finding

        assert self.store is not None
        return store_finding(self.store, stored, f, self.cfg, self.engine_versions)

    def sample_throughput(self) -> None:
        div = self.stats.verdicts.get("divergence", 0)
        self.stats.throughput.append(ThroughputSample(round(self.elapsed, 2), self.stats.cases, div))

    def write(self, complete: bool, interrupted: bool) -> dict[str, Any]:
        """Rewrite the whole report (and the state); returns the summary."""
        self.stats.wall_seconds = self.elapsed
        findings = sorted(self.findings.values(), key=lambda f: f.first_seen_s)
        from promfuzz.pipeline import grammar_coverage_summary

        summary = summary_dict(
            run_id=self.cfg.run_id,
            seed=self.cfg.seed,
            budget=self.cfg.budget.to_json_obj(),
            stats=self.stats,
            reference={"name": self.cfg.reference, "versions": self.engine_versions.get(self.cfg.reference, {})},
            targets=[{"name": t, "versions": self.engine_versions.get(t, {})} for t in self.cfg.targets],
            oracles=self.cfg.oracles,
            findings=findings,
            workers=self.cfg.workers,
            shard=f"{self.cfg.shard[0]}/{self.cfg.shard[1]}",
            started_at=self.started_at,
            finished_at=datetime.now(UTC).isoformat(timespec="seconds") if (complete or interrupted) else None,
            complete=complete,
            interrupted=interrupted,
            grammar_coverage=grammar_coverage_summary(self.stats.features),
        )
        summary["dataset_errors"] = list(self.dataset_errors)
        if self.stop_reason is not None:
            summary["stop_reason"] = self.stop_reason
        summary["left_out"] = dict(sorted(self.left_out.items()))
        summary["explain"] = _explain_summary(findings)
        write_report(self.out, summary, findings)
        self.write_state()
        return summary

    def target_down(self, window_s: float) -> str | None:
        """The stop message once every dataset for ``window_s`` found a target unavailable."""
        if self.down_since is None or time.monotonic() - self.down_since < window_s:
            return None
        return (f"stopping: the target answered nothing for {time.monotonic() - self.down_since:.0f}s "
                f"({self.down_datasets} datasets in a row failed); last: {self.down_last}")

    def write_state(self) -> None:
        """What --resume needs: config, completed datasets, totals (cheap; after every dataset)."""
        write_json_atomic(
            self.out / STATE_FILE,
            {
                "config": self.cfg.to_json_obj(),
                "completed": sorted(self.completed),
                "elapsed_s": round(self.elapsed, 3),
                "started_at": self.started_at,
                "engine_versions": self.engine_versions,
                "left_out": self.left_out,
                "stats": {
                    "cases": self.stats.cases,
                    "datasets": self.stats.datasets,
                    "verdicts": dict(self.stats.verdicts),
                    "engine_seconds": self.stats.engine_seconds,
                    "suite_seconds": self.stats.suite_seconds,
                    "features": dict(self.stats.features),
                    "invalid_queries": self.stats.invalid_queries,
                    "cases_fingerprint": f"{self.stats.cases_fingerprint:016x}",
                    "throughput": [asdict(t) for t in self.stats.throughput],
                },
            },
        )
        # Findings go with the state, so a resumed run knows every signature already seen.
        tmp = self.out / f".{FINDINGS_FILE}.tmp"
        findings = sorted(self.findings.values(), key=lambda f: f.first_seen_s)
        tmp.write_text("".join(self._finding_line(f) for f in findings), encoding="utf-8")
        tmp.replace(self.out / FINDINGS_FILE)

    def _finding_line(self, f: Finding) -> str:
        """One findings.jsonl line, serialized again only when the finding changed (this
        runs after every dataset; serializing every finding each time made the parent a
        CPU hog that competed with the workers)."""
        version = (f.occurrences, f.chart_svg is not None, f.case_file)
        cached = self._lines.get(f.signature)
        if cached is None or cached[0] != version:
            cached = (version, json.dumps(f.to_json_obj(), sort_keys=True) + "\n")
            self._lines[f.signature] = cached
        return cached[1]


def _explain_summary(findings: list[Finding]) -> dict[str, Any]:
    """Per explain label (engine / fork-lag / both / none), how many findings; and the
    passes or options explain attributed findings to."""
    labels: Counter[str] = Counter()
    attributed: Counter[str] = Counter()
    for f in findings:
        if f.explain:
            labels[str(f.explain.get("label", "none"))] += 1
            attributed.update(f.explain.get("attributed") or [])
    return {"labels": dict(labels), "attributed": dict(attributed)}


class _Display:
    """A rich live line (or plain log lines when not a terminal / --no-progress)."""

    def __init__(self, run: _Run, enabled: bool) -> None:
        self.run = run
        self.live: Any = None
        self.last_plain = 0.0
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._render(), console=Console(stderr=True), refresh_per_second=4, transient=False)

    def _line(self) -> str:
        r = self.run
        s = r.stats
        v = s.verdicts
        rate = s.cases / r.elapsed if r.elapsed > 0 else 0.0
        budget = r.cfg.budget
        of = f"/{budget.cases}" if budget.cases else ""
        lim = f"/{budget.seconds:.0f}s" if budget.seconds else ""
        panics = sum(f.occurrences for f in r.findings.values() if f.panic is not None)
        return (
            (f"PANICS {panics}  " if panics else "")
            + f"elapsed {r.elapsed:6.1f}s{lim}  cases {s.cases}{of} ({rate:,.0f}/s)  "
            f"divergences {v.get('divergence', 0)}  signatures {len(r.findings)}  "
            f"expected {v.get('expected', 0)}  unsupported {v.get('unsupported', 0)}  "
            f"engine failures {v.get('engine_failure', 0)}"
        )

    def _render(self) -> Any:
        from rich.text import Text

        return Text(self._line())

    def __enter__(self) -> _Display:
        if self.live is not None:
            self.live.__enter__()
        return self

    def update(self) -> None:
        if self.live is not None:
            self.live.update(self._render())
        elif time.monotonic() - self.last_plain >= 10.0:
            self.last_plain = time.monotonic()
            print(self._line(), file=sys.stderr, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(*exc)
        else:
            print(self._line(), file=sys.stderr, flush=True)


def run_campaign(cfg: CampaignConfig, progress: bool = True, resume_state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run a campaign to its budget (or Ctrl-C); returns the final summary dict."""
    if resume_state is None and (cfg.out / STATE_FILE).exists():
        cfg, resume_state = CampaignConfig.load_state(cfg.out)
    run = _Run(cfg, resume_state)
    print(
        f"promfuzz run {cfg.run_id}: {cfg.reference} vs {', '.join(cfg.targets)}, seed {cfg.seed}, "
        f"budget {cfg.budget}, {cfg.workers} worker(s), shard {cfg.shard[0]}/{cfg.shard[1]}; report in {cfg.out}/",
        file=sys.stderr,
        flush=True,
    )
    ctx = mp.get_context("spawn")
    events: Any = ctx.Queue()
    stop = ctx.Event()
    skip = frozenset(run.completed)
    deadline = None
    if cfg.budget.seconds is not None:
        deadline = time.monotonic() + max(0.0, cfg.budget.seconds - run.elapsed)
    procs = [
        ctx.Process(
            target=_worker_main, args=(cfg, w, skip, events, stop, deadline), name=f"promfuzz-worker-{w}", daemon=False
        )
        for w in range(cfg.workers)
    ]
    interrupts = 0
    down_window = target_down_stop_s()

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        stop.set()
        if interrupts == 1:
            print("\npromfuzz: stopping after the current datasets (Ctrl-C again to stop now)", file=sys.stderr)
        else:
            raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_sigint)
    old_term = signal.signal(signal.SIGTERM, on_sigint)
    alive = set(range(cfg.workers))
    errors: list[str] = []
    interrupted = False
    last_report = time.monotonic()
    last_sample = 0.0
    try:
        for p in procs:
            p.start()
        with _Display(run, progress) as display:
            while alive:
                try:
                    ev = events.get(timeout=0.25)
                except queue_mod.Empty:
                    ev = None
                if ev is not None:
                    if ev[0] == "exit":
                        alive.discard(ev[1])
                    elif ev[0] == "error":
                        errors.append(f"worker {ev[1]}: {ev[2]}")
                    else:
                        run.handle(ev)
                if cfg.budget.seconds is not None and run.elapsed >= cfg.budget.seconds:
                    stop.set()
                if run.stop_reason is None and (down := run.target_down(down_window)) is not None:
                    run.stop_reason = down
                    print(f"promfuzz: {down}", file=sys.stderr, flush=True)
                    stop.set()
                if not any(p.is_alive() for p in procs) and events.empty():
                    break
                now = time.monotonic()
                if now - last_sample >= 1.0:
                    last_sample = now
                    run.sample_throughput()
                    display.update()
                if now - last_report >= REPORT_EVERY_S:
                    last_report = now
                    run.write(complete=False, interrupted=False)
    except KeyboardInterrupt:
        interrupted = True
        for p in procs:
            if p.is_alive():
                p.terminate()
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
        # Drain what the workers sent before they exited.
        with contextlib.suppress(Exception):
            while True:
                ev = events.get_nowait()
                if ev[0] not in ("exit", "error"):
                    run.handle(ev)
                elif ev[0] == "error":
                    errors.append(f"worker {ev[1]}: {ev[2]}")
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
        interrupted = interrupted or interrupts > 0
        run.sample_throughput()
        summary = run.write(complete=not interrupted and not errors, interrupted=interrupted)
    for e in errors:
        print(f"promfuzz: {e}", file=sys.stderr)
    if errors and not run.stats.cases:
        raise ConfigError("every worker failed; see the messages above")
    _print_summary(summary, cfg.out)
    return summary


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    """The end-of-run lines: engine panics first (a crash must not drown in the list),
    then the counts, the known-difference rules (hits and distinct shapes each) and one
    line per bug (promfuzz/bugs/grouping.py; new bugs first), then how many other
    findings (unsupported queries, ungrouped kinds) there are."""
    c = summary["counts"]
    for p in summary.get("panics", []):
        print(f"PANIC in {p['engine']}: {p['message']} (x{p['occurrences']}): {p['query']}"
              + (f"  [{p['case_file']}]" if p.get("case_file") else ""), file=sys.stderr)
    print(
        f"\n{c['cases']} cases in {summary['wall_seconds']:.1f}s ({summary['cases_per_second']:.0f}/s), "
        f"verdicts {c['by_verdict']}, {summary['distinct_signatures']} distinct signature(s), "
        f"engine share {summary['engine_share'] * 100:.0f}%",
        file=sys.stderr,
    )
    if summary.get("left_out"):
        print(f"  left out of generation ({len(summary['left_out'])}, one side cannot parse or run them): "
              + ", ".join(summary["left_out"]), file=sys.stderr)
    if summary.get("explain", {}).get("labels"):
        print(f"  explain: {summary['explain']['labels']}", file=sys.stderr)
    for rid, r in summary.get("rules", {}).items():
        print(f"  rule {rid}: {r['hits']} hit(s) in {r['shapes']} shape(s)", file=sys.stderr)
    # Bugs, not signatures (those stay in summary.json): new ones first, with their counts.
    from promfuzz.bugs.grouping import format_bugs

    for line in format_bugs(summary.get("bugs", [])):
        print(line, file=sys.stderr)
    other = Counter(s["verdict"] for s in summary["signatures"] if not s.get("bug_id") and s["verdict"] != "expected")
    if other:
        print("  other findings: " + ", ".join(f"{n} {v}" for v, n in sorted(other.items())), file=sys.stderr)
    print(f"report: {out / 'index.html'}", file=sys.stderr)


__all__ = ["CampaignConfig", "run_campaign", "dataset_seed", "shard_indices", "plan_cases", "replace"]
