"""Signatures: stable keys, one key per bug, different keys for different bugs."""

from __future__ import annotations

import re

from oracle_helpers import err, vec

from promfuzz.model import Case, Dataset, EvalParams, Result
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
