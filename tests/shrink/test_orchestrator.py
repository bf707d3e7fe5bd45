"""The shrink loop against an injected fault (no engines): fixed point, size, same bug,
determinism, budgets, cache."""

from __future__ import annotations

import statistics
import time

import pytest
from shrink_helpers import FaultCheck, SlowCheck, big_fault_cases

from promfuzz.model import Case, Dataset, EvalParams
from promfuzz.oracles.verdict import Verdict
from promfuzz.shrink import ShrinkBudget, default_passes, same_bug, shrink, size_of


def big_check() -> FaultCheck:
    """Any function or aggregation over a metric that has a series with a label value "b"."""
    return FaultCheck(func=None, metric=None, label=None, value="b")


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return big_fault_cases(big_check(), 12, seed=7)


def _hand_case() -> Case:
    ds = Dataset.build(
        [
            (
                {"__name__": "http_requests", "job": "a", "instance": "1"},
                [(t * 15_000, float(t * 3 + 0.25)) for t in range(40)],
            ),
            (
                {"__name__": "http_requests", "job": "b", "instance": "1"},
                [(t * 15_000, float(t)) for t in range(40)],
            ),
            ({"__name__": "errors", "job": "a"}, [(t * 15_000, 1.5) for t in range(40)]),
            ({"__name__": "up", "env": "prod"}, [(t * 30_000, 1.0) for t in range(20)]),
        ]
    )
    q = 'sum by (instance) (rate(http_requests{job=~"a|b"}[5m] offset 30s)) / on (instance) group_left () max(errors) * 2.5'
    return Case(ds, q, EvalParams.range(300_000, 540_000, 15_000))


def test_hand_case_shrinks_to_rate_of_one_series_at_one_instant() -> None:
    check = FaultCheck()
    r = shrink(_hand_case(), check, seconds=30)
    assert r.fixed_point and r.stop_reason == "fixed_point"
    assert r.case.query == "rate(http_requests[1m])"
    assert r.after.series == 1 and r.after.samples == 1
    assert not r.case.params.is_range
    assert r.case.dataset.series[0].labels == (("__name__", "http_requests"), ("job", "a"))


def test_shrinker_reaches_a_fixed_point_where_no_single_pass_applies(cases: list[Case]) -> None:
    for case in cases[:4]:
        check = big_check()
        r = shrink(case, check, seconds=60)
        assert r.fixed_point, r.summary()
        for p in default_passes():
            for cand in p.fn(r.case, ()):
                if size_of(cand) < r.after:
                    assert not same_bug(r.original_verdict, check(cand)), (p.name, cand.query)


def test_median_query_size_shrinks_to_at_most_a_third(cases: list[Case]) -> None:
    assert len(cases) >= 10
    ratios = []
    for case in cases:
        r = shrink(case, big_check(), seconds=60)
        ratios.append(r.after.query_tokens / r.before.query_tokens)
        assert r.after.series <= r.before.series and r.after.samples <= r.before.samples
    assert statistics.median(ratios) <= 1 / 3, ratios


def test_shrunk_case_rechecks_with_a_preserved_signature(cases: list[Case]) -> None:
    for case in cases[:6]:
        check = big_check()
        r = shrink(case, check, seconds=60)
        again = big_check()(r.case)
        assert again is not None and again.signature is not None
        assert again.signature == r.verdict.signature
        assert r.original_verdict.signature is not None
        assert r.original_verdict.signature.preserved_by(again.signature)
        assert r.after < r.before


def test_shrinking_is_deterministic(cases: list[Case]) -> None:
    for case in cases[:3]:
        a = shrink(case, big_check(), seconds=60)
        b = shrink(case, big_check(), seconds=60)
        assert a.case == b.case and a.case.query == b.case.query
        assert (a.checks, a.engine_calls, a.passes_applied) == (b.checks, b.engine_calls, b.passes_applied)


def test_never_slides_to_another_bug() -> None:
    # Dropping rate() from the query would show the second bug (missing_series): it must be refused.
    check = FaultCheck(second_bug=True)
    r = shrink(_hand_case(), check, seconds=30)
    assert r.verdict.signature is not None and r.verdict.signature.category == "value"
    assert "rate(" in r.case.query
    # ... although the smaller query without rate() does diverge, with the other bug:
    other = FaultCheck(second_bug=True)(Case(r.case.dataset, "http_requests", r.case.params))
    assert other is not None and other.signature is not None and other.signature.category == "missing_series"


def test_engine_call_budget_is_respected(cases: list[Case]) -> None:
    check = big_check()
    r = shrink(cases[0], check, engine_calls=20)
    assert r.stop_reason == "engine_calls" and not r.fixed_point
    assert r.engine_calls <= 20 and check.engine_calls <= 20
    assert r.after <= r.before


def test_seconds_budget_is_respected(cases: list[Case]) -> None:
    slow = SlowCheck(big_check(), lambda: time.sleep(0.02))
    t0 = time.monotonic()
    r = shrink(cases[0], slow, ShrinkBudget(seconds=0.5))
    elapsed = time.monotonic() - t0
    assert r.stop_reason == "seconds"
    assert elapsed < 0.5 + 0.5  # one check and one candidate's bookkeeping past the deadline at most
    assert r.engine_calls == 2 * slow.calls


def test_no_case_is_evaluated_twice(cases: list[Case]) -> None:
    check = big_check()
    r = shrink(cases[1], check, seconds=60)
    assert check.seen and max(check.seen.values()) == 1
    assert r.checks == sum(check.seen.values())


def test_a_matching_case_is_returned_unchanged() -> None:
    case = _hand_case()
    clean = Case(case.dataset, "sum(up)", case.params)
    check = FaultCheck()
    r = shrink(clean, check, seconds=5)
    assert r.stop_reason == "not_a_problem" and r.case == clean and not r.shrunk
    assert check.engine_calls == 2


def test_initial_verdict_saves_the_first_check() -> None:
    case = _hand_case()
    check = FaultCheck()
    v = FaultCheck()(case)
    assert isinstance(v, Verdict)
    r = shrink(case, check, seconds=30, initial=v)
    assert case.case_id() not in check.seen
    assert r.fixed_point


def test_stats_json_reports_sizes_calls_and_passes() -> None:
    r = shrink(_hand_case(), FaultCheck(), seconds=30)
    s = r.stats_json()
    assert s["before"]["query_tokens"] > s["after"]["query_tokens"]
    assert s["before"]["series"] == 4 and s["after"]["series"] == 1
    assert s["before"]["steps"] == 17 and s["after"]["steps"] == 1
    assert s["engine_calls"] == r.engine_calls > 0
    assert s["fixed_point"] is True
    assert sum(s["passes_applied"].values()) >= 5
    assert "range_to_instant" in s["passes_applied"]


def test_stored_query_is_spelled_as_prometheus_prints_it() -> None:
    """`sum by () (x)` (our canonical form, which keeps the empty clause) becomes `sum(x)`,
    Prometheus's String(), when the difference survives it; a check that sees the
    spelling keeps our form."""
    ds = Dataset.build([({"__name__": "http_requests", "job": "a"}, [(0, 1.0)])])
    case = Case(ds, "sum by () (rate(http_requests[1m]))", EvalParams.instant(60_000))
    res = shrink(case, FaultCheck(func="sum", metric="http_requests"), passes=())
    assert res.case.query == "sum(rate(http_requests[1m]))"
    assert dict(res.passes_applied) == {"prometheus_spelling": 1}

    class SpellingSensitive(FaultCheck):
        def __call__(self, c: Case) -> Verdict:
            v = super().__call__(c)
            if "by ()" not in c.query:
                return Verdict.match("differential")
            return v

    res2 = shrink(case, SpellingSensitive(func="sum", metric="http_requests"), passes=())
    assert res2.case.query == "sum by () (rate(http_requests[1m]))"
