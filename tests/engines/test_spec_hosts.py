"""Engine specs against the real hosts: the Python option table agrees with what each host
reports as its effective configuration, and options reach the engine end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from promfuzz.engines.host import HostProcess
from promfuzz.engines.registry import EngineRegistry
from promfuzz.engines.spec import FAMILIES, parse_spec
from promfuzz.errors import EngineError
from promfuzz.model import Dataset, EvalParams

pytestmark = pytest.mark.hosts

HOST_FAMILIES = [f.name for f in FAMILIES.values() if f.kind == "host"]


@pytest.mark.parametrize(
    "spec",
    [
        *HOST_FAMILIES,
        "mqe[passes=all]",
        "mqe[passes=none,+prune_toggles]",
        "mqe[-eliminate_deduplicate_and_merge,lookback=30s]",
        "mimir-prometheus[delayed_name_removal=true]",
        "thanos[optimizers=none,lookback=1m]",
        "prometheus[lookback=30s,delayed_name_removal=true]",
        "prometheus-promqltest[delayed_name_removal=false]",
    ],
)
def test_host_reports_the_configuration_the_spec_names(
    spec: str, real_binary: Callable[[str], Path], build_dir: Path
) -> None:
    s = parse_spec(spec)
    assert s.family_def is not None
    real_binary(s.family_def.binary)
    with EngineRegistry(build_dir) as reg:
        eng = reg.open(spec)
        assert eng.name == s.name
        assert getattr(eng, "family", None) == s.family
        assert eng.config() == s.option_values()  # type: ignore[attr-defined]


def _ds() -> Dataset:
    # m's last sample is at 60s: at 120s a 5m lookback sees it, a 30s one does not
    return Dataset.build([({"__name__": "m", "job": "a"}, [(0, 1.0), (60_000, 2.0)])])


@pytest.mark.parametrize("family", ["prometheus", "mqe", "mimir-prometheus", "thanos", "thanos-prometheus"])
def test_lookback_option_changes_the_answer(family: str, real_binary: Callable[[str], Path], build_dir: Path) -> None:
    fam = FAMILIES[family]
    real_binary(fam.binary)
    with EngineRegistry(build_dir) as reg:
        default, short = reg.open(family), reg.open(f"{family}[lookback=30s]")
        assert short.name == f"{family}[lookback=30s]"
        for e in (default, short):
            e.load(_ds())
        a = default.query("m", EvalParams.instant(120_000))
        b = short.query("m", EvalParams.instant(120_000))
    assert a.outcome == b.outcome == "ok"
    assert len(a.series) == 1 and b.series == ()


def test_mqe_default_and_passes_all_share_nothing_but_the_binary(
    real_binary: Callable[[str], Path], build_dir: Path
) -> None:
    real_binary("mimir-host")
    with EngineRegistry(build_dir) as reg:
        mqe, ref, allp = reg.open("mqe"), reg.open("mimir-prometheus"), reg.open("mqe[passes=all]")
        assert mqe.process is ref.process  # type: ignore[attr-defined]
        assert allp.process is not mqe.process  # type: ignore[attr-defined]
        assert mqe.config()["pass.narrow_binary_selectors"] == "false"  # type: ignore[attr-defined]
        assert allp.config()["pass.narrow_binary_selectors"] == "true"  # type: ignore[attr-defined]


def test_host_refuses_an_option_it_does_not_know(real_binary: Callable[[str], Path]) -> None:
    proc = HostProcess(real_binary("thanos-host"), extra_args=("--option", "pass.prune_toggles=false"))
    with pytest.raises(EngineError) as ei:
        proc.ensure_running()
    proc.close()
    assert "unknown option(s) pass.prune_toggles; this host knows: lookback, delayed_name_removal, optimizers" in str(ei.value)
