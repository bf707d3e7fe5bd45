"""The shrinker against the real prometheus host and a test-only faulty wrapper of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from shrink_helpers import FaultyEngine

from promfuzz.corpus.promqltest import promqltest_dataset, read_case
from promfuzz.engines.registry import EngineRegistry, default_build_dir
from promfuzz.model import Case, Dataset, EvalParams
from promfuzz.oracles.differential import DifferentialOracle
from promfuzz.shrink import make_engine_check, same_bug, shrink
from promfuzz.shrink.cli import NothingToShrinkError, shrink_case_text, shrink_file

pytestmark = pytest.mark.hosts

HOST = default_build_dir() / "prometheus-host"
if not HOST.is_file():
    pytest.skip(f"prometheus host not built ({HOST} missing; run `make hosts`)", allow_module_level=True)


@pytest.fixture(scope="module")
def registry() -> Iterator[EngineRegistry]:
    with EngineRegistry() as reg:
        yield reg


def _case() -> Case:
    ds = Dataset.build(
        [
            (
                {"__name__": "http_requests", "job": "a", "instance": "1"},
                [(t * 15_000, float(t * 3)) for t in range(80)],
            ),
            (
                {"__name__": "http_requests", "job": "b", "instance": "1"},
                [(t * 15_000, float(t)) for t in range(80)],
            ),
            (
                {"__name__": "http_requests", "job": "b", "instance": "2"},
                [(t * 15_000, float(2 * t)) for t in range(80)],
            ),
            ({"__name__": "errors", "job": "a"}, [(t * 15_000, 1.5) for t in range(80)]),
            ({"__name__": "up", "job": "c"}, [(t * 30_000, 1.0) for t in range(40)]),
        ]
    )
    q = "sum by (instance) (rate(http_requests[5m])) / on () group_left () max(errors) * 2.5"
    return Case(ds, q, EvalParams.range(600_000, 900_000, 30_000))


def test_shrinks_a_value_bug_of_a_faulty_prometheus_to_a_fixed_point(registry: EngineRegistry) -> None:
    ref = registry.open("prometheus")
    tgt = FaultyEngine(registry.open("prometheus", name="prometheus-b"), add_one_label="1")
    oracle = DifferentialOracle()
    check = make_engine_check(ref, tgt, oracle)
    r = shrink(_case(), check, seconds=60)
    assert r.original_verdict.kind == "divergence"
    assert r.fixed_point, r.summary()
    assert r.after.query_tokens <= 2 and r.after.series == 1 and r.after.steps == 1, r.case.query
    assert "1" in dict(r.case.dataset.series[0].labels).values()
    again = make_engine_check(ref, tgt, oracle)(r.case)
    assert same_bug(r.original_verdict, again)
    assert again is not None and again.signature == r.verdict.signature
    assert r.engine_calls == check.engine_calls


def test_shrink_keeps_rate_when_the_fault_is_in_rate(registry: EngineRegistry) -> None:
    ref = registry.open("prometheus")
    tgt = FaultyEngine(registry.open("prometheus", name="prometheus-c"), drop_on=r"\brate\(")
    r = shrink(_case(), make_engine_check(ref, tgt, DifferentialOracle()), seconds=60)
    assert r.verdict.signature is not None and r.verdict.signature.category == "missing_series"
    assert r.case.query.startswith("rate(") and r.after.query_tokens <= 7, r.case.query
    assert r.fixed_point


def test_shrunk_case_text_is_a_promqltest_case_with_the_reference_answer(registry: EngineRegistry) -> None:
    ref = registry.open("prometheus")
    tgt = FaultyEngine(registry.open("prometheus", name="prometheus-d"), add_one_label="1")
    text = shrink_case_text(_case(), ref, tgt, seconds=60)
    back = read_case(text)
    assert text.startswith("# promfuzz shrink: prometheus (reference) vs faulty (target)")
    assert "original query: sum by (instance)" in text
    assert back.dataset == promqltest_dataset(back.dataset) and len(back.dataset.series) == 1
    # the expected output is the reference's: the real value, not the faulty +1
    ref.load(back.dataset)
    answer = ref.query(back.query, back.params)
    assert answer.ok and answer.series
    v = answer.series[0].points[0].v
    assert isinstance(v, float)
    expected_line = [ln for ln in text.splitlines() if ln.startswith("  ") and "{" in ln][-1]
    assert expected_line.split()[-1] in (repr(v), f"{v:g}", str(int(v)) if v == int(v) else repr(v))


def test_shrink_file_refuses_a_case_the_engines_agree_on(tmp_path: Path) -> None:
    p = tmp_path / "agree.test"
    p.write_text('load 1m\n  m{job="a"} 1 2 3\n\neval instant at 2m m\n  m{job="a"} 3\n', encoding="utf-8")
    with pytest.raises(NothingToShrinkError, match="do not diverge"):
        shrink_file(p, "prometheus", "prometheus", seconds=10)
