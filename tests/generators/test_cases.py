"""Cases: deterministic by seed, datasets shared by many queries, readable output."""

from __future__ import annotations

from promfuzz.generators.cases import (
    CaseConfig,
    format_cases,
    generate_case,
    generate_cases,
    generate_dataset_with_queries,
)
from promfuzz.generators.choices import RandomChoices
from promfuzz.generators.datasets import DatasetConfig, dataset_problems
from promfuzz.model import Case


def test_generate_cases_is_deterministic_byte_for_byte() -> None:
    a = [c.to_json_obj() for c in generate_cases(3, 30)]
    b = [c.to_json_obj() for c in generate_cases(3, 30)]
    assert a == b


def test_generate_cases_differs_by_seed() -> None:
    assert [c.query for c in generate_cases(3, 10)] != [c.query for c in generate_cases(4, 10)]


def test_cases_share_datasets_per_batch() -> None:
    cases = generate_cases(5, 25, CaseConfig(queries_per_dataset=10))
    fps = [c.dataset.fingerprint() for c in cases]
    assert len(set(fps)) == 3
    assert fps[:10] == [fps[0]] * 10


def test_dataset_with_queries_keeps_data_when_asking_for_more_queries() -> None:
    a = generate_dataset_with_queries(7, 5)
    b = generate_dataset_with_queries(7, 20)
    assert a.dataset == b.dataset
    assert [q.text for q in a.queries] == [q.text for q in b.queries[:5]]


def test_params_fit_the_api_limits_and_query_type() -> None:
    batch = generate_dataset_with_queries(8, 400)
    instant_for_matrix = 0
    matrix = 0
    for q, p in zip(batch.queries, batch.params, strict=True):
        assert p.steps() <= 11_000
        if p.is_range:
            assert p.start_ms <= p.end_ms and p.step_ms > 0
        if q.value_type == "matrix" and q.invalid is None:
            matrix += 1
            instant_for_matrix += not p.is_range
    assert matrix and instant_for_matrix >= 0.7 * matrix


def test_generate_case_gives_a_valid_case() -> None:
    g = generate_case(RandomChoices(1))
    assert isinstance(g.case, Case) and g.case.query == g.query.text
    assert dataset_problems(g.case.dataset) == []


def test_format_cases_shows_load_and_eval() -> None:
    cfg = CaseConfig(dataset=DatasetConfig.small(), queries_per_dataset=1)
    text = format_cases(2, 3, cfg)
    assert text.count("load ") == 3
    assert text.count("eval ") == 3
    assert format_cases(2, 3, cfg) == text


def test_case_from_bytes_survives_any_input() -> None:
    import random

    from promfuzz.generators.cases import case_from_bytes

    rnd = random.Random(0)
    texts = set()
    for n in (0, 1, 5, 50, 500):
        for _ in range(5):
            g = case_from_bytes(bytes(rnd.randrange(256) for _ in range(n)))
            assert dataset_problems(g.case.dataset) == []
            texts.add(g.case.query)
    assert len(texts) > 5  # the bytes steer the query
