"""Rules added from promfuzz's own measurements: each explains its hit and not a near miss."""

from __future__ import annotations

from oracle_helpers import err, scalar

from promfuzz.model import Case, Dataset, EvalParams, Result
from promfuzz.oracles import DifferentialOracle, load_rules

P = EvalParams.instant(60_000)


def verdict(query: str, ref: Result, tgt: Result) -> tuple[str, tuple[str, ...]]:
    v = DifferentialOracle(rules=load_rules()).check(Case(Dataset(), query, P), ref, tgt)
    return v.kind, v.rules


def test_mqe_unknown_newer_experimental_function_is_expected() -> None:
    msg = 'invalid parameter "query": 1:1: parse error: unknown function with name "min_of"'
    kind, rules = verdict("min_of(1, 2)", scalar(60_000, 1.0, "prometheus"), err("bad_data", msg, engine="mqe"))
    assert kind == "expected" and rules == ("mqe-fork-lacks-newer-experimental-functions",)


def test_mqe_unknown_other_function_stays_a_divergence() -> None:
    msg = 'invalid parameter "query": 1:1: parse error: unknown function with name "rate"'
    kind, _ = verdict("rate(x[5m])", scalar(60_000, 1.0, "prometheus"), err("bad_data", msg, engine="mqe"))
    assert kind == "divergence"


def test_mqe_modifier_misuse_error_class_is_expected_only_for_that_message() -> None:
    text = "smoothed modifier can only be used with: delta, increase, rate - not with deriv"
    ref = err("execution", text, engine="prometheus")
    kind, rules = verdict("deriv(x[1m] smoothed)", ref, err("bad_data", f'invalid parameter "query": {text}', engine="mqe"))
    assert kind == "expected" and rules == ("mqe-modifier-misuse-is-bad-data",)
    other = "vector cannot contain metrics with the same labelset"
    kind, _ = verdict("x", err("execution", other, engine="prometheus"), err("bad_data", other, engine="mqe"))
    assert kind == "divergence"


def test_thanos_older_parser_is_expected_for_newer_syntax_only() -> None:
    msg = 'invalid parameter "query": 1:1: parse error: unknown function with name "histogram_quantiles"'
    kind, rules = verdict("histogram_quantiles(x, 0.5)", scalar(60_000, 1.0, "prometheus"),
                          err("bad_data", msg, engine="thanos"))
    assert kind == "expected" and rules == ("thanos-older-parser-lacks-newer-syntax",)
    kind, _ = verdict("histogram_quantiles(x, 0.5)", scalar(60_000, 1.0, "prometheus"),
                      err("bad_data", msg, engine="mqe"))
    assert kind == "divergence"


def test_mqe_unknown_function_is_expected_even_when_prometheus_fails_later() -> None:
    msg = 'invalid parameter "query": 1:1: parse error: unknown function with name "integral"'
    ref = err("execution", "vector cannot contain metrics with the same labelset", engine="prometheus")
    kind, rules = verdict("integral(x[1m])", ref, err("bad_data", msg, engine="mqe"))
    assert kind == "expected" and rules == ("mqe-fork-lacks-newer-experimental-functions",)


def test_mqe_skipped_side_error_is_expected_only_for_empty_binary_operations() -> None:
    from oracle_helpers import vec

    ref = err("execution", "Scalar value 1e+300 overflows int64", engine="prometheus")
    empty = vec(60_000, engine="mqe")
    kind, rules = verdict("no_such_metric == bottomk(1e300, x)", ref, empty)
    assert kind == "expected" and rules == ("mqe-skips-errors-of-unevaluated-binop-side",)
    kind, _ = verdict("bottomk(1e300, x)", ref, empty)  # no binary operation: a divergence
    assert kind == "divergence"
    kind, _ = verdict("a == bottomk(1e300, x)", ref, vec(60_000, ({"a": "1"}, 1.0), engine="mqe"))
    assert kind == "divergence"  # MQE answered with series: not a skipped side


def test_mqe_fork_anchored_native_histograms_is_expected() -> None:
    from oracle_helpers import vec

    msg = "smoothed and anchored modifiers do not work with native histograms"
    kind, rules = verdict("rate(h[1m] anchored)", vec(60_000, ({"a": "1"}, 1.0), engine="prometheus"),
                          err("execution", msg, engine="mqe"))
    assert kind == "expected" and rules == ("mqe-fork-no-anchored-smoothed-native-histograms",)
