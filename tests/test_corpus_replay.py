"""The committed regression corpus replays: every case passes on the reference it was
written from, and no case marked fixed fails on the engine it was found in."""

from __future__ import annotations

from pathlib import Path

import pytest

from promfuzz.corpus.replay import replay

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
needs = pytest.mark.skipif(
    not (ROOT / ".build" / "prometheus-host").exists() or not (ROOT / ".build" / "mimir-host").exists(),
    reason="engine hosts not built (run `make hosts`)",
)
pytestmark = [pytest.mark.hosts, needs]


def test_corpus_is_not_empty() -> None:
    assert len(list(CORPUS.rglob("*.test"))) >= 10


def test_every_corpus_case_passes_on_the_reference_it_was_written_from() -> None:
    # promqltest's extra @-pinned and range-mode re-runs are left out: they expose
    # Prometheus's own instant/range inconsistencies and topk tie order (noted per case).
    report = replay([CORPUS], "prometheus", range_check=False, at_variants=False)
    t = report.totals
    assert t["error"] == 0
    assert report.ok, [(o.file, o.detail) for o in report.outcomes if o.kind == "failed"]
    assert t["passed"] >= 10


def test_no_case_marked_fixed_fails_again_on_mqe() -> None:
    report = replay([CORPUS], "mqe", range_check=False, at_variants=False)
    regressions = [o.file for o in report.outcomes if o.kind == "failed" and o.case_status == "fixed"]
    assert regressions == []
    assert report.totals["error"] == 0
    # The open cases are real MQE divergences: most of them still fail on mqe.
    assert report.totals["failed"] > 0
