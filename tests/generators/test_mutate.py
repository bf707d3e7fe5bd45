"""Structural mutation of upstream seeds: every mutator keeps the tree parseable and typed,
mutants differ from their seeds, are deterministic, and hit the target dataset."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from promfuzz.engines.host import HostProcess
from promfuzz.errors import PromfuzzError
from promfuzz.generators.cases import generate_dataset_with_queries
from promfuzz.generators.choices import RandomChoices
from promfuzz.generators.mutate import (
    MUTATORS,
    MutationConfig,
    Mutator,
    generate_dataset_with_mixed_queries,
    generate_dataset_with_mutated_queries,
    map_to_schema,
    mutants,
    printable,
)
from promfuzz.generators.seeds import SeedQuery, seed_sources, upstream_seed_queries
from promfuzz.model import Dataset
from promfuzz.promql import Call, VectorSelector, parse, to_text, value_type, walk

HOST_BINARY = Path(__file__).resolve().parents[2] / ".build" / "prometheus-host"


@pytest.fixture(scope="module")
def seeds() -> list[SeedQuery]:
    src = seed_sources()
    if not src["prometheus"] and not src["mimir"]:
        pytest.skip("Prometheus/Mimir modules are not in the Go module cache (run `make hosts`)")
    return upstream_seed_queries()


@pytest.fixture(scope="module")
def some_seeds(seeds: list[SeedQuery]) -> list[SeedQuery]:
    return seeds[::10]  # a few hundred, spread over every file


@pytest.mark.parametrize("name", sorted(MUTATORS))
def test_mutator_output_parses_back_with_the_seed_type(name: str, some_seeds: list[SeedQuery]) -> None:
    m = Mutator(RandomChoices(f"t:{name}"), None, some_seeds)
    fn = MUTATORS[name]
    applied = 0
    bad = []
    for s in some_seeds:
        out = fn(s.node, m._ctx())
        if out is None:
            continue
        applied += 1
        node = printable(out)
        text = to_text(node)
        try:
            back = parse(text)
        except PromfuzzError as e:
            bad.append((s.text, text, str(e)))
            continue
        if back != node or value_type(back) != s.value_type:
            bad.append((s.text, text, "changed tree or type"))
    assert applied >= 20, f"{name} applied to only {applied} of {len(some_seeds)} seeds"
    assert not bad, bad[:5]


@pytest.mark.parametrize("name", sorted(MUTATORS))
def test_mutator_changes_the_tree(name: str, some_seeds: list[SeedQuery]) -> None:
    m = Mutator(RandomChoices(f"d:{name}"), None, some_seeds)
    outs = [(s, MUTATORS[name](s.node, m._ctx())) for s in some_seeds]
    changed = [o for s, o in outs if o is not None and o != s.node]
    unchanged = [s.text for s, o in outs if o is not None and o == s.node]
    # replace_selector may draw the very selector it replaces; every other mutator must change something.
    limit = 0.05 if name == "replace_selector" else 0.0
    assert len(unchanged) <= limit * max(1, len(changed)), unchanged[:5]


def test_mutants_differ_from_their_seeds_and_keep_types(seeds: list[SeedQuery]) -> None:
    ms = mutants(3, 400, config=MutationConfig(invalid_p=0.0))
    for m in ms:
        assert m.text != m.seeds[0].text
        assert m.mutators
        assert parse(m.text) == m.node
        assert value_type(m.node) == m.value_type
        if "combine" not in m.mutators:
            assert m.value_type == m.seeds[0].value_type
    used = {name for m in ms for name in m.mutators}
    assert set(MUTATORS) | {"combine"} <= used


def test_same_seed_same_batch_byte_for_byte(seeds: list[SeedQuery]) -> None:
    a = generate_dataset_with_mutated_queries(11, 60)
    b = generate_dataset_with_mutated_queries(11, 60)
    c = generate_dataset_with_mutated_queries(12, 60)
    assert [q.text for q in a.queries] == [q.text for q in b.queries]
    assert a.params == b.params and a.dataset == b.dataset
    assert [q.text for q in a.queries] != [q.text for q in c.queries]


def test_mutated_batch_has_the_grammar_batch_shape_and_dataset(seeds: list[SeedQuery]) -> None:
    mut = generate_dataset_with_mutated_queries(5, 40)
    gram = generate_dataset_with_queries(5, 40)
    assert mut.dataset == gram.dataset and mut.schema == gram.schema
    assert len(mut.queries) == len(mut.params) == 40
    for q, p in zip(mut.queries, mut.params, strict=True):
        if q.invalid is None:
            assert parse(q.text) == q.node  # the text may be a surface variant of the tree
            assert value_type(q.node) == q.value_type
        if q.value_type in ("matrix", "string") and p.is_range:
            continue  # a small share on purpose (must fail alike everywhere)


def test_invalid_mutants_are_rejected_and_valid_ones_accepted(seeds: list[SeedQuery]) -> None:
    ms = mutants(9, 300, config=MutationConfig(invalid_p=0.25))
    invalid = [m for m in ms if m.invalid]
    assert 40 <= len(invalid) <= 110, len(invalid)
    for m in ms:
        if m.invalid:
            with pytest.raises(PromfuzzError):
                parse(m.text)
        else:
            parse(m.text)


def _matches(m_op: str, pattern: str, value: str) -> bool:
    if m_op == "=":
        return value == pattern
    if m_op == "!=":
        return value != pattern
    try:
        hit = re.fullmatch(pattern, value, re.DOTALL) is not None
    except re.error:
        return False
    return hit if m_op == "=~" else not hit


def _selector_hits(vs: VectorSelector, ds: Dataset) -> bool:
    for s in ds.series:
        labels = dict(s.labels)
        if vs.name is not None and labels.get("__name__") != vs.name:
            continue
        if all(_matches(m.op, m.value, labels.get(m.name, "")) for m in vs.matchers):
            return True
    return False


def test_mapped_mutants_mostly_hit_the_dataset(seeds: list[SeedQuery]) -> None:
    hits = total = 0
    for seed in (1, 2, 3):
        batch = generate_dataset_with_mutated_queries(seed, 100, mutation=MutationConfig(invalid_p=0.0))
        for q in batch.queries:
            for n, path in walk(q.node):
                if isinstance(n, VectorSelector) and not (
                    path and isinstance(path[-1], Call) and path[-1].func == "info"
                ):
                    total += 1
                    hits += _selector_hits(n, batch.dataset)
    assert total > 300
    assert hits / total >= 0.75, (hits, total)


def test_unmapped_seeds_rarely_hit_the_dataset(seeds: list[SeedQuery]) -> None:
    """The schema mapping is what makes mutants hit data (this checks the test above can fail)."""
    batch = generate_dataset_with_mutated_queries(
        1,
        100,
        mutation=MutationConfig(invalid_p=0.0, map_to_schema=False, weights=(("replace_selector", 0.0),)),
    )
    hits = total = 0
    for q in batch.queries:
        for n, _ in walk(q.node):
            if isinstance(n, VectorSelector):
                total += 1
                hits += _selector_hits(n, batch.dataset)
    assert hits / max(1, total) < 0.5, (hits, total)


def test_map_to_schema_renames_consistently(seeds: list[SeedQuery]) -> None:
    batch = generate_dataset_with_queries(4, 1)
    m = Mutator(RandomChoices("map"), batch.schema, seeds[:5])
    node = parse('rate(foo_total{a="x"}[5m]) / on (a) rate(foo_total{a="x"}[1m])')
    out = map_to_schema(node, m._ctx())
    sels = [n for n, _ in walk(out) if isinstance(n, VectorSelector)]
    assert len(sels) == 2 and sels[0] == sels[1]
    names = {mi.name for mi in batch.schema.metrics}
    assert sels[0].name in names


def test_mixed_source_draws_from_both(seeds: list[SeedQuery]) -> None:
    mixed = generate_dataset_with_mixed_queries(8, 60)
    gram = generate_dataset_with_queries(8, 60)
    mut = generate_dataset_with_mutated_queries(8, 60)
    from_gram = sum(a.text == b.text for a, b in zip(mixed.queries, gram.queries, strict=True))
    from_mut = sum(a.text == b.text for a, b in zip(mixed.queries, mut.queries, strict=True))
    assert from_gram + from_mut >= 60
    assert 10 <= from_gram <= 50 and 10 <= from_mut <= 50
    assert mixed.dataset == gram.dataset


# --------------------------------------------------------------------------- host


@pytest.fixture(scope="module")
def host_url() -> Iterator[str]:
    if not HOST_BINARY.is_file():
        pytest.skip(f"{HOST_BINARY} is missing: build it with `make hosts`")
    proc = HostProcess(HOST_BINARY)
    try:
        yield proc.base_url
    finally:
        proc.close()


@pytest.mark.hosts
def test_prometheus_parser_agrees_on_500_mutants(host_url: str, seeds: list[SeedQuery]) -> None:
    batch = generate_dataset_with_mutated_queries(21, 500, mutation=MutationConfig(invalid_p=0.1))
    disagree = []
    ours_ok = theirs_ok = 0
    with requests.Session() as s:
        for q in batch.queries:
            r = s.get(host_url + "/api/v1/parse", params={"query": q.text}, timeout=30).json()
            accepted = r.get("status") == "success"
            theirs_ok += accepted
            ours_ok += q.invalid is None
            if accepted != (q.invalid is None):
                disagree.append((q.text, q.invalid, r.get("error")))
            elif accepted and r["data"]["type"] != q.value_type:
                disagree.append((q.text, q.value_type, r["data"]["type"]))
    assert 20 <= 500 - ours_ok <= 90
    assert ours_ok == theirs_ok and not disagree, disagree[:5]
