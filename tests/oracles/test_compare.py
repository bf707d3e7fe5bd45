"""The comparator's rules: for each, a pair that must match and a near miss that must not."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from oracle_helpers import err, mat, scalar, vec

from promfuzz.model import (
    Bucket,
    EvalParams,
    Histogram,
    Point,
    Result,
    ResultHistogram,
    ResultSeries,
    stale_nan,
)
from promfuzz.oracles.compare import ComparisonConfig, compare_results, error_class, floats_equal

T = 60_000
INSTANT = EvalParams.instant(T)
RANGE = EvalParams.range(0, 120_000, 60_000)


def cats(query: str, ref: Result, tgt: Result, params: EvalParams = INSTANT,
         config: ComparisonConfig | None = None) -> tuple[str, ...]:
    return compare_results(query, params, ref, tgt, config).categories


def one(v: float, **labels: str) -> Result:
    return vec(T, (labels or {"a": "1"}, v))


# --------------------------------------------------------------------------- floats

def test_one_ulp_apart_is_equal_but_one_millionth_is_not() -> None:
    x = 1234.5678
    assert cats("x", one(x), one(math.nextafter(x, math.inf))) == ()
    assert cats("x", one(x), one(x * (1 + 1e-6))) == ("value",)


def test_near_zero_uses_the_absolute_floor() -> None:
    assert cats("x", one(0.0), one(5.5e-17)) == ()
    assert cats("x", one(0.0), one(1e-9)) == ("value",)


def test_nan_equals_nan_but_not_the_stale_marker() -> None:
    assert cats("x", one(math.nan), one(math.nan)) == ()
    assert cats("x", one(stale_nan()), one(stale_nan())) == ()
    assert cats("x", one(math.nan), one(stale_nan())) == ("value",)
    assert cats("x", one(math.nan), one(1.0)) == ("value",)


def test_infinities_must_match_in_sign() -> None:
    assert cats("x", one(math.inf), one(math.inf)) == ()
    assert cats("x", one(math.inf), one(-math.inf)) == ("value",)
    assert cats("x", one(math.inf), one(1e308)) == ("value",)


def test_negative_zero_equals_zero() -> None:
    assert cats("x", one(0.0), one(-0.0)) == ()
    assert floats_equal(-0.0, 0.0)


def test_tolerance_is_configurable() -> None:
    loose = ComparisonConfig(rel_tol=1e-5)
    assert cats("x", one(1.0), one(1.000001), config=loose) == ()
    assert cats("x", one(1.0), one(1.0001), config=loose) == ("value",)


# --------------------------------------------------------------------------- labels

def test_empty_label_value_is_an_absent_label() -> None:
    ref = Result("e", "ok", "vector", (ResultSeries((("a", "1"), ("b", "")), (Point(T, 1.0),)),))
    tgt = vec(T, ({"a": "1"}, 1.0))
    assert cats("x", ref, tgt) == ()
    other = vec(T, ({"a": "1", "b": "2"}, 1.0))
    assert cats("x", ref, other) == ("missing_series", "extra_series")


def test_empty_label_sets_match_each_other_only() -> None:
    assert cats("sum(x)", vec(T, ({}, 3.0)), vec(T, ({}, 3.0))) == ()
    assert cats("sum(x)", vec(T, ({}, 3.0)), vec(T, ({"a": "1"}, 3.0))) == ("missing_series", "extra_series")


def test_duplicate_series_in_an_answer_is_reported() -> None:
    assert cats("x", one(1.0), vec(T, ({"a": "1"}, 1.0), ({"a": "1"}, 1.0))) == ("duplicate_series",)


def test_count_values_labels_compare_as_numbers() -> None:
    q = 'count_values("v", x)'
    assert cats(q, vec(T, ({"v": "1"}, 2.0)), vec(T, ({"v": "1.0"}, 2.0))) == ()
    assert cats(q, vec(T, ({"v": "1e3"}, 2.0)), vec(T, ({"v": "1000"}, 2.0))) == ()
    assert cats(q, vec(T, ({"v": "1"}, 2.0)), vec(T, ({"v": "1.5"}, 2.0))) == ("missing_series", "extra_series")
    # Only the count_values label is numeric: another label spelled differently is another series.
    assert cats(q, vec(T, ({"v": "1", "w": "1"}, 2.0)), vec(T, ({"v": "1", "w": "1.0"}, 2.0))) != ()


def test_count_values_labels_compare_within_the_float_tolerance() -> None:
    q = 'count_values("v", deg(x))'
    # the last digit of a rendered float (a 1-ulp difference of the value) is the same answer
    assert cats(q, vec(T, ({"v": "19.88342502737898"}, 1.0)), vec(T, ({"v": "19.883425027378983"}, 1.0))) == ()
    # a 1e-6 relative difference is not, nor NaN vs a number, nor the same digits on another label
    assert cats(q, vec(T, ({"v": "19.88342"}, 1.0)), vec(T, ({"v": "19.88344"}, 1.0))) == (
        "missing_series", "extra_series")
    assert cats(q, vec(T, ({"v": "NaN"}, 1.0)), vec(T, ({"v": "0"}, 1.0))) == ("missing_series", "extra_series")
    assert cats(q, vec(T, ({"v": "1", "w": "a"}, 1.0)), vec(T, ({"v": "1", "w": "b"}, 1.0))) == (
        "missing_series", "extra_series")
    # paired series still compare their values
    assert cats(q, vec(T, ({"v": "2.0000000000000004"}, 1.0)), vec(T, ({"v": "2"}, 3.0))) == ("value",)


# --------------------------------------------------------------------------- points

def test_points_are_matched_by_timestamp() -> None:
    ref = mat(({"a": "1"}, [(0, 1.0), (60_000, 2.0)]))
    assert cats("x", ref, mat(({"a": "1"}, [(0, 1.0), (60_000, 2.0)])), RANGE) == ()
    assert cats("x", ref, mat(({"a": "1"}, [(0, 1.0)])), RANGE) == ("timestamp",)
    assert cats("x", ref, mat(({"a": "1"}, [(0, 1.0), (60_001, 2.0)])), RANGE) == ("timestamp",)


def test_a_value_difference_names_series_and_time() -> None:
    c = compare_results("x", RANGE, mat(({"a": "1"}, [(0, 1.0), (60_000, 2.0)])),
                        mat(({"a": "1"}, [(0, 1.0), (60_000, 2.5)])))
    (d,) = c.differences
    assert (d.category, d.labels, d.t, d.ref, d.tgt) == ("value", (("a", "1"),), 60_000, "2.0", "2.5")


# --------------------------------------------------------------------------- histograms

def hist(count: float, s: float = 10.0, hint: str | None = None, bucket_count: float = 3.0) -> ResultHistogram:
    full = None if hint is None else Histogram(count=count, sum=s, counter_reset_hint=hint)  # type: ignore[arg-type]
    return ResultHistogram(count, s, (Bucket(0, 1.0, 2.0, bucket_count), Bucket(0, 2.0, 4.0, count - bucket_count)),
                           full)


def test_histograms_compare_count_sum_and_buckets() -> None:
    assert cats("x", one(hist(5.0)), one(hist(5.0))) == ()  # type: ignore[arg-type]
    assert cats("x", one(hist(5.0)), one(hist(6.0))) == ("histogram",)  # type: ignore[arg-type]
    assert cats("x", one(hist(5.0)), one(hist(5.0, s=11.0))) == ("histogram",)  # type: ignore[arg-type]
    assert cats("x", one(hist(5.0)), one(hist(5.0, bucket_count=2.0))) == ("histogram",)  # type: ignore[arg-type]
    assert cats("x", one(hist(5.0)), one(5.0)) == ("histogram",)  # type: ignore[arg-type]


def test_counter_reset_hint_only_counts_when_both_sides_set_it() -> None:
    assert cats("x", one(hist(5.0, hint="reset")), one(hist(5.0, hint="unknown"))) == ()  # type: ignore[arg-type]
    assert cats("x", one(hist(5.0, hint="reset")), one(hist(5.0))) == ()  # type: ignore[arg-type]
    assert cats("x", one(hist(5.0, hint="reset")), one(hist(5.0, hint="not_reset"))) == (  # type: ignore[arg-type]
        "histogram",)


# --------------------------------------------------------------------------- order

def test_order_matters_for_top_level_sort_only() -> None:
    asc = vec(T, ({"a": "1"}, 1.0), ({"a": "2"}, 2.0))
    desc = vec(T, ({"a": "2"}, 2.0), ({"a": "1"}, 1.0))
    assert cats("sort(x)", asc, asc) == ()
    assert cats("sort(x)", asc, desc) == ("order",)
    assert cats("((sort_desc(x)))", desc, asc) == ("order",)
    assert cats("sum by (a) (x)", asc, desc) == ()
    assert cats("sort(x) + 1", asc, desc) == ()  # sort is not the top node


def test_sort_order_ignored_for_range_queries() -> None:
    a = mat(({"a": "1"}, [(0, 1.0)]), ({"a": "2"}, [(0, 2.0)]))
    b = mat(({"a": "2"}, [(0, 2.0)]), ({"a": "1"}, [(0, 1.0)]))
    assert cats("sort(x)", a, b, RANGE) == ()


def test_sort_ties_may_come_in_any_order() -> None:
    a = vec(T, ({"a": "1"}, 1.0), ({"a": "2"}, 1.0), ({"a": "3"}, 5.0))
    b = vec(T, ({"a": "2"}, 1.0), ({"a": "1"}, 1.0), ({"a": "3"}, 5.0))
    assert cats("sort(x)", a, b) == ()


def test_sort_by_label_checks_the_full_order_including_the_tie_break() -> None:
    a = vec(T, ({"a": "x", "b": "1"}, 1.0), ({"a": "y", "b": "2"}, 2.0))
    b = vec(T, ({"a": "y", "b": "2"}, 2.0), ({"a": "x", "b": "1"}, 1.0))
    assert cats('sort_by_label(m, "a")', a, b) == ("order",)
    # Equal sort labels: Prometheus orders by the full label set (b="1" before b="2"), so
    # the tie has one right order, not any.
    tie_a = vec(T, ({"a": "x", "b": "1"}, 1.0), ({"a": "x", "b": "2"}, 2.0))
    tie_b = vec(T, ({"a": "x", "b": "2"}, 2.0), ({"a": "x", "b": "1"}, 1.0))
    assert cats('sort_by_label(m, "a")', tie_a, tie_a) == ()
    assert cats('sort_by_label(m, "a")', tie_a, tie_b) == ("order",)


# --------------------------------------------------------------------------- topk

def ops(answers: dict[str, Result]) -> Callable[[str], Result | None]:
    """An operand resolver answering the given texts (None for any other)."""
    return answers.get


M3 = vec(T, ({"i": "a"}, 9.0), ({"i": "b"}, 5.0), ({"i": "c"}, 5.0), ({"i": "d"}, 1.0))


def test_topk_tie_accepts_any_valid_pick_of_the_operand() -> None:
    ref = vec(T, ({"i": "a"}, 9.0), ({"i": "b"}, 5.0))
    tgt = vec(T, ({"i": "a"}, 9.0), ({"i": "c"}, 5.0))  # c also had 5 in the input
    c = compare_results("topk(2, m)", INSTANT, ref, tgt, operand=ops({"m": M3}))
    assert c.equal and any("tie" in n or "pick" in n for n in c.notes)


def test_a_differing_pick_without_an_operand_is_unverified_not_accepted() -> None:
    ref = vec(T, ({"i": "a"}, 9.0), ({"i": "b"}, 5.0))
    tgt = vec(T, ({"i": "a"}, 9.0), ({"i": "c"}, 5.0))
    for operand in (None, ops({})):
        c = compare_results("topk(2, m)", INSTANT, ref, tgt, operand=operand)
        assert c.categories == ("missing_series", "extra_series")
        assert {d.detail for d in c.differences} == {"unverified_pick"}


def test_topk_rejects_a_pick_that_is_not_the_boundary_value() -> None:
    # The target kept c (5) and left out a (9): a ranks above it.
    ref = vec(T, ({"i": "a"}, 9.0), ({"i": "b"}, 5.0))
    tgt = vec(T, ({"i": "c"}, 5.0), ({"i": "b"}, 5.0))
    c = compare_results("topk(2, m)", INSTANT, ref, tgt, operand=ops({"m": M3}))
    assert c.categories == ("missing_series", "extra_series")
    assert {d.detail for d in c.differences} == {"topk_pick"}


def test_topk_rejects_a_pick_of_another_value_or_size() -> None:
    ref = vec(T, ({"i": "a"}, 9.0), ({"i": "b"}, 5.0))
    m = ops({"m": M3})
    assert compare_results("topk(2, m)", INSTANT, ref, vec(T, ({"i": "a"}, 9.0), ({"i": "d"}, 1.0)),
                           operand=m).categories == ("missing_series", "extra_series")
    assert compare_results("topk(2, m)", INSTANT, ref, vec(T, ({"i": "a"}, 9.0)),
                           operand=m).categories == ("missing_series",)
    # c is a tied input series, but the target reports it with another value
    assert "value" in compare_results("topk(2, m)", INSTANT, ref, vec(T, ({"i": "a"}, 9.0), ({"i": "c"}, 4.0)),
                                      operand=m).categories


def test_bottomk_boundary_is_the_largest_chosen_value() -> None:
    m = ops({"m": vec(T, ({"i": "a"}, 1.0), ({"i": "b"}, 5.0), ({"i": "c"}, 5.0), ({"i": "d"}, 9.0))})
    ref = vec(T, ({"i": "a"}, 1.0), ({"i": "b"}, 5.0))
    assert compare_results("bottomk(2, m)", INSTANT, ref, vec(T, ({"i": "a"}, 1.0), ({"i": "c"}, 5.0)),
                           operand=m).equal
    # the tie at 5 is not the boundary when the target drops a (1) for it
    assert not compare_results("bottomk(2, m)", INSTANT, ref, vec(T, ({"i": "c"}, 5.0), ({"i": "b"}, 5.0)),
                               operand=m).equal
    assert not compare_results("bottomk(2, m)", INSTANT, ref, vec(T, ({"i": "a"}, 1.0), ({"i": "d"}, 9.0)),
                               operand=m).equal


def test_topk_ties_are_judged_per_group() -> None:
    q = "topk by (g) (1, m)"
    m = ops({"m": vec(T, ({"g": "1", "i": "a"}, 5.0), ({"g": "1", "i": "c"}, 5.0), ({"g": "2", "i": "b"}, 7.0))})
    ref = vec(T, ({"g": "1", "i": "a"}, 5.0), ({"g": "2", "i": "b"}, 7.0))
    ok = vec(T, ({"g": "2", "i": "b"}, 7.0), ({"g": "1", "i": "c"}, 5.0))
    bad = vec(T, ({"g": "1", "i": "a"}, 5.0), ({"g": "1", "i": "c"}, 5.0))
    assert compare_results(q, INSTANT, ref, ok, operand=m).equal
    assert not compare_results(q, INSTANT, ref, bad, operand=m).equal


def test_topk_order_within_a_group_matters_for_instant_queries() -> None:
    ref = vec(T, ({"i": "a"}, 9.0), ({"i": "b"}, 5.0))
    assert cats("topk(2, m)", ref, vec(T, ({"i": "b"}, 5.0), ({"i": "a"}, 9.0))) == ("order",)
    # Groups themselves are unordered.
    q = "topk by (g) (1, m)"
    g = vec(T, ({"g": "1"}, 1.0), ({"g": "2"}, 2.0))
    assert cats(q, g, vec(T, ({"g": "2"}, 2.0), ({"g": "1"}, 1.0))) == ()


def test_topk_ties_in_range_queries_are_judged_per_step() -> None:
    m = ops({"m": mat(({"i": "a"}, [(0, 5.0), (60_000, 5.0)]), ({"i": "b"}, [(0, 1.0)]),
                      ({"i": "c"}, [(0, 4.0), (60_000, 5.0)]))})
    ref = mat(({"i": "a"}, [(0, 5.0), (60_000, 5.0)]), ({"i": "b"}, [(0, 1.0)]))
    assert compare_results("topk(2, m)", RANGE, ref, mat(({"i": "a"}, [(0, 5.0), (60_000, 5.0)])),
                           operand=m).categories == ("missing_series",)
    ref1 = mat(({"i": "a"}, [(0, 5.0), (60_000, 5.0)]))
    ok1 = mat(({"i": "a"}, [(0, 5.0)]), ({"i": "c"}, [(60_000, 5.0)]))  # at 60s a and c tie
    assert compare_results("topk(1, m)", RANGE, ref1, ok1, operand=m).equal
    bad1 = mat(({"i": "c"}, [(0, 4.0), (60_000, 5.0)]))  # at 0s c (4) is below a (5)
    assert not compare_results("topk(1, m)", RANGE, ref1, bad1, operand=m).equal


def test_topk_under_wrappers_is_checked_below_the_wrapper() -> None:
    m = ops({"m": M3, "abs(m) * 2": vec(T, ({"i": "a"}, 18.0), ({"i": "b"}, 10.0), ({"i": "c"}, 10.0),
                                         ({"i": "d"}, 2.0))})
    ref = vec(T, ({"i": "a"}, 18.0), ({"i": "b"}, 10.0))
    assert compare_results("abs(topk(2, m)) * 2", INSTANT, ref, vec(T, ({"i": "a"}, 18.0), ({"i": "c"}, 10.0)),
                           operand=m).equal
    assert not compare_results("abs(topk(2, m)) * 2", INSTANT, ref,
                               vec(T, ({"i": "a"}, 18.0), ({"i": "c"}, 12.0)), operand=m).equal
    assert not compare_results("abs(topk(2, m)) * 2", INSTANT, ref,
                               vec(T, ({"i": "a"}, 18.0), ({"i": "d"}, 2.0)), operand=m).equal


def test_sorted_topk_ties_are_accepted_and_order_still_checked() -> None:
    m = ops({"m": M3, "sort_desc(m)": M3})
    ref = vec(T, ({"i": "a"}, 9.0), ({"i": "b"}, 5.0))
    assert compare_results("sort_desc(topk(2, m))", INSTANT, ref, vec(T, ({"i": "a"}, 9.0), ({"i": "c"}, 5.0)),
                           operand=m).equal
    assert cats("sort_desc(topk(2, m))", ref, vec(T, ({"i": "b"}, 5.0), ({"i": "a"}, 9.0))) == ("order",)


def test_nested_topk_differences_are_flagged_tie_sensitive() -> None:
    ref, tgt = vec(T, ({"i": "a"}, 3.0)), vec(T, ({"i": "b"}, 3.0))
    nested = compare_results("count by (i) (topk(1, m))", INSTANT, ref, tgt)
    plain = compare_results("count by (i) (m)", INSTANT, ref, tgt)
    assert not nested.equal and nested.tie_sensitive
    assert not plain.equal and not plain.tie_sensitive


def test_limitk_accepts_only_series_of_its_input_in_the_right_number() -> None:
    m = ops({"m": vec(T, ({"i": "a"}, 1.0), ({"i": "b"}, 2.0), ({"i": "c"}, 7.0))})
    ref = vec(T, ({"i": "a"}, 1.0), ({"i": "b"}, 2.0))
    assert compare_results("limitk(2, m)", INSTANT, ref, vec(T, ({"i": "a"}, 1.0), ({"i": "c"}, 7.0)),
                           operand=m).equal
    assert not compare_results("limitk(2, m)", INSTANT, ref, vec(T, ({"i": "a"}, 1.0)), operand=m).equal
    # c is an input series but not with value 8; x is no input series at all
    assert not compare_results("limitk(2, m)", INSTANT, ref, vec(T, ({"i": "a"}, 1.0), ({"i": "c"}, 8.0)),
                               operand=m).equal
    assert not compare_results("limitk(2, m)", INSTANT, ref, vec(T, ({"i": "a"}, 1.0), ({"i": "x"}, 7.0)),
                               operand=m).equal


# --------------------------------------------------------------------------- errors

def test_error_class_mapping() -> None:
    assert error_class(err("bad_data", '1:5: parse error: unexpected "}"')) == "parse"
    assert error_class(err("bad_data", "end timestamp must not be before start time")) == "bad_data"
    assert error_class(err("execution", "boom")) == "execution"
    assert error_class(err("timeout", "query timed out", outcome="timeout")) == "timeout"
    assert error_class(err("engine_panic", "runtime error", outcome="engine_failure")) == "engine_failure"
    assert error_class(err("unsupported", "not supported by streaming engine", outcome="unsupported")) == "unsupported"
    assert error_class(one(1.0)) is None


def test_errors_compare_by_class_not_text() -> None:
    assert cats("x", err("execution", "a"), err("execution", "b")) == ()
    assert cats("x", err("execution", "a"), err("bad_data", "a")) == ("error_class",)
    assert cats("x", err("bad_data", "1:1: parse error: x"), err("bad_data", "bad step")) == ("error_class",)
    assert cats("x", err("execution", "a"), one(1.0)) == ("error_vs_result",)
    assert cats("x", one(1.0), err("unsupported", "nope", outcome="unsupported")) == ("unsupported",)


MANY_A = ('found duplicate series for the match group {a="1"} on the right hand-side of the operation: '
          '[{__name__="x", a="1", b="1"}, {__name__="x", a="1", b="2"}];many-to-many matching not allowed: '
          'matching labels must be unique on one side')
MANY_B = ('found duplicate series for the match group {a="1"} on the right hand-side of the operation: '
          '[{__name__="x", a="1", b="2"}, {__name__="x", a="1", b="1"}];many-to-many matching not allowed: '
          'matching labels must be unique on one side')


def test_many_to_many_messages_in_another_map_order_are_equivalent() -> None:
    strict = ComparisonConfig(compare_error_messages=True)
    assert cats("x + on(a) y", err("execution", MANY_A), err("execution", MANY_B), config=strict) == ()
    assert cats("x + on(a) y", err("execution", MANY_A),
                err("execution", "vector cannot contain metrics with the same labelset"),
                config=strict) == ("error_message",)
    assert cats("x", err("execution", "1:3: boom (1:3)"), err("execution", "boom"), config=strict) == ()


# --------------------------------------------------------------------------- annotations

W1 = 'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "x" (1:6)'
W1_MOVED = 'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "x" (1:8)'


def test_annotation_positions_are_compared_where_both_sides_report_them() -> None:
    a = vec(T, ({"a": "1"}, 1.0), infos=[W1])
    b = vec(T, ({"a": "1"}, 1.0), infos=[W1_MOVED])
    bare = vec(T, ({"a": "1"}, 1.0), infos=[W1[: W1.rindex(" (")]])
    assert cats("rate(x[5m])", a, a) == ()
    assert cats("rate(x[5m])", a, b) == ("annotations",)  # both give a position: (1:6) is not (1:8)
    assert cats("rate(x[5m])", a, bare) == ()  # the target gives none: compared without
    assert cats("rate(x[5m])", bare, b) == ()
    assert cats("rate(x[5m])", a, b, config=ComparisonConfig(annotations="ignore_positions")) == ()
    assert cats("rate(x[5m])", a, bare, config=ComparisonConfig(annotations="exact")) == ("annotations",)


def test_annotations_are_multisets() -> None:
    a = vec(T, ({"a": "1"}, 1.0), warnings=["w1", "w2"])
    assert cats("x", a, vec(T, ({"a": "1"}, 1.0), warnings=["w2", "w1"])) == ()
    assert cats("x", a, vec(T, ({"a": "1"}, 1.0), warnings=["w1"])) == ("annotations",)
    assert cats("x", a, vec(T, ({"a": "1"}, 1.0), warnings=["w1", "w2", "w2"])) == ("annotations",)
    assert cats("x", a, vec(T, ({"a": "1"}, 1.0), infos=["w1", "w2"])) == ("annotations",)


def test_annotations_can_be_ignored() -> None:
    a = vec(T, ({"a": "1"}, 1.0), warnings=["w1"])
    assert cats("x", a, one(1.0), config=ComparisonConfig(annotations="ignore")) == ()


def test_capped_annotations_need_only_be_a_subset_when_the_api_says_it_capped() -> None:
    many = [f"w{i}" for i in range(12)]
    a = vec(T, ({"a": "1"}, 1.0), warnings=many)
    capped = many[2:] + ["2 more warning annotations omitted"]  # what Prometheus's API sends
    assert cats("x", a, vec(T, ({"a": "1"}, 1.0), warnings=capped)) == ()
    wrong_total = many[2:] + ["3 more warning annotations omitted"]
    assert cats("x", a, vec(T, ({"a": "1"}, 1.0), warnings=wrong_total)) == ("annotations",)
    foreign = many[3:] + ["other", "2 more warning annotations omitted"]
    assert cats("x", a, vec(T, ({"a": "1"}, 1.0), warnings=foreign)) == ("annotations",)
    # Without the API's line nothing is capped: ten of twelve is a difference.
    assert cats("x", a, vec(T, ({"a": "1"}, 1.0), warnings=many[2:])) == ("annotations",)
    # A silently capping target can be declared.
    silent = ComparisonConfig(annotation_cap=10)
    assert cats("x", a, vec(T, ({"a": "1"}, 1.0), warnings=many[2:]), config=silent) == ()


# --------------------------------------------------------------------------- types

def test_value_types_must_agree() -> None:
    assert cats("1", scalar(T, 1.0), scalar(T, 1.0)) == ()
    assert cats("1", scalar(T, 1.0), scalar(T, 2.0)) == ("value",)
    assert cats("1", scalar(T, 1.0), one(1.0)) == ("type",)
    s1 = Result("e", "ok", "string", string="a")
    assert cats('"a"', s1, Result("e", "ok", "string", string="a")) == ()
    assert cats('"a"', s1, Result("e", "ok", "string", string="b")) == ("string",)


def test_diff_text_lists_only_differing_series() -> None:
    ref = vec(T, ({"a": "1"}, 1.0), ({"a": "2"}, 2.0), ({"a": "3"}, 3.0))
    tgt = vec(T, ({"a": "1"}, 1.0), ({"a": "2"}, 2.5), ({"a": "3"}, 3.0))
    text = compare_results("x", INSTANT, ref, tgt).diff_text()
    assert 'a="2"' in text and "2.5" in text
    assert 'a="3"' not in text


def test_max_differences_truncates() -> None:
    ref = vec(T, *[({"a": str(i)}, float(i)) for i in range(30)])
    tgt = vec(T, *[({"a": str(i)}, float(i) + 1) for i in range(30)])
    c = compare_results("x", INSTANT, ref, tgt, ComparisonConfig(max_differences=5))
    assert len(c.differences) == 5 and c.truncated


@pytest.mark.parametrize("bad", [dict(rel_tol=-1.0), dict(annotations="nope"), dict(max_differences=0)])
def test_bad_config_is_refused(bad: dict[str, object]) -> None:
    from promfuzz.errors import ConfigError

    with pytest.raises(ConfigError):
        ComparisonConfig(**bad)  # type: ignore[arg-type]


def test_query_may_be_given_as_a_tree() -> None:
    from promfuzz.promql import parse

    asc = vec(T, ({"a": "1"}, 1.0), ({"a": "2"}, 2.0))
    desc = vec(T, ({"a": "2"}, 2.0), ({"a": "1"}, 1.0))
    assert compare_results(parse("sort(x)"), INSTANT, asc, desc).categories == ("order",)
    assert compare_results(parse("sum by (a) (x)"), INSTANT, asc, desc).equal
    with pytest.raises(TypeError):
        compare_results(42, INSTANT, asc, desc)


def test_sort_by_label_over_another_valid_tie_pick_is_no_order_difference() -> None:
    m = ops({"m": M3, 'sort_by_label(m, "i")': M3})
    q = 'sort_by_label(topk(2, m), "i")'
    ref = vec(T, ({"i": "a"}, 9.0), ({"i": "b"}, 5.0))
    assert compare_results(q, INSTANT, ref, vec(T, ({"i": "a"}, 9.0), ({"i": "c"}, 5.0)), operand=m).equal
    assert compare_results('sort_by_label(topk(3, m), "i")', INSTANT,
                           vec(T, ({"i": "a"}, 9.0), ({"i": "b"}, 5.0), ({"i": "c"}, 5.0)),
                           vec(T, ({"i": "c"}, 5.0), ({"i": "b"}, 5.0), ({"i": "a"}, 9.0)),
                           operand=m).categories == ("order",)


def test_two_capped_sides_compare_their_totals() -> None:
    many = [f"w{i}" for i in range(14)]
    a = vec(T, ({"a": "1"}, 1.0), warnings=many[:10] + ["4 more warning annotations omitted"])
    b = vec(T, ({"a": "1"}, 1.0), warnings=many[4:] + ["4 more warning annotations omitted"])
    c = vec(T, ({"a": "1"}, 1.0), warnings=many[4:] + ["5 more warning annotations omitted"])
    assert cats("x", a, b) == ()  # each lists another 10 of the same 14
    assert cats("x", a, c) == ("annotations",)
