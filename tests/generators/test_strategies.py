"""The public Hypothesis strategies: valid, as varied as a campaign's cases from the first
examples on, shrinkable, and their options do what they say."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from promfuzz import strategies as pst
from promfuzz.generators.coverage import grammar_coverage
from promfuzz.generators.datasets import dataset_problems
from promfuzz.generators.queries import GeneratedQuery, QueryConfig
from promfuzz.model import Case, Dataset, Histogram, is_stale
from promfuzz.promql.ast import features, walk
from promfuzz.promql.parser import parse


def examples(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """The first ``n`` examples Hypothesis runs a test with (seeded: derandomize)."""
    out: list[Any] = []

    @settings(max_examples=n, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(x: Any) -> None:
        out.append(x)

    collect()
    return out


def depth(node: Any) -> int:
    return max(len(path) for _, path in walk(node))


# ------------------------------------------------------------------ validity


@settings(max_examples=30, deadline=None)
@given(pst.datasets())
def test_datasets_strategy_gives_valid_datasets(ds: Dataset) -> None:
    assert len(ds.series) >= 1  # min_series is a target: identical label sets collapse
    assert dataset_problems(ds) == []


@settings(max_examples=60, deadline=None)
@given(pst.queries(invalid=0))
def test_queries_strategy_gives_parsable_queries(text: str) -> None:
    parse(text)


@settings(max_examples=30, deadline=None)
@given(pst.queries(details=True))
def test_queries_strategy_details(q: GeneratedQuery) -> None:
    assert q.text and q.value_type in ("scalar", "vector", "matrix", "string")


@settings(max_examples=20, deadline=None)
@given(pst.cases())
def test_cases_strategy_gives_cases(case: Case) -> None:
    assert case.query and case.params.steps() <= 11_000
    assert dataset_problems(case.dataset) == []


# ------------------------------------------------------------------ strength


def test_queries_are_distinct_and_deep_from_the_first_examples() -> None:
    # Before the fix: 300 examples of cases() held 29 distinct queries (bare selectors).
    qs = examples(pst.queries(details=True), 150)
    texts = [q.text for q in qs]
    assert len(set(texts)) >= 135, f"{len(set(texts))} distinct queries in 150 examples"
    assert statistics.median(depth(q.node) for q in qs) >= 2
    assert statistics.median(len(t) for t in texts) >= 30
    # Hypothesis spends the first tenth of max_examples on small examples, half of them
    # its simplest extension of a random first choice (a bare selector): the other half
    # are already as varied as the rest.
    assert len(set(texts[:30])) >= 15, texts[:30]
    assert len(set(texts[30:])) >= 115


def test_cases_cover_the_grammar_like_a_campaign() -> None:
    cs = examples(pst.cases(), 120)
    qs = [c.query for c in cs]
    assert len(set(qs)) >= 108, f"{len(set(qs))} distinct queries in 120 examples"
    cov = grammar_coverage(cs)
    cats = cov["categories"]
    assert cats["functions"]["reached"] >= 50, cats["functions"]
    assert cats["aggregations"]["reached"] >= 10, cats["aggregations"]
    assert cats["operators"]["reached"] >= 14, cats["operators"]
    assert cats["matching"]["reached"] >= 4, cats["matching"]
    assert cats["modifiers"]["reached"] >= 10, cats["modifiers"]


def _share(cases: list[Case], pred: Callable[[Case], bool]) -> float:
    return sum(1 for c in cases if pred(c)) / len(cases)


def test_cases_carry_the_campaigns_data_features() -> None:
    cs = examples(pst.cases(), 60)

    def values(c: Case) -> list[Any]:
        return [p.v for s in c.dataset.series for p in s.samples]

    assert statistics.median(len(c.dataset.series) for c in cs) >= 6
    assert _share(cs, lambda c: any(isinstance(v, Histogram) for v in values(c))) >= 0.25
    assert _share(cs, lambda c: any(isinstance(v, float) and is_stale(v) for v in values(c))) >= 0.5
    assert _share(cs, lambda c: any(isinstance(v, float) and math.isinf(v) for v in values(c))) >= 0.25
    assert _share(cs, lambda c: c.params.is_range) >= 0.2
    assert _share(cs, lambda c: not c.params.is_range) >= 0.2


# ------------------------------------------------------------------ shrinking


def test_queries_strategy_shrinks_to_a_small_example() -> None:
    q = find(
        pst.queries(invalid=0),
        lambda t: "histogram_quantile" in t,
        settings=settings(max_examples=3000, database=None),
    )
    assert len(q) < 90, q


# ------------------------------------------------------------------ options


def test_max_depth_bounds_the_tree() -> None:
    qs = examples(pst.queries(details=True, max_depth=1, invalid=0), 60)
    # depth 1: an operator or call over leaves; a selector in a range adds one level
    assert max(depth(q.node) for q in qs) <= 4
    assert any(depth(q.node) >= 1 for q in qs)


def test_functions_limits_calls_to_the_names_given() -> None:
    qs = examples(pst.queries(details=True, functions=["rate", "abs", "sum"], invalid=0), 80)
    fns = {f for q in qs for f in features(q.node) if f.startswith(("fn:", "agg:"))}
    assert fns <= {"fn:rate", "fn:abs", "agg:sum"}, fns
    assert {"fn:rate", "fn:abs", "agg:sum"} <= fns


def test_exclude_removes_functions_and_features() -> None:
    qs = examples(pst.queries(details=True, exclude=["topk", "mod:@", "rate"], invalid=0), 150)
    fs = {f for q in qs for f in features(q.node)}
    assert not fs & {"agg:topk", "mod:@", "fn:rate"}
    assert "mod:offset" in fs  # everything else is still there


def test_value_type_fixes_the_query_type() -> None:
    qs = examples(pst.queries(details=True, value_type="scalar"), 40)
    assert {q.value_type for q in qs} == {"scalar"} and all(q.invalid is None for q in qs)


def test_instant_only_series_and_duration() -> None:
    cs = examples(pst.cases(instant_only=True, series=(1, 3), duration="10m"), 30)
    assert all(not c.params.is_range for c in cs)


def test_config_still_accepted() -> None:
    qs = examples(pst.queries(config=QueryConfig(max_depth=0, invalid_p=0.0), details=True), 20)
    assert all(depth(q.node) <= 2 for q in qs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"functions": ["rat"]}, "unknown name"),
        ({"exclude": ["mod:nope"]}, "unknown name"),
        ({"exclude": "rate"}, "list of names"),
        ({"value_type": "instant"}, "value_type"),
        ({"max_depth": -1}, "max_depth"),
        ({"series": (3, 1)}, "series"),
        ({"duration": "0s"}, "duration"),
        ({"invalid": 2.0}, "invalid"),
    ],
)
def test_bad_options_fail_clearly(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        pst.cases(**kwargs)
