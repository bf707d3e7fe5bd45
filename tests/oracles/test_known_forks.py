"""The rules for the older Prometheus engines (known/prometheus-forks.toml and the Thanos
parser rule) and for the live server (known/prometheus.toml): each one explains the real divergence it was written from, replayed on the
real hosts from its stored corpus case, and does not explain a near miss.

A replay that turns into ``match`` means the fork was bumped past the upstream fix: the
rule is then obsolete and should be deleted (the test says so)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from oracle_helpers import err, mat, scalar, vec

from promfuzz.corpus.store import CorpusStore
from promfuzz.engines.registry import HOST_ENGINES, LIVE_ENGINES, EngineRegistry, default_build_dir
from promfuzz.model import Case, Dataset, EvalParams, Result
from promfuzz.oracles import DifferentialOracle, load_rules
from promfuzz.oracles.known import builtin_rules_dir, load_rules_file

ROOT = Path(__file__).resolve().parents[2]
MP, TP = "mimir-prometheus", "thanos-prometheus"

# rule id -> the corpus cases (target engine, case id) it was written from
EVIDENCE: dict[str, list[tuple[str, str]]] = {
    "fork-quantile-inf-at-exact-rank": [(MP, "cfed29605fc49b6d"), (TP, "cfed29605fc49b6d"),
                                        (MP, "ddfff702f2180e0e"), (TP, "243af36af784352b")],
    "fork-mad-over-time-nan": [(MP, "a165854bb73715b5"), (TP, "a165854bb73715b5"), (MP, "9034c4977213a18b")],
    "fork-rad-deg-intermediate-overflow": [(MP, "6ab527c2dfc7ac35"), (TP, "6ab527c2dfc7ac35")],
    "fork-rad-deg-overflow-to-inf": [(MP, "abd1a37898048de9")],
    "fork-histogram-quantile-nan-sum": [(MP, "6ed4c07542c4a295"), (TP, "6ed4c07542c4a295"), (MP, "99fcc1e288635284"),
                                        (MP, "226469a98f2ac000"), (TP, "d54347f0df3edcae")],
    "fork-fill-modifiers-group-right": [(MP, "f22d0ed92e5047ae"), (MP, "314f098a1d2cb142")],
    "fork-fill-modifiers-group-left-range-points": [(MP, "0c626903d0ff5b43"), (MP, "f707b8f47a0255fa"),
                                                    (MP, "8cc1b28ed068b5a5")],
    "fork-anchored-smoothed-empty-window-panic": [(MP, "09acd54323a45fd3"), (TP, "a4d466d60c9a1074")],
    "fork-at-modifier-empty-range-panic": [(TP, "96aa91007b0c4662")],
    "fork-range-function-same-labelset": [(MP, "8b6c6f0800e1ac5e"), (TP, "8b6c6f0800e1ac5e")],
    "fork-subquery-at-in-non-step-invariant-call": [(MP, "dc4a15e605da5a57"), (MP, "cbf5ba16878d4083")],
    "fork-subquery-past-last-step": [(MP, "b39dbe4f8c638597")],
    "fork-subquery-past-last-step-annotations": [(MP, "9ad96358dcd717e7"), (TP, "847abd967d1056da")],
    "fork-ts-of-last-over-time-before-epoch": [(TP, "8ee9fb54240d7955")],
    "thanos-prometheus-smoothed-counter-reset": [(TP, "b8f0b72dc85ed70c")],
    "fork-duration-keyword-subquery-lexing": [(MP, "cfbc685bcde827c7"), (TP, "cfbc685bcde827c7")],
    "fork-histogram-stats-mixed-schema-warning": [(MP, "daba45cf23d5897f"), (TP, "daba45cf23d5897f")],
    "thanos-prometheus-info-without-identifying-labels": [(TP, "23919789ba892e81"), (TP, "3e0c27e8d122344f")],
    "thanos-prometheus-many-to-one-filter-check": [(TP, "0eb7808b182a57ff"), (TP, "df9c79636174ab0f")],
    "thanos-prometheus-rate-histogram-gauge-hint": [(TP, "cc2ad41ed407e85a")],
    "thanos-prometheus-anchored-changes-outside-range": [(TP, "f1b14a9f819d2a84")],
    "thanos-prometheus-smoothed-data-after-range": [(TP, "9a823a74b884c05e")],
    "thanos-prometheus-sort-in-range-query-warning": [(TP, "74a96a953eb73cc3")],
    "thanos-prometheus-monotonicity-info-detail": [(TP, "8cf2a9e6c62a9341")],
    "thanos-prometheus-anchored-smoothed-native-histograms": [(TP, "d0da8fb66871084c")],
    "thanos-older-parser-lacks-newer-syntax": [(TP, "1f0e3480d3ccc915")],
    # known/prometheus.toml: a Prometheus bug seen between the host and the live server
    "prometheus-histogram-equality-depends-on-chunk-layout": [
        ("prometheus-live", "d4986672c9779fe4"), ("prometheus-live", "b04d6930a33fc32a")],
}


def _binary(engine: str) -> str:
    return LIVE_ENGINES.get(engine) or HOST_ENGINES[engine].binary


def test_every_fork_rule_has_replayable_evidence() -> None:
    ids = {r.id for name in ("prometheus-forks.toml", "prometheus.toml")
           for r in load_rules_file(builtin_rules_dir() / name)}
    assert ids <= set(EVIDENCE), f"rules without a stored case: {sorted(ids - set(EVIDENCE))}"
    store = CorpusStore(ROOT / "corpus")
    for rid, cases in EVIDENCE.items():
        for _, cid in cases:
            assert store.get(cid) is not None, f"{rid}: corpus case {cid} is missing"


@pytest.fixture(scope="module")
def registry() -> Iterator[EngineRegistry]:
    with EngineRegistry() as reg:
        yield reg


@pytest.mark.hosts
@pytest.mark.parametrize(("rule_id", "engine", "case_id"),
                         [(r, e, c) for r, cases in EVIDENCE.items() for e, c in cases])
def test_rule_explains_its_real_divergence(registry: EngineRegistry, rule_id: str, engine: str, case_id: str) -> None:
    for name in ("prometheus", engine):
        path = default_build_dir() / _binary(name)
        if not path.is_file():
            pytest.skip(f"{path} is not built (run `make hosts`)")
    entry = CorpusStore(ROOT / "corpus").get(case_id)
    assert entry is not None
    case = entry.case
    ref_engine, tgt_engine = registry.open("prometheus"), registry.open(engine)
    ref_engine.load(case.dataset)
    tgt_engine.load(case.dataset)
    ref, tgt = ref_engine.query(case.query, case.params), tgt_engine.query(case.query, case.params)
    v = DifferentialOracle(rules=load_rules()).check(case, ref, tgt)
    assert v.kind != "match", f"{engine} now agrees on {case.query!r}: the fork took the fix, delete {rule_id}"
    assert v.kind == "expected" and v.rules == (rule_id,), f"{case.query}: {v.kind} {v.rules}\n{v.detail}"


# --- near misses: each differs from a hit in one respect and must stay a divergence ---

P = EvalParams.instant(60_000)
INF, NAN = math.inf, math.nan
MONO = ("PromQL info: input to histogram_quantile needed to be fixed for monotonicity "
        "(see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)")


def _pair(query: str, ref: Result, tgt: Result) -> tuple[str, Result, Result]:
    return query, ref, tgt


NEAR_MISSES: dict[str, tuple[str, Result, Result]] = {
    # a finite value instead of NaN
    "quantile-inf-vs-number": _pair("quantile(0, x)", vec(0, ({}, INF), engine="prometheus"),
                                    vec(0, ({}, 5.0), engine=MP)),
    # the same Inf-vs-NaN without quantile in the query
    "inf-vs-nan-without-quantile": _pair("max(x)", vec(0, ({}, INF), engine="prometheus"),
                                         vec(0, ({}, NAN), engine=MP)),
    # the reference is a number, not NaN
    "mad-number-vs-number": _pair("mad_over_time(x[1m])", vec(0, ({}, 1.0), engine="prometheus"),
                                  vec(0, ({}, 2.0), engine=TP)),
    # a negative timestamp but the target is not 0
    "ts-of-last-other-value": _pair("ts_of_last_over_time(x[1m:] offset 1h)", vec(0, ({}, -3600.0), engine="prometheus"),
                                    vec(0, ({}, -3599.0), engine=TP)),
    # extra annotations of a subquery, but not in a range query with an unaligned end
    "subquery-extra-warning-not-unaligned": _pair(
        "sum_over_time(rate(x[1m])[1m:1s])",
        mat(({}, [(0, 1.0)]), engine="prometheus"),
        Result(engine=MP, outcome="ok", value_type="matrix", series=mat(({}, [(0, 1.0)])).series,
               warnings=("PromQL warning: encountered a mix of histograms and floats for metric name \"x\"",))),
    # smoothed value difference in the mimir fork (3.10's fix is in it)
    "smoothed-value-in-mimir-fork": _pair("rate(x[1s] smoothed)", vec(0, ({}, 0.0), engine="prometheus"),
                                          vec(0, ({}, 1.0), engine=MP)),
    # a finite huge value against -Inf without rad/deg in the query
    "overflow-without-rad": _pair("x * 2", vec(0, ({}, -3.1e306), engine="prometheus"), vec(0, ({}, -math.inf), engine=MP)),
    "deg-off-by-ten-percent": _pair("deg(x)", vec(0, ({}, 1.0), engine="prometheus"), vec(0, ({}, 1.1), engine=MP)),
    "deg-rounding-in-mqe": _pair("tan(deg(x))", vec(0, ({}, 0.9610050193606431), engine="prometheus"),
                                 vec(0, ({}, 0.9610050195845715), engine="mqe")),
    # histogram_quantile value difference, but the reference saw no NaN observations
    "hq-without-nan-observations": _pair("histogram_quantile(0, x)", vec(0, ({}, 0.0), engine="prometheus"),
                                         vec(0, ({}, 0.001), engine=MP)),
    # group_right without any fill modifier
    "group-right-without-fill": _pair("x - on () group_right () y", vec(0, ({}, 1.0), engine="prometheus"),
                                      vec(0, ({}, 2.0), engine=MP)),
    # fill with group_left: an extra point, not a missing one
    "fill-group-left-extra-point": _pair(
        "x / ignoring () group_left () fill (1) y",
        mat(({}, [(0, 1.0)]), engine="prometheus"), mat(({}, [(0, 1.0), (60_000, 1.0)]), engine=MP)),
    # the fork's panic message, on a query without anchored/smoothed/@
    "panic-without-modifiers": _pair("rate(x[1m])", vec(0, ({}, 1.0), engine="prometheus"),
                                     err("execution", "unexpected error: runtime error: index out of range [-1]",
                                         engine=MP)),
    "at-panic-in-mimir-fork": _pair(
        "predict_linear(x[1m:] @ 10, 0)", vec(0, ({}, 1.0), engine="prometheus"),
        err("execution", "unexpected error: runtime error: index out of range [0] with length 0", engine=MP)),
    "range-function-other-error": _pair("ts_of_max_over_time(ceil(x)[1m:])", vec(0, ({}, 1.0), engine="prometheus"),
                                        err("execution", "many-to-many matching not allowed", engine=TP)),
    # a subquery with @ where the target kept some of the series
    "subquery-at-partial-answer": _pair(
        "predict_linear(x[2d:] @ 195, 0)", vec(0, ({"a": "1"}, 1.0), ({"a": "2"}, 1.0), engine="prometheus"),
        vec(0, ({"a": "1"}, 1.0), engine=MP)),
    # the bare monotonicity info is a text difference only thanos-prometheus is allowed
    "monotonicity-text-in-mimir-fork": _pair(
        "histogram_quantile(0, x_bucket)",
        vec(0, ({}, 1.0), engine="prometheus", infos=[MONO + ", from buckets 1 to 2"]),
        vec(0, ({}, 1.0), engine=MP, infos=[MONO])),
    "subquery-lexing-other-parse-error": _pair(
        "x[step():]", scalar(0, 1.0, engine="prometheus"),
        err("bad_data", 'invalid parameter "query": 1:5: parse error: unexpected "]"', engine=MP)),
    # an extra series from histogram_sum(avg(...)) when the reference did not warn
    "histogram-sum-extra-without-warning": _pair(
        "histogram_sum(avg(up))", vec(0, engine="prometheus"), vec(0, ({}, 6602.5), engine=TP)),
    "info-in-mimir-fork": _pair('info(x, {__name__=~".+_info"})', vec(0, ({"__name__": "x"}, 1.0), engine="prometheus"),
                                vec(0, engine=MP)),
    "many-to-one-arithmetic": _pair(
        "x + on () max(x)",
        err("execution", "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
            engine="prometheus"), vec(0, ({}, 1.0), engine=TP)),
    "changes-without-anchored": _pair("changes(x[1s])", vec(0, engine="prometheus"), vec(0, ({}, 0.0), engine=TP)),
    "delta-without-smoothed": _pair("delta(x[1m])", mat(engine="prometheus"), mat(({}, [(0, 0.0)]), engine=TP)),
    "other-missing-warning-on-sort": _pair(
        "sort_by_label_desc(x)", vec(0, ({}, 1.0), engine="prometheus", warnings=["PromQL warning: something else"]),
        vec(0, ({}, 1.0), engine=TP)),
    "anchored-native-histograms-in-thanos-engine": _pair(
        "rate(x[1m] anchored)", vec(0, ({}, 1.0), engine="prometheus"),
        err("execution", "smoothed and anchored modifiers do not work with native histograms", engine="thanos")),
    # changes() differs on float-only data: storage layout cannot explain that
    "changes-without-histograms-on-live": _pair("changes(h[2m])", vec(0, ({}, 0.0), engine="prometheus"),
                                                vec(0, ({}, 1.0), engine="prometheus-live")),
    # a parse failure of a query that uses nothing newer than Prometheus 3.8
    "parse-error-of-old-syntax": _pair(
        "rate(x[5m])", vec(0, ({}, 1.0), engine="prometheus"),
        err("bad_data", 'invalid parameter "query": 1:1: parse error: unexpected "("', engine=TP)),
}


@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_near_miss_stays_a_divergence(name: str) -> None:
    query, ref, tgt = NEAR_MISSES[name]
    v = DifferentialOracle(rules=load_rules()).check(Case(Dataset(), query, P), ref, tgt)
    assert v.kind == "divergence", f"{name}: {v.kind} via {v.rules}"


def test_histogram_data_is_what_makes_the_chunk_layout_rule_apply() -> None:
    """The hit of the float near miss above: the same answers over native histogram data."""
    from promfuzz.model import Histogram

    h = Histogram(schema=0, count=2, sum=3, positive_spans=((0, 2),), positive_buckets=(1, 1))
    data = Dataset.build([({"__name__": "h"}, [(0, h), (60_000, h)])])
    ref, tgt = vec(0, ({}, 0.0), engine="prometheus"), vec(0, ({}, 1.0), engine="prometheus-live")
    v = DifferentialOracle(rules=load_rules()).check(Case(data, "changes(h[2m])", P), ref, tgt)
    assert v.kind == "expected" and v.rules == ("prometheus-histogram-equality-depends-on-chunk-layout",)


def test_nan_sum_data_is_what_makes_the_nan_sum_rule_apply() -> None:
    """The hit of the near miss hq-without-nan-observations: the same values over a histogram with a NaN sum."""
    from promfuzz.model import Histogram

    h = Histogram(schema=0, count=2, sum=NAN, positive_spans=((0, 2),), positive_buckets=(1, 1))
    data = Dataset.build([({"__name__": "x"}, [(0, h)])])
    ref, tgt = vec(0, ({}, 0.0), engine="prometheus"), vec(0, ({}, 0.001), engine=MP)
    v = DifferentialOracle(rules=load_rules()).check(Case(data, "histogram_quantile(0, x)", P), ref, tgt)
    assert v.kind == "expected" and v.rules == ("fork-histogram-quantile-nan-sum",)


def test_ref_annotation_condition_is_what_makes_the_mixed_schema_rule_apply() -> None:
    """The hit of the near miss histogram-sum-extra-without-warning: the reference warned."""
    warn = 'PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name "up" (1:15)'
    ref, tgt = vec(0, engine="prometheus", warnings=[warn]), vec(0, ({}, 6602.5), engine=TP)
    v = DifferentialOracle(rules=load_rules()).check(Case(Dataset(), "histogram_sum(avg(up))", P), ref, tgt)
    assert v.kind == "expected" and v.rules == ("fork-histogram-stats-mixed-schema-warning",)


def test_rules_see_every_difference_beyond_the_listing_cap() -> None:
    """A comparison lists at most 100 differences; rules are judged on all of them."""
    many = [({"i": str(i)}, NAN) for i in range(150)]
    ref = vec(0, *many, engine="prometheus")
    oracle = DifferentialOracle(rules=load_rules())
    case = Case(Dataset(), "mad_over_time(x[1h])", P)
    v = oracle.check(case, ref, vec(0, *[(lb, 0.5) for lb, _ in many], engine=MP))
    assert v.kind == "expected" and v.rules == ("fork-mad-over-time-nan",)
    # the 150th difference is not one the rule explains (the reference is not NaN there)
    ref2 = vec(0, *many[:-1], (many[-1][0], 1.0), engine="prometheus")
    v = oracle.check(case, ref2, vec(0, *[(lb, 0.5) for lb, _ in many], engine=MP))
    assert v.kind == "divergence"
