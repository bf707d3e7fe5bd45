"""Prometheus's own promqltest files replay clean on its engine configured like promqltest's."""

from __future__ import annotations

from pathlib import Path

import pytest

from promfuzz.corpus.replay import replay
from promfuzz.promql import testdata as upstream

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.hosts,
    pytest.mark.skipif(not (ROOT / ".build" / "prometheus-host").exists(), reason="hosts not built (make hosts)"),
]


def test_upstream_testdata_passes_on_prometheus_promqltest_except_start_timestamps() -> None:
    d = upstream.testdata_dir()
    if d is None or not Path(d).exists():
        pytest.skip("Prometheus module not in the Go module cache (make hosts downloads it)")
    report = replay([d], "prometheus-promqltest")
    t = report.totals
    failures = [(o.file, o.line, o.detail[:300]) for o in report.outcomes if o.kind in ("failed", "error")]
    assert failures == []
    assert t["passed"] >= 2300
    skipped = {o.file.rsplit("/", 1)[-1] for o in report.outcomes if o.kind == "skipped"}
    assert skipped <= {"start_timestamps.test"}  # @st start timestamps: not expressible in a Dataset
