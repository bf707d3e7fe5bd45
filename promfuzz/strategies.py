"""Hypothesis strategies for PromQL data and queries.

A small public surface over promfuzz's generators, in the style of
:mod:`hypothesis.strategies`. Every random decision of the grammar is a Hypothesis
choice (see :class:`~promfuzz.generators.choices.HypothesisChoices`), so examples are
drawn with the same decision distribution as a campaign's cases -- nested functions,
aggregations, binary operators with matching, modifiers, subqueries, histograms, gaps,
stale markers, special values -- from the first example on, and a failing example
shrinks choice by choice toward the simplest answers: fewer series, shallower queries,
plainer values.

>>> from hypothesis import given
>>> from promfuzz import strategies as pst
>>> @given(pst.cases())
... def test_engines_agree(case):
...     ...

* :func:`datasets` -- :class:`promfuzz.model.Dataset` values.
* :func:`queries` -- query texts (or :class:`GeneratedQuery` with ``details=True``) for a
  dataset, a schema, or a default schema.
* :func:`cases` -- :class:`promfuzz.model.Case` values: a dataset, a query for it and
  evaluation parameters.

Options common to :func:`queries` and :func:`cases` (each overrides the matching field of
``config``): ``max_depth``, ``functions`` (only these functions / aggregations),
``exclude`` (names or feature names never to generate), ``value_type`` (the query's
type), ``invalid`` (share of deliberately invalid queries), ``profile`` (``uniform`` or
``realistic`` weights). :func:`datasets` and :func:`cases` take ``series`` (a count or a
``(min, max)`` pair) and ``duration`` (milliseconds or a PromQL duration such as
``"30m"``); :func:`cases` also takes ``instant_only``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from promfuzz.generators.cases import CaseConfig, params_for
from promfuzz.generators.choices import HypothesisChoices
from promfuzz.generators.datasets import DatasetConfig, generate_dataset
from promfuzz.generators.params import ParamsConfig
from promfuzz.generators.queries import GeneratedQuery, QueryConfig, QueryGenerator, render
from promfuzz.generators.schema import DatasetSchema
from promfuzz.model import Case, Dataset
from promfuzz.promql.functions import AGGREGATIONS, BINARY_OPERATORS, FUNCTIONS, ValueType

__all__ = ["CaseConfig", "DatasetConfig", "ParamsConfig", "QueryConfig", "cases", "datasets", "queries"]

DEFAULT_QUERY = QueryConfig()
"""The campaign's query config: depth 4, the uniform profile, 2% deliberately invalid."""

DEFAULT_DATASET = DatasetConfig(min_series=6, max_series=20, duration_ms=40 * 60_000)
"""The campaign's dataset generator with fewer series (6-20 instead of 10-30) over 40
minutes instead of an hour: every example loads its own dataset, where a campaign shares
one among 50 queries. Every family kind and data feature of a campaign dataset stays."""

_VALUE_TYPES: tuple[ValueType, ...] = ("vector", "scalar", "matrix", "string")


def _excludable() -> frozenset[str]:
    from promfuzz.generators.coverage import language_table

    names = {n for cat, feats in language_table().items() if cat != "literals" for n in feats}
    return frozenset(names | set(FUNCTIONS) | set(AGGREGATIONS) | set(BINARY_OPERATORS))


def _check_names(what: str, names: Iterable[str], allowed: Iterable[str]) -> frozenset[str]:
    if isinstance(names, str):
        raise TypeError(f"{what}= takes a list of names, not the string {names!r}")
    out = frozenset(names)
    unknown = sorted(out - set(allowed))
    if unknown:
        raise ValueError(f"{what}=: unknown name(s) {', '.join(map(repr, unknown))}")
    return out


def _query_config(
    base: QueryConfig,
    *,
    max_depth: int | None = None,
    functions: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    value_type: ValueType | None = None,
    invalid: float | None = None,
    profile: str | None = None,
) -> QueryConfig:
    cfg = base
    if max_depth is not None:
        if max_depth < 0:
            raise ValueError(f"max_depth must be >= 0, got {max_depth}")
        cfg = replace(cfg, max_depth=max_depth)
    if profile is not None:
        if profile not in ("uniform", "realistic"):
            raise ValueError(f"profile must be 'uniform' or 'realistic', got {profile!r}")
        cfg = replace(cfg, profile=profile)  # type: ignore[arg-type]
    ex = set(cfg.exclude) | _check_names("exclude", exclude, _excludable())
    if functions is not None:
        only = _check_names("functions", functions, set(FUNCTIONS) | set(AGGREGATIONS))
        ex |= {f for f in FUNCTIONS if f not in only}
        if only & set(AGGREGATIONS):  # aggregations are limited only when some are named
            ex |= {a for a in AGGREGATIONS if a not in only}
    cfg = replace(cfg, exclude=frozenset(ex))
    if value_type is not None:
        if value_type not in _VALUE_TYPES:
            raise ValueError(f"value_type must be one of {', '.join(_VALUE_TYPES)}, got {value_type!r}")
        # A deliberately invalid query has no type: asking for one type means valid queries.
        cfg = replace(cfg, top_types=((value_type, 1.0),), invalid_p=0.0)
    if invalid is not None:
        if not 0.0 <= invalid <= 1.0:
            raise ValueError(f"invalid must be a share in [0, 1], got {invalid}")
        if value_type is not None and invalid > 0:
            raise ValueError("invalid= and value_type= exclude each other (invalid queries have no type)")
        cfg = replace(cfg, invalid_p=invalid)
    return cfg


def _duration_ms(duration: int | str) -> int:
    if isinstance(duration, str):
        from promfuzz.corpus.gosyntax import parse_duration

        ms = parse_duration(duration)
    else:
        ms = int(duration)
    if ms <= 0:
        raise ValueError(f"duration must be positive, got {duration!r}")
    return ms


def _dataset_config(
    base: DatasetConfig, *, series: int | tuple[int, int] | None = None, duration: int | str | None = None
) -> DatasetConfig:
    cfg = base
    if series is not None:
        lo, hi = (series, series) if isinstance(series, int) else series
        if not 1 <= lo <= hi:
            raise ValueError(f"series must be a count >= 1 or a (min, max) pair with 1 <= min <= max, got {series!r}")
        cfg = replace(cfg, min_series=lo, max_series=hi)
    if duration is not None:
        cfg = replace(cfg, duration_ms=_duration_ms(duration))
    return cfg


def datasets(
    config: DatasetConfig | None = None,
    *,
    series: int | tuple[int, int] | None = None,
    duration: int | str | None = None,
) -> st.SearchStrategy[Dataset]:
    """Valid datasets (sorted series, consistent histograms, timestamps >= 0).

    ``config`` defaults to :data:`DEFAULT_DATASET` (the campaign's generator, 6-20 series
    over 40 minutes); ``series`` and ``duration`` override its size
    (:meth:`DatasetConfig.small` is a tiny one: 2-6 series over 20 minutes).
    ``series`` is a target: label sets that coincide collapse into one series.
    """
    cfg = _dataset_config(config or DEFAULT_DATASET, series=series, duration=duration)

    @st.composite
    def _datasets(draw: Any) -> Dataset:
        return _dataset(HypothesisChoices(draw), cfg)

    return _datasets()


def queries(
    dataset: Dataset | DatasetSchema | None = None,
    config: QueryConfig | None = None,
    *,
    details: bool = False,
    max_depth: int | None = None,
    functions: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    value_type: ValueType | None = None,
    invalid: float | None = None,
    profile: str | None = None,
) -> st.SearchStrategy[Any]:
    """PromQL query texts whose selectors come from ``dataset`` (a Dataset or a schema;
    default: a built-in schema).

    ``config`` defaults to the campaign's (depth 4, uniform profile, 2% deliberately
    invalid queries); ``invalid=0`` gives valid queries only, ``value_type="scalar"``
    valid scalar queries. With ``details=True`` the strategy yields
    :class:`GeneratedQuery` tuples ``(node, text, value_type, invalid)`` instead of texts.
    """
    cfg = _query_config(
        config or DEFAULT_QUERY, max_depth=max_depth, functions=functions, exclude=exclude,
        value_type=value_type, invalid=invalid, profile=profile,
    )
    schema = DatasetSchema.from_dataset(dataset) if isinstance(dataset, Dataset) else dataset

    @st.composite
    def _queries(draw: Any) -> Any:
        c = HypothesisChoices(draw)
        node, t, reason = QueryGenerator(c, schema, cfg).query()
        q = GeneratedQuery(node, render(node, c, cfg.variant_p), t, reason)
        return q if details else q.text

    return _queries()


def cases(
    config: CaseConfig | None = None,
    *,
    max_depth: int | None = None,
    functions: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    value_type: ValueType | None = None,
    invalid: float | None = None,
    profile: str | None = None,
    series: int | tuple[int, int] | None = None,
    duration: int | str | None = None,
    instant_only: bool = False,
) -> st.SearchStrategy[Case]:
    """Whole cases: a dataset, a query on it and evaluation parameters suited to the
    query's type (instant for range vectors and strings, mostly; ``instant_only=True``
    for instant evaluations only).

    ``config`` defaults to the campaign's query and parameter configs with
    :data:`DEFAULT_DATASET`; the keyword options override parts of it.
    """
    base = config or CaseConfig(dataset=DEFAULT_DATASET, query=DEFAULT_QUERY, params=ParamsConfig())
    params = replace(base.params, instant_p=1.0) if instant_only else base.params
    cfg = replace(
        base,
        dataset=_dataset_config(base.dataset, series=series, duration=duration),
        query=_query_config(
            base.query, max_depth=max_depth, functions=functions, exclude=exclude,
            value_type=value_type, invalid=invalid, profile=profile,
        ),
        params=params,
    )

    @st.composite
    def _cases(draw: Any) -> Case:
        c = HypothesisChoices(draw)
        ds = _dataset(c, cfg.dataset)
        schema = DatasetSchema.from_dataset(ds)
        node, t, _reason = QueryGenerator(c, schema, cfg.query).query()
        text = render(node, c, cfg.query.variant_p)
        return Case(ds, text, params_for(c, schema, t, cfg.params))

    return _cases()


def _dataset(c: HypothesisChoices, cfg: DatasetConfig) -> Dataset:
    """:func:`generate_dataset` with its series target drawn first and pinned: the
    generator adds families until the target is met or ``4 * max_series + 4`` families
    were drawn, and Hypothesis's simplest example gives every family the same labels (one
    series), so with the range's maximum the simplest example would be too large."""
    n = c.integer(cfg.min_series, cfg.max_series)
    return generate_dataset(c, replace(cfg, min_series=n, max_series=n))

