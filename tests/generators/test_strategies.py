"""The public Hypothesis strategies work inside @given tests and shrink."""

from __future__ import annotations

from hypothesis import find, given, settings

from promfuzz import strategies as pst
from promfuzz.generators.datasets import dataset_problems
from promfuzz.generators.queries import GeneratedQuery, QueryConfig
from promfuzz.model import Case, Dataset
from promfuzz.promql.parser import parse


@settings(max_examples=30, deadline=None)
@given(pst.datasets())
def test_datasets_strategy_gives_valid_datasets(ds: Dataset) -> None:
    assert len(ds.series) >= 1  # min_series is a target: identical label sets collapse
    assert dataset_problems(ds) == []


@settings(max_examples=60, deadline=None)
@given(pst.queries(config=QueryConfig(max_depth=3, invalid_p=0.0)))
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


def test_queries_strategy_shrinks_to_a_small_example() -> None:
    q = find(
        pst.queries(config=QueryConfig(invalid_p=0.0)),
        lambda t: "histogram_quantile" in t,
        settings=settings(max_examples=3000, database=None),
    )
    assert len(q) < 90
