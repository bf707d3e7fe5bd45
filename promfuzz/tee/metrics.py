"""The tee's own Prometheus metrics (``prometheus_client``, one registry per tee, so two
tees in one process, as in the tests, never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

RESULTS = ("match", "divergence", "expected", "skipped", "error")

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class TeeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("promfuzz_tee_requests", "Requests the tee received, by API path.",
                                ["path"], registry=r)
        self.comparisons = Counter("promfuzz_tee_comparisons",
                                   "Sampled comparisons by result: match, divergence, expected (a known "
                                   "difference), skipped (not comparable: unparsed query, all samples "
                                   "inside the window, ...), error (the secondary failed to answer).",
                                   ["result"], registry=r)
        for res in RESULTS:
            self.comparisons.labels(res)
        self.skipped = Counter("promfuzz_tee_skipped", "Comparisons skipped, by reason.", ["reason"], registry=r)
        self.dropped = Counter("promfuzz_tee_dropped", "Sampled comparisons dropped because the queue was full.",
                               registry=r)
        self.captures = Counter("promfuzz_tee_captures",
                                "Divergences captured into datasets, by outcome: reproduced (stored in "
                                "the corpus), data_difference, unreproduced, error, dropped.",
                                ["outcome"], registry=r)
        self.backend_latency = Histogram("promfuzz_tee_backend_request_duration_seconds",
                                         "Time to a backend's full answer, by backend.", ["backend"],
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.backend_errors = Counter("promfuzz_tee_backend_errors",
                                      "Backend requests that got no HTTP answer (down, refused, timed out).",
                                      ["backend"], registry=r)
        self.added_latency = Histogram("promfuzz_tee_added_latency_seconds",
                                       "Time the tee adds to a request on top of the primary's answer.",
                                       buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05),
                                       registry=r)
        self.queue_depth = Gauge("promfuzz_tee_queue_depth", "Comparisons waiting in the queue.", registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (tests and the status page)."""
        v = self.registry.get_sample_value(name, labels or None)
        return float(v) if v is not None else 0.0
