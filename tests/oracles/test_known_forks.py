"""The rules for the older Prometheus engines (known/prometheus-forks.toml and the Thanos
parser rule) and for the live server (known/prometheus.toml): synthetic near misses, each
differing from a hit in one respect, stay divergences. (Each rule's real evidence is
replayed on the hosts by test_known_evidence.py.)"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from oracle_helpers import err, mat, scalar, vec

from promfuzz.model import Case, Dataset, EvalParams, Result
from promfuzz.oracles import DifferentialOracle, load_rules

ROOT = Path(__file__).resolve().parents[2]
MP, TP = "mimir-prometheus", "thanos-prometheus"

# The evidence of every rule (the corpus cases it was written from) is named in the rule
# files themselves and replayed by test_known_evidence.py; the synthetic near misses below
# probe each rule's conditions one at a time.


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
    # audit #10: newer syntax in the query (min_of), but the parse error is about rate
    "parse-error-of-old-syntax-in-newer-query": _pair(
        "min_of(1, 2) + scalar(rate(x[5m]))", scalar(0, 1.0, engine="prometheus"),
        err("bad_data", 'invalid parameter "query": 1:23: parse error: unknown function with name "rate"', engine=TP)),
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
