"""topk & co picks judged with the operand resolver on the real Prometheus host.

Two independent Prometheus processes (a null differential, as ``promfuzz run --reference
prometheus --target prometheus`` runs it) must agree on queries full of ties once every
differing pick is checked against the reference's answer to the operand; a valid other tie
pick, built from that real answer, must match too, and forged picks must not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from promfuzz.engines.registry import HOST_ENGINES, default_build_dir, open_engine
from promfuzz.model import Case, Dataset, EvalParams, Point, Result, ResultSeries, make_labels
from promfuzz.oracles import DifferentialOracle, load_rules

pytestmark = pytest.mark.hosts

# Four tied series per group (value 5 from 0s on), one low and one high.
DATA = Dataset.build(
    [({"__name__": "m", "g": g, "i": i}, [(t, 5.0) for t in range(0, 600_001, 30_000)]) for g in ("1", "2")
     for i in ("a", "b", "c", "d")]
    + [({"__name__": "m", "g": g, "i": "low"}, [(t, 1.0) for t in range(0, 600_001, 30_000)]) for g in ("1", "2")]
    + [({"__name__": "m", "g": g, "i": "high"}, [(t, 9.0) for t in range(0, 600_001, 30_000)]) for g in ("1", "2")]
)
INSTANT = EvalParams.instant(300_000)
RANGE = EvalParams.range(240_000, 360_000, 60_000)
QUERIES = ["topk(2, m)", "topk by (g) (2, m)", "bottomk by (g) (2, m)", "limitk(3, m)", "limitk by (g) (1, m)",
           "floor(topk(2, m))", "topk(3, m) * 0", "-topk by (g) (2, m)", "sort_desc(topk(2, m))",
           "topk(2, m) > 4", "abs(limitk(2, m))"]


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[object, object]]:
    path = default_build_dir() / HOST_ENGINES["prometheus"].binary
    if not path.is_file():
        pytest.skip(f"{path} is not built (run `make hosts`)")
    ref = open_engine("prometheus")
    tgt = open_engine("prometheus", name="prometheus#2")
    try:
        ref.load(DATA)
        tgt.load(DATA)
        yield ref, tgt
    finally:
        tgt.close()
        ref.close()


def resolver(engine: object, params: EvalParams) -> Callable[[str], Result | None]:
    return lambda text: engine.query(text, params)  # type: ignore[attr-defined]


@pytest.mark.parametrize("params", [INSTANT, RANGE], ids=["instant", "range"])
def test_prometheus_against_itself_matches_with_the_operand(engines: tuple[object, object],
                                                           params: EvalParams) -> None:
    ref, tgt = engines
    oracle = DifferentialOracle(rules=load_rules())
    for q in QUERIES:
        r, t = ref.query(q, params), tgt.query(q, params)  # type: ignore[attr-defined]
        assert r.ok and r.series, q
        v = oracle.check(Case(DATA, q, params), r, t, operand=resolver(ref, params))
        assert v.kind == "match", f"{q}: {v.detail}"


def _swap(r: Result, old: str, new: str) -> Result:
    """``r`` with the series whose label i is ``old`` relabelled to ``new``."""
    out = []
    for s in r.series:
        d = dict(s.labels)
        if d.get("i") == old:
            d["i"] = new
        out.append(ResultSeries(make_labels(d), s.points))
    return replace(r, series=tuple(out))


def _picked(r: Result, group: str = "1") -> list[str]:
    return [dict(s.labels)["i"] for s in r.series if dict(s.labels).get("g") == group]


@pytest.mark.parametrize("query", ["topk by (g) (2, m)", "limitk by (g) (2, m)", "floor(topk by (g) (2, m))",
                                   "topk by (g) (2, m) * 0"])
def test_another_valid_tie_pick_matches_and_forged_picks_differ(engines: tuple[object, object], query: str) -> None:
    ref, _ = engines
    oracle = DifferentialOracle(rules=load_rules())
    case = Case(DATA, query, INSTANT)
    operand = resolver(ref, INSTANT)
    r = ref.query(query, INSTANT)  # type: ignore[attr-defined]
    picked = _picked(r)
    tied_left_out = [i for i in "abcd" if i not in picked]
    assert tied_left_out, picked
    kept_tie = next(i for i in picked if i in "abcd")
    other = _swap(r, kept_tie, tied_left_out[0])  # a tied series PromQL could have kept instead
    assert oracle.check(case, r, other, operand=operand).kind == "match"
    assert oracle.check(case, r, other).kind == "divergence"  # unverifiable without the operand
    invented = _swap(r, kept_tie, "invented")
    assert oracle.check(case, r, invented, operand=operand).kind == "divergence"
    if query.startswith("limitk"):
        low = _swap(r, kept_tie, "low")  # any input series is a valid limitk pick, with its value
        v = oracle.check(case, r, low, operand=operand)
        assert v.kind == "divergence" and any(d.category == "value" for d in v.differences)
        fixed = replace(low, series=tuple(
            ResultSeries(s.labels, (Point(INSTANT.time_ms, 1.0),)) if dict(s.labels)["i"] == "low" else s
            for s in low.series))
        assert oracle.check(case, r, fixed, operand=operand).kind == "match"
    else:
        low = _swap(r, kept_tie, "low")  # a series below the tie, whatever value it claims
        assert oracle.check(case, r, low, operand=operand).kind == "divergence"
