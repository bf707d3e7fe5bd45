"""Prometheus's own promqltest files replay clean on its engine configured like promqltest's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from promfuzz.corpus.replay import replay
from promfuzz.promql import testdata as upstream

pytestmark = [pytest.mark.hosts]


def test_upstream_testdata_passes_on_prometheus_promqltest_except_start_timestamps(
    prometheus_host: Path, skip_or_fail_fn: Callable[[str], None]
) -> None:
    d = upstream.testdata_dir()
    if d is None or not Path(d).exists():
        skip_or_fail_fn("Prometheus module not in the Go module cache (make hosts downloads it)")
    report = replay([d], "prometheus-promqltest")
    t = report.totals
    failures = [(o.file, o.line, o.detail[:300]) for o in report.outcomes if o.kind in ("failed", "error")]
    assert failures == []
    assert t["passed"] >= 2300
    skipped = {o.file.rsplit("/", 1)[-1] for o in report.outcomes if o.kind == "skipped"}
    assert skipped <= {"start_timestamps.test"}  # @st start timestamps: not expressible in a Dataset
