"""Every shipped rule, in every rule file, names evidence and near misses; replayed on the
real engines, the evidence is ``expected`` by that rule and each near miss a divergence.

Evidence is a stored case (``corpus:<id>`` or a promqltest file next to the rules): the
reference (real Prometheus) and the rule's target engine both answer it. A near miss is a
file whose eval block holds a target answer the rule must not absorb: the reference
engine answers the file's query on the file's data, the stored answer is the target's.
A replay that turns into ``match`` means the engine took the upstream fix (or stopped
differing): the rule is then obsolete and should be deleted (the test says so)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from promfuzz.engines.registry import HOST_ENGINES, LIVE_ENGINES, EngineRegistry, default_build_dir
from promfuzz.oracles import DifferentialOracle, load_rules
from promfuzz.oracles.known import (
    Evidence,
    KnownDifference,
    builtin_rules_dir,
    evidence_case,
    load_rules_file,
)

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus"
RULES_DIR = builtin_rules_dir()
RULE_FILES = sorted(RULES_DIR.glob("*.toml"))
ALL: list[KnownDifference] = [r for f in RULE_FILES for r in load_rules_file(f)]


def _items(kind: str) -> list[tuple[str, Evidence]]:
    return [(r.id, e) for r in ALL for e in getattr(r, kind)]


def test_all_five_rule_files_are_covered() -> None:
    names = {f.name for f in RULE_FILES}
    assert {"mqe.toml", "thanos.toml", "prometheus.toml", "prometheus-forks.toml", "victoriametrics.toml"} <= names
    for f in RULE_FILES:
        for r in load_rules_file(f):
            assert r.evidence and r.near_miss, f"{f.name}: {r.id} has no evidence or near miss"


@pytest.mark.parametrize(("rule_id", "ev"), _items("evidence") + _items("near_miss"),
                         ids=lambda x: x if isinstance(x, str) else x.case)
def test_every_evidence_entry_resolves(rule_id: str, ev: Evidence) -> None:
    case, answer = evidence_case(ev, RULES_DIR, CORPUS)
    assert case.query
    if ev in next(r for r in ALL if r.id == rule_id).near_miss:
        assert answer is not None, f"{rule_id}: near miss {ev.case} must be a file with the target's answer"


def _binary(engine: str) -> str:
    return LIVE_ENGINES.get(engine) or HOST_ENGINES[engine].binary


def _need(*engines: str) -> None:
    for name in engines:
        path = default_build_dir() / _binary(name)
        if not path.is_file():
            pytest.skip(f"{path} is not built (run `make hosts`)")


@pytest.fixture(scope="module")
def registry() -> Iterator[EngineRegistry]:
    with EngineRegistry() as reg:
        yield reg


@pytest.fixture(scope="module")
def oracle() -> DifferentialOracle:
    return DifferentialOracle(rules=load_rules())


@pytest.mark.hosts
@pytest.mark.parametrize(("rule_id", "ev"), _items("evidence"), ids=lambda x: x if isinstance(x, str) else x.case)
def test_evidence_is_expected_by_its_rule(registry: EngineRegistry, oracle: DifferentialOracle,
                                          rule_id: str, ev: Evidence) -> None:
    _need("prometheus", ev.engine)
    case, _ = evidence_case(ev, RULES_DIR, CORPUS)
    ref_engine, tgt_engine = registry.open("prometheus"), registry.open(ev.engine)
    ref_engine.load(case.dataset)
    tgt_engine.load(case.dataset)
    ref, tgt = ref_engine.query(case.query, case.params), tgt_engine.query(case.query, case.params)
    v = oracle.check(case, ref, tgt)
    assert v.kind != "match", f"{ev.engine} now agrees on {case.query!r}: delete or rescope {rule_id}"
    assert v.kind == "expected" and v.rules == (rule_id,), f"{case.query}: {v.kind} {v.rules}\n{v.detail}"


@pytest.mark.hosts
@pytest.mark.parametrize(("rule_id", "ev"), _items("near_miss"), ids=lambda x: x if isinstance(x, str) else x.case)
def test_near_miss_is_a_divergence(registry: EngineRegistry, oracle: DifferentialOracle,
                                   rule_id: str, ev: Evidence) -> None:
    _need("prometheus")
    case, tgt = evidence_case(ev, RULES_DIR, CORPUS)
    assert tgt is not None
    ref_engine = registry.open("prometheus")
    ref_engine.load(case.dataset)
    ref = ref_engine.query(case.query, case.params)
    v = oracle.check(case, ref, tgt)
    assert v.kind == "divergence", f"{rule_id}: near miss {ev.case} judged {v.kind} via {v.rules}\n{v.detail}"
