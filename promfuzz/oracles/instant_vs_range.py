"""Instant vs range: an instant query at ``t`` equals the middle point of the range query
from ``t - 1m`` to ``t + 1m`` with step ``1m`` (one of the checks Prometheus's own test
harness runs on every instant eval).

Does not apply (``not_applicable``) to: range cases (see ``range_vs_instants``); queries
our parser refuses; string or range-vector queries (a range query refuses them); ordered
results (top-level ``sort*``: a range query has no order); queries using
``start()``/``end()``/``range()``/``step()`` or ``@ start()``/``@ end()`` (their value
depends on the range); and when only the range query fails with an execution error (the
error may come from another step, so nothing can be concluded).

Scalars are compared as a one-series vector without labels; annotations are not compared
(the range query collects those of all three steps).
"""

from __future__ import annotations

from promfuzz.model import Case, EvalParams
from promfuzz.oracles._metamorphic import (
    METAMORPHIC_CONFIG,
    ORDERING,
    RANGE_DEPENDENT,
    QueryEngine,
    as_series,
    compare,
    comparison_verdict,
    failure_verdict,
    parse_case_query,
    run,
    top_call_name,
    vector_at,
)
from promfuzz.oracles.compare import ComparisonConfig, error_class
from promfuzz.oracles.verdict import Verdict

ORACLE = "instant_vs_range"


class InstantVsRangeOracle:
    name = ORACLE

    def __init__(self, config: ComparisonConfig = METAMORPHIC_CONFIG, half_width_ms: int = 60_000) -> None:
        self.config = config
        self.half_width_ms = half_width_ms

    def applies(self, case: Case) -> str | None:
        """None when the oracle applies, else the reason it does not."""
        if case.params.is_range:
            return "a range case (range_vs_instants covers those)"
        p = parse_case_query(case.query)
        if isinstance(p, str):
            return p
        if p.value_type not in ("vector", "scalar"):
            return f"a {p.value_type} query cannot be a range query"
        if top_call_name(p.expr) in ORDERING:
            return "an ordered result"
        used = p.features & RANGE_DEPENDENT
        if used:
            return f"uses {', '.join(sorted(used))}"
        return None

    def check(self, engine: QueryEngine, case: Case) -> Verdict:
        reason = self.applies(case)
        if reason is not None:
            return Verdict.not_applicable(ORACLE, reason)
        parsed = parse_case_query(case.query)
        assert not isinstance(parsed, str)
        t = case.params.time_ms
        rng = EvalParams.range(t - self.half_width_ms, t + self.half_width_ms, self.half_width_ms)
        results = run(engine, case, [(case.query, case.params), (case.query, rng)])
        inst, ranged = results
        failed = failure_verdict(ORACLE, parsed.features, engine.name, results)
        if failed is not None:
            return failed
        if inst.ok and error_class(ranged) == "execution":
            return Verdict.not_applicable(ORACLE, "the range query failed, possibly at another step")
        middle = vector_at(ranged, t) if ranged.ok else ranged
        c = compare(case.query, case.params, as_series(inst), middle, self.config)
        return comparison_verdict(ORACLE, parsed.features, engine.name, c,
                                  f"instant at {t} vs range {rng.start_ms}..{rng.end_ms} step {rng.step_ms}: "
                                  f"{case.query}")
