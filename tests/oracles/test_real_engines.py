"""Oracles on the real Go engine hosts: no false alarms on agreeing engines and answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from test_metamorphic import DATA, INSTANT, RANGE

from promfuzz.engines.registry import HOST_ENGINES, EngineRegistry, default_build_dir
from promfuzz.model import Case, Point, ResultSeries
from promfuzz.oracles import METAMORPHIC_ORACLES, DifferentialOracle, load_rules

pytestmark = pytest.mark.hosts

QUERIES = [
    "m", "sum by (g) (m)", "rate(m[5m])", "topk(2, m)", "bottomk by (g) (1, m)", 'count_values("v", m)',
    "sort_desc(m)", "m / on(i) group_left n", "quantile(0.5, m)", "avg_over_time(m[10m:1m])",
    'label_replace(m, "x", "$1", "i", "(.*)")', "m unless n", "deriv(m[5m])", "limitk(1, m)", "m @ 100",
    "increase(m[5m])", "m > bool 50", "scalar(sum(m))", "count(m) without (i)", 'sort_by_label(m, "i")',
]


def _need(binary: str) -> None:
    path = default_build_dir() / binary
    if not path.is_file():
        pytest.skip(f"{path} is not built (run `make hosts`)")


@pytest.fixture(scope="module")
def registry() -> Iterator[EngineRegistry]:
    with EngineRegistry() as reg:
        yield reg


@pytest.mark.parametrize("oracle_name", sorted(METAMORPHIC_ORACLES))
def test_metamorphic_oracles_do_not_fire_on_prometheus(registry: EngineRegistry, oracle_name: str) -> None:
    _need(HOST_ENGINES["prometheus"].binary)
    engine = registry.open("prometheus")
    oracle = METAMORPHIC_ORACLES[oracle_name]()
    kinds: dict[str, int] = {}
    for params in (INSTANT, RANGE):
        for q in QUERIES:
            v = oracle.check(engine, Case(DATA, q, params))  # type: ignore[attr-defined]
            assert v.kind in ("match", "not_applicable"), f"{q} {params}: {v.detail}"
            kinds[v.kind] = kinds.get(v.kind, 0) + 1
    assert kinds.get("match", 0) >= len(QUERIES) // 2


def test_prometheus_and_mqe_agree_on_a_curated_set(registry: EngineRegistry) -> None:
    _need(HOST_ENGINES["prometheus"].binary)
    _need(HOST_ENGINES["mqe"].binary)
    prom, mqe = registry.open("prometheus"), registry.open("mqe")
    oracle = DifferentialOracle(rules=load_rules())
    prom.load(DATA)
    mqe.load(DATA)
    for params in (INSTANT, RANGE):
        items = [(q, params) for q in QUERIES]
        for (q, _), r, t in zip(items, prom.query_many(items), mqe.query_many(items), strict=True):
            v = oracle.check(Case(DATA, q, params), r, t)
            assert v.kind == "match", f"{q} {params}: {v.kind} {v.detail}"


def test_a_perturbed_real_answer_is_a_divergence(registry: EngineRegistry) -> None:
    _need(HOST_ENGINES["prometheus"].binary)
    prom = registry.open("prometheus")
    prom.load(DATA)
    ref = prom.query("sum by (g) (m)", INSTANT)
    assert ref.ok and ref.series
    s0 = ref.series[0]
    bumped = ResultSeries(s0.labels, (Point(s0.points[0].t, float(s0.points[0].v) * (1 + 1e-6)),))  # type: ignore[arg-type]
    tgt = replace(ref, engine="other", series=(bumped,) + ref.series[1:])
    v = DifferentialOracle().check(Case(DATA, "sum by (g) (m)", INSTANT), ref, tgt)
    assert v.kind == "divergence" and v.signature is not None and v.signature.category == "value"


@pytest.mark.slow
def test_metamorphic_oracles_quiet_on_generated_cases(registry: EngineRegistry) -> None:
    """No metamorphic oracle fires on Prometheus over generated cases (false-alarm check)."""
    from promfuzz.generators.cases import generate_dataset_with_queries

    _need(HOST_ENGINES["prometheus"].binary)
    engine = registry.open("prometheus")
    oracles = {n: c() for n, c in METAMORPHIC_ORACLES.items()}
    applied = 0
    for d in range(6):
        batch = generate_dataset_with_queries(f"oracles-slow:{d}", 40)
        for g in batch.cases():
            for name, o in oracles.items():
                v = o.check(engine, g.case)  # type: ignore[attr-defined]
                assert v.kind in ("match", "not_applicable"), f"{name}: {g.case.query}\n{v.detail}"
                applied += v.kind == "match"
    assert applied > 100
