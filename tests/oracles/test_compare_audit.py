"""The comparator holes found by the audit of issue #12, each with the audit's own example.

Every test here was run against the comparator before the fix and failed there (the pair
matched); each names the hole it closes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from oracle_helpers import err, vec

from promfuzz.model import Case, Dataset, EvalParams, Result
from promfuzz.oracles.compare import compare_results, error_class, floats_equal, is_panic_message
from promfuzz.oracles.differential import DifferentialOracle

T = 60_000
INSTANT = EvalParams.instant(T)


def ops(answers: dict[str, Result]) -> Callable[[str], Result | None]:
    return answers.get


X = vec(T, ({"__name__": "x", "i": "a"}, 9.0), ({"__name__": "x", "i": "b"}, 5.0),
        ({"__name__": "x", "i": "c"}, 5.0), ({"__name__": "x", "i": "d"}, 1.0))


# 1. limitk / limit_ratio accepted any series of the right count; topk a corrupted label.

def test_limitk_rejects_an_invented_series_with_value_999() -> None:
    ref = vec(T, ({"__name__": "x", "i": "a"}, 9.0), ({"__name__": "x", "i": "b"}, 5.0))
    forged = vec(T, ({"__name__": "x", "i": "a"}, 9.0), ({"__name__": "x", "i": "invented"}, 999.0))
    for operand in (ops({"x": X}), None):
        c = compare_results("limitk(2, x)", INSTANT, ref, forged, operand=operand)
        assert not c.equal
        assert ("extra_series", (("__name__", "x"), ("i", "invented"))) in {(d.category, d.labels) for d in c.differences}


def test_limitk_accepts_another_subset_of_its_input() -> None:
    ref = vec(T, ({"__name__": "x", "i": "a"}, 9.0), ({"__name__": "x", "i": "b"}, 5.0))
    other = vec(T, ({"__name__": "x", "i": "d"}, 1.0), ({"__name__": "x", "i": "c"}, 5.0))
    assert compare_results("limitk(2, x)", INSTANT, ref, other, operand=ops({"x": X})).equal


def test_limit_ratio_pick_is_deterministic_so_compared_exactly() -> None:
    # Prometheus keeps a series when hash(labels)/MaxUint64 < ratio: one right answer.
    ref = vec(T, ({"__name__": "x", "i": "a"}, 9.0))
    other = vec(T, ({"__name__": "x", "i": "b"}, 5.0))
    c = compare_results("limit_ratio(0.5, x)", INSTANT, ref, other, operand=ops({"x": X}))
    assert c.categories == ("missing_series", "extra_series") and not c.tie_sensitive
    assert compare_results("sum(limit_ratio(0.5, x))", INSTANT, vec(T, ({}, 1.0)), vec(T, ({}, 2.0))).tie_sensitive \
        is False


def test_topk_rejects_a_corrupted_label_with_the_tied_value() -> None:
    ref = vec(T, ({"__name__": "x", "i": "b"}, 5.0))
    x = vec(T, ({"__name__": "x", "i": "b"}, 5.0), ({"__name__": "x", "i": "c"}, 5.0), ({"__name__": "x", "i": "d"}, 1.0))
    corrupted = vec(T, ({"__name__": "x", "i": "b-corrupted"}, 5.0))
    assert not compare_results("topk(1, x)", INSTANT, ref, corrupted, operand=ops({"x": x})).equal
    assert not compare_results("topk(1, x)", INSTANT, ref, corrupted).equal
    # the genuine other tie is fine
    assert compare_results("topk(1, x)", INSTANT, ref, vec(T, ({"__name__": "x", "i": "c"}, 5.0)),
                           operand=ops({"x": x})).equal


# 2. Non-injective wrappers were "tie-transparent".

def test_floor_of_topk_picking_the_wrong_series_is_a_difference() -> None:
    x = vec(T, ({"__name__": "x", "i": "a"}, 1.7), ({"__name__": "x", "i": "b"}, 1.2))
    floor_x = vec(T, ({"i": "a"}, 1.0), ({"i": "b"}, 1.0))
    ref = vec(T, ({"i": "a"}, 1.0))
    wrong = vec(T, ({"i": "b"}, 1.0))  # floor(1.2) == floor(1.7): looks like a tie above the wrapper
    c = compare_results("floor(topk(1, x))", INSTANT, ref, wrong, operand=ops({"x": x, "floor(x)": floor_x}))
    assert c.categories == ("missing_series", "extra_series")
    assert {d.detail for d in c.differences} == {"topk_pick"}
    assert not compare_results("floor(topk(1, x))", INSTANT, ref, wrong).equal


def test_topk_times_zero_returning_arbitrary_series_is_a_difference() -> None:
    zero = vec(T, ({"i": "a"}, 0.0), ({"i": "b"}, 0.0), ({"i": "c"}, 0.0), ({"i": "d"}, 0.0))
    ref = vec(T, ({"i": "a"}, 0.0), ({"i": "b"}, 0.0))
    answers = ops({"x": X, "x * 0": zero})
    for arbitrary in (vec(T, ({"i": "d"}, 0.0), ({"i": "zz"}, 0.0)), vec(T, ({"i": "a"}, 0.0), ({"i": "d"}, 0.0))):
        assert not compare_results("topk(2, x) * 0", INSTANT, ref, arbitrary, operand=answers).equal
    # b and c tie at 5 below the wrapper: that pick is valid
    assert compare_results("topk(2, x) * 0", INSTANT, ref, vec(T, ({"i": "a"}, 0.0), ({"i": "c"}, 0.0)),
                           operand=answers).equal


@pytest.mark.parametrize("query, lifted", [("abs(topk(1, x))", "abs(x)"), ("sgn(topk(1, x))", "sgn(x)"),
                                           ("clamp_max(topk(1, x), 2)", "clamp_max(x, 2)"),
                                           ("topk(1, x) > bool 0", "x > bool 0")])
def test_other_non_injective_wrappers_are_checked_below(query: str, lifted: str) -> None:
    x = vec(T, ({"__name__": "x", "i": "a"}, 7.0), ({"__name__": "x", "i": "b"}, 3.0))
    same = vec(T, ({"i": "a"}, 1.0), ({"i": "b"}, 1.0))  # every wrapper maps 7 and 3 to one value here
    ref, wrong = vec(T, ({"i": "a"}, 1.0)), vec(T, ({"i": "b"}, 1.0))
    assert not compare_results(query, INSTANT, ref, wrong, operand=ops({"x": x, lifted: same})).equal


def test_a_filter_wrapper_may_hide_a_pick_but_not_a_wrong_one() -> None:
    x = vec(T, ({"__name__": "x", "i": "a"}, 9.0), ({"__name__": "x", "i": "b"}, 8.0), ({"__name__": "x", "i": "c"}, 1.0))
    passed = vec(T, ({"__name__": "x", "i": "a"}, 9.0), ({"__name__": "x", "i": "b"}, 8.0))
    ref = vec(T, ({"__name__": "x", "i": "a"}, 9.0), ({"__name__": "x", "i": "b"}, 8.0))
    dropped_b = vec(T, ({"__name__": "x", "i": "a"}, 9.0))  # as if it had kept c, which "> 5" drops
    assert not compare_results("topk(2, x) > 5", INSTANT, ref, dropped_b, operand=ops({"x": x, "x > 5": passed})).equal


# 3. Error messages were never compared: a panic equalled an ordinary error.

PANIC = "unexpected error: runtime error: index out of range [3] with length 3"


@pytest.mark.parametrize("text", [PANIC, "runtime error: invalid memory address or nil pointer dereference",
                                  "unhandled expression of type: *parser.Foo",
                                  "panic: something went wrong", "unexpected error: boom"])
def test_a_panic_text_is_an_engine_failure_not_an_execution_error(text: str) -> None:
    ordinary = err("execution", "vector cannot contain metrics with the same labelset")
    crashed = err("execution", text)
    assert is_panic_message(text)
    assert error_class(crashed) == "engine_failure"
    assert compare_results("x", INSTANT, ordinary, crashed).categories == ("error_class",)
    # a crash equals nothing, not even the same crash on the reference
    assert not compare_results("x", INSTANT, crashed, crashed).equal
    v = DifferentialOracle().check(Case(Dataset(), "x", INSTANT), ordinary, crashed)
    assert v.kind == "engine_failure"


def test_ordinary_messages_are_not_taken_for_panics() -> None:
    for text in ('found duplicate series for the match group {a="panic"} on the right hand-side',
                 "parse error: unexpected <EOF>", "query processing would load too many samples into memory"):
        assert not is_panic_message(text)
        assert error_class(err("execution", text)) == "execution"


# 4. Annotations: nothing compared at 10 or more each; positions always stripped.

def test_ten_entirely_different_warnings_differ() -> None:
    a = vec(T, ({"a": "1"}, 1.0), warnings=[f"PromQL warning: reference {i}" for i in range(10)])
    b = vec(T, ({"a": "1"}, 1.0), warnings=[f"PromQL warning: target {i}" for i in range(10)])
    assert compare_results("x", INSTANT, a, b).categories == ("annotations",)
    many_a = vec(T, ({"a": "1"}, 1.0), warnings=[f"w{i}" for i in range(20)])
    many_b = vec(T, ({"a": "1"}, 1.0), warnings=[f"w{i}" for i in range(19)] + ["other"])
    assert compare_results("x", INSTANT, many_a, many_b).categories == ("annotations",)


def test_positions_reported_by_both_engines_are_compared() -> None:
    w = 'PromQL warning: encountered a mix of histograms and floats for aggregation (1:25)'
    a = vec(T, ({"a": "1"}, 1.0), warnings=[w])
    assert compare_results("x", INSTANT, a, vec(T, ({"a": "1"}, 1.0), warnings=[w.replace("1:25", "1:30")])).categories \
        == ("annotations",)
    assert compare_results("x", INSTANT, a, vec(T, ({"a": "1"}, 1.0), warnings=[w[:-7]])).equal


# 5. sort_by_label compared only the sort labels.

def test_sort_by_label_wrong_tie_break_is_a_difference() -> None:
    # Equal "a": Prometheus orders by the full label set (labels.Compare), i="1" first;
    # sort_by_label_desc reverses that too.
    asc = vec(T, ({"a": "x", "i": "1"}, 5.0), ({"a": "x", "i": "2"}, 1.0), ({"a": "y", "i": "0"}, 3.0))
    swapped = vec(T, ({"a": "x", "i": "2"}, 1.0), ({"a": "x", "i": "1"}, 5.0), ({"a": "y", "i": "0"}, 3.0))
    assert compare_results('sort_by_label(m, "a")', INSTANT, asc, swapped).categories == ("order",)
    desc = vec(T, ({"a": "y", "i": "0"}, 3.0), ({"a": "x", "i": "2"}, 1.0), ({"a": "x", "i": "1"}, 5.0))
    desc_wrong = vec(T, ({"a": "y", "i": "0"}, 3.0), ({"a": "x", "i": "1"}, 5.0), ({"a": "x", "i": "2"}, 1.0))
    assert compare_results('sort_by_label_desc(m, "a")', INSTANT, desc, desc).equal
    assert compare_results('sort_by_label_desc(m, "a")', INSTANT, desc, desc_wrong).categories == ("order",)


# 6. The absolute floor ignored sign and magnitude.

def test_opposite_signs_beyond_cancellation_noise_differ() -> None:
    assert not floats_equal(3e-13, -5e-13)
    assert compare_results("x", INSTANT, vec(T, ({"a": "1"}, 3e-13)), vec(T, ({"a": "1"}, -5e-13))).categories \
        == ("value",)
    # a value outside the floor is judged relatively, even when the distance is tiny
    assert not floats_equal(1e-13 * 0.5, 1.4e-12)


def test_cancellation_noise_of_either_sign_is_equal() -> None:
    noise = 0.1 + 0.2 - 0.3  # 5.55e-17
    other_order = 0.3 - 0.2 - 0.1  # -2.78e-17
    assert noise > 0 > other_order
    assert floats_equal(noise, other_order) and floats_equal(noise, 0.0)
    assert floats_equal(1e6 * (1 + 5e-11), 1e6)


def test_a_label_set_has_no_order() -> None:
    """Found by `promfuzz bench oracle`: the same labels listed in another order were a
    missing plus an extra series. A different label value still differs."""
    from promfuzz.model import Point, ResultSeries

    ref = vec(T, ({"a": "1", "b": "2", "c": "3"}, 1.0))
    shuffled = Result(engine="e", outcome="ok", value_type="vector",
                      series=(ResultSeries((("c", "3"), ("a", "1"), ("b", "2")), (Point(T, 1.0),)),))
    assert compare_results("x", EvalParams.instant(T), ref, shuffled).equal
    other = Result(engine="e", outcome="ok", value_type="vector",
                   series=(ResultSeries((("c", "4"), ("a", "1"), ("b", "2")), (Point(T, 1.0),)),))
    assert not compare_results("x", EvalParams.instant(T), ref, other).equal
