"""promfuzz bench oracle: every mutation operator on hand-made pairs (no hosts), the run's
determinism and JSON shape on fake engines, a lax comparator that the benchmark must
expose, and one small run on the real hosts (numbers computed, never a target asserted)."""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from promfuzz.benchmarks import oracle as bench
from promfuzz.benchmarks.oracle_mutations import (
    OPERATORS,
    OPERATORS_BY_NAME,
    PANIC_TEXT,
    Mutant,
    Pair,
    shape_of,
)
from promfuzz.budget import Budget
from promfuzz.engines.base import RawAnswer
from promfuzz.model import (
    Bucket,
    Case,
    Dataset,
    EngineStats,
    EvalParams,
    Labels,
    Point,
    PointValue,
    Result,
    ResultError,
    ResultHistogram,
    ResultSeries,
    is_stale,
    stale_nan,
)
from promfuzz.oracles import ComparisonConfig, DifferentialOracle

BUILD = Path(__file__).resolve().parents[2] / ".build"
DS = Dataset.build([({"__name__": "x", "a": "1"}, [(0, 1.0)]), ({"__name__": "x", "a": "2"}, [(0, 2.0)])])
T = 60_000
INSTANT = EvalParams.instant(T)
RANGE = EvalParams.range(0, 120_000, 60_000)


# --------------------------------------------------------------------------- builders


def lbl(**kv: str) -> Labels:
    return tuple(sorted(kv.items()))


def vec(*series: tuple[Labels, PointValue], **kw: object) -> Result:
    return Result("e", "ok", "vector", tuple(ResultSeries(lb, (Point(T, v),)) for lb, v in series), **kw)  # type: ignore[arg-type]


def mat(*series: tuple[Labels, Sequence[tuple[int, PointValue]]], **kw: object) -> Result:
    return Result("e", "ok", "matrix",
                  tuple(ResultSeries(lb, tuple(Point(t, v) for t, v in pts)) for lb, pts in series), **kw)  # type: ignore[arg-type]


def err(error_type: str = "execution", message: str = "many-to-many matching not allowed") -> Result:
    return Result.failure("e", "error", error_type, message)


def pair(query: str, r: Result, params: EvalParams = INSTANT,
         operand: Callable[[str], Result | None] | None = None) -> Pair:
    return Pair(Case(DS, query, params), r, r, operand)


def apply(name: str, p: Pair, seed: int = 0) -> Mutant | None:
    return OPERATORS_BY_NAME[name].apply(p, random.Random(seed))


def must(name: str, p: Pair, seed: int = 0) -> Mutant:
    m = apply(name, p, seed)
    assert m is not None, f"{name} should apply"
    assert m.note
    return m


def floats(r: Result) -> list[float]:
    return [float(p.v) for s in r.series for p in s.points if not isinstance(p.v, ResultHistogram)]


A, B, C = lbl(__name__="x", a="1"), lbl(__name__="x", a="2"), lbl(__name__="x", a="3")
TWO = vec((A, 1.5), (B, 2.5))
H = ResultHistogram(4.0, 10.0, (Bucket(0, 0.0, 1.0, 1.0), Bucket(0, 1.0, 2.0, 3.0)))


# --------------------------------------------------------------------------- series and labels


def test_drop_add_duplicate_series() -> None:
    m = must("drop_series", pair("x", TWO))
    assert len(m.tgt.series) == 1 and m.tgt.series[0].labels in (A, B) and m.ref is TWO
    m = must("add_series", pair("x", TWO))
    assert len(m.tgt.series) == 3 and {s.labels for s in m.tgt.series} > {A, B}
    empty = pair("x", mat(), RANGE)
    m = must("add_series", empty)
    assert [s.labels for s in m.tgt.series] == [lbl(__name__="promfuzz_added")]
    assert [p.t for p in m.tgt.series[0].points] == [0, 60_000, 120_000]
    m = must("duplicate_series", pair("x", TWO))
    assert len(m.tgt.series) == 3 and len({s.labels for s in m.tgt.series}) == 2
    assert apply("drop_series", pair("x", vec())) is None
    assert apply("drop_series", pair("1", Result("e", "ok", "scalar", scalar=Point(T, 1.0)))) is None


def test_label_operators_change_exactly_one_label_set() -> None:
    for name, check in (
        ("change_label_value", lambda old, new: len(old) == len(new) and dict(old).keys() == dict(new).keys()),
        ("add_label", lambda old, new: set(new) - set(old) == {("promfuzz_mutant", "x")}),
        ("drop_label", lambda old, new: set(new) < set(old) and len(new) == len(old) - 1),
    ):
        m = must(name, pair("x", TWO))
        changed = [(o.labels, n.labels) for o, n in zip(TWO.series, m.tgt.series, strict=True) if o.labels != n.labels]
        assert len(changed) == 1 and check(*changed[0]), name
        assert [s.points for s in m.tgt.series] == [s.points for s in TWO.series]
    # A drop that would make two series equal is not made.
    assert apply("drop_label", pair("x", vec((lbl(a="1"), 1.0), (lbl(), 2.0)))) is None
    assert apply("drop_label", pair("x", vec((lbl(a="1"), 1.0), (lbl(b="1"), 2.0)))) is not None


def test_label_order_and_empty_label_value_keep_the_set() -> None:
    m = must("label_order", pair("x", TWO))
    changed = [s for s in m.tgt.series if s.labels not in (A, B)]
    assert len(changed) == 1 and sorted(changed[0].labels) in (list(A), list(B))
    m = must("empty_label_value", pair("x", TWO))
    assert any(("promfuzz_empty", "") in s.labels for s in m.tgt.series)
    assert apply("label_order", pair("x", vec((lbl(a="1"), 1.0)))) is None


def test_series_order_undefined_only_where_no_order_is_defined() -> None:
    m = must("series_order_undefined", pair("x", TWO))
    assert [s.labels for s in m.tgt.series] == [B, A]
    assert apply("series_order_undefined", pair("sort(x)", TWO)) is None
    assert apply("series_order_undefined", pair("topk(2, x)", TWO)) is None
    assert apply("series_order_undefined", pair("sort(x)", mat((A, [(0, 1.0)]), (B, [(0, 2.0)])), RANGE)) is not None


# --------------------------------------------------------------------------- values


def test_value_changes_are_beyond_any_tolerance_and_skip_noise_sized_values() -> None:
    for name, factor in (("value_rel_1e-6", 1e-6), ("value_rel_1e-3", 1e-3)):
        m = must(name, pair("x", TWO))
        (old, new), = [(a, b) for a, b in zip(floats(TWO), floats(m.tgt), strict=True) if a != b]
        assert new == old * (1 + factor)
    tiny = pair("x", vec((A, 1e-5)))
    assert apply("value_rel_1e-6", tiny) is None  # a 1e-11 change: no
    assert apply("value_rel_1e-3", tiny) is not None  # a 1e-8 change: yes
    m = must("value_plus_1", pair("x", vec((A, 0.0))))
    assert floats(m.tgt) == [1.0]
    assert apply("value_plus_1", pair("x", vec((A, 1e9)))) is None
    scalar = Result("e", "ok", "scalar", scalar=Point(T, 3.0))
    assert must("value_rel_1e-3", pair("3", scalar)).tgt.scalar == Point(T, 3.0 * 1.001)


def test_sign_flips_split_by_magnitude() -> None:
    m = must("sign_flip", pair("x", vec((A, 0.0), (B, -math.inf))))
    assert floats(m.tgt) == [0.0, math.inf]
    assert apply("sign_flip_tiny", pair("x", vec((A, 2.0)))) is None
    m = must("sign_flip_tiny", pair("x", vec((A, 3e-13))))
    assert floats(m.tgt) == [-3e-13]
    assert apply("sign_flip", pair("x", vec((A, 3e-13)))) is None


def test_nan_and_stale_swaps() -> None:
    nan = pair("x", vec((A, math.nan), (B, 1.0)))
    assert floats(must("nan_to_number", nan).tgt) == [0.0, 1.0]
    stale = must("nan_to_stale", nan).tgt.series[0].points[0].v
    assert is_stale(stale)  # type: ignore[arg-type]
    m = must("number_to_nan", pair("x", vec((A, 1.0))))
    assert math.isnan(floats(m.tgt)[0]) and not is_stale(floats(m.tgt)[0])
    m = must("stale_to_nan", pair("x", vec((A, stale_nan()))))
    assert math.isnan(floats(m.tgt)[0]) and not is_stale(floats(m.tgt)[0])
    assert apply("stale_to_nan", nan) is None
    assert apply("nan_to_number", pair("x", vec((A, stale_nan())))) is None


def test_allowed_float_changes() -> None:
    m = must("negative_zero", pair("x", vec((A, 0.0), (B, 1.0))))
    assert math.copysign(1, floats(m.tgt)[0]) == -1 and floats(m.tgt)[1] == 1.0
    m = must("last_bit", pair("x", vec((A, 0.1))))
    assert floats(m.tgt) == [math.nextafter(0.1, math.inf)]
    assert apply("last_bit", pair("x", vec((A, 0.0)))) is None
    assert apply("negative_zero", pair("x", vec((A, 1.0)))) is None


def test_string_change() -> None:
    s = Result("e", "ok", "string", string="hello")
    assert must("string_change", pair('"hello"', s)).tgt.string == "hello_mutated"
    assert apply("string_change", pair("x", TWO)) is None


# --------------------------------------------------------------------------- timestamps


def test_timestamp_operators() -> None:
    r = mat((A, [(0, 1.0), (60_000, 2.0)]), (B, [(0, 3.0)]))
    m = must("point_time_shift", pair("x", r, RANGE))
    times = sorted(p.t for s in m.tgt.series for p in s.points)
    assert times != [0, 0, 60_000] and len(times) == 3 and all(t % 60_000 in (0, 1) for t in times)
    m = must("drop_point", pair("x", r, RANGE))
    assert [len(s.points) for s in m.tgt.series] == [1, 1]
    m = must("add_point", pair("x", r, RANGE))
    assert sum(len(s.points) for s in m.tgt.series) == 4
    assert apply("drop_point", pair("x", TWO)) is None  # a vector's point is its series
    assert must("point_time_shift", pair("x", TWO)).tgt.series != TWO.series


# --------------------------------------------------------------------------- histograms


def test_histogram_operators() -> None:
    p = pair("h", vec((A, H), (B, 1.0)))
    bc = must("hist_bucket_count", p).tgt.series[0].points[0].v
    assert isinstance(bc, ResultHistogram) and (bc.count, bc.sum) == (H.count, H.sum) and bc.buckets != H.buckets
    hs = must("hist_sum", p).tgt.series[0].points[0].v
    assert isinstance(hs, ResultHistogram) and hs.sum != H.sum and hs.buckets == H.buckets
    hc = must("hist_count", p).tgt.series[0].points[0].v
    assert isinstance(hc, ResultHistogram) and hc.count != H.count and hc.sum == H.sum
    assert must("histogram_to_float", p).tgt.series[0].points[0].v == 4.0
    m = must("float_to_histogram", p)
    assert all(isinstance(s.points[0].v, ResultHistogram) for s in m.tgt.series)
    assert apply("hist_sum", pair("x", TWO)) is None
    assert apply("hist_bucket_count", pair("h", vec((A, ResultHistogram(0.0, 0.0))))) is None


# --------------------------------------------------------------------------- errors


def test_error_operators() -> None:
    p = pair("x", err())
    m = must("error_to_panic", p)
    assert m.tgt.error == ResultError("execution", PANIC_TEXT)
    m = must("error_class_change", p)
    assert m.tgt.error is not None and m.tgt.error.error_type == "bad_data"
    m = must("error_class_change", pair("x", err("bad_data", "1:2: parse error: unexpected")))
    assert m.tgt.error is not None and m.tgt.error.error_type == "execution"
    m = must("answer_instead_of_error", p)
    assert m.tgt.ok and m.tgt.value_type == "vector" and not m.tgt.series
    assert must("answer_instead_of_error", pair("x", err(), RANGE)).tgt.value_type == "matrix"
    m = must("error_instead_of_answer", pair("x", TWO))
    assert not m.tgt.ok and m.tgt.error is not None and m.tgt.error.error_type == "execution"
    for name in ("error_to_panic", "error_class_change", "answer_instead_of_error"):
        assert apply(name, pair("x", TWO)) is None
    assert apply("error_instead_of_answer", p) is None


# --------------------------------------------------------------------------- annotations


REAL_INFO = 'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "x" (1:6)'


@pytest.mark.parametrize("lo,hi", [(1, 9), (10, 20)])
def test_annotation_operators_reach_their_counts(lo: int, hi: int) -> None:
    base = pair("rate(x[1m])", vec((A, 1.0), infos=(REAL_INFO,)))
    for seed in range(30):
        for action in ("add", "drop", "replace", "replace_all"):
            m = must(f"annotations_{action}@{lo}-{hi}", base, seed)
            kind = "warnings" if (m.ref.warnings, m.tgt.warnings) != (base.ref.warnings,) * 2 else "infos"
            r, t = getattr(m.ref, kind), getattr(m.tgt, kind)
            assert REAL_INFO in m.ref.infos  # the real one is kept in the reference
            other = "infos" if kind == "warnings" else "warnings"
            assert getattr(m.ref, other) == getattr(m.tgt, other) == getattr(base.ref, other)
            n = max(len(r), len(t))
            assert lo <= n <= hi
            if action == "add":
                assert len(t) == len(r) + 1 and not Counter(r) - Counter(t)
            elif action == "drop":
                assert len(t) == len(r) - 1 and not Counter(t) - Counter(r)
            elif action == "replace":
                assert len(t) == len(r) and len(Counter(r) - Counter(t)) == 1
            else:
                assert len(t) == len(r) and not set(r) & set(t)
    # Errors carry no annotations to mutate here.
    assert apply("annotations_add@1-9", pair("x", err())) is None


def test_annotation_order_keeps_the_multiset() -> None:
    base = pair("x", vec((A, 1.0)))
    for seed in range(20):
        m = must("annotation_order", base, seed)
        for kind in ("warnings", "infos"):
            r, t = getattr(m.ref, kind), getattr(m.tgt, kind)
            assert Counter(r) == Counter(t)
        assert (m.ref.warnings, m.ref.infos) != (m.tgt.warnings, m.tgt.infos)


# --------------------------------------------------------------------------- order


def test_reorder_sort_swaps_different_values_and_ties_are_allowed() -> None:
    r = vec((A, 1.0), (B, 1.0), (C, 2.0))
    m = must("reorder_sort", pair("sort(x)", r))
    assert floats(m.tgt) == [1.0, 2.0, 1.0]
    m = must("order_of_ties", pair("sort(x)", r))
    assert [s.labels for s in m.tgt.series] == [B, A, C]
    assert apply("reorder_sort", pair("sort(x)", vec((A, 1.0), (B, 1.0)))) is None
    assert apply("reorder_sort", pair("x", r)) is None
    assert apply("reorder_sort", pair("sort(x)", mat((A, [(0, 1.0)]), (B, [(0, 2.0)])), RANGE)) is None


def test_reorder_sort_by_label_and_its_tie_break() -> None:
    r = vec((lbl(a="1", b="1"), 5.0), (lbl(a="1", b="2"), 5.0), (lbl(a="2", b="0"), 5.0))
    q = 'sort_by_label(x, "a")'
    assert shape_of(q).sort_labels == ("a",)
    m = must("reorder_sort_by_label", pair(q, r))
    assert [dict(s.labels)["a"] for s in m.tgt.series] == ["1", "2", "1"]
    m = must("reorder_sort_by_label_tiebreak", pair(q, r))
    assert [dict(s.labels)["b"] for s in m.tgt.series] == ["2", "1", "0"]


def test_reorder_topk_within_a_group() -> None:
    r = vec((lbl(g="a", i="1"), 9.0), (lbl(g="b", i="1"), 8.0), (lbl(g="a", i="2"), 7.0))
    m = must("reorder_topk", pair("topk by (g) (2, x)", r))
    assert floats(m.tgt) == [7.0, 8.0, 9.0]
    assert apply("reorder_topk", pair("topk by (g) (2, x)", vec((lbl(g="a"), 9.0), (lbl(g="b"), 8.0)))) is None
    assert apply("reorder_topk", pair("sum(topk(2, x))", r)) is None


# --------------------------------------------------------------------------- select-k


def resolver(answers: dict[str, Result]) -> Callable[[str], Result | None]:
    asked: list[str] = []

    def resolve(text: str) -> Result | None:
        asked.append(text)
        return answers.get(text)

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


OPERAND = vec((A, 5.0), (B, 3.0), (C, 3.0), (lbl(__name__="x", a="4"), 1.0))


def test_topk_non_top_picks_a_lower_ranked_operand_series() -> None:
    p = pair("topk(2, x)", vec((A, 5.0), (B, 3.0)), operand=resolver({"x": OPERAND}))
    m = must("topk_non_top", p)
    assert [(s.labels, s.points[0].v) for s in m.tgt.series] == [(A, 5.0), (lbl(__name__="x", a="4"), 1.0)]
    assert p.operand.asked == ["x"]  # type: ignore[union-attr]
    m = must("topk_tie_pick", p)
    assert [(s.labels, s.points[0].v) for s in m.tgt.series] == [(A, 5.0), (C, 3.0)]
    # bottomk: the worst pick is the largest.
    p = pair("bottomk(2, x)", vec((lbl(__name__="x", a="4"), 1.0), (B, 3.0)), operand=resolver({"x": OPERAND}))
    assert [s.points[0].v for s in must("topk_non_top", p).tgt.series] == [1.0, 5.0]
    assert must("topk_tie_pick", p).tgt.series[1].labels == C


def test_select_k_operators_need_an_operand_that_holds_the_picks() -> None:
    picks = vec((A, 5.0), (B, 3.0))
    assert apply("topk_non_top", pair("topk(2, x)", picks)) is None  # no resolver
    assert apply("topk_non_top", pair("topk(2, x)", picks, operand=resolver({}))) is None  # no answer
    wrong = vec((A, 5.0), (B, 4.0), (C, 1.0))
    assert apply("topk_non_top", pair("topk(2, x)", picks, operand=resolver({"x": wrong}))) is None
    no_tie = vec((A, 5.0), (B, 3.0), (C, 1.0))
    assert apply("topk_tie_pick", pair("topk(2, x)", picks, operand=resolver({"x": no_tie}))) is None
    assert apply("topk_non_top", pair("sum(topk(2, x))", picks, operand=resolver({"x": OPERAND}))) is None


def test_topk_pick_moves_one_step_of_a_range_answer() -> None:
    operand = mat((A, [(0, 5.0), (60_000, 5.0)]), (B, [(0, 3.0), (60_000, 3.0)]), (C, [(0, 1.0), (60_000, 3.0)]))
    picks = mat((A, [(0, 5.0), (60_000, 5.0)]), (B, [(0, 3.0), (60_000, 3.0)]))
    p = pair("topk(2, x)", picks, EvalParams.range(0, 60_000, 60_000), resolver({"x": operand}))
    m = must("topk_non_top", p)
    got = {s.labels: [(q.t, q.v) for q in s.points] for s in m.tgt.series}
    assert got == {A: [(0, 5.0), (60_000, 5.0)], B: [(60_000, 3.0)], C: [(0, 1.0)]}
    m = must("topk_tie_pick", p)
    got = {s.labels: [(q.t, q.v) for q in s.points] for s in m.tgt.series}
    assert got == {A: [(0, 5.0), (60_000, 5.0)], B: [(0, 3.0)], C: [(60_000, 3.0)]}


def test_limitk_other_pick_and_invented_series() -> None:
    p = pair("limitk(2, x)", vec((A, 5.0), (B, 3.0)), operand=resolver({"x": OPERAND}))
    m = must("limitk_other_pick", p)
    chosen = {s.labels for s in m.tgt.series}
    assert len(chosen) == 2 and chosen <= {s.labels for s in OPERAND.series} and chosen != {A, B}
    m = must("limitk_invent", p)
    invented = [s for s in m.tgt.series if s.labels not in {x.labels for x in OPERAND.series}]
    assert len(m.tgt.series) == 2 and len(invented) == 1 and invented[0].points[0].v in (5.0, 3.0)
    assert apply("limitk_invent", pair("x", TWO)) is None
    assert apply("limitk_other_pick", pair("topk(2, x)", vec((A, 5.0), (B, 3.0)),
                                            operand=resolver({"x": OPERAND}))) is None


def test_count_values_label_moves_beyond_tolerance() -> None:
    r = vec((lbl(v="2.5"), 1.0), (lbl(v="0"), 3.0))
    q = 'count_values("v", x)'
    for seed in range(10):
        m = must("count_values_label", pair(q, r), seed)
        new = {dict(s.labels)["v"] for s in m.tgt.series} - {"2.5", "0"}
        assert new in ({"2.5000025"}, {"1"})
    assert apply("count_values_label", pair("x", r)) is None


def test_every_operator_has_a_pair_it_applies_to_and_changes_it() -> None:
    rich = vec((A, 1.5), (B, 0.0), (C, math.nan), (lbl(__name__="h"), H), infos=(REAL_INFO,))
    samples = [
        pair("x", rich), pair("x", mat((A, [(0, 1.0), (60_000, 3e-13)])), RANGE), pair("x", err()),
        pair("x", vec((A, stale_nan()))), pair('"s"', Result("e", "ok", "string", string="s")),
        pair("sort(x)", vec((A, 1.0), (B, 1.0), (C, 2.0))),
        pair('sort_by_label(x, "a")', vec((lbl(a="1", b="1"), 5.0), (lbl(a="1", b="2"), 5.0), (lbl(a="2"), 5.0))),
        pair("topk(2, x)", vec((A, 5.0), (B, 3.0)), operand=resolver({"x": OPERAND})),
        pair("limitk(2, x)", vec((A, 5.0), (B, 3.0)), operand=resolver({"x": OPERAND})),
        pair('count_values("v", x)', vec((lbl(v="2.5"), 1.0))),
    ]
    for op in OPERATORS:
        mutants = [m for p in samples if (m := op.apply(p, random.Random(1))) is not None]
        assert mutants, f"{op.name} applies to none of the hand-made pairs"
        for m in mutants:
            assert (m.ref, m.tgt) != (m.ref, m.ref) or op.name in ("negative_zero",), op.name


def test_operator_names_are_unique_and_kinds_known() -> None:
    assert len({o.name for o in OPERATORS}) == len(OPERATORS)
    assert {o.kind for o in OPERATORS} == {"forbidden", "allowed"}
    assert all(o.doc for o in OPERATORS)


# --------------------------------------------------------------------------- judging


def annotated_pairs() -> list[Pair]:
    return [pair("rate(x[1m])", vec((A, float(i))), operand=None) for i in range(12)] + [
        pair("rate(x[1m])", mat((A, [(0, 1.0)]), infos=(REAL_INFO,)), RANGE)
    ]


def test_a_lax_comparator_that_ignores_annotations_is_exposed() -> None:
    """The benchmark must not be fooled: a comparator that skips annotations scores < 100%
    on every forbidden annotation operator (here 0%), and below the real oracle."""
    annotation_ops = [o for o in OPERATORS if o.name.startswith("annotations_")]
    lax = bench.bench_pairs(annotated_pairs(), DifferentialOracle(ComparisonConfig(annotations="ignore")),
                            operators=annotation_ops)
    real = bench.bench_pairs(annotated_pairs(), DifferentialOracle(), operators=annotation_ops)
    for o in annotation_ops:
        assert lax[o.name].applied == real[o.name].applied > 0
        assert lax[o.name].flagged < lax[o.name].applied, o.name
        assert lax[o.name].misses and lax[o.name].misses[0]["verdict"] == "match"
    assert sum(t.flagged for t in real.values()) > sum(t.flagged for t in lax.values())


def test_a_lax_comparator_that_ignores_order_is_exposed() -> None:
    ops = [OPERATORS_BY_NAME[n] for n in ("reorder_sort", "reorder_sort_by_label", "reorder_topk")]
    pairs = [pair("sort_desc(x)", vec((A, 3.0), (B, 2.0))),
             pair('sort_by_label(x, "a")', vec((A, 1.0), (B, 1.0))),
             pair("topk(2, x)", vec((A, 3.0), (B, 2.0)))]
    lax = bench.bench_pairs(pairs, DifferentialOracle(ComparisonConfig(check_order=False)), operators=ops)
    assert all(lax[o.name].applied == 1 and lax[o.name].flagged == 0 for o in ops)


def test_flagged_means_neither_match_nor_expected() -> None:
    class Fixed:
        def __init__(self, kind: str) -> None:
            self.kind = kind

        def check(self, case: Case, ref: Result, tgt: Result, detail: bool = True) -> object:
            return self

    ops = [OPERATORS_BY_NAME["drop_series"], OPERATORS_BY_NAME["last_bit"]]
    for kind, flagged in (("match", 0), ("expected", 0), ("divergence", 1), ("engine_failure", 1)):
        t = bench.bench_pairs([pair("x", TWO)], Fixed(kind), operators=ops)
        assert t["drop_series"].flagged == t["last_bit"].flagged == flagged
        assert (len(t["drop_series"].misses), len(t["last_bit"].misses)) == ((1, 0) if not flagged else (0, 1))


def test_operand_resolver_is_passed_when_the_oracle_takes_one() -> None:
    seen: list[object] = []

    class WithOperand:
        def check(self, case: Case, ref: Result, tgt: Result, detail: bool = True, operand: object = None) -> object:
            seen.append(operand)
            return type("V", (), {"kind": "divergence"})()

    res = resolver({"x": OPERAND})
    bench.bench_pairs([pair("topk(2, x)", vec((A, 5.0), (B, 3.0)), operand=res)], WithOperand())
    assert seen and all(s is res for s in seen)
    assert bench.accepts_operand(WithOperand()) and not bench.accepts_operand(object())


# --------------------------------------------------------------------------- the run, on fake engines


class FakeEngine:
    """Answers every query from the loaded dataset by a fixed rule: a few series' values
    (some with an info), an error for queries whose text hashes to 0 mod 7."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ds: Dataset | None = None
        self.closed = False

    def load(self, ds: Dataset) -> None:
        self.ds = ds

    def versions(self) -> dict[str, str]:
        return {"github.com/prometheus/prometheus": "v0.316.0"}

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        assert self.ds is not None
        h = sum(map(ord, text))
        if h % 7 == 0:
            return Result.failure(self.name, "error", "execution", "vector cannot contain metrics with the same labelset")
        series = []
        for s in self.ds.series[: 1 + h % 4]:
            v = next((x.v for x in s.samples if not hasattr(x.v, "schema")), 0.0)
            pts = (Point(params.time_ms, float(v)),) if not params.is_range else tuple(
                Point(params.start_ms + k * params.step_ms, float(v)) for k in range(min(params.steps(), 3)))
            series.append(ResultSeries(s.labels, pts))
        infos = (REAL_INFO,) if h % 3 == 0 else ()
        return Result(self.name, "ok", "matrix" if params.is_range else "vector", tuple(series), infos=infos)

    def query_many_raw(self, items: Sequence[tuple[str, EvalParams]], bodies: bool = True) -> list[RawAnswer]:
        return [RawAnswer.of(self.query(t, p)) for t, p in items]

    def close(self) -> None:
        self.closed = True


def fake_run(seed: int, cases: int = 30, **kw: object) -> bench.OracleBenchReport:
    engines: list[FakeEngine] = []

    def factory(name: str) -> FakeEngine:
        engines.append(FakeEngine(name))
        return engines[-1]

    cfg = bench.OracleBenchConfig(budget=Budget(cases=cases), seed=seed, queries_per_dataset=12,
                                  wrap=bool(kw.pop("wrap", False)))
    r = bench.run_oracle_bench(cfg, engine_factory=factory, **kw)  # type: ignore[arg-type]
    assert engines and all(e.closed for e in engines)
    return r


def _stable(obj: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in obj.items() if k not in ("judging", "wall_seconds")}


def test_same_seed_same_pairs_and_mutants() -> None:
    a, b, c = fake_run(4).to_json_obj(), fake_run(4).to_json_obj(), fake_run(5).to_json_obj()
    assert a["cases"] == 30 and a["datasets"] == 3 and a["pairs"] > 0
    assert _stable(a) == _stable(b)  # counts, misses and the digest of every mutant's change
    assert _stable(a) != _stable(c)
    assert a["mutants_sha256"] != c["mutants_sha256"]


def test_json_shape_and_printed_table(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real_run = bench.run_oracle_bench

    def with_fakes(cfg: bench.OracleBenchConfig, **kw: object) -> bench.OracleBenchReport:
        return real_run(cfg, engine_factory=FakeEngine, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(bench, "run_oracle_bench", with_fakes)
    out = tmp_path / "sub" / "oracle.json"
    assert bench.main(["--budget", "40", "--seed", "3", "--queries-per-dataset", "20", "--json", str(out)]) == 0
    obj = json.loads(out.read_text())
    assert list(obj["operators"]) == [o.name for o in OPERATORS]
    for name, t in obj["operators"].items():
        assert set(t) == {"kind", "applied", "flagged"}
        assert t["kind"] == OPERATORS_BY_NAME[name].kind
        assert 0 <= t["flagged"] <= t["applied"]
    assert sum(t["applied"] for t in obj["operators"].values()) == obj["judging"]["checks"] > 0
    assert obj["cases"] == 40 and obj["seed"] == 3 and obj["reference"] == "prometheus" and obj["target"] == "mqe"
    text = capsys.readouterr()
    for o in OPERATORS:
        assert any(line.split()[:2] == [o.name, o.kind] for line in text.out.splitlines()), o.name
    assert "total forbidden" in text.out and "total allowed" in text.out and "pairs/s" in text.out
    assert "dataset 0 done" in text.err  # progress on stderr


def test_answers_over_the_sample_limit_are_skipped_and_counted() -> None:
    class Heavy(FakeEngine):
        def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
            r = super().query(text, params)
            heavy = sum(map(ord, text)) % 2 == 0
            return replace(r, stats=EngineStats(samples=bench.MAX_SAMPLES + 1 if heavy else 10))

    cfg = bench.OracleBenchConfig(budget=Budget(cases=20), seed=2, queries_per_dataset=20)
    r = bench.run_oracle_bench(cfg, engine_factory=Heavy)
    assert 0 < r.skipped_large < r.cases == 20
    assert sum(r.real_verdicts.values()) + r.skipped_large == r.cases
    assert r.to_json_obj()["skipped_large"] == r.skipped_large


def test_wrapped_queries_parse_and_keep_the_query_whole() -> None:
    from promfuzz.promql import parse

    p = pair("rate(x[1m]) # a trailing comment", vec((A, 1.0), (B, 2.0), (C, 3.0)))
    got = bench.wrapped_queries(p)
    assert [q.split("(")[0] for q in got] == ["topk", "bottomk", "limitk", "sort_desc", "sort_by_label"]
    assert got[0].startswith("topk(1, ") and got[-1].endswith(', "a")')
    for q in got:
        assert shape_of(q).ordering or shape_of(q).select_k, q
        parse(q)  # the comment does not swallow the closing parenthesis
    assert [q.split("(")[0] for q in bench.wrapped_queries(pair("x", mat((A, [(0, 1.0)]), (B, [(0, 1.0)])), RANGE))] \
        == ["topk", "bottomk", "limitk"]
    assert bench.wrapped_queries(pair("x", vec((A, 1.0)))) == []


def test_wrap_adds_derived_cases_outside_the_budget() -> None:
    plain = fake_run(6)
    wrapped = fake_run(6, wrap=True)
    assert wrapped.cases == plain.cases == 30
    assert plain.derived_cases == 0 < wrapped.derived_cases == sum(wrapped.derived_verdicts.values())
    assert wrapped.pairs > plain.pairs


def test_bad_budget_is_a_clear_error() -> None:
    from promfuzz.errors import ConfigError

    with pytest.raises(ConfigError, match="budget"):
        bench.main(["--budget", "soon"])


def test_ctrl_c_reports_what_was_measured() -> None:
    calls = {"n": 0}

    class Interrupting(FakeEngine):
        def query_many_raw(self, items: Sequence[tuple[str, EvalParams]], bodies: bool = True) -> list[RawAnswer]:
            calls["n"] += 1
            if calls["n"] > 3:
                raise KeyboardInterrupt
            return super().query_many_raw(items, bodies)

    cfg = bench.OracleBenchConfig(budget=Budget(cases=1000), seed=1, queries_per_dataset=10)
    r = bench.run_oracle_bench(cfg, engine_factory=Interrupting)
    assert r.interrupted and r.cases == 10 and r.checks > 0
    assert "(interrupted)" in bench.format_report(r)


# --------------------------------------------------------------------------- the real hosts


def _hosts_or_skip() -> None:
    for b in ("prometheus-host", "mimir-host"):
        if not (BUILD / b).is_file():
            msg = f"{BUILD / b} is not built (run `make hosts`)"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)


@pytest.mark.hosts
def test_small_run_on_the_real_hosts() -> None:
    _hosts_or_skip()
    cfg = bench.OracleBenchConfig(budget=Budget(cases=60), seed=11, queries_per_dataset=30)
    r = bench.run_oracle_bench(cfg)
    assert r.cases == 60 and r.datasets == 2
    assert sum(r.real_verdicts.values()) + r.skipped_large == r.cases and 0 < r.pairs == r.real_verdicts["match"]
    assert r.checks == sum(t.applied for t in r.operators.values()) > r.pairs
    assert r.check_seconds > 0 and r.pairs_per_second > 0
    for name, t in r.operators.items():
        assert 0 <= t.flagged <= t.applied, name
    applied = {n for n, t in r.operators.items() if t.applied}
    assert {"drop_series", "value_rel_1e-6", "annotations_add@10-20", "error_instead_of_answer"} <= applied
    assert r.operand_resolver == bench.accepts_operand(DifferentialOracle())
