"""Metamorphic oracles on a consistent in-memory engine (must not fire) and on the same
engine with one injected violation (each oracle must catch its own)."""

from __future__ import annotations

import math

import pytest
from mini_engine import MiniEngine

from promfuzz.model import Case, Dataset, EvalParams, stale_nan
from promfuzz.oracles import (
    AtPinningOracle,
    InstantVsRangeOracle,
    OffsetShiftOracle,
    PartitionOracle,
    RangeVsInstantsOracle,
)
from promfuzz.oracles.at_pinning import pin_at
from promfuzz.oracles.offset_shift import add_offset
from promfuzz.oracles.range_vs_instants import sample_steps
from promfuzz.promql.parser import parse
from promfuzz.promql.printer import to_text

HOUR = 3_600_000


def _series(i: int, g: str, name: str = "m") -> tuple[dict[str, str], list[tuple[int, float]]]:
    pts: list[tuple[int, float]] = []
    for k in range(0, 2 * 3600 // 15 + 1):
        t = k * 15_000
        v = float((i + 1) * 10 + (k % 17) * (i + 1) + (k // 40))
        if i == 3 and k == 200:
            v = math.nan
        pts.append((t, v))
    if i == 2:
        pts.append((2 * HOUR + 15_000, stale_nan()))
    return {"__name__": name, "i": "abcd"[i], "g": g}, pts


DATA = Dataset.build([_series(0, "1"), _series(1, "1"), _series(2, "2"), _series(3, "2"),
                      _series(0, "1", "n"), _series(1, "2", "n")])
INSTANT = EvalParams.instant(HOUR)
RANGE = EvalParams.range(HOUR, HOUR + 10 * 60_000, 60_000)
QUERIES = ["m", "sum by (g) (m)", "m * 2 + 1", "count(m > 20)", "sum_over_time(m[2m])",
           "m offset 5m", "abs(-m)", 'sum without (i) (m{g="1"} or n)', "m - n"]


def case(q: str, params: EvalParams = INSTANT) -> Case:
    return Case(DATA, q, params)


ORACLES = {
    "instant_vs_range": (InstantVsRangeOracle(), INSTANT, "range_plus_one"),
    "range_vs_instants": (RangeVsInstantsOracle(), RANGE, "range_plus_one"),
    "at_pinning": (AtPinningOracle(), INSTANT, "ignore_at"),
    "offset_shift": (OffsetShiftOracle(), INSTANT, "ignore_offset"),
    "partition": (PartitionOracle(), INSTANT, "filter_drops_first"),
}


@pytest.mark.parametrize("oracle_name", sorted(ORACLES))
@pytest.mark.parametrize("query", QUERIES)
def test_consistent_engine_never_fires(oracle_name: str, query: str) -> None:
    oracle, params, _ = ORACLES[oracle_name]
    v = oracle.check(MiniEngine(), case(query, params))  # type: ignore[attr-defined]
    assert v.kind in ("match", "not_applicable"), v.detail


@pytest.mark.parametrize("oracle_name", sorted(ORACLES))
def test_each_oracle_applies_to_a_plain_query(oracle_name: str) -> None:
    oracle, params, _ = ORACLES[oracle_name]
    v = oracle.check(MiniEngine(), case("sum by (g) (m)", params))  # type: ignore[attr-defined]
    assert v.kind == "match", v.reason


@pytest.mark.parametrize("oracle_name", sorted(ORACLES))
def test_each_oracle_catches_its_injected_violation(oracle_name: str) -> None:
    oracle, params, bug = ORACLES[oracle_name]
    v = oracle.check(MiniEngine(bug=bug), case("sum by (g) (m)", params))  # type: ignore[attr-defined]
    assert v.kind == "divergence", (v.kind, v.reason)
    assert v.signature is not None and v.signature.oracle == oracle_name
    assert v.signature.target == "mini"


def test_range_plus_one_also_caught_on_plain_selector() -> None:
    v = RangeVsInstantsOracle().check(MiniEngine(bug="range_plus_one"), case("m", RANGE))
    assert v.kind == "divergence" and v.signature is not None and v.signature.category == "value"


def test_partition_sum_check_catches_a_lost_group() -> None:
    v = PartitionOracle().check(MiniEngine(bug="sum_by_drops_group"), case("m"))
    assert v.kind == "divergence" and v.signature is not None and v.signature.qualifier == "sum"


def test_at_pinning_rewrites_outermost_selectors_only() -> None:
    e, n = pin_at(parse("sum_over_time(m[5m]) + max_over_time(rate(x[1m])[10m:1m]) + y @ 5"), 60_000)
    assert n == 2
    assert to_text(e) == ("sum_over_time(m[5m] @ 60.000) + max_over_time(rate(x[1m])[10m:1m] @ 60.000) + "
                          "y @ 5.000")


def test_offset_shift_adds_to_existing_offsets() -> None:
    e, n = add_offset(parse("m offset 1m + rate(x[5m]) + y @ 5"), 300_000)
    assert n == 2 and to_text(e) == "m offset 6m + rate(x[5m] offset 5m) + y @ 5.000"


@pytest.mark.parametrize(
    ("oracle", "query", "params", "why"),
    [
        (InstantVsRangeOracle(), "sort(m)", INSTANT, "ordered"),
        (InstantVsRangeOracle(), "m", RANGE, "range case"),
        (InstantVsRangeOracle(), "m[5m]", INSTANT, "matrix"),
        (InstantVsRangeOracle(), "m - step()", INSTANT, "fn:step"),
        (InstantVsRangeOracle(), "m @ start()", INSTANT, "@start()"),
        (RangeVsInstantsOracle(), "m", INSTANT, "instant case"),
        (RangeVsInstantsOracle(), "m + end()", RANGE, "fn:end"),
        (AtPinningOracle(), "m + time()", INSTANT, "fn:time"),
        (AtPinningOracle(), "hour(m)", INSTANT, "fn:hour"),
        (AtPinningOracle(), "predict_linear(m[5m], 60)", INSTANT, "predict_linear"),
        (AtPinningOracle(), "1 + 2", INSTANT, "no selector"),
        (OffsetShiftOracle(), "m + time()", INSTANT, "time()"),
        (OffsetShiftOracle(), "m", EvalParams.instant(60_000), "negative"),
        (OffsetShiftOracle(), "m offset (1m + 1m)", INSTANT, "duration expression"),
        (PartitionOracle(), "1 + 1", INSTANT, "scalar"),
        (PartitionOracle(), "m +", INSTANT, "parser"),
    ],
)
def test_inapplicable_cases_are_skipped_with_a_reason(oracle: object, query: str, params: EvalParams,
                                                      why: str) -> None:
    engine = MiniEngine()
    v = oracle.check(engine, case(query, params))  # type: ignore[attr-defined]
    assert v.kind == "not_applicable" and why in v.reason, v.reason


def test_engine_failure_in_a_related_query_is_reported() -> None:
    class Crashy(MiniEngine):
        def query(self, text: str, params: EvalParams, timeout_s: float | None = None):  # type: ignore[override]
            if params.is_range:
                from promfuzz.model import Result

                return Result.failure(self.name, "engine_failure", "engine_panic", "boom")
            return super().query(text, params)

    v = InstantVsRangeOracle().check(Crashy(), case("m"))
    assert v.kind == "engine_failure" and v.signature is not None


def test_sample_steps_keeps_ends_and_caps_count() -> None:
    p = EvalParams.range(0, 1000 * 60_000, 60_000)
    steps = sample_steps(p, 32)
    assert len(steps) == 32 and steps[0] == 0 and steps[-1] == 1000 * 60_000
    assert sample_steps(EvalParams.range(0, 120_000, 60_000), 32) == [0, 60_000, 120_000]


def test_split_point_stays_away_from_values() -> None:
    from promfuzz.oracles.partition import split_point

    assert split_point([]) == 0.0
    assert split_point([5.0]) > 5.0
    assert split_point([1.0, 2.0, 3.0, 4.0]) == 2.5
    c = split_point([6079190.073277116, 6079190.073277117, 1.0, 9e9])
    assert all(abs(c - v) > 1 for v in (6079190.073277116, 1.0, 9e9))


def test_partition_survives_last_digit_noise_between_evaluations() -> None:
    # An engine whose computed values move by one ulp on every evaluation (as a different
    # summation order does) must not break the partition identity.
    class Noisy(MiniEngine):
        def query(self, text: str, params: EvalParams, timeout_s: float | None = None):  # type: ignore[override]
            from dataclasses import replace as dc_replace

            from promfuzz.model import Point, ResultSeries

            r = super().query(text, params)
            if not r.ok or "count" in text or "sum" in text:
                return r
            k = self.queries
            bump = (lambda v: math.nextafter(v, math.inf)) if k % 2 else (lambda v: v)
            series = tuple(ResultSeries(s.labels, tuple(Point(p.t, bump(p.v)) for p in s.points)) for s in r.series)
            return dc_replace(r, series=series)

    v = PartitionOracle().check(Noisy(), case("m"))
    assert v.kind == "match", v.detail


def test_partition_counts_nan_samples() -> None:
    at_nan = case("m", EvalParams.instant(3_000_000))  # series d holds NaN then
    r = MiniEngine()
    r.load(DATA)
    assert any(math.isnan(float(s.points[0].v)) for s in r.query("m", at_nan.params).series)  # type: ignore[arg-type]
    assert PartitionOracle().check(MiniEngine(), at_nan).kind == "match"

    class LosesNaN(MiniEngine):  # clamp turns NaN into a number: the NaN part goes missing
        def _call(self, e, t):  # type: ignore[no-untyped-def]
            out = super()._call(e, t)
            if e.func == "clamp" and not isinstance(out, float):
                return [(lb, 0.0 if math.isnan(x) else x) for lb, x in out]
            return out

    assert PartitionOracle().check(LosesNaN(), at_nan).kind == "divergence"
