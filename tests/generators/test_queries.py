"""The query generator: deterministic, type-correct, covering the language, printable."""

from __future__ import annotations

from collections import Counter

import pytest

from promfuzz.errors import PromQLSyntaxError
from promfuzz.generators.choices import AtherisChoices, RandomChoices
from promfuzz.generators.coverage import grammar_coverage, language_table
from promfuzz.generators.datasets import generate_dataset
from promfuzz.generators.queries import QueryConfig, QueryGenerator, generate_queries, generate_query
from promfuzz.generators.schema import DatasetSchema
from promfuzz.promql.ast import VectorSelector, features, value_type, walk
from promfuzz.promql.functions import AGGREGATIONS, BINARY_OPERATORS, FUNCTIONS
from promfuzz.promql.parser import parse
from promfuzz.promql.printer import to_text


@pytest.fixture(scope="module")
def schema() -> DatasetSchema:
    return DatasetSchema.from_dataset(generate_dataset(RandomChoices(3)))


@pytest.fixture(scope="module")
def many(schema: DatasetSchema) -> list:  # type: ignore[type-arg]
    return generate_queries(RandomChoices(2024), schema, 2000, QueryConfig(variant_p=0.3))


def test_same_seed_gives_identical_queries(schema: DatasetSchema) -> None:
    a = [q.text for q in generate_queries(RandomChoices(5), schema, 200)]
    b = [q.text for q in generate_queries(RandomChoices(5), schema, 200)]
    assert a == b


def test_different_seed_gives_different_queries(schema: DatasetSchema) -> None:
    a = [q.text for q in generate_queries(RandomChoices(5), schema, 50)]
    b = [q.text for q in generate_queries(RandomChoices(6), schema, 50)]
    assert a != b


def test_every_function_aggregation_and_operator_appears(many: list) -> None:  # type: ignore[type-arg]
    seen: Counter[str] = Counter()
    for q in many:
        seen.update(features(q.node))
    missing = [f"fn:{f}" for f in FUNCTIONS if f"fn:{f}" not in seen]
    missing += [f"agg:{a}" for a in AGGREGATIONS if f"agg:{a}" not in seen]
    missing += [f"op:{o}" for o in BINARY_OPERATORS if f"op:{o}" not in seen]
    assert missing == []


def test_whole_language_table_is_reached(many: list) -> None:  # type: ignore[type-arg]
    cov = grammar_coverage(many)
    missing = {cat: d["missing"] for cat, d in cov["categories"].items() if d["missing"]}
    assert missing == {}
    assert cov["reached"] == cov["total"] == sum(len(v) for v in language_table().values())


def test_valid_queries_have_the_requested_type(many: list) -> None:  # type: ignore[type-arg]
    for q in many:
        if q.invalid is None:
            assert value_type(q.node) == q.value_type, q.text


def test_valid_queries_parse_back_to_the_same_tree(many: list) -> None:  # type: ignore[type-arg]
    failures = []
    for q in many:
        if q.invalid is not None:
            continue
        try:
            tree = parse(q.text)
        except PromQLSyntaxError as e:
            failures.append(f"{q.text}: {e}")
            continue
        if tree != q.node:
            failures.append(f"{q.text}: parsed to {to_text(tree)}")
        # Canonical text is a fixed point of print(parse(...)).
        assert to_text(parse(to_text(q.node))) == to_text(q.node)
    assert failures == []


def test_invalid_queries_are_a_small_counted_share_and_rejected(many: list) -> None:  # type: ignore[type-arg]
    invalid = [q for q in many if q.invalid is not None]
    assert 0 < len(invalid) < 0.06 * len(many)
    for q in invalid:
        with pytest.raises(PromQLSyntaxError):
            parse(q.text)


def test_no_invalid_queries_when_disabled(schema: DatasetSchema) -> None:
    qs = generate_queries(RandomChoices(9), schema, 500, QueryConfig(invalid_p=0.0))
    assert all(q.invalid is None for q in qs)


def test_exclusions_are_respected(schema: DatasetSchema) -> None:
    cfg = QueryConfig(
        exclude=frozenset(
            {"rate", "topk", "atan2", "mod:@", "mod:subquery", "match:fill", "mod:duration_expr"}
        ),
        invalid_p=0.0,
    )
    banned = {"fn:rate", "agg:topk", "op:atan2", "mod:@", "mod:subquery", "match:fill", "mod:duration_expr"}
    for q in generate_queries(RandomChoices(10), schema, 1500, cfg):
        assert not (features(q.node) & banned), q.text


def test_experimental_off_avoids_experimental_functions(schema: DatasetSchema) -> None:
    cfg = QueryConfig(experimental=False, experimental_syntax=False, invalid_p=0.0)
    exp = {f"fn:{f.name}" for f in FUNCTIONS.values() if f.experimental}
    exp |= {f"agg:{a.name}" for a in AGGREGATIONS.values() if a.experimental}
    exp |= {
        "mod:anchored",
        "mod:smoothed",
        "mod:duration_expr",
        "match:fill",
        "match:fill_left",
        "match:fill_right",
    }
    for q in generate_queries(RandomChoices(11), schema, 1500, cfg):
        assert not (features(q.node) & exp), q.text


def test_realistic_profile_favours_common_names(schema: DatasetSchema) -> None:
    def share(profile: str, feature: str) -> float:
        cfg = QueryConfig(profile=profile, invalid_p=0.0)  # type: ignore[arg-type]
        qs = generate_queries(RandomChoices(12), schema, 800, cfg)
        return sum(feature in features(q.node) for q in qs) / len(qs)

    assert share("realistic", "agg:sum") > 2 * share("uniform", "agg:sum")
    assert share("realistic", "fn:rate") > 2 * share("uniform", "fn:rate")
    assert share("realistic", "fn:acosh") < share("uniform", "fn:acosh")


def test_selectors_mostly_use_schema_metrics_with_some_misses(schema: DatasetSchema) -> None:
    names = {m.name for m in schema.metrics}
    hit = miss = 0
    for q in generate_queries(RandomChoices(13), schema, 800, QueryConfig(invalid_p=0.0)):
        for n, _ in walk(q.node):
            if isinstance(n, VectorSelector):
                name = n.name or next(
                    (m.value for m in n.matchers if m.name == "__name__" and m.op == "="), None
                )
                if name is None:
                    continue
                if name in names:
                    hit += 1
                else:
                    miss += 1
    assert hit > 10 * miss > 0


def test_depth_budget_bounds_query_size(schema: DatasetSchema) -> None:
    small = generate_queries(
        RandomChoices(14), schema, 300, QueryConfig(max_depth=1, invalid_p=0.0, variant_p=0.0)
    )
    big = generate_queries(
        RandomChoices(14), schema, 300, QueryConfig(max_depth=5, invalid_p=0.0, variant_p=0.0)
    )
    size = lambda qs: sum(len(list(walk(q.node))) for q in qs) / len(qs)  # noqa: E731
    assert size(small) < size(big)
    assert max(len(list(walk(q.node))) for q in small) < 40


def test_generate_query_forces_top_type(schema: DatasetSchema) -> None:
    for t in ("scalar", "vector", "matrix", "string"):
        q = generate_query(RandomChoices(t), schema, QueryConfig(invalid_p=0.0), top=t)  # type: ignore[arg-type]
        assert q.value_type == t and value_type(q.node) == t


@pytest.mark.parametrize("data", [b"", b"\x00" * 3, b"\xff" * 50, bytes(range(256))])
def test_atheris_driven_generation_terminates(data: bytes, schema: DatasetSchema) -> None:
    gen = QueryGenerator(AtherisChoices(data), schema, QueryConfig())
    node, t, invalid = gen.query()
    assert to_text(node)
