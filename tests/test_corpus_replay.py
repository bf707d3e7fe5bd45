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
    # With promqltest's @-pinned and range-mode re-runs: a case on which Prometheus
    # disagrees with itself is a finding against Prometheus (findings/prometheus/), not a
    # corpus expectation.
    report = replay([CORPUS], "prometheus")
    t = report.totals
    assert t["error"] == 0
    assert report.ok, [(o.file, o.detail) for o in report.outcomes if o.kind == "failed"]
    assert t["passed"] >= 10


def test_no_case_marked_fixed_fails_again_on_mqe() -> None:
    """The bug ledger (corpus/bugs/) marks bugs fixed; their member cases must pass on mqe.
    Not vacuous: the ledger has fixed bugs on mqe, and the replay must see each of their
    cases with the ledger's status (tests/test_bugs.py shows a fixed case that fails is
    flagged as a regression)."""
    from promfuzz.bugs import load_ledger

    fixed = {m for b in load_ledger(CORPUS) if b.status == "fixed" and "mqe" in b.engines for m in b.members}
    assert fixed, "the ledger has no fixed mqe bug: this test would check nothing"
    report = replay([CORPUS], "mqe", range_check=False, at_variants=False)
    rel = {str(Path(o.file).resolve().relative_to(CORPUS)): o for o in report.outcomes}
    assert {c for c in fixed if rel[c].case_status == "fixed"} == fixed
    regressions = [o.file for o in report.outcomes if o.kind == "failed" and o.case_status == "fixed"]
    assert regressions == []
    assert report.totals["error"] == 0
    # The open cases are real MQE divergences: most of them still fail on mqe.
    assert report.totals["failed"] > 0


def test_corpus_answers_are_deterministic_on_the_reference() -> None:
    """A stored expectation must be the reference's only answer. A tie broken by map order
    (limitk over count_values, topk over equal values) gives another answer now and then,
    and the replay above turns flaky; such cases do not belong in the corpus."""
    from promfuzz.corpus.store import CorpusStore
    from promfuzz.engines.registry import EngineRegistry
    from promfuzz.model import EvalParams

    varying = []
    seen: set[str] = set()
    with EngineRegistry() as reg:
        engine = reg.open("prometheus")
        for entry in CorpusStore(CORPUS):
            if entry.meta.case_id in seen:
                continue
            seen.add(entry.meta.case_id)
            case = entry.case
            engine.load(case.dataset)
            answers = {_answer(engine.query(case.query, case.params)) for _ in range(12)}
            if not case.params.is_range:
                # promqltest re-runs an instant eval in range mode (t-1m..t+1m): that answer
                # must be deterministic too.
                t = case.params.time_ms
                rng = EvalParams.range(t - 60_000, t + 60_000, 60_000)
                ranged = {_answer(engine.query(case.query, rng)) for _ in range(12)}
                if len(ranged) > 1:
                    answers |= {"range mode varies"}
            if len(answers) > 1:
                varying.append((str(entry.test_path), case.query))
    assert len(seen) >= 10
    assert varying == []


def _answer(r: object) -> str:
    """The answer without timings: series (labels, points), scalar, error. Exact on
    purpose, like the replay's expectations: the oracle's comparator would accept another
    valid tie pick, which is precisely what makes a stored expectation flaky."""
    series = sorted((tuple(s.labels), tuple((p.t, repr(p.v)) for p in s.points)) for s in r.series)  # type: ignore[attr-defined]
    return repr((r.outcome, series, r.scalar, r.error))  # type: ignore[attr-defined]
