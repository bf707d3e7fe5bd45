"""Hypothesis strategies for PromQL data and queries.

A small public surface over promfuzz's generators, in the style of
:mod:`hypothesis.strategies`. Every random decision is a Hypothesis draw, so failing
examples shrink: to fewer series, simpler values, shallower queries.

>>> from hypothesis import given
>>> from promfuzz import strategies as pst
>>> @given(pst.cases())
... def test_engines_agree(case):
...     ...

* :func:`datasets` -- :class:`promfuzz.model.Dataset` values (small by default).
* :func:`queries` -- query texts (or :class:`GeneratedQuery` with ``details=True``) for a
  dataset, a schema, or a default schema.
* :func:`cases` -- :class:`promfuzz.model.Case` values: a dataset, a query for it and
  evaluation parameters.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from promfuzz.generators.cases import CaseConfig, params_for
from promfuzz.generators.choices import HypothesisChoices
from promfuzz.generators.datasets import DatasetConfig, generate_dataset
from promfuzz.generators.params import ParamsConfig
from promfuzz.generators.queries import GeneratedQuery, QueryConfig, QueryGenerator, render
from promfuzz.generators.schema import DatasetSchema
from promfuzz.model import Case, Dataset

__all__ = ["DatasetConfig", "QueryConfig", "cases", "datasets", "queries"]

_SMALL_QUERIES = QueryConfig(max_depth=3)


def datasets(config: DatasetConfig | None = None) -> st.SearchStrategy[Dataset]:
    """Valid datasets (sorted series, consistent histograms, timestamps >= 0).

    ``config`` defaults to :meth:`DatasetConfig.small` (2-6 series over 20 minutes),
    which keeps examples fast and shrinking effective.
    """
    cfg = config or DatasetConfig.small()

    @st.composite
    def _datasets(draw: Any) -> Dataset:
        return generate_dataset(HypothesisChoices(draw), cfg)

    return _datasets()


def queries(
    dataset: Dataset | DatasetSchema | None = None,
    config: QueryConfig | None = None,
    *,
    details: bool = False,
) -> st.SearchStrategy[Any]:
    """PromQL query texts whose selectors come from ``dataset`` (a Dataset or a schema;
    default: a built-in schema).

    ``config`` defaults to depth-3 queries of the uniform profile with 2% deliberately
    invalid ones; pass ``QueryConfig(invalid_p=0)`` for valid queries only. With
    ``details=True`` the strategy yields :class:`GeneratedQuery` tuples
    ``(node, text, value_type, invalid)`` instead of texts.
    """
    cfg = config or _SMALL_QUERIES
    schema = DatasetSchema.from_dataset(dataset) if isinstance(dataset, Dataset) else dataset

    @st.composite
    def _queries(draw: Any) -> Any:
        c = HypothesisChoices(draw)
        node, t, invalid = QueryGenerator(c, schema, cfg).query()
        q = GeneratedQuery(node, render(node, c, cfg.variant_p), t, invalid)
        return q if details else q.text

    return _queries()


def cases(config: CaseConfig | None = None) -> st.SearchStrategy[Case]:
    """Whole cases: a dataset, a query on it and evaluation parameters suited to the
    query's type (instant for range vectors and strings, mostly).

    ``config`` defaults to small datasets and depth-3 queries.
    """
    cfg = config or CaseConfig(dataset=DatasetConfig.small(), query=_SMALL_QUERIES, params=ParamsConfig())

    @st.composite
    def _cases(draw: Any) -> Case:
        c = HypothesisChoices(draw)
        ds = generate_dataset(c, cfg.dataset)
        schema = DatasetSchema.from_dataset(ds)
        node, t, _invalid = QueryGenerator(c, schema, cfg.query).query()
        text = render(node, c, cfg.query.variant_p)
        return Case(ds, text, params_for(c, schema, t, cfg.params))

    return _cases()
