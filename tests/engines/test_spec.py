"""Engine specs: FAMILY[OPTION,...] parsing, normalization, host arguments and bad input."""

from __future__ import annotations

import pytest

from promfuzz.engines.registry import resolve_campaign_reference, resolve_reference
from promfuzz.engines.spec import (
    FAMILIES,
    MQE_PASS_DEFAULTS,
    describe_options,
    family_of,
    format_duration_ms,
    normalize,
    parse_duration_ms,
    parse_spec,
)
from promfuzz.errors import ConfigError, UnknownEngineError


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("mqe", "mqe"),
        ("mqe[]", "mqe"),
        ("mqe[passes=default]", "mqe"),
        ("mqe[passes=all]", "mqe[passes=all]"),
        ("mqe[passes=none]", "mqe[passes=none]"),
        # narrow binary selectors is off by default in Mimir: -x is the default, +x is not
        ("mqe[-narrow_binary_selectors]", "mqe"),
        ("mqe[+narrow_binary_selectors]", "mqe[+narrow_binary_selectors]"),
        ("mqe[narrow_binary_selectors=on]", "mqe[+narrow_binary_selectors]"),
        ("mqe[passes=all,-prune_toggles]", "mqe[passes=all,-prune_toggles]"),
        ("mqe[passes=none,+prune_toggles]", "mqe[passes=none,+prune_toggles]"),
        # the same pass set spelled two ways has one name
        ("mqe[passes=all,-projection_pushdown,-subset_selector_elimination]", "mqe[+narrow_binary_selectors]"),
        ("mqe[lookback=1m30s,delayed_name_removal=on]", "mqe[delayed_name_removal=true,lookback=1m30s]"),
        ("mqe[lookback=300s]", "mqe"),
        ("thanos[optimizers=none]", "thanos[optimizers=none]"),
        ("thanos[optimizers=default]", "thanos"),
        ("prometheus[lookback=30s]", "prometheus[lookback=30s]"),
        ("prometheus-promqltest[delayed_name_removal=true]", "prometheus-promqltest"),
        ("prometheus-promqltest[delayed_name_removal=false]", "prometheus-promqltest[delayed_name_removal=false]"),
        (" mqe [passes=all]".replace(" [", "["), "mqe[passes=all]"),
        ("http://localhost:9090", "http://localhost:9090"),
    ],
)
def test_normalized_names(spec: str, name: str) -> None:
    if spec.startswith("http"):
        spec = "http:" + spec
        name = "http:" + name
    assert normalize(spec) == name
    assert normalize(name) == name  # normalizing is idempotent


def test_family_is_the_part_before_the_options() -> None:
    assert family_of("mqe[-narrow_binary_selectors]") == "mqe"
    assert family_of("mqe[passes=all]") == "mqe"
    assert family_of("thanos-prometheus") == "thanos-prometheus"
    assert family_of("mqe@v1") == "mqe"
    assert parse_spec("mqe[passes=all]").family == "mqe"


def test_host_args_reach_the_host_only_for_non_defaults() -> None:
    assert parse_spec("mqe").host_args() == ()
    assert parse_spec("mqe[-narrow_binary_selectors]").host_args() == ()
    assert parse_spec("prometheus-promqltest").host_args() == ("--promqltest-engine",)
    assert parse_spec("prometheus[lookback=30s]").host_args() == ("--option", "lookback=30s")
    args = parse_spec("mqe[passes=all]").host_args()
    assert args[:2] == ("--option", "passes=none")
    assert {a for a in args[2:] if a != "--option"} == {f"pass.{p}=true" for p in MQE_PASS_DEFAULTS}
    args = parse_spec("mqe[passes=all,-narrow_binary_selectors]").host_args()
    assert "pass.narrow_binary_selectors=true" not in args and "pass.projection_pushdown=true" in args


def test_option_values_fill_in_defaults() -> None:
    v = parse_spec("mqe[+narrow_binary_selectors,lookback=30s]").option_values()
    assert v["lookback"] == "30s" and v["delayed_name_removal"] == "false"
    assert v["pass.narrow_binary_selectors"] == "true" and v["pass.prune_toggles"] == "true"
    assert v["pass.subset_selector_elimination"] == "false"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("prometheus-live@v0.316.0", "revisions (@REV) apply to host families only"),
        ("mqe@", "expected a revision after @"),
        ("thanos@bad rev", "is not a module version, commit or branch of github.com/thanos-io/promql-engine"),
        ("mqe[foo=1]", "unknown option 'foo' for mqe; mqe takes lookback, delayed_name_removal, passes, +PASS/-PASS"),
        ("mqe[optimizers=all]", "unknown option 'optimizers' for mqe (an option of thanos)"),
        ("thanos[delayed_name_removal=true]", "unknown option 'delayed_name_removal' for thanos"),
        ("thanos[-prune_toggles]", "+PASS/-PASS is for mqe only; thanos takes lookback, optimizers"),
        ("mqe[-narrow_selectors]", "unknown MQE pass 'narrow_selectors'; passes: prune_toggles"),
        ("mqe[lookback=soon]", "option lookback='soon': expected a duration such as 30s or 5m"),
        ("mqe[lookback=0s]", "expected a positive duration"),
        ("mqe[delayed_name_removal=maybe]", "expected true or false"),
        ("mqe[passes=most]", "expected one of default, all, none"),
        ("mqe[-common_subexpression_elimination]", "multi_aggregation needs common_subexpression_elimination"),
        ("mqe[lookback=1m,lookback=2m]", "option lookback given twice"),
        ("mqe[+prune_toggles,-prune_toggles]", "pass prune_toggles given twice"),
        ("mqe[lookback]", "option 'lookback': expected KEY=VALUE or +PASS/-PASS"),
        ("mqe[passes=all", "expected FAMILY or FAMILY[OPTION,...]"),
        ("prometheus-live[lookback=1m]", "prometheus-live takes no options"),
    ],
)
def test_bad_specs_are_one_line_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_spec(spec)
    assert message in str(ei.value)
    assert "\n" not in str(ei.value)


def test_unknown_family() -> None:
    with pytest.raises(UnknownEngineError, match="unknown engine 'mimir'; known engines: prometheus"):
        parse_spec("mimir[passes=all]")


def test_durations_round_trip() -> None:
    for text, ms in [("30s", 30_000), ("5m", 300_000), ("1m30s", 90_000), ("1500ms", 1500), ("1d", 86_400_000)]:
        assert parse_duration_ms(text) == ms
        assert parse_duration_ms(format_duration_ms(ms)) == ms
    assert format_duration_ms(90_000) == "1m30s" and format_duration_ms(86_400_000) == "24h"
    with pytest.raises(ValueError):
        parse_duration_ms("5 m")


def test_reference_auto_is_the_same_build_prometheus_engine() -> None:
    assert resolve_reference("auto", "mqe") == "mimir-prometheus"
    assert resolve_reference("auto", "mqe[passes=all]") == "mimir-prometheus"
    assert resolve_reference("auto", "thanos[optimizers=none]") == "thanos-prometheus"
    assert resolve_reference("auto", "prometheus") == "prometheus"
    assert resolve_reference("auto", "prometheus-live") == "prometheus"
    assert resolve_reference("auto", "http:http://localhost:9090") == "prometheus"
    # the semantics options go to both sides; the engine-internal ones do not
    assert resolve_reference("auto", "mqe[passes=all,lookback=30s,delayed_name_removal=true]") == (
        "mimir-prometheus[delayed_name_removal=true,lookback=30s]"
    )
    assert resolve_reference("auto", "thanos[lookback=1m,optimizers=all]") == "thanos-prometheus[lookback=1m]"
    assert resolve_reference("prometheus[lookback=300s]", "mqe") == "prometheus"
    assert resolve_campaign_reference(("mqe", "mqe[passes=all]")) == "mimir-prometheus"
    with pytest.raises(ConfigError, match="targets come from different builds"):
        resolve_campaign_reference(("mqe", "thanos"))


def test_campaign_config_resolves_auto() -> None:
    from promfuzz.campaign import CampaignConfig

    assert CampaignConfig().reference == "mimir-prometheus"
    assert CampaignConfig(targets=("thanos",)).reference == "thanos-prometheus"
    assert CampaignConfig(reference="prometheus").reference == "prometheus"


def test_every_family_describes_its_options() -> None:
    for name, fam in FAMILIES.items():
        d = describe_options(name)
        assert set(d) >= {o.name for o in fam.options}
        assert all("default" in o for o in d.values())
    mqe = describe_options("mqe")
    assert mqe["pass.narrow_binary_selectors"]["default"] == "false"
    assert "-querier.mimir-query-engine.enable-narrow-binary-selectors" in str(mqe["pass.narrow_binary_selectors"]["doc"])


def test_cli_resolves_reference_auto_for_one_target_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    import promfuzz.cli as cli

    seen: dict[str, str] = {}

    def fake_shrink(args: object) -> int:
        seen["reference"] = args.reference  # type: ignore[attr-defined]
        return 0

    monkeypatch.setattr(cli, "_cmd_shrink", fake_shrink)
    assert cli.main(["shrink", "x.test", "--target", "thanos[optimizers=none]"]) == 0
    assert seen["reference"] == "thanos-prometheus"
    assert cli.main(["shrink", "x.test", "--target", "mqe", "--reference", "prometheus[lookback=300s]"]) == 0
    assert seen["reference"] == "prometheus"
    assert cli.main(["shrink", "x.test", "--target", "mqe[bogus=1]"]) == 2  # a one-line error, exit 2
