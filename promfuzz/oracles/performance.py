"""Performance oracle: the target must not be far slower or hungrier than the reference.

Property: for one query, the target's time (``engine_ns`` when both engines report it,
else ``wall_ns``) is at most ``max_time_ratio`` times the reference's, and its memory
(``peak_bytes`` when both report it, and ``alloc_bytes``) at most ``max_memory_ratio``
times the reference's. Differences below absolute floors (``min_time_ns``,
``min_memory_bytes`` of the *target's* figure) are ignored, so microsecond noise and
tiny allocations never fire.

Off by default (the campaign enables it): timings on a shared machine are noisy, so a
hit is a lead to re-measure, not a verdict on correctness. Does not apply
(``not_applicable``) when either side failed or reported no figures to compare.
"""

from __future__ import annotations

from dataclasses import dataclass

from promfuzz.errors import ConfigError
from promfuzz.model import Case, Result
from promfuzz.oracles._query import query_features
from promfuzz.oracles.verdict import Signature, Verdict, signature_features

ORACLE = "performance"


@dataclass(frozen=True)
class PerformanceConfig:
    enabled: bool = False
    max_time_ratio: float = 10.0
    max_memory_ratio: float = 10.0
    min_time_ns: int = 50_000_000  # 50 ms: below that, nobody cares and noise dominates
    min_memory_bytes: int = 64 << 20  # 64 MiB

    def __post_init__(self) -> None:
        if self.max_time_ratio <= 1 or self.max_memory_ratio <= 1:
            raise ConfigError("performance ratios must be > 1")
        if self.min_time_ns < 0 or self.min_memory_bytes < 0:
            raise ConfigError("performance floors must be >= 0")


class PerformanceOracle:
    name = ORACLE

    def __init__(self, config: PerformanceConfig | None = None) -> None:
        self.config = config or PerformanceConfig()

    def check(self, case: Case, ref: Result, tgt: Result) -> Verdict:
        cfg = self.config
        if not cfg.enabled:
            return Verdict.not_applicable(ORACLE, "the performance oracle is off")
        if not (ref.ok and tgt.ok):
            return Verdict.not_applicable(ORACLE, "an engine failed: no timing to compare")
        rs, ts = ref.stats, tgt.stats
        hits: list[tuple[str, int, int, float]] = []
        compared = False
        if rs.engine_ns > 0 and ts.engine_ns > 0:
            time_metric, rt, tt = "engine_ns", rs.engine_ns, ts.engine_ns
        else:
            time_metric, rt, tt = "wall_ns", rs.wall_ns, ts.wall_ns
        if rt > 0 and tt > 0:
            compared = True
            if tt >= cfg.min_time_ns and tt > cfg.max_time_ratio * rt:
                hits.append((time_metric, rt, tt, tt / rt))
        for metric in ("peak_bytes", "alloc_bytes"):
            rv, tv = getattr(rs, metric), getattr(ts, metric)
            if rv > 0 and tv > 0:
                compared = True
                if tv >= cfg.min_memory_bytes and tv > cfg.max_memory_ratio * rv:
                    hits.append((metric, rv, tv, tv / rv))
        if not compared:
            return Verdict.not_applicable(ORACLE, "no figures reported by both engines")
        if not hits:
            return Verdict.match(ORACLE)
        category = "slow" if hits[0][0].endswith("_ns") else "memory"
        lines = [f"{m}: reference {r:,} vs target {t:,} ({ratio:.1f}x)" for m, r, t, ratio in hits]
        return Verdict(
            "performance", ORACLE,
            signature=Signature(ORACLE, category, signature_features(query_features(case.query)),
                                ("ok", "ok"), tgt.engine, ",".join(sorted({h[0] for h in hits}))),
            reason="; ".join(lines), detail=f"{case.query}\n" + "\n".join(lines),
            data={"ratios": {m: ratio for m, _, _, ratio in hits}},
        )
