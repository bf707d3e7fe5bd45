"""Signatures: stable keys, one key per bug, different keys for different bugs."""

from __future__ import annotations

import hashlib
import json
import math
import re

import pytest
from oracle_helpers import err, vec

from promfuzz.model import Case, Dataset, EvalParams, Histogram, Point, Result, ResultSeries, make_labels, stale_nan
from promfuzz.oracles import DifferentialOracle, Signature, Verdict, signature_features
from promfuzz.oracles._query import token_features

T = 60_000
P = EvalParams.instant(T)
DS = Dataset()


def sig(query: str, ref: Result, tgt: Result) -> Signature:
    v = DifferentialOracle().check(Case(DS, query, P), ref, tgt)
    assert v.signature is not None, v
    return v.signature


def test_key_is_stable_and_folder_safe() -> None:
    s = Signature("differential", "value", ("fn:rate", "agg:sum"), ("ok", "ok"), "mqe")
    assert s.key() == Signature("differential", "value", ("fn:rate", "agg:sum"), ("ok", "ok"), "mqe").key()
    assert re.fullmatch(r"[a-z0-9_]+-[a-z0-9_]+-[0-9a-f]{10}", s.key())
    assert Signature.from_json_obj(s.to_json_obj()) == s
    assert "rate" in s.title and "value" in s.title


def test_same_bug_in_differently_written_queries_has_one_key() -> None:
    # Selectors, label matchers, ranges, grouping labels and literal values do not matter.
    a = sig('rate(foo{job="a"}[5m])', vec(T, ({"a": "1"}, 1.0)), vec(T, ({"a": "1"}, 2.0)))
    b = sig("rate(bar[1m] )", vec(T, ({"b": "7"}, 10.0)), vec(T, ({"b": "7"}, 3.0)))
    assert a.key() == b.key()
    c = sig("sum by (x) (rate(foo[5m])) * 2", vec(T, ({}, 1.0)), vec(T, ({}, 2.0)))
    d = sig("sum without (y, z) (rate(foo{a=~'.+'}[10m])) * 3.5", vec(T, ({}, 1.0)), vec(T, ({}, 2.0)))
    assert c.key() == d.key()


def test_different_bugs_have_different_keys() -> None:
    ref = vec(T, ({"a": "1"}, 1.0))
    value_rate = sig("rate(foo[5m])", ref, vec(T, ({"a": "1"}, 2.0)))
    value_irate = sig("irate(foo[5m])", ref, vec(T, ({"a": "1"}, 2.0)))
    missing_rate = sig("rate(foo[5m])", ref, vec(T))
    error_rate = sig("rate(foo[5m])", ref, err("execution", "boom"))
    offset_rate = sig("rate(foo[5m] offset 1m)", ref, vec(T, ({"a": "1"}, 2.0)))
    keys = {s.key() for s in (value_rate, value_irate, missing_rate, error_rate, offset_rate)}
    assert len(keys) == 5


def test_secondary_categories_do_not_split_a_bug() -> None:
    # A wrong value that also drags a series out in a bigger answer is still a value bug.
    ref = vec(T, ({"a": "1"}, 1.0), ({"a": "2"}, 1.0))
    small = sig("abs(foo)", vec(T, ({"a": "1"}, 1.0)), vec(T, ({"a": "1"}, 2.0)))
    big = sig("abs(foo)", ref, vec(T, ({"a": "1"}, 2.0), ({"a": "3"}, 1.0)))
    assert big.category == "missing_series"  # missing beats value: it is more significant
    assert small.category == "value" and small.key() != big.key()
    both_values = sig("abs(foo)", ref, vec(T, ({"a": "1"}, 2.0), ({"a": "2"}, 5.0)))
    assert both_values.key() == small.key()


def test_shrunk_candidates_preserve_a_signature_with_fewer_features() -> None:
    big = Signature("differential", "value", ("agg:sum", "fn:rate", "op:*"), ("ok", "ok"), "mqe")
    assert big.preserved_by(Signature("differential", "value", ("fn:rate",), ("ok", "ok"), "mqe"))
    assert not big.preserved_by(Signature("differential", "value", ("fn:irate",), ("ok", "ok"), "mqe"))
    assert not big.preserved_by(Signature("differential", "order", ("fn:rate",), ("ok", "ok"), "mqe"))
    assert not big.preserved_by(Signature("differential", "value", ("fn:rate",), ("ok", "ok"), "thanos"))


def test_signature_features_keep_only_bug_carrying_features() -> None:
    fs = token_features('sum by (job) (rate(x{a=~"b"}[5m] offset 1m)) / on(job) group_left y')
    assert signature_features(fs) == ("agg:sum", "fn:rate", "match:group_left", "mod:offset", "op:/")


def test_verdict_helpers() -> None:
    assert Verdict.match("x").kind == "match" and not Verdict.match("x").is_problem
    na = Verdict.not_applicable("x", "why")
    assert na.kind == "not_applicable" and na.reason == "why"
    assert Verdict("divergence", "x", rules=("r1", "r2")).rule == "r1"


# ----------------------------------------------------------------------------- data aspect
# Issue #12, item 14: divergence signatures keyed on query features only, so a new bug with
# the same features but different data was absorbed into an old finding.

FLOATS = Dataset.build([({"__name__": "foo", "a": "1"}, [(0, 1.0), (30_000, 2.0)])])
HISTS = Dataset.build([({"__name__": "foo", "a": "1"},
                        [(0, Histogram(count=1, sum=1)), (30_000, Histogram(count=2, sum=3))])])
STALE = Dataset.build([({"__name__": "foo", "a": "1"}, [(0, 1.0), (30_000, stale_nan())])])


def sig_on(ds: Dataset, query: str, ref: Result, tgt: Result) -> Signature:
    v = DifferentialOracle().check(Case(ds, query, P), ref, tgt)
    assert v.signature is not None, v
    return v.signature


def test_same_features_on_float_and_on_histogram_samples_are_two_bugs() -> None:
    ref, tgt = vec(T, ({"a": "1"}, 1.0)), vec(T, ({"a": "1"}, 2.0))
    on_floats = sig_on(FLOATS, "rate(foo[5m])", ref, tgt)
    on_hists = sig_on(HISTS, "rate(foo[5m])", ref, tgt)
    assert on_floats.features == on_hists.features
    assert on_floats.key() != on_hists.key()
    assert "samples:float" in on_floats.aspect and "samples:histogram" in on_hists.aspect
    # ... and the shrinker keeps the aspect: a histogram bug never shrinks into a float one.
    assert not on_hists.preserved_by(on_floats)
    assert on_hists.preserved_by(sig_on(HISTS, "rate(foo[1m])", ref, tgt))


def test_an_empty_answer_on_one_side_is_not_a_wrong_series_set() -> None:
    # The audit's "(A / B) ^ -33.9": the target returned no series for A / B at all.
    ref = vec(T, ({"a": "1"}, 1.0), ({"a": "2"}, 4.0))
    nothing = sig_on(FLOATS, "(foo / foo) ^ -33.9", ref, vec(T))
    one_less = sig_on(FLOATS, "(foo / foo) ^ -33.9", ref, vec(T, ({"a": "1"}, 1.0)))
    assert nothing.category == one_less.category == "missing_series"
    assert nothing.key() != one_less.key()
    assert "empty:tgt" in nothing.aspect and "empty:tgt" not in one_less.aspect
    gained = sig_on(FLOATS, "(foo / foo) ^ -33.9", vec(T), ref)
    assert "empty:ref" in gained.aspect


def test_nan_and_inf_in_the_differing_points_are_their_own_bugs() -> None:
    ref = vec(T, ({"a": "1"}, 1.0))
    wrong = sig_on(FLOATS, "ln(foo)", ref, vec(T, ({"a": "1"}, 2.0)))
    nan = sig_on(FLOATS, "ln(foo)", ref, vec(T, ({"a": "1"}, math.nan)))
    inf = sig_on(FLOATS, "ln(foo)", ref, vec(T, ({"a": "1"}, -math.inf)))
    assert len({wrong.key(), nan.key(), inf.key()}) == 3
    assert "points:nan" in nan.aspect and "points:inf" in inf.aspect and not {"points:nan", "points:inf"} & set(wrong.aspect)


def test_stale_markers_in_the_data_read_are_an_aspect() -> None:
    ref, tgt = vec(T, ({"a": "1"}, 1.0)), vec(T, ({"a": "1"}, 2.0))
    with_stale = sig_on(STALE, "last_over_time(foo[5m])", ref, tgt)
    without = sig_on(FLOATS, "last_over_time(foo[5m])", ref, tgt)
    assert with_stale.key() != without.key()
    assert "stale" in with_stale.aspect and "stale" not in without.aspect


def test_the_aspect_is_coarse_one_bug_on_different_data_is_one_key() -> None:
    # Other values, labels, series counts and metric names: the same words, the same key.
    other = Dataset.build([({"__name__": "bar", "b": str(i)}, [(0, float(i)), (60_000, float(i * i))])
                           for i in range(7)])
    a = sig_on(FLOATS, "rate(foo[5m])", vec(T, ({"a": "1"}, 1.0)), vec(T, ({"a": "1"}, 2.0)))
    b = sig_on(other, 'rate(bar{b=~"1|2"}[1m])', vec(T, ({"b": "1"}, 5.0), ({"b": "2"}, 7.0)),
               vec(T, ({"b": "1"}, 3.0), ({"b": "2"}, 7.5)))
    assert a.aspect == b.aspect == ("samples:float",)
    assert a.key() == b.key()


def test_selectors_that_match_nothing_say_so() -> None:
    s = sig_on(FLOATS, "rate(no_such_metric[5m])", vec(T, ({"a": "1"}, 1.0)), vec(T, ({"a": "1"}, 2.0)))
    assert "samples:none" in s.aspect
    literal = sig_on(FLOATS, "vector(1)", vec(T, ({}, 1.0)), vec(T, ({}, 2.0)))
    assert not any(w.startswith("samples:") for w in literal.aspect)  # no selector, no word


def test_signatures_without_an_aspect_keep_the_keys_stored_corpus_folders_have() -> None:
    s = Signature("differential", "error_vs_result", (), ("ok", "execution"), "mqe", "tgt: boom")
    old_json = {"oracle": "differential", "category": "error_vs_result", "features": [],
                "error_classes": ["ok", "execution"], "target": "mqe", "qualifier": "tgt: boom"}
    old_key = "differential-error_vs_result-" + hashlib.sha256(
        json.dumps(old_json, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:10]
    assert s.key() == old_key
    with_aspect = Signature("differential", "value", ("fn:rate",), ("ok", "ok"), "mqe", "", ("samples:float",))
    assert Signature.from_json_obj(with_aspect.to_json_obj()) == with_aspect
    assert with_aspect.key() != Signature("differential", "value", ("fn:rate",), ("ok", "ok"), "mqe").key()
    assert "samples:float" in with_aspect.title


# ----------------------------------------------------------------------------- expected hits by shape


class _ExplainAll:
    """A rule set whose one rule explains every difference (as the audit's too-wide
    ``mqe-binop-no-series-annotations`` did for the (A / B) ^ -33.9 case)."""

    rules = ("r1",)

    def explain(self, *args: object, **kwargs: object) -> tuple[str, ...]:
        return ("r1",)


def test_a_second_bug_under_one_rule_is_its_own_finding() -> None:
    from promfuzz.pipeline import finding_key

    oracle = DifferentialOracle(rules=_ExplainAll())  # type: ignore[arg-type]
    q = "(foo / foo) ^ -33.9"
    w = ("PromQL warning: something about the operands (1:2)",)
    rule_shape = oracle.check(Case(FLOATS, q, P), vec(T, warnings=w), vec(T))  # what the rule is for
    second_bug = oracle.check(Case(FLOATS, q, P), vec(T, ({"a": "1"}, 1.0)), vec(T))  # target lost the series
    same_shape = oracle.check(Case(FLOATS, "(foo * foo) ^ 2", P), vec(T, warnings=w), vec(T))
    assert rule_shape.kind == second_bug.kind == "expected" and rule_shape.rule == second_bug.rule == "r1"
    k1, k2, k3 = finding_key(rule_shape), finding_key(second_bug), finding_key(same_shape)
    assert k1 != k2
    assert k1 == k3  # the rule's own hits stay one finding per shape
    assert k1.startswith("expected-r1-e-") and re.fullmatch(r"[A-Za-z0-9_.\-]+", k1)


def test_the_shrinker_keeps_the_data_aspect(monkeypatch: pytest.MonkeyPatch) -> None:
    """A toy target wrong whenever a foo sample exists: a shrinker free to choose would
    drop the float samples (or the histograms) of a bug seen on both; with the aspect in
    the signature the shrunk case still reads floats and histograms."""
    import promfuzz.oracles.differential as differential
    from promfuzz.shrink import shrink

    def one(v: float) -> Result:
        return Result(engine="e", outcome="ok", value_type="vector",
                      series=(ResultSeries(make_labels({}), (Point(T, v),)),))

    oracle = DifferentialOracle()

    def check(c: Case) -> Verdict:
        n = sum(len(s.samples) for s in c.dataset.series if s.name == "foo")
        return oracle.check(c, one(1.0), one(2.0 if n else 1.0), detail=False)

    ds = Dataset.build([
        ({"__name__": "foo", "a": "1"}, [(0, 1.0), (15_000, 2.0), (30_000, Histogram(count=1, sum=1)),
                                         (45_000, Histogram(count=2, sum=2))]),
        ({"__name__": "foo", "a": "2"}, [(0, 5.0), (15_000, 6.0)]),
    ])
    case = Case(ds, "sum(rate(foo[5m]))", P)
    first = check(case)
    assert first.signature is not None and first.signature.aspect == ("samples:float+histogram",)

    def kinds(c: Case) -> set[str]:
        return {"histogram" if isinstance(s.v, Histogram) else "float" for x in c.dataset.series for s in x.samples}

    res = shrink(case, check)
    assert res.verdict.signature is not None and res.verdict.signature.aspect == first.signature.aspect
    assert kinds(res.case) == {"float", "histogram"}
    assert len(res.case.query) < len(case.query)  # it did shrink
    # The aspect is what keeps it: without one the same shrink drops a kind of sample.
    monkeypatch.setattr(differential, "data_aspect", lambda *a, **k: ())
    assert len(kinds(shrink(case, check).case)) == 1
