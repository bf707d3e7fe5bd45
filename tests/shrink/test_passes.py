"""Each pass family: proposals are valid, strictly smaller, biggest reductions first."""

from __future__ import annotations

import pytest

from promfuzz.generators.datasets import dataset_problems
from promfuzz.model import Case, Dataset, EvalParams, Histogram
from promfuzz.promql import BinaryExpr, NumberLiteral, VectorSelector, value_type
from promfuzz.promql.parser import parse
from promfuzz.promql.printer import to_text
from promfuzz.shrink import dataset_passes as dp
from promfuzz.shrink import eval_passes as ep
from promfuzz.shrink import query_passes as qp
from promfuzz.shrink._tree import fix_parens, render
from promfuzz.shrink.size import size_of

ALL_PASSES = [*qp.QUERY_PASSES, *dp.DATASET_PASSES, *ep.EVAL_PASSES]


def _ds(n: int = 4, samples: int = 10) -> Dataset:
    return Dataset.build(
        (
            {"__name__": "m", "i": str(i), "job": "a" if i % 2 else "b"},
            [(t * 60_000, float(t * i) + 0.5) for t in range(samples)],
        )
        for i in range(n)
    )


def _case(q: str, params: EvalParams | None = None, ds: Dataset | None = None) -> Case:
    return Case(ds if ds is not None else _ds(), q, params or EvalParams.instant(600_000))


def _queries(case: Case, fn: object) -> list[str]:
    return [c.query for c in fn(case)]  # type: ignore[operator]


def _generated_cases(n: int) -> list[Case]:
    from promfuzz.generators.choices import RandomChoices
    from promfuzz.generators.datasets import DatasetConfig, generate_dataset
    from promfuzz.generators.params import generate_params
    from promfuzz.generators.queries import QueryConfig, generate_queries
    from promfuzz.generators.schema import DatasetSchema

    c = RandomChoices(3)
    out = []
    for _ in range(n):
        ds = generate_dataset(c, DatasetConfig.small())
        for q in generate_queries(
            c, DatasetSchema.from_dataset(ds), 2, QueryConfig(max_depth=4, invalid_p=0.0)
        ):
            out.append(Case(ds, q.text, generate_params(c, ds)))
    return out


# --------------------------------------------------------------------------- all passes


@pytest.mark.parametrize("case", _generated_cases(4), ids=lambda c: c.case_id())
def test_every_candidate_is_valid_and_strictly_smaller(case: Case) -> None:
    want = value_type(parse(case.query))
    size = size_of(case)
    for p in ALL_PASSES:
        for cand in p(case):
            assert size_of(cand) < size, (p.__name__, cand.query)
            assert value_type(parse(cand.query)) == want, (p.__name__, cand.query)
            assert not dataset_problems(cand.dataset) or dataset_problems(case.dataset), p.__name__
            assert all(s.samples for s in cand.dataset.series)
            if cand.params.is_range:
                assert cand.params.step_ms > 0 and cand.params.end_ms >= cand.params.start_ms >= 0


def test_passes_are_deterministic() -> None:
    case = _generated_cases(1)[0]
    for p in ALL_PASSES:
        assert [c.case_id() for c in p(case)] == [c.case_id() for c in p(case)], p.__name__


# --------------------------------------------------------------------------- printing


def test_fix_parens_adds_what_precedence_needs() -> None:
    a, b, c = VectorSelector("a"), VectorSelector("b"), VectorSelector("c")
    assert to_text(fix_parens(BinaryExpr("*", BinaryExpr("+", a, b), c))) == "(a + b) * c"
    assert to_text(fix_parens(BinaryExpr("-", a, BinaryExpr("-", b, c)))) == "a - (b - c)"
    assert to_text(fix_parens(BinaryExpr("^", NumberLiteral(-2.0), NumberLiteral(2.0)))) == "(-2) ^ 2"
    assert to_text(fix_parens(BinaryExpr("+", a, BinaryExpr("*", b, c)))) == "a + b * c"


def test_render_rejects_a_tree_of_another_type() -> None:
    tree = parse("sum(rate(x[5m]))")
    assert render(tree, "vector") == "sum(rate(x[5m]))"
    assert render(tree, "scalar") is None


# --------------------------------------------------------------------------- query passes


def test_replace_with_descendant_tries_the_smallest_trees_first() -> None:
    qs = _queries(_case("sum(rate(m[5m])) + 1"), qp.replace_with_descendant)
    assert qs[0] == "1" or qs[0].count("(") <= 1
    assert "rate(m[5m])" in qs and "sum(rate(m[5m]))" in qs
    assert qs.index("rate(m[5m])") > qs.index("1") if "1" in qs else True


def test_replace_with_descendant_removes_parentheses_that_are_no_longer_needed() -> None:
    qs = _queries(_case("(m + m) * 2", EvalParams.instant(0)), qp.replace_with_descendant)
    assert "m * 2" in qs and "m + m" in qs


def test_replace_with_minimal_uses_the_selectors_of_the_node() -> None:
    qs = _queries(_case('abs(m{job="a"} offset 1m)'), qp.replace_with_minimal)
    assert qs == ['m{job="a"}', 'abs(m{job="a"})']
    qs = _queries(_case("max_over_time(rate(m[5m])[10m:1m])"), qp.replace_with_minimal)
    assert "max_over_time(m[5m])" in qs and "max_over_time(m[10m])" in qs


def test_clause_passes_drop_grouping_matching_matchers_and_modifiers() -> None:
    assert _queries(_case("sum by (i, job) (m)"), qp.simplify_aggregations) == [
        "sum(m)",
        "sum by (job) (m)",
        "sum by (i) (m)",
    ]
    qs = _queries(_case("m * on (i) group_left (job) m"), qp.simplify_matching)
    assert "m * ignoring () group_left (job) m" in qs or "m * group_left (job) m" in qs or "m * m" in qs
    assert "m * on (i) m" in qs
    qs = _queries(_case('m{i=~"1|2",job="a"}'), qp.drop_matchers)
    assert 'm{job="a"}' in qs and 'm{i=~"1|2"}' in qs and 'm{i="1",job="a"}' in qs
    assert _queries(_case('{__name__="m"}'), qp.drop_matchers) == ["m"]
    qs = _queries(_case("m offset 5m @ 100"), qp.drop_modifiers)
    assert qs == ["m @ 100.000", "m offset 5m"]


def test_literal_passes_simplify_numbers_strings_and_durations() -> None:
    qs = _queries(_case("m > 123.456"), qp.simplify_numbers)
    assert qs[:3] == ["m > 0", "m > 1", "m > 123"]
    qs = _queries(_case('label_replace(m, "dst", "x", "job", "(.*)")'), qp.simplify_strings)
    assert 'label_replace(m, "", "x", "job", "(.*)")' in qs
    qs = _queries(_case("rate(m[7m13s])"), qp.simplify_durations)
    assert "rate(m[1m])" in qs and "rate(m[7m])" in qs
    assert _queries(_case("max_over_time(m[5m:])"), qp.subquery_to_range) == ["max_over_time(m[5m])"]


def test_canonical_text_drops_comments_and_spellings_but_never_proposes_the_same_text() -> None:
    q = "log10(COUNT_VALUES\t('__name__', \t{__name__ # comment 21\n='a.b.c'})) + 0x10"
    assert _queries(_case(q), qp.canonical_text) == ['log10(count_values("__name__", {__name__="a.b.c"})) + 16']
    assert _queries(_case("log10(x) + 16"), qp.canonical_text) == []


def test_query_passes_keep_the_top_level_type() -> None:
    for p in qp.QUERY_PASSES:
        for c in p(_case("scalar(sum(m)) * 2")):
            assert value_type(parse(c.query)) == "scalar", (p.__name__, c.query)


# --------------------------------------------------------------------------- dataset passes


def test_drop_series_tries_halves_first_then_single_series() -> None:
    cands = list(dp.drop_series(_case("m")))
    assert [len(c.dataset.series) for c in cands[:2]] == [2, 2]
    assert len(cands[-1].dataset.series) == 3
    assert len(cands) == 2 + 4  # 2 halves, (quarters are single series here) 4 single drops


def test_drop_unselected_series_keeps_what_the_query_selects() -> None:
    ds = Dataset.build(
        [
            ({"__name__": "m", "job": "a"}, [(0, 1.0)]),
            ({"__name__": "m", "job": "b"}, [(0, 1.0)]),
            ({"__name__": "other"}, [(0, 1.0)]),
        ]
    )
    cands = list(dp.drop_unselected_series(_case('sum(m{job=~"a|c"})', ds=ds)))
    assert len(cands) == 1
    assert [dict(s.labels)["job"] for s in cands[0].dataset.series] == ["a"]


def test_cut_time_range_first_drops_what_the_query_cannot_see() -> None:
    case = _case("rate(m[2m])", EvalParams.instant(5 * 60_000))
    first = next(iter(dp.cut_time_range(case)))
    ts = sorted({x.t for s in first.dataset.series for x in s.samples})
    assert ts == [3 * 60_000, 4 * 60_000, 5 * 60_000]


def test_visible_window_follows_offsets_subqueries_and_at() -> None:
    assert dp.visible_window(parse("m offset 1m"), 600_000, 600_000) == (600_000 - 60_000 - 300_000, 540_000)
    assert dp.visible_window(parse("max_over_time(m[10m:1m])"), 600_000, 600_000) == (0 - 300_000, 600_000)
    assert dp.visible_window(parse("m[1m] @ 100"), 600_000, 900_000) == (40_000, 100_000)


def test_drop_samples_and_labels_and_values() -> None:
    case = _case('m{job="a"}', ds=_ds(1, 4))
    sizes = [c.dataset.sample_count for c in dp.drop_samples(case)]
    assert sizes == [2, 2, 3, 3, 3, 3]
    label_cands = [c.dataset.series[0].labels for c in dp.drop_labels(case)]
    assert label_cands[0] == (("__name__", "m"), ("job", "b"))  # the unreferenced label i first
    vals = [[x.v for x in c.dataset.series[0].samples] for c in dp.simplify_values(case)]
    assert vals[0] == [0.0] * 4 and vals[1] == [1.0] * 4


def test_drop_labels_never_merges_two_series() -> None:
    ds = Dataset.build([({"__name__": "m", "i": "1"}, [(0, 1.0)]), ({"__name__": "m", "i": "2"}, [(0, 2.0)])])
    for c in dp.drop_labels(_case("m", ds=ds)):
        assert len(c.dataset.series) == 2


def test_histograms_get_simpler_and_stay_valid() -> None:
    h = Histogram(
        schema=1,
        count=10.0,
        sum=12.345,
        zero_threshold=0.001,
        zero_count=2.0,
        positive_spans=((0, 2),),
        positive_buckets=(3.0, 4.0),
        negative_spans=((0, 1),),
        negative_buckets=(1.0,),
    )
    ds = Dataset.build([({"__name__": "h"}, [(0, h), (60_000, h)])])
    cands = list(dp.simplify_values(_case("h", ds=ds)))
    assert cands
    for c in cands:
        assert not dataset_problems(c.dataset)
    simpler = [x.v for x in cands[0].dataset.series[0].samples]
    assert all(isinstance(v, Histogram) and not v.negative_buckets and v.count == 9.0 for v in simpler)


# --------------------------------------------------------------------------- eval passes


def test_range_to_instant_tries_the_focus_times_first() -> None:
    case = _case("m", EvalParams.range(0, 600_000, 60_000))
    ts = [c.params.time_ms for c in ep.range_to_instant(case, (240_000, 1))]
    assert ts[:3] == [240_000, 600_000, 0]
    assert all(not c.params.is_range for c in ep.range_to_instant(case))


def test_fewer_steps_halves_the_range_first() -> None:
    case = _case("m", EvalParams.range(0, 420_000, 60_000))
    ps = [c.params for c in ep.fewer_steps(case)]
    assert ps[0] == EvalParams.range(0, 180_000, 60_000) and ps[1] == EvalParams.range(
        240_000, 420_000, 60_000
    )
    assert EvalParams.range(0, 420_000, 120_000) in ps


def test_round_times_rounds_to_minutes_then_seconds() -> None:
    case = _case("m", EvalParams.instant(125_432))
    ts = [c.params.time_ms for c in ep.round_times(case)]
    assert ts[:3] == [120_000, 125_000, 125_432 // 1000 * 1000 + 0] or ts[:2] == [120_000, 125_000]


def test_shift_earlier_moves_data_eval_and_at_together() -> None:
    ds = Dataset.build([({"__name__": "m"}, [(3_600_000 + t * 60_000, 1.0) for t in range(3)])])
    case = Case(ds, "m @ 3660.000", EvalParams.instant(3_700_000))
    first = next(iter(ep.shift_earlier(case)))
    assert first.query == "m @ 60.000"
    assert first.params == EvalParams.instant(100_000)
    assert [x.t for x in first.dataset.series[0].samples] == [0, 60_000, 120_000]


def test_absorb_offset_moves_the_evaluation_instead() -> None:
    case = _case("rate(m[2m] offset 1m) + m offset 1m", EvalParams.range(300_000, 600_000, 60_000))
    cands = list(ep.absorb_offset(case))
    assert [(c.query, c.params) for c in cands] == [
        ("rate(m[2m]) + m", EvalParams.range(240_000, 540_000, 60_000))
    ]
    assert list(ep.absorb_offset(_case("m offset 1m + m offset 2m"))) == []


def test_histogram_simplification_survives_nan_and_infinite_values() -> None:
    import math

    from promfuzz.model import Histogram
    from promfuzz.shrink.dataset_passes import simpler_histograms

    h = Histogram(schema=0, count=math.nan, sum=math.nan, positive_spans=((0, 2),), positive_buckets=(math.nan, 1.5))
    assert all(isinstance(x, Histogram) for x in simpler_histograms(h))
    h2 = Histogram(schema=0, count=3, sum=math.inf, positive_spans=((0, 1),), positive_buckets=(3.0,))
    assert all(isinstance(x, Histogram) for x in simpler_histograms(h2))
