"""The cases on which Prometheus disagrees with itself (findings/prometheus/) still show
it: replayed on the prometheus host with promqltest's re-runs (range mode, @ pinned) each
fails, and Prometheus's own runner rejects each. When one passes, Prometheus has changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from build_helpers import need_binary

from promfuzz.corpus.replay import replay
from promfuzz.corpus.runner import run_promqltest

ROOT = Path(__file__).resolve().parents[1]
FINDINGS = ROOT / "findings" / "prometheus"
pytestmark = pytest.mark.hosts




def _files() -> list[Path]:
    return sorted(FINDINGS.rglob("*.test"))


def test_there_are_reference_findings() -> None:
    assert len(_files()) >= 3


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.parent.name)
def test_prometheus_still_disagrees_with_itself(path: Path) -> None:
    need_binary("prometheus-host")
    need_binary("promqltest-runner")
    plain = replay([path], "prometheus", range_check=False, at_variants=False)
    assert plain.ok, "the stored instant answer is Prometheus's: it must pass without the re-runs"
    rerun = replay([path], "prometheus")
    assert not rerun.ok, f"{path}: Prometheus now agrees with itself; re-check the case and move it back or delete it"
    (outcome,) = run_promqltest([path])
    assert not outcome.passed
