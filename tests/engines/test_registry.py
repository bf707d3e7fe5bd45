"""Engine names, the registry and ``available_engines``."""

from __future__ import annotations

from pathlib import Path

import pytest

from promfuzz.engines.host import HostEngine
from promfuzz.engines.http import HttpEngine
from promfuzz.engines.registry import (
    EngineRegistry,
    available_engines,
    known_engine_names,
    open_engine,
    parse_http_name,
    split_write_url,
)
from promfuzz.errors import ConfigError, HostNotBuiltError, UnknownEngineError


def test_unknown_engine_lists_known_names(tmp_path: Path) -> None:
    with pytest.raises(UnknownEngineError) as ei, EngineRegistry(tmp_path) as reg:
        reg.open("promethues")
    msg = str(ei.value)
    for name in (
        "prometheus",
        "mqe",
        "mimir-prometheus",
        "thanos",
        "thanos-prometheus",
        "prometheus-live",
        "http:<url>",
    ):
        assert name in msg


@pytest.mark.parametrize("name", ["prometheus", "mqe", "thanos-prometheus", "prometheus-live"])
def test_missing_binary_says_make_hosts(tmp_path: Path, name: str) -> None:
    with pytest.raises(HostNotBuiltError, match=r"is missing: build it with `make hosts`") as ei:
        open_engine(name, build_dir=tmp_path)
    assert str(tmp_path) in str(ei.value)


def test_http_names_parse_url_and_loader() -> None:
    assert parse_http_name("http:http://h:9090") == ("http://h:9090", "remote_write")
    assert parse_http_name("http:https://h/prom?loader=none&x=1") == ("https://h/prom?x=1", "none")
    assert parse_http_name("http://h:8428?loader=victoriametrics_import") == (
        "http://h:8428",
        "victoriametrics_import",
    )
    with pytest.raises(ConfigError, match="unknown loader"):
        parse_http_name("http:http://h?loader=csv")
    with pytest.raises(ConfigError, match="http:// or https://"):
        parse_http_name("http:ftp://h")


def test_registry_opens_http_engines_with_their_name(tmp_path: Path) -> None:
    with EngineRegistry(tmp_path) as reg:
        eng = reg.open("http:http://127.0.0.1:1?loader=none")
        assert isinstance(eng, HttpEngine)
        assert eng.loader == "none" and eng.url == "http://127.0.0.1:1"
        assert eng.name == "http:http://127.0.0.1:1?loader=none"


def test_registry_shares_a_process_between_engines_of_one_host(
    tmp_path: Path, fake_host_binary: Path
) -> None:
    (tmp_path / "b").mkdir()
    fake_host_binary.rename(tmp_path / "b" / "mimir-host")
    with EngineRegistry(tmp_path / "b") as reg:
        mqe = reg.open("mqe")
        mp = reg.open("mimir-prometheus")
        assert isinstance(mqe, HostEngine) and isinstance(mp, HostEngine)
        assert mqe.process is mp.process
        assert (mqe.engine_name, mp.engine_name) == ("mqe", "mimir-prometheus")


def test_available_engines_reports_built_state(tmp_path: Path, fake_host_binary: Path) -> None:
    fake_host_binary.rename(tmp_path / "prometheus-host")
    infos = {i.name: i for i in available_engines(tmp_path, versions=False)}
    assert set(infos) == set(known_engine_names())
    assert infos["prometheus"].built and infos["prometheus"].kind == "host"
    assert infos["prometheus"].binary == str(tmp_path / "prometheus-host")
    assert not infos["mqe"].built and "make hosts" in infos["mqe"].note
    assert infos["prometheus-live"].kind == "live" and not infos["prometheus-live"].built
    assert infos["http:<url>"].kind == "http"
    assert infos["prometheus"].to_json_obj()["built"] is True
    mqe = infos["mqe"].to_json_obj()
    assert mqe["reference"] == "mimir-prometheus"
    opts = mqe["options"]
    assert isinstance(opts, dict)
    assert opts["lookback"]["default"] == "5m" and opts["passes"]["choices"] == ["default", "all", "none"]
    assert opts["pass.narrow_binary_selectors"]["default"] == "false"
    assert infos["thanos"].options["optimizers"]["default"] == "default"
    assert "delayed_name_removal" not in infos["thanos"].options


def test_engines_json_command_lists_options(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from promfuzz.cli import main

    assert main(["engines", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["prometheus"]["options"]["lookback"]["default"] == "5m"
    assert rows["mqe"]["options"]["pass.prune_toggles"]["default"] == "true"
    assert set(rows["mqe"]) >= {"versions", "options", "reference", "built"}


def test_specs_open_through_the_registry(tmp_path: Path, fake_host_binary: Path) -> None:
    fake_host_binary.rename(tmp_path / "mimir-host")
    with EngineRegistry(tmp_path) as reg:
        a = reg.open("mqe[-narrow_binary_selectors]")  # the default: one name, one process
        b = reg.open("mqe")
        c = reg.open("mqe[passes=all]")
        assert a.name == b.name == "mqe" and c.name == "mqe[passes=all]"
        assert a.process is b.process and c.process is not a.process  # type: ignore[attr-defined]
        assert c.process.extra_args[:2] == ("--option", "passes=none")  # type: ignore[attr-defined]
        assert getattr(c, "family", None) == "mqe"
    # FAMILY@REV builds a host for that revision (tests/engines/test_revisions.py); a bad one is one line
    with pytest.raises(ConfigError, match="is not a directory; expected a local checkout of github.com/grafana/mimir"):
        EngineRegistry(tmp_path).open(f"mqe@{tmp_path / 'no-such-checkout'}")


def test_write_url_parameter_is_taken_out_of_the_query_url() -> None:
    assert split_write_url("http://mimir:8080/prometheus?write_url=http://mimir:8080/api/v1/push&x=1") == (
        "http://mimir:8080/prometheus?x=1",
        "http://mimir:8080/api/v1/push",
    )
    assert split_write_url("http://h:9090") == ("http://h:9090", None)
