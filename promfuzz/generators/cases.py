"""Whole test cases: a dataset, a query and evaluation parameters.

* :func:`generate_case` -- one :class:`~promfuzz.model.Case` from any ``Choices``.
* :func:`generate_dataset_with_queries` -- one dataset and many queries on it (campaigns
  load the dataset into the engines once and run every query against it).
* :func:`generate_cases` -- ``n`` cases from a seed, deterministically: case ``i`` depends
  only on ``(seed, i)`` and the config, and consecutive cases share a dataset
  (``CaseConfig.queries_per_dataset``).
* :func:`format_cases` -- cases as people read them (promqltest text).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from promfuzz.generators.choices import Choices, RandomChoices
from promfuzz.generators.datasets import DatasetConfig, generate_dataset
from promfuzz.generators.params import ParamsConfig, generate_params
from promfuzz.generators.queries import GeneratedQuery, QueryConfig, QueryGenerator, render
from promfuzz.generators.schema import DatasetSchema
from promfuzz.model import Case, Dataset, EvalParams
from promfuzz.promql.functions import ValueType


@dataclass(frozen=True)
class CaseConfig:
    """Configuration of generated cases: one config per part, plus how many queries share
    one dataset."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    params: ParamsConfig = field(default_factory=ParamsConfig)
    queries_per_dataset: int = 50


@dataclass(frozen=True)
class GeneratedCase:
    """A case plus what the generator knows about its query (tree, type, invalid reason)."""

    case: Case
    query: GeneratedQuery


@dataclass(frozen=True)
class DatasetBatch:
    """One dataset, its schema, and generated queries with their evaluation parameters."""

    dataset: Dataset
    schema: DatasetSchema
    queries: tuple[GeneratedQuery, ...]
    params: tuple[EvalParams, ...]

    def cases(self) -> Iterator[GeneratedCase]:
        for q, p in zip(self.queries, self.params, strict=True):
            yield GeneratedCase(Case(self.dataset, q.text, p), q)


def params_for(
    choices: Choices, schema: DatasetSchema, value_type: ValueType, config: ParamsConfig
) -> EvalParams:
    """Parameters suited to a query's type: range vectors and strings only make sense as
    instant queries, so they get one -- except for a small share, where the range query
    must fail the same way on every engine."""
    if value_type in ("matrix", "string") and not choices.boolean(0.1):
        p = generate_params(choices, schema, ParamsConfig(instant_p=1.0, max_points=config.max_points))
        return p
    return generate_params(choices, schema, config)


def _one_query(
    gen: QueryGenerator, choices: Choices, schema: DatasetSchema, config: CaseConfig
) -> tuple[GeneratedQuery, EvalParams]:
    node, t, invalid = gen.query()
    q = GeneratedQuery(node, render(node, choices, config.query.variant_p), t, invalid)
    return q, params_for(choices, schema, t, config.params)


def generate_case(choices: Choices, config: CaseConfig | None = None) -> GeneratedCase:
    """One case (a fresh dataset, one query, its parameters)."""
    config = config or CaseConfig()
    ds = generate_dataset(choices, config.dataset)
    schema = DatasetSchema.from_dataset(ds)
    gen = QueryGenerator(choices, schema, config.query)
    q, p = _one_query(gen, choices, schema, config)
    return GeneratedCase(Case(ds, q.text, p), q)


def generate_dataset_with_queries(
    seed: int | str, n_queries: int, config: CaseConfig | None = None
) -> DatasetBatch:
    """A dataset and ``n_queries`` queries (with parameters) for it, from a seed.

    The dataset depends only on ``seed`` and the dataset config, so asking for more
    queries never changes the data; query ``i`` depends on the seed and all before it.
    """
    config = config or CaseConfig()
    ds = generate_dataset(RandomChoices(f"{seed}:dataset"), config.dataset)
    schema = DatasetSchema.from_dataset(ds)
    choices = RandomChoices(f"{seed}:queries")
    gen = QueryGenerator(choices, schema, config.query)
    qs: list[GeneratedQuery] = []
    ps: list[EvalParams] = []
    for _ in range(n_queries):
        q, p = _one_query(gen, choices, schema, config)
        qs.append(q)
        ps.append(p)
    return DatasetBatch(ds, schema, tuple(qs), tuple(ps))


def iter_generated_cases(seed: int, n: int, config: CaseConfig | None = None) -> Iterator[GeneratedCase]:
    """``n`` generated cases; every ``queries_per_dataset`` consecutive cases share a dataset."""
    config = config or CaseConfig()
    per = max(1, config.queries_per_dataset)
    done = 0
    batch = 0
    while done < n:
        k = min(per, n - done)
        yield from generate_dataset_with_queries(f"{seed}:{batch}", k, config).cases()
        done += k
        batch += 1


def generate_cases(seed: int, n: int, config: CaseConfig | None = None) -> list[Case]:
    """``n`` cases from ``seed`` (deterministic: same seed and config, same cases)."""
    return [g.case for g in iter_generated_cases(seed, n, config)]


# --------------------------------------------------------------------------- people


def _case_text(g: GeneratedCase, index: int) -> str:
    from promfuzz.promql.printer import to_text

    note = f"case {index}: {g.query.value_type}"
    if g.query.invalid:
        note += f", deliberately invalid ({g.query.invalid})"
    try:
        from promfuzz.corpus.promqltest import write_case

        return write_case(g.case, comment=note)
    except (ImportError, ValueError):
        from promfuzz.generators.loadtext import format_duration_ms, format_load

        p = g.case.params
        q = to_text(g.query.node)
        if p.is_range:
            ev = (
                f"eval range from {format_duration_ms(p.start_ms)} to {format_duration_ms(p.end_ms)}"
                f" step {format_duration_ms(p.step_ms)} {q}"
            )
        else:
            ev = f"eval instant at {format_duration_ms(p.time_ms)} {q}"
        return f"# {note}\n{format_load(g.case.dataset)}\n{ev}\n"


def format_cases(seed: int, count: int, config: CaseConfig | None = None) -> str:
    """``count`` generated cases as promqltest text (a load block, the eval), for people."""
    config = config or CaseConfig(queries_per_dataset=1)
    out = []
    for i, g in enumerate(iter_generated_cases(seed, count, config)):
        out.append(_case_text(g, i))
    return "\n".join(out)


def case_from_bytes(data: bytes, config: CaseConfig | None = None) -> GeneratedCase:
    """A case decided by fuzzer bytes (atheris ``FuzzedDataProvider``); never raises for
    short or random input. ``config`` defaults to small datasets, which suits fuzzing."""
    from promfuzz.generators.choices import AtherisChoices

    cfg = config or CaseConfig(dataset=DatasetConfig.small(), query=QueryConfig(max_depth=4))
    return generate_case(AtherisChoices(data), cfg)
