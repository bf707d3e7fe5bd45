"""DifferentialOracle outcomes: unsupported, engine failure, match, expected, divergence."""

from __future__ import annotations

from oracle_helpers import err, vec

from promfuzz.model import Case, Dataset, EngineStats, EvalParams, Result
from promfuzz.oracles import DifferentialOracle, PerformanceConfig, PerformanceOracle

T = 60_000
CASE = Case(Dataset(), "sum(rate(x[5m]))", EvalParams.instant(T))
REF = vec(T, ({}, 1.0), engine="prometheus")


def test_unsupported_target_is_its_own_outcome() -> None:
    v = DifferentialOracle().check(CASE, REF, err("unsupported", "not supported by streaming engine",
                                                  outcome="unsupported", engine="mqe"))
    assert v.kind == "unsupported" and v.signature is not None and v.signature.category == "unsupported"
    assert v.signature.qualifier == "not supported by streaming engine"


def test_unsupported_signature_is_the_reason_not_the_query() -> None:
    def unsupported(query: str, msg: str) -> str:
        v = DifferentialOracle().check(Case(Dataset(), query, EvalParams.instant(T)), REF,
                                       err("unsupported", msg, outcome="unsupported", engine="mqe"))
        assert v.signature is not None
        return v.signature.key()

    a = unsupported("x >/ 1", "not supported by streaming engine: unknown binary operation: >/ (1:3)")
    b = unsupported("sum(rate(y[5m])) >/ 2", "not supported by streaming engine: unknown binary operation: >/")
    c = unsupported("x </ 1", "not supported by streaming engine: unknown binary operation: </")
    assert a == b != c


def test_unsupported_reference_is_not_applicable() -> None:
    v = DifferentialOracle().check(CASE, err("unsupported", "no", outcome="unsupported"), REF)
    assert v.kind == "not_applicable"


def test_crash_or_timeout_is_an_engine_failure_naming_the_side() -> None:
    crash = err("engine_panic", "runtime error: index out of range", outcome="engine_failure", engine="mqe")
    v = DifferentialOracle().check(CASE, REF, crash)
    # A panic is named by its message; its error classes say which side crashed.
    assert v.kind == "engine_failure" and v.signature is not None
    assert v.signature.qualifier == "panic: runtime error: index out of range"
    assert v.signature.error_classes == ("any", "engine_failure")
    hang = err("timeout", "query timed out", outcome="timeout", engine="prometheus")
    w = DifferentialOracle().check(CASE, hang, vec(T, ({}, 1.0), engine="mqe"))
    assert w.kind == "engine_failure" and w.signature is not None and w.signature.qualifier == "ref"


def test_equal_answers_match_and_different_ones_diverge() -> None:
    assert DifferentialOracle().check(CASE, REF, vec(T, ({}, 1.0), engine="mqe")).kind == "match"
    v = DifferentialOracle().check(CASE, REF, vec(T, ({}, 1.5), engine="mqe"))
    assert v.kind == "divergence" and v.is_problem
    assert v.signature is not None and v.signature.category == "value" and v.signature.target == "mqe"
    assert "1.5" in v.detail and v.differences


def test_execution_error_vs_answer_is_a_divergence() -> None:
    v = DifferentialOracle().check(CASE, REF, err("execution", "boom", engine="mqe"))
    assert v.kind == "divergence" and v.signature is not None
    assert v.signature.category == "error_vs_result" and v.signature.error_classes == ("ok", "execution")


def test_nested_topk_divergence_is_qualified_tie_sensitive() -> None:
    case = Case(Dataset(), "sum by (i) (topk(1, x))", EvalParams.instant(T))
    v = DifferentialOracle().check(case, vec(T, ({"i": "a"}, 1.0)), vec(T, ({"i": "b"}, 1.0)))
    assert v.kind == "divergence" and v.signature is not None and v.signature.qualifier == "tie_sensitive"


# --------------------------------------------------------------------------- performance

def timed(engine_ns: int, peak: int = 0, engine: str = "e") -> Result:
    return Result(engine, "ok", "vector", stats=EngineStats(wall_ns=engine_ns + 1000, engine_ns=engine_ns,
                                                            peak_bytes=peak))


def test_performance_oracle_is_off_by_default() -> None:
    assert PerformanceOracle().check(CASE, timed(1_000_000), timed(10_000_000_000)).kind == "not_applicable"


def test_performance_flags_a_slow_target_above_the_floor_only() -> None:
    on = PerformanceOracle(PerformanceConfig(enabled=True, max_time_ratio=5, min_time_ns=50_000_000))
    v = on.check(CASE, timed(20_000_000), timed(200_000_000, engine="mqe"))
    assert v.kind == "performance" and v.signature is not None and v.signature.category == "slow"
    assert on.check(CASE, timed(20_000_000), timed(90_000_000)).kind == "match"  # 4.5x
    assert on.check(CASE, timed(1_000), timed(40_000_000)).kind == "match"  # 40000x but under 50 ms
    assert on.check(CASE, REF, err("execution", "x")).kind == "not_applicable"


def test_performance_flags_memory() -> None:
    on = PerformanceOracle(PerformanceConfig(enabled=True, min_memory_bytes=1 << 20))
    v = on.check(CASE, timed(10, peak=1 << 20), timed(10, peak=64 << 20))
    assert v.kind == "performance" and v.signature is not None and v.signature.category == "memory"
    assert on.check(CASE, timed(10, peak=1 << 20), timed(10, peak=2 << 20)).kind == "match"
