"""Range vs instants: a range query's answer equals the instant queries at each of its
steps, stitched together (the range query is nothing but the instant evaluation
repeated).

At most ``max_steps`` steps are checked (default 32: the first, the last, and evenly
spaced ones between), so long ranges stay cheap; the range answer is restricted to the
same steps before comparing.

Does not apply (``not_applicable``) to: instant cases (see ``instant_vs_range``);
queries our parser refuses; string or range-vector queries (a range query refuses them);
queries using ``start()``/``end()``/``range()``/``step()``/``@ start()``/``@ end()``
(their value depends on the range); and when the range query fails with an execution
error at a step that was not sampled (nothing can be concluded). Order is not compared
(range answers have none); annotations are not compared (a range query reports each
once, instant queries once per step).
"""

from __future__ import annotations

from dataclasses import replace

from promfuzz.model import Case, EvalParams, Result, ResultSeries
from promfuzz.oracles._metamorphic import (
    METAMORPHIC_CONFIG,
    RANGE_DEPENDENT,
    QueryEngine,
    compare,
    comparison_verdict,
    failure_verdict,
    merge_vectors,
    parse_case_query,
    run,
)
from promfuzz.oracles.compare import ComparisonConfig, Difference, error_class
from promfuzz.oracles.verdict import Signature, Verdict, signature_features

ORACLE = "range_vs_instants"


def sample_steps(params: EvalParams, max_steps: int) -> list[int]:
    """The step times to check: all of them, or ``max_steps`` spread evenly incl. both ends."""
    n = params.steps()
    if n <= max_steps:
        idx = list(range(n))
    else:
        idx = sorted({round(i * (n - 1) / (max_steps - 1)) for i in range(max_steps)})
    return [params.start_ms + i * params.step_ms for i in idx]


def _restrict(r: Result, times: set[int]) -> Result:
    if not r.ok:
        return r
    series = []
    for s in r.series:
        pts = tuple(p for p in s.points if p.t in times)
        if pts:
            series.append(ResultSeries(s.labels, pts))
    return replace(r, series=tuple(series))


class RangeVsInstantsOracle:
    name = ORACLE

    def __init__(self, config: ComparisonConfig = METAMORPHIC_CONFIG, max_steps: int = 32) -> None:
        if max_steps < 2:
            raise ValueError("max_steps must be >= 2")
        self.config = config
        self.max_steps = max_steps

    def applies(self, case: Case) -> str | None:
        if not case.params.is_range:
            return "an instant case (instant_vs_range covers those)"
        p = parse_case_query(case.query)
        if isinstance(p, str):
            return p
        if p.value_type not in ("vector", "scalar"):
            return f"a {p.value_type} query cannot be a range query"
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
        times = sample_steps(case.params, self.max_steps)
        items = [(case.query, case.params)] + [(case.query, EvalParams.instant(t)) for t in times]
        results = run(engine, case, items)
        failed = failure_verdict(ORACLE, parsed.features, engine.name, results)
        if failed is not None:
            return failed
        ranged, instants = results[0], results[1:]
        inst_classes = {k for r in instants if (k := error_class(r)) is not None}
        if not ranged.ok or inst_classes:
            rc = error_class(ranged)
            if rc is not None and rc in inst_classes:
                return Verdict.match(ORACLE)
            if rc == "execution" and not inst_classes and len(times) < case.params.steps():
                return Verdict.not_applicable(ORACLE, "the range query failed, possibly at an unsampled step")
            bad = next((t for t, r in zip(times, instants, strict=True) if not r.ok), None)
            d = Difference("error_vs_result",
                           f"range query gave {rc or 'an answer'}; instant queries gave "
                           f"{', '.join(sorted(inst_classes)) or 'answers'}"
                           + (f" (first failing step {bad})" if bad is not None else ""),
                           detail=f"{rc or 'ok'}->{'/'.join(sorted(inst_classes)) or 'ok'}")
            sig = Signature(ORACLE, "error_vs_result", signature_features(parsed.features),
                            (rc or "ok", "/".join(sorted(inst_classes)) or "ok"), engine.name)
            return Verdict("divergence", ORACLE, differences=(d,), signature=sig, detail=d.message)
        stitched = merge_vectors(instants, engine.name)
        c = compare(case.query, case.params, _restrict(ranged, set(times)), stitched, self.config)
        return comparison_verdict(ORACLE, parsed.features, engine.name, c,
                                  f"range {case.params.start_ms}..{case.params.end_ms} step "
                                  f"{case.params.step_ms} vs {len(times)} instant queries: {case.query}")
