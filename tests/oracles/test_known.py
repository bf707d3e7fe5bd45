"""The known-differences registry: file errors, matching, and the shipped rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from oracle_helpers import err, scalar, vec

from promfuzz.errors import ConfigError
from promfuzz.model import Case, Dataset, EvalParams, Result
from promfuzz.oracles import (
    ComparisonConfig,
    DifferentialOracle,
    Verdict,
    load_rules,
    load_rules_file,
    parse_rules,
)
from promfuzz.oracles.known import RuleSet, version_key

T = 60_000
P = EvalParams.instant(T)
RULES = load_rules()

GOOD = '''
[[rule]]
id = "r1"
reason = "because"
link = "https://example.invalid/r1"
effect = "expected"
evidence = [{engine = "mqe", case = "corpus:0123456789abcdef"}]
near_miss = [{engine = "mqe", case = "evidence/r1-near.test"}]
[rule.match]
engines = ["mqe"]
categories = ["value"]
'''


def check(query: str, ref: Result, tgt: Result, rules: RuleSet = RULES, versions: dict[str, str] | None = None,
          config: ComparisonConfig | None = None) -> Verdict:
    oracle = DifferentialOracle(config=config, rules=rules, versions=versions)
    return oracle.check(Case(Dataset(), query, P), ref, tgt)


def test_shipped_rules_load_with_unique_ids() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids)) and len(ids) >= 8
    assert all(r.link and r.reason and r.effect == "expected" for r in RULES)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[[rule]\nid=", "invalid TOML"),
        ('[[rule]]\nreason = "x"\nlink = "y"\n[rule.match]\nengines = ["a"]\n', "rule #1: missing 'id'"),
        (GOOD.replace('link = "https://example.invalid/r1"\n', ""), "rule 'r1': missing 'link'"),
        (GOOD.replace('effect = "expected"', 'effect = "ignore"'), "rule 'r1': effect must be"),
        (GOOD.replace('categories = ["value"]', 'categories = ["valu"]'), "rule 'r1': unknown category 'valu'"),
        (GOOD.replace('categories = ["value"]', 'colour = ["red"]'), "unknown match condition 'colour'"),
        (GOOD.replace('categories = ["value"]', 'message_regex = "("'), "not a valid regex"),
        (GOOD.replace('categories = ["value"]', "max_rel_diff = \"small\""), "match.max_rel_diff must be"),
        (GOOD.replace('engines = ["mqe"]', 'engines = "mqe"'), "match.engines must be a list"),
        (GOOD.replace('[rule.match]\nengines = ["mqe"]\ncategories = ["value"]\n', ""), "missing [rule.match]"),
        (GOOD.replace('categories = ["value"]', 'version_min = "banana"'), "match.version_min"),
        (GOOD + GOOD, "duplicate id"),
        ('colour = 1\n' + GOOD, "unknown top-level keys"),
        # evidence is required, well-formed, for an engine the rule names, and exists
        (GOOD.replace('evidence = [{engine = "mqe", case = "corpus:0123456789abcdef"}]\n', ""),
         "rule 'r1': missing 'evidence'"),
        (GOOD.replace('near_miss = [{engine = "mqe", case = "evidence/r1-near.test"}]\n', ""),
         "rule 'r1': missing 'near_miss'"),
        (GOOD.replace('evidence = [{engine = "mqe", case = "corpus:0123456789abcdef"}]', "evidence = []"),
         "evidence must be a non-empty list"),
        (GOOD.replace('case = "corpus:0123456789abcdef"', 'case = "corpus:xyz"'), "'case' must be"),
        (GOOD.replace('{engine = "mqe", case = "corpus:0123456789abcdef"}', '{engine = "thanos", case = "corpus:0123456789abcdef"}'),
         "engine 'thanos' is not one the rule applies to"),
        (GOOD.replace('case = "evidence/r1-near.test"', 'case = "evidence/missing.test"'), "does not exist"),
        (GOOD.replace('categories = ["value"]', 'histogram_operand = "fn:changes"'), "match.histogram_operand must be a list"),
        (GOOD.replace('categories = ["value"]', 'parse_error_context = "("'), "not a valid regex"),
    ],
)
def test_malformed_rules_name_file_and_rule(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "r1-near.test").write_text("eval instant at 0s 1\n  1\n")
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        RuleSet(load_rules_file(f))
    assert str(f) in str(e.value) and needle in str(e.value)


def test_missing_rules_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules_file(tmp_path / "nope.toml")


def test_rule_applies_only_to_its_engines_and_categories() -> None:
    rules = RuleSet(parse_rules(GOOD, "t.toml"))
    ref = vec(T, ({"a": "1"}, 1.0), engine="prometheus")
    assert check("x", ref, vec(T, ({"a": "1"}, 2.0), engine="mqe"), rules).kind == "expected"
    assert check("x", ref, vec(T, ({"a": "1"}, 2.0), engine="thanos"), rules).kind == "divergence"
    assert check("x", ref, vec(T, ({"a": "2"}, 1.0), engine="mqe"), rules).kind == "divergence"


def test_rule_for_a_family_applies_to_its_specs_but_not_to_other_families() -> None:
    """`mqe[passes=all]` and `mqe[-reduce_matchers]` are MQE under other options: a rule
    about `mqe` applies; `mimir-prometheus` and `mqe-like` do not match `mqe`."""
    rules = RuleSet(parse_rules(GOOD, "t.toml"))
    ref = vec(T, ({"a": "1"}, 1.0), engine="prometheus")
    for name in ("mqe[passes=all]", "mqe[-reduce_matchers]"):
        assert check("x", ref, vec(T, ({"a": "1"}, 2.0), engine=name), rules).kind == "expected"
    for name in ("mimir-prometheus", "mqe-like", "thanos[optimizers=none]"):
        assert check("x", ref, vec(T, ({"a": "1"}, 2.0), engine=name), rules).kind == "divergence"


def test_rule_must_explain_every_difference() -> None:
    rules = RuleSet(parse_rules(GOOD, "t.toml"))
    ref = vec(T, ({"a": "1"}, 1.0), ({"a": "2"}, 1.0), engine="prometheus")
    tgt = vec(T, ({"a": "1"}, 2.0), engine="mqe")  # a value difference plus a missing series
    v = check("x", ref, tgt, rules)
    assert v.kind == "divergence" and v.rules == ()


def test_version_ranges_need_a_known_version() -> None:
    text = GOOD.replace('categories = ["value"]', 'categories = ["value"]\nversion_min = "v1.2.0"\n'
                        'version_max = "v2.0.0"')
    rules = RuleSet(parse_rules(text, "t.toml"))
    ref, tgt = vec(T, ({"a": "1"}, 1.0), engine="p"), vec(T, ({"a": "1"}, 2.0), engine="mqe")
    assert check("x", ref, tgt, rules, {"mqe": "v1.5.3"}).kind == "expected"
    assert check("x", ref, tgt, rules, {"mqe": "v2.0.0"}).kind == "divergence"
    assert check("x", ref, tgt, rules).kind == "divergence"
    assert version_key("v0.0.0-20261101120000-abcdef123456") > version_key("v0.0.0-20250101120000-abcdef123456")


# --------------------------------------------------------------------------- shipped MQE rules

def test_mqe_missing_annotations_on_empty_binop_is_expected() -> None:
    ref = vec(T, engine="prometheus", infos=['PromQL info: metric might not be a counter: "x" (1:1)'])
    tgt = vec(T, engine="mqe")
    v = check("rate(x[5m]) * y", ref, tgt)
    assert v.kind == "expected" and v.rule == "mqe-binop-no-series-annotations"
    # Near misses: no binary operation; a non-empty answer; an extra annotation; another engine.
    assert check("rate(x[5m])", ref, tgt).kind == "divergence"
    ref2 = vec(T, ({"a": "1"}, 1.0), engine="prometheus", infos=["i (1:1)"])
    assert check("rate(x[5m]) * y", ref2, vec(T, ({"a": "1"}, 1.0), engine="mqe")).kind == "divergence"
    assert check("rate(x[5m]) * y", vec(T, engine="prometheus"), vec(T, engine="mqe", infos=["i"])).kind == (
        "divergence")
    assert check("rate(x[5m]) * y", ref, vec(T, engine="thanos")).kind == "divergence"


MANY = ('found duplicate series for the match group {a="1"} on the right hand-side of the operation: '
        '[{a="1", b="1"}, {a="1", b="2"}];many-to-many matching not allowed: matching labels must be unique on one side')


@pytest.mark.parametrize("engine", ["mqe", "thanos"])
def test_streaming_engines_may_skip_impossible_duplicate_match_errors(engine: str) -> None:
    # (no data: both sides of x + on(a) y are empty, no match group has a partner)
    v = check("x + on(a) y", err("execution", MANY, engine="prometheus"), vec(T, engine=engine))
    # the pinned Thanos engine raises the error like Prometheus: no evidence, no rule
    assert v.kind == ("expected" if engine == "mqe" else "divergence")
    other = check("x + on(a) y", err("execution", "some other failure", engine="prometheus"), vec(T, engine=engine))
    assert other.kind == "divergence"
    reverse = check("x + on(a) y", vec(T, engine="prometheus"), err("execution", MANY, engine=engine))
    assert reverse.kind == "divergence"


# --------------------------------------------------------------------------- VictoriaMetrics

def vm(r: Result) -> Result:
    return Result(**{**r.__dict__, "engine": "victoriametrics"})


def test_vm_differences_are_divergences_without_evidenced_rules() -> None:
    """The VictoriaMetrics rules had no evidence replayable on a real VictoriaMetrics and
    three accepted any difference of any range query (audit #12): removed, so these are
    visible (the safe direction)."""
    ref = vec(T, ({"a": "1"}, 1.0), engine="prometheus")
    assert check("rate(x[5m])", ref, vm(vec(T, ({"a": "1"}, 0.8)))).kind == "divergence"  # was vm-rate-no-extrapolation
    assert check("max_over_time(x[5m])", ref, vm(vec(T))).kind == "divergence"  # was vm-left-open-windows
    assert check("1", scalar(T, 1.0, engine="prometheus"), vm(vec(T, ({}, 1.0)))).kind == "divergence"  # vm-scalar-as-vector
    # the one rule there now is scoped to an error naming a function the query calls
    assert [r.id for r in RULES if r.source.endswith("victoriametrics.toml")] == ["vm-unsupported-prometheus-function"]
