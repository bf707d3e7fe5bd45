"""The tee's background side: sampling, the bounded comparison queue, the capture queue,
the counters and the list of recent divergences.

The primary path (:mod:`promfuzz.tee.proxy`) only calls :meth:`TeeCore.offer` after it
has written the primary's answer to the client: a random draw, then ``put_nowait`` on a
bounded queue (full: the comparison is dropped and counted). Worker threads send the
request to the secondary, judge the two answers (:mod:`promfuzz.tee.judge`) and hand new
divergent queries to the single capture thread (:mod:`promfuzz.tee.reproduce`).
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promfuzz.tee.backend import Backend
from promfuzz.tee.judge import Answer, Judge, Judgement
from promfuzz.tee.metrics import TeeMetrics
from promfuzz.tee.request import ApiRequest

PASSED_HEADERS = ("authorization", "x-scope-orgid")
"""Client headers the secondary also gets (unless the environment sets credentials)."""


@dataclass
class TeeConfig:
    primary: str
    secondary: str
    primary_engine: str = "generic"
    secondary_engine: str = "generic"
    reference: str = "auto"
    corpus: Path | None = None
    sample: float = 0.1
    window_ms: int = 120_000
    queue_size: int = 1000
    workers: int = 2
    capture_queue: int = 16
    shrink_seconds: float = 30.0
    lookback_ms: int | None = None
    recent: int = 50
    seed: int | None = None
    env: Mapping[str, str] | None = None


@dataclass
class Job:
    req: ApiRequest
    primary: Answer
    encoding: str | None
    headers: tuple[tuple[str, str], ...] = ()
    done: threading.Event | None = None
    judgement: list[Judgement] = field(default_factory=list)


def in_process_spec(name: str) -> str | None:
    """The in-process engine spec for a user's engine name (None: none runs in-process)."""
    if not name or name == "generic":
        return None
    from promfuzz.engines.spec import parse_spec

    try:
        spec = parse_spec(name)
    except Exception:  # noqa: BLE001 - an unknown name simply has no in-process engine
        return None
    fam = spec.family_def
    if fam is None or fam.kind != "host":
        return None
    return spec.name


def reference_spec(cfg: TeeConfig) -> str | None:
    if cfg.reference != "auto":
        return in_process_spec(cfg.reference)
    p = in_process_spec(cfg.primary_engine)
    if p is not None:
        return p
    s = in_process_spec(cfg.secondary_engine)
    if s is None:
        return None
    from promfuzz.engines.registry import resolve_reference

    return resolve_reference("auto", s)


class TeeCore:
    def __init__(self, cfg: TeeConfig) -> None:
        if not 0.0 <= cfg.sample <= 1.0:
            from promfuzz.errors import ConfigError

            raise ConfigError(f"--sample must be between 0 and 1, got {cfg.sample}")
        self.cfg = cfg
        self.metrics = TeeMetrics()
        self.primary = Backend(cfg.primary, "primary", cfg.env)
        self.secondary = Backend(cfg.secondary, "secondary", cfg.env)
        self.judge = Judge(cfg.primary_engine, cfg.secondary_engine, cfg.window_ms)
        self._rng = random.Random(cfg.seed)
        self._rng_lock = threading.Lock()
        self.queue: queue.Queue[Job | None] = queue.Queue(maxsize=max(1, cfg.queue_size))
        self.captures: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=max(1, cfg.capture_queue))
        self.recent: deque[dict[str, Any]] = deque(maxlen=cfg.recent)
        self._recent_lock = threading.Lock()
        self._seen: set[str] = set()
        self._threads: list[threading.Thread] = []
        self.reproducer = None
        if cfg.corpus is not None:
            from promfuzz.tee.reproduce import ReproduceConfig, Reproducer

            self.reproducer = Reproducer(ReproduceConfig(
                corpus=cfg.corpus, reference=reference_spec(cfg), secondary=in_process_spec(cfg.secondary_engine),
                window_ms=cfg.window_ms, shrink_seconds=cfg.shrink_seconds, lookback_ms=cfg.lookback_ms))
        self._started = False

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        # Off the start path: a slow or unreachable backend must not delay serving.
        threading.Thread(target=self._learn_versions, name="tee-versions", daemon=True).start()
        for i in range(max(1, self.cfg.workers)):
            t = threading.Thread(target=self._worker, name=f"tee-compare-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        if self.reproducer is not None:
            t = threading.Thread(target=self._capturer, name="tee-capture", daemon=True)
            t.start()
            self._threads.append(t)

    def _learn_versions(self) -> None:
        """Backend versions (buildinfo) for known-difference rules with version ranges."""
        vs = {}
        for b, name in ((self.primary, self.judge.primary_engine), (self.secondary, self.judge.secondary_engine)):
            v = b.buildinfo_version()
            if v:
                vs[name] = v if v.startswith("v") else f"v{v}"
        self.judge.oracle.versions.update(vs)

    def stop(self, wait_s: float = 10.0) -> None:
        """Stop the workers after the queued work (bounded by ``wait_s``)."""
        deadline = time.monotonic() + wait_s
        for _ in range(max(1, self.cfg.workers)):
            try:
                self.queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                break
        if self.reproducer is not None:
            try:
                self.captures.put(None, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                pass
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self.reproducer is not None:
            self.reproducer.close()
        self.primary.close()
        self.secondary.close()

    # -- the primary path's one call ------------------------------------------------
    def sampled(self) -> bool:
        s = self.cfg.sample
        if s >= 1.0:
            return True
        if s <= 0.0:
            return False
        with self._rng_lock:
            return self._rng.random() < s

    def offer(self, req: ApiRequest, primary: Answer, encoding: str | None,
              client_headers: Sequence[tuple[str, str]] = ()) -> bool:
        """Queue a comparison of a query request already answered by the primary; False
        when it was not sampled or the queue was full (counted as dropped)."""
        if not self.sampled():
            return False
        headers = tuple((k, v) for k, v in client_headers if k.lower() in PASSED_HEADERS)
        try:
            self.queue.put_nowait(Job(req, primary, encoding, headers))
        except queue.Full:
            self.metrics.dropped.inc()
            return False
        self.metrics.queue_depth.set(self.queue.qsize())
        return True

    # -- workers ----------------------------------------------------------------------
    def compare(self, job: Job) -> Judgement:
        """Ask the secondary and judge (what a worker does with one job; replay-log calls it
        directly)."""
        parsed = self.judge.parse(job.req)
        if isinstance(parsed, str):
            j = Judgement("skipped", parsed)
        else:
            ans = self.secondary.post_form(job.req.path, job.req.pinned_form(), job.headers)
            if ans.error is not None:
                self.metrics.backend_errors.labels("secondary").inc()
            else:
                self.metrics.backend_latency.labels("secondary").observe(ans.seconds)
            j = self.judge.judge(job.req, job.primary, ans, primary_encoding=job.encoding)
        self.record(job.req, j)
        return j

    def record(self, req: ApiRequest, j: Judgement) -> None:
        self.metrics.comparisons.labels(j.result).inc()
        if j.result == "skipped":
            self.metrics.skipped.labels(_skip_reason(j.reason)).inc()
        if j.result != "divergence":
            return
        query = req.query or ""
        key = f"{req.kind}:{query}"
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(req.received_ms / 1000)),
                 "path": req.path, "query": query,
                 "params": j.params.to_json_obj() if j.params else None,
                 "reason": j.reason, "title": j.verdict.signature.title if j.verdict and j.verdict.signature else "",
                 "capture": "off" if self.reproducer is None else "queued"}
        with self._recent_lock:
            new = key not in self._seen
            if new and len(self._seen) < 100_000:
                self._seen.add(key)
            if not new:
                entry["capture"] = "seen before"
            self.recent.append(entry)
        if new and self.reproducer is not None and j.params is not None:
            try:
                self.captures.put_nowait((req, query, j.params, j, entry))
            except queue.Full:
                entry["capture"] = "dropped (capture queue full)"
                self.metrics.captures.labels("dropped").inc()

    def _worker(self) -> None:
        while True:
            job = self.queue.get()
            self.metrics.queue_depth.set(self.queue.qsize())
            if job is None:
                self.queue.task_done()
                return
            try:
                j = self.compare(job)
            except Exception as e:  # noqa: BLE001 - a comparison bug must not stop the tee
                self.metrics.comparisons.labels("error").inc()
                j = Judgement("error", f"{type(e).__name__}: {e}")
            finally:
                self.queue.task_done()
            if job.done is not None:
                job.judgement.append(j)
                job.done.set()

    def _capturer(self) -> None:
        assert self.reproducer is not None
        while True:
            item = self.captures.get()
            if item is None:
                return
            req, query, params, j, entry = item
            entry["capture"] = "running"
            out = self.reproducer.process(req, query, params, j, self.primary, self.secondary)
            self.metrics.captures.labels(out.get("outcome", "error")).inc()
            entry["capture"] = out.get("outcome", "error")
            entry["capture_detail"] = out

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Until both queues are empty and no capture runs (tests, replay-log)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._recent_lock:
                busy = any(e.get("capture") in ("queued", "running") for e in self.recent)
            if self.queue.unfinished_tasks == 0 and self.queue.empty() and self.captures.empty() and not busy:
                return True
            time.sleep(0.05)
        return False

    def recent_divergences(self) -> list[dict[str, Any]]:
        with self._recent_lock:
            return list(self.recent)


def _skip_reason(reason: str) -> str:
    if reason.startswith("promfuzz's parser rejects"):
        return "unparsed"
    if reason.startswith("every evaluation time"):
        return "window"
    if reason.startswith("bad parameters") or reason.startswith("no query"):
        return "bad_request"
    if reason.startswith("the primary"):
        return "primary_failed"
    return "not_comparable"
