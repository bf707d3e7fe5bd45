"""One error message is one bug: error signatures ignore the rest of the query."""

import pytest

from promfuzz.model import Case, Dataset, EvalParams, Result
from promfuzz.oracles import DifferentialOracle

DS = Dataset()
P = EvalParams.instant(60_000)


def _ok(engine: str) -> Result:
    return Result(engine=engine, outcome="ok", value_type="vector")


def _err(engine: str, msg: str, kind: str = "bad_data") -> Result:
    return Result.failure(engine, "error", kind, msg)


def _key(query: str, ref: Result, tgt: Result) -> str:
    v = DifferentialOracle().check(Case(DS, query, P), ref, tgt)
    assert v.kind == "divergence"
    assert v.signature is not None
    return v.signature.key()


def test_same_error_message_in_different_queries_gives_one_signature() -> None:
    a = _key("min_of(1, 2)", _ok("prometheus"), _err("mqe", '1:1: parse error: unknown function with name "min_of"'))
    b = _key(
        "sum by (job) (rate(foo[5m])) + min_of(3, 4)",
        _ok("prometheus"),
        _err("mqe", '1:31: parse error: unknown function with name "min_of"'),
    )
    assert a == b


def test_different_error_messages_give_different_signatures() -> None:
    a = _key("min_of(1, 2)", _ok("prometheus"), _err("mqe", 'parse error: unknown function with name "min_of"'))
    b = _key("max_of(1, 2)", _ok("prometheus"), _err("mqe", 'parse error: unknown function with name "max_of"'))
    assert a != b


def test_label_sets_and_numbers_in_messages_do_not_split_signatures() -> None:
    m1 = 'found duplicate series for the match group {a="1"} on the left side'
    m2 = 'found duplicate series for the match group {a="2", b="x"} on the left side'
    a = _key("x * y", _ok("prometheus"), _err("mqe", m1, "execution"))
    b = _key("x / on(a) y", _ok("prometheus"), _err("mqe", m2, "execution"))
    assert a == b


def test_which_side_failed_is_part_of_the_signature() -> None:
    msg = "vector cannot contain metrics with the same labelset"
    a = _key("x", _err("prometheus", msg, "execution"), _ok("mqe"))
    b = _key("x", _ok("prometheus"), _err("mqe", msg, "execution"))
    assert a != b


def test_unquoted_function_names_in_messages_do_not_split_signatures() -> None:
    def msgs(fn: str) -> tuple[Result, Result]:
        text = f"smoothed modifier can only be used with: delta, increase, rate - not with {fn}"
        return _err("prometheus", text, "execution"), _err("mqe", f'invalid parameter "query": {text}', "bad_data")

    a = _key("max_over_time(x[1m] smoothed)", *msgs("max_over_time"))
    b = _key("deriv(y[5m] smoothed)", *msgs("deriv"))
    assert a == b


def _ann(engine: str, warnings: tuple[str, ...] = (), infos: tuple[str, ...] = ()) -> Result:
    return Result(engine=engine, outcome="ok", value_type="vector", warnings=warnings, infos=infos)


def test_annotation_only_differences_group_by_annotation_kind_not_query() -> None:
    w1 = ("PromQL warning: quantile value should be between 0 and 1, got -16 (1:102)",)
    w2 = ("PromQL warning: quantile value should be between 0 and 1, got 60 (1:9)",)
    a = _key("histogram_quantile(-16, x) * y", _ann("prometheus", w1), _ann("mqe"))
    b = _key("sum(quantile(60, z))", _ann("prometheus", w2), _ann("mqe"))
    assert a == b
    i1 = ("PromQL info: ignored histogram in topk aggregation (1:1)",)
    c = _key("topk(1, h)", _ann("prometheus", infos=i1), _ann("mqe"))
    assert c != a
    d = _key("topk(1, h)", _ann("prometheus"), _ann("mqe", infos=i1))  # gained instead of lost
    assert d != c


# ----------------------------------------------------------------------------- unsupported
# Issue #12, item 13: Thanos prints the refused expression into its reason, so a 60 s
# thanos campaign gave 1,881 distinct "unsupported" findings. Reasons group by construct.


def _unsupported(engine: str, msg: str) -> Result:
    return Result.failure(engine, "unsupported", "unsupported", msg)


def _unsupported_sig(query: str, msg: str, ref: Result | None = None) -> tuple[str, str]:
    v = DifferentialOracle().check(Case(DS, query, P), ref or _ok("thanos-prometheus"), _unsupported("thanos", msg))
    assert v.kind == "unsupported" and v.signature is not None
    return v.signature.key(), v.signature.qualifier


AUDIT_SUBQUERY = ("got: ceil(-0 atan2 -94 < up_total)[1m:10s] @ 3540.001 (*logicalplan.Subquery): "
                  "unsupported expression")


def test_thanos_reasons_group_by_the_construct_not_the_query_text() -> None:
    # Messages as the real promql-engine host gives them (collected from a thanos campaign).
    sub_a = _unsupported_sig("ceil(-0 atan2 -94 < up_total)[1m:10s] @ 3540.001", AUDIT_SUBQUERY)
    sub_b = _unsupported_sig(
        'absent(stdvar({method!~"x.*",method="x y"}))[1h:10s]',
        'got: absent(stdvar({method!~"x.*",method="x y"}))[1h:10s] (*logicalplan.Subquery): unsupported expression')
    mat_a = _unsupported_sig('node_cpu_seconds_sum{le="1"}[1m30s]',
                             'got: node_cpu_seconds_sum{le="1"}[1m30s] (*logicalplan.MatrixSelector): unsupported expression')
    mat_b = _unsupported_sig("up_total[1m30s] offset -5m",
                             "got: up_total[1m30s] offset -5m (*logicalplan.MatrixSelector): unsupported expression")
    string = _unsupported_sig('"foo"', 'got: "foo" (*logicalplan.StringLiteral): unsupported expression')
    info = _unsupported_sig("info(up_total)", "unknown function: info: expression not implemented")
    assert sub_a == sub_b
    assert mat_a == mat_b
    assert len({sub_a, mat_a, string, info}) == 4
    assert sub_a[1] == "unsupported expression: *logicalplan.Subquery"
    assert mat_a[1] == "unsupported expression: *logicalplan.MatrixSelector"
    assert info[1] == "unknown function: info: expression not implemented"


def test_thanos_untyped_reasons_keep_the_outermost_function() -> None:
    a = _unsupported_sig("x", "got histogram_quantile(0.9, rate(x[5m])):: expression not implemented")
    b = _unsupported_sig("y", 'got histogram_quantile(0.5, y{a="1"}):: expression not implemented')
    c = _unsupported_sig("z", "got sum(rate(z[5m])):: expression not implemented")
    assert a == b and a != c
    assert a[1] == "expression not implemented: fn histogram_quantile"


def test_the_references_outcome_does_not_split_an_unsupported_reason() -> None:
    # MQE's 'fill' gap was two findings: one where the reference answered, one where it failed.
    msg = "not supported by streaming engine: 'fill' modifier"
    ok = DifferentialOracle().check(Case(DS, "a + fill(0) b", P), _ok("prometheus"), _unsupported("mqe", msg))
    failed = DifferentialOracle().check(Case(DS, "a + fill(1) b", P), _err("prometheus", "boom", "execution"),
                                        _unsupported("mqe", msg))
    assert ok.signature is not None and failed.signature is not None
    assert ok.signature.key() == failed.signature.key()
    assert ok.signature.qualifier == "'fill' modifier"


# ----------------------------------------------------------------------------- panics
# The crash the unsupported noise hid: promql-engine recovers the nil pointer dereference
# of double_exponential_smoothing(nothing[1m30s], 0.5, -0.1) and answers an execution
# error "unexpected error: runtime error: ..." where Prometheus answers an empty vector.

DES = "double_exponential_smoothing(nothing[1m30s], 0.5, -0.1)"
NIL = "unexpected error: runtime error: invalid memory address or nil pointer dereference"


def test_a_recovered_runtime_error_is_an_engine_failure_with_a_panic_signature() -> None:
    v = DifferentialOracle().check(Case(DS, DES, P), _ok("thanos-prometheus"), _err("thanos", NIL, "execution"))
    assert v.kind == "engine_failure"
    assert v.signature is not None
    assert v.signature.qualifier == "panic: runtime error: invalid memory address or nil pointer dereference"
    assert v.signature.panic == "runtime error: invalid memory address or nil pointer dereference"
    assert v.signature.error_classes == ("any", "engine_failure")
    assert v.is_problem
    # Whether the reference answered or rejected the query, it is the same crash (seen in
    # a thanos campaign: sf = 0 makes Prometheus fail where a series exists).
    ref_failed = DifferentialOracle().check(Case(DS, DES, P), _err("thanos-prometheus", "invalid smoothing factor",
                                                                  "execution"), _err("thanos", NIL, "execution"))
    assert ref_failed.signature is not None and ref_failed.signature.key() == v.signature.key()
    # promql-engine's concurrent operators (binary operators, exchanges) recover the same
    # crash as "unexpected panic: ...": the same bug, the same signature.
    wrapped = DifferentialOracle().check(Case(DS, DES, P), _ok("thanos-prometheus"),
                                         _err("thanos", NIL.replace("unexpected error", "unexpected panic"), "execution"))
    assert wrapped.signature is not None and wrapped.signature.key() == v.signature.key()
    odd = DifferentialOracle().check(Case(DS, DES, P), _ok("thanos-prometheus"),
                                     _err("thanos", "unexpected panic: panic!", "execution"))
    assert odd.kind == "engine_failure" and odd.signature is not None and odd.signature.panic == "panic!"
    # An ordinary execution error is still an ordinary error, not a panic.
    plain = DifferentialOracle().check(Case(DS, DES, P), _ok("thanos-prometheus"),
                                       _err("thanos", "invalid smoothing factor", "execution"))
    assert plain.kind == "divergence" and plain.signature is not None and plain.signature.panic is None


def test_host_recovered_panics_group_by_message_without_stack_or_numbers() -> None:
    def host_panic(i: int) -> Result:
        stack = f"goroutine {i} [running]:\nruntime/debug.Stack()\n\t/usr/lib/go/src/runtime/debug/stack.go:26 +0x{i:x}e"
        return Result.failure("mqe", "engine_failure", "engine_panic",
                              f"panic: runtime error: index out of range [{i}] with length {i - 1}\n{stack}")

    a = DifferentialOracle().check(Case(DS, "sum(x)", P), _ok("prometheus"), host_panic(5))
    b = DifferentialOracle().check(Case(DS, "sum(y)", P), _ok("prometheus"), host_panic(17))
    assert a.kind == b.kind == "engine_failure"
    assert a.signature is not None and b.signature is not None
    assert a.signature.key() == b.signature.key()
    assert a.signature.qualifier == "panic: runtime error: index out of range [N] with length N"


def test_a_host_that_died_of_a_panic_names_the_panic() -> None:
    msg = ("thanos-host host crashed (exit 2) during /api/v1/batch: ConnectionError. stderr tail:\n"
           "panic: assignment to entry in nil map\n\ngoroutine 81 [running]:\nmain.main()")
    v = DifferentialOracle().check(Case(DS, "x", P), _ok("thanos-prometheus"),
                                   Result.failure("thanos", "engine_failure", "engine_crash", msg))
    assert v.kind == "engine_failure" and v.signature is not None
    assert v.signature.qualifier == "panic: assignment to entry in nil map"
    # A crash without a panic line stays a plain engine failure.
    killed = DifferentialOracle().check(Case(DS, "x", P), _ok("thanos-prometheus"), Result.failure(
        "thanos", "engine_failure", "engine_crash", "thanos-host host crashed (killed by signal 9)"))
    assert killed.kind == "engine_failure" and killed.signature is not None and killed.signature.panic is None


def test_a_panic_in_the_reference_is_a_panic_too() -> None:
    v = DifferentialOracle().check(Case(DS, DES, P), _err("prometheus", NIL, "execution"), _ok("mqe"))
    assert v.kind == "engine_failure" and v.signature is not None
    assert v.signature.error_classes == ("engine_failure", "any")
    assert v.signature.panic is not None


# ----------------------------------------------------------------------------- real hosts


def _need(binary: str) -> None:
    from promfuzz.engines.registry import default_build_dir

    if not (default_build_dir() / binary).is_file():
        pytest.skip(f"{binary} is not built (run `make hosts`)")


@pytest.mark.hosts
def test_the_real_thanos_panic_and_reasons_through_the_registry() -> None:
    _need("thanos-host")
    from promfuzz.engines.registry import EngineRegistry

    ds = Dataset.build([({"__name__": "up_total", "job": "a"}, [(t * 15_000, float(t)) for t in range(40)])])
    params = EvalParams.instant(300_000)
    with EngineRegistry() as reg:
        thanos, ref = reg.open("thanos"), reg.open("thanos-prometheus")
        for e in (thanos, ref):
            e.load(ds)
        oracle = DifferentialOracle()

        def judge(q: str):  # type: ignore[no-untyped-def]
            return oracle.check(Case(ds, q, params), ref.query(q, params), thanos.query(q, params))

        panic = judge(DES)
        assert panic.kind == "engine_failure", panic
        assert panic.signature is not None
        assert panic.signature.qualifier == "panic: runtime error: invalid memory address or nil pointer dereference"
        reasons = {q: judge(q) for q in ("up_total[5m]", 'up_total{job="a"}[1m] offset 1m',
                                         "sum(up_total)[5m:1m]", "ceil(-0 atan2 -94 < up_total)[1m:10s]")}
        assert all(v.kind == "unsupported" for v in reasons.values()), reasons
        quals = {q: v.signature.qualifier for q, v in reasons.items() if v.signature is not None}
        assert len(set(quals.values())) == 2, quals
        assert quals["up_total[5m]"] == "unsupported expression: *logicalplan.MatrixSelector"
        assert quals["sum(up_total)[5m:1m]"] == "unsupported expression: *logicalplan.Subquery"


def test_every_error_the_comparator_calls_a_crash_gets_a_panic_signature() -> None:
    from promfuzz.oracles.compare import error_class

    for msg, want in [
        ("unexpected error: boom", "panic: boom"),
        ("thanos-host host crashed (exit 2) during /api/v1/batch: ConnectionError. stderr tail:\n"
         "fatal error: concurrent map writes\n\ngoroutine 7 [running]:", "panic: fatal error: concurrent map writes"),
    ]:
        tgt = _err("thanos", msg, "execution")
        assert error_class(tgt) == "engine_failure", msg
        v = DifferentialOracle().check(Case(DS, "x", P), _ok("thanos-prometheus"), tgt)
        assert v.kind == "engine_failure" and v.signature is not None
        assert v.signature.qualifier == want
