"""The audit of issue #12 (items 7-12): each example the audit found absorbed by a rule
is a divergence now, and the rule's own hit, on data, stays expected. No hosts needed:
the answers are the ones the engines gave (or that the audit fed in), the data is real."""

from __future__ import annotations

from oracle_helpers import err, vec

from promfuzz.corpus.promqltest import read_case
from promfuzz.model import Case, EvalParams, Histogram, Result
from promfuzz.oracles import DifferentialOracle, load_rules

T = 60_000
P = EvalParams.instant(T)
ORACLE = DifferentialOracle(rules=load_rules())
INFO = ('PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: '
        '"foo" (1:6)')


def data(load: str) -> Case:
    return read_case(load + "\neval instant at 1m x\n")


def judge(load: str, query: str, ref: Result, tgt: Result) -> tuple[str, tuple[str, ...]]:
    case = data(load)
    v = ORACLE.check(Case(case.dataset, query, P), ref, tgt)
    return v.kind, v.rules


FOO = 'load 30s\n  foo{a="1"} 1 2 3 4\n'

# --- 7: duplicate match errors ------------------------------------------------------------

DUP = 'load 30s\n  x{a="1",b="1"} 1 2 3\n  x{a="1",b="2"} 1 2 3\n  y{a="1"} 0 0 0\n  y{a="2"} 0 0 0\n'
MANY_TO_ONE = "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
MANY_TO_MANY = ('found duplicate series for the match group {} on the right hand-side of the operation: '
                '[{__name__="y", a="1"}, {__name__="y", a="2"}];many-to-many matching not allowed: '
                'matching labels must be unique on one side')


def test_7_many_to_one_conflict_with_arbitrary_series_is_a_divergence() -> None:
    """Audit: `x > on (a) y` with a real many-to-one conflict returning arbitrary series."""
    kind, _ = judge(DUP, "x > on (a) y", err("execution", MANY_TO_ONE, engine="prometheus"),
                    vec(T, ({"__name__": "x", "a": "1", "b": "1"}, 3.0), engine="mqe"))
    assert kind == "divergence"
    # ... and an empty answer is not enough either: the group a="1" has a partner
    kind, _ = judge(DUP, "x > on (a) y", err("execution", MANY_TO_ONE, engine="prometheus"), vec(T, engine="mqe"))
    assert kind == "divergence"


def test_7_many_to_many_error_is_expected_only_for_an_unmatched_group_and_an_empty_answer() -> None:
    ref = err("execution", MANY_TO_MANY, engine="prometheus")
    # y's duplicate group {} (on b) has no partner among x's groups {b="1"}, {b="2"}: MQE's answer
    assert judge(DUP, "x > on (b) y", ref, vec(T, engine="mqe")) == (
        "expected", ("mqe-skips-impossible-duplicate-match-errors",))
    # the same error but the target invents a series
    kind, _ = judge(DUP, "x > on (b) y", ref, vec(T, ({"b": "1"}, 1.0), engine="mqe"))
    assert kind == "divergence"
    # the same error where the duplicated group has a partner: z (no b label) is in group {}
    partnered = DUP + '  z 1 1 1\n'
    kind, _ = judge(partnered, "z > on (b) y", ref, vec(T, engine="mqe"))
    assert kind == "divergence"
    # the Thanos twin is gone (the pinned Thanos engine raises the error too)
    kind, _ = judge(DUP, "x > on (b) y", ref, vec(T, engine="thanos"))
    assert kind == "divergence"


# --- 8: missing annotations of empty binary operations -------------------------------------

def test_8_vector_scalar_comparison_losing_an_info_is_a_divergence() -> None:
    ref = vec(T, engine="prometheus", infos=[INFO])
    assert judge(FOO, "rate(foo[1m]) > 1e308", ref, vec(T, engine="mqe"))[0] == "divergence"
    assert judge(FOO, "limitk(0, rate(foo[1m])) * 2", ref, vec(T, engine="mqe"))[0] == "divergence"


def test_8_operation_with_a_common_match_group_losing_an_info_is_a_divergence() -> None:
    """Audit: (A / B) ^ -33.9 where MQE lost A / B's series; both sides share group a="1"."""
    load = 'load 30s\n  A{a="1"} 1 2 3 4\n  B{a="1"} 2 2 2 2\n'
    ref = vec(T, engine="prometheus", infos=[INFO.replace('"foo"', '"A"')])
    kind, _ = judge(load, "(rate(A[1m]) / B) ^ -33.9 > 1e308", ref, vec(T, engine="mqe"))
    assert kind == "divergence"


def test_8_the_documented_case_stays_expected() -> None:
    ref = vec(T, engine="prometheus", infos=[INFO])
    for q in ("rate(foo[1m]) * no_such", "no_such / on () group_right sum(rate(foo[1m]))"):
        kind, rules = judge(FOO, q, ref, vec(T, engine="mqe"))
        assert (kind, rules) == ("expected", ("mqe-binop-no-series-annotations",)), q
    # both sides have the group b="" (no b label): the operation has output, nothing skipped
    assert judge(FOO, "sum(rate(foo[1m]) * on (b) foo)", ref, vec(T, engine="mqe"))[0] == "divergence"
    disjoint = FOO + '  bar{a="2"} 1 1 1 1\n'
    kind, rules = judge(disjoint, "rate(foo[1m]) / on (a) bar", ref, vec(T, engine="mqe"))
    assert (kind, rules) == ("expected", ("mqe-binop-no-series-annotations",))


def test_8_dropping_one_of_several_annotations_of_a_kind_is_a_divergence() -> None:
    """bench oracle's annotations_drop: with both sides skipped MQE reads no samples, so
    it raises none of their annotations; keeping one "might not be a counter" while
    losing another means the sides were evaluated, and the loss is real."""
    load = FOO + '  bar{a="1"} 1 2 3 4\n'
    q = "(rate(foo[1m]) + rate(bar[1m])) * no_such"
    foo_info = INFO.replace("(1:6)", "(1:7)")
    bar_info = INFO.replace('"foo" (1:6)', '"bar" (1:23)')
    ref = vec(T, engine="prometheus", infos=[foo_info, bar_info])
    assert judge(load, q, ref, vec(T, engine="mqe", infos=[foo_info]))[0] == "divergence"
    assert judge(load, q, ref, vec(T, engine="mqe", infos=[bar_info]))[0] == "divergence"
    # ... while losing both is the documented skip
    assert judge(load, q, ref, vec(T, engine="mqe")) == ("expected", ("mqe-binop-no-series-annotations",))


def test_8_a_missing_annotation_must_come_from_a_skipped_side() -> None:
    """The annotation's position places it: outside the skipped sides' text (or without a
    position, so it cannot be placed) its loss is not explained."""
    for info in (INFO.replace("(1:6)", "(1:40)"), INFO.replace(" (1:6)", ""), INFO.replace("(1:6)", "(2:1)")):
        ref = vec(T, engine="prometheus", infos=[info])
        assert judge(FOO, "rate(foo[1m]) * no_such", ref, vec(T, engine="mqe"))[0] == "divergence", info


def test_8_a_nested_operation_without_series_makes_the_outer_one_skip_its_sides() -> None:
    """`({code="1"} / rate(foo[1m])) < bar`: the inner operation has no series (its left
    side matches nothing), so MQE's outer one reads neither side's samples and rate()'s
    info is not raised (the pytest plugin's documented example found it). Not absorbed when
    the inner operation does have series, or when the info is kept for another series."""
    load = FOO + '  bar{a="1"} 1 1 1 1\n'
    q = '({code="1"} / rate(foo[1m])) < bar'
    info = INFO.replace("(1:6)", "(1:21)")
    ref = vec(T, engine="prometheus", infos=[info])
    assert judge(load, q, ref, vec(T, engine="mqe")) == ("expected", ("mqe-binop-no-series-annotations",))
    # the inner operation has series: a={"1"} on both sides, so nothing is skipped
    q2 = "(bar / rate(foo[1m])) < bar"
    assert judge(load, q2, vec(T, engine="prometheus", infos=[INFO.replace("(1:6)", "(1:14)")]),
                 vec(T, engine="mqe"))[0] == "divergence"


# --- 9: errors of an unevaluated side -------------------------------------------------------

X = 'load 30s\n  x{a="1"} 1 2 3\n  y{a="1"} 1 2 3\n'


def test_9_no_skippable_side_means_a_divergence() -> None:
    ref = err("execution", "invalid destination label name in label_replace(): 1bad", engine="prometheus")
    assert judge(X, 'label_replace(x, "1bad", "$1", "a", "(.*)") * 2', ref, vec(T, engine="mqe"))[0] == "divergence"
    same = err("execution", "vector cannot contain metrics with the same labelset", engine="prometheus")
    assert judge(X, 'abs({__name__=~"x|y"}) + 1', same, vec(T, engine="mqe"))[0] == "divergence"


def test_9_the_error_must_come_from_the_skipped_side() -> None:
    over = err("execution", "Scalar value 1e+300 overflows int64", engine="prometheus")
    empty = vec(T, engine="mqe")
    assert judge(X, "no_such == bottomk(1e300, x)", over, empty) == (
        "expected", ("mqe-skips-errors-of-unevaluated-binop-side",))
    # the empty side is evaluated second: the failing side is evaluated (MQE reports the error)
    assert judge(X, "bottomk(1e300, x) == no_such", over, empty)[0] == "divergence"
    # the first side has series in the data: nothing is skipped
    assert judge(X, "y == bottomk(1e300, x)", over, empty)[0] == "divergence"
    # the skipped side has no bottomk/topk/limitk: the overflow came from elsewhere
    assert judge(X, "no_such == label_replace(x, \"b\", \"$1\", \"a\", \"(.*)\")", over, empty)[0] == "divergence"
    # group_left: the right ("one") side is evaluated first
    assert judge(X, "bottomk(1e300, x) + on (a) group_left no_such", over, empty)[0] == "expected"
    assert judge(X, "no_such + on (a) group_left bottomk(1e300, x)", over, empty)[0] == "divergence"


# --- 10: Thanos's older parser ------------------------------------------------------------

def test_10_a_parse_error_about_old_syntax_in_a_newer_query_is_a_divergence() -> None:
    ok = vec(T, ({"a": "1"}, 1.0), engine="prometheus")
    unrelated = 'invalid parameter "query": 1:23: parse error: unknown function with name "rate"'
    assert judge(X, "min_of(1, 2) + scalar(rate(x[1m]))", ok, err("bad_data", unrelated, engine="thanos"))[0] == (
        "divergence")
    paren = 'invalid parameter "query": 1:5: parse error: unexpected "("'
    assert judge(X, "rate(x[1m]) - start()", ok, err("bad_data", paren, engine="thanos"))[0] == "divergence"
    # the hits: the message names the newer construct, or points at it
    named = 'invalid parameter "query": 1:1: parse error: unknown function with name "min_of"'
    assert judge(X, "min_of(1, 2) * x", ok, err("bad_data", named, engine="thanos"))[0] == "expected"
    at = 'invalid parameter "query": 1:10: parse error: unexpected "("'
    assert judge(X, "x - start()", ok, err("bad_data", at, engine="thanos"))[0] == "expected"


# --- 11: histogram equality and chunk layout ----------------------------------------------

def test_11_a_float_difference_next_to_histogram_data_is_a_divergence() -> None:
    h = Histogram(schema=0, count=2, sum=3, positive_spans=((0, 2),), positive_buckets=(1, 1))
    from promfuzz.model import Dataset

    ds = Dataset.build([({"__name__": "h", "a": "1"}, [(0, h), (60_000, h)]),
                        ({"__name__": "x", "a": "1"}, [(0, 1.0), (60_000, 1.0)])])
    ref, tgt = vec(T, ({"a": "1"}, 0.0), engine="prometheus"), vec(T, ({"a": "1"}, 1.0), engine="prometheus-live")
    assert ORACLE.check(Case(ds, "changes(x[2m])", P), ref, tgt).kind == "divergence"
    v = ORACLE.check(Case(ds, "changes(h[2m])", P), ref, tgt)
    assert (v.kind, v.rules) == ("expected", ("prometheus-histogram-equality-depends-on-chunk-layout",))
    # histogram operand, but the differing series is the float one
    v = ORACLE.check(Case(ds, "changes(h[2m]) or changes(x[2m])", P),
                     vec(T, ({"a": "2"}, 0.0), engine="prometheus"), vec(T, ({"a": "2"}, 1.0), engine="prometheus-live"))
    assert v.kind == "divergence"


# --- rules that need the case do not apply without it ---------------------------------

def test_shape_rules_need_the_case() -> None:
    from promfuzz.oracles.compare import compare_results

    case = data(X)
    q = "no_such == bottomk(1e300, x)"
    ref = err("execution", "Scalar value 1e+300 overflows int64", engine="prometheus")
    comp = compare_results(q, P, ref, vec(T, engine="mqe"))
    rules = ORACLE.rules
    assert rules.explain(comp, (), "mqe", "prometheus") == ()
    assert rules.explain(comp, (), "mqe", "prometheus", case=Case(case.dataset, q, P)) == (
        "mqe-skips-errors-of-unevaluated-binop-side",)


# --- found by `promfuzz bench oracle`: an error class changed under a version-skew rule -----

UNKNOWN_FN = 'bad_data', '1:15: parse error: unknown function with name "integral"'


def test_unknown_newer_function_is_expected_only_as_a_parse_error_of_the_target() -> None:
    """The fork's parser lacks integral(): a parse error of the target is the skew; the same
    message as an execution error is not what an engine lacking the function gives."""
    query = "avg_over_time(integral(foo[15s], -1))"
    ref = vec(T, engine="prometheus")
    parse = err(*UNKNOWN_FN, engine="mqe")
    assert judge(FOO, query, ref, parse) == ("expected", ("mqe-fork-lacks-newer-experimental-functions",))
    execution = err("execution", UNKNOWN_FN[1], engine="mqe")
    assert judge(FOO, query, ref, execution)[0] == "divergence"


def test_vm_unsupported_function_only_for_a_function_the_query_calls() -> None:
    """vm-unsupported-prometheus-function: the error must name a PromQL function the query
    calls; another function, another error, or an answer stays a divergence."""
    load = 'load 1m\n  x 1 2\n'
    ref = vec(T, ({}, 60.0), engine="prometheus")
    q = "ts_of_max_over_time(x[1m])"
    said = 'error when executing query="..." for (time=1, step=1): unsupported function "{}"'
    assert judge(load, q, ref, err("execution", said.format("ts_of_max_over_time"), engine="victoriametrics-live")) == (
        "expected", ("vm-unsupported-prometheus-function",))
    for tgt in (err("execution", said.format("abs"), engine="victoriametrics-live"),
                err("execution", "cannot parse", engine="victoriametrics-live"),
                vec(T, ({}, 61.0), engine="victoriametrics-live")):
        assert judge(load, q, ref, tgt)[0] == "divergence", tgt
    # and not for another engine
    assert judge(load, q, ref, err("execution", said.format("ts_of_max_over_time"), engine="mqe"))[0] == "divergence"
