"""Campaigns: determinism across workers and shards, Ctrl-C, resume, budgets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promfuzz.budget import Budget, parse_budget
from promfuzz.campaign import CampaignConfig, dataset_seed, plan_cases, run_campaign, shard_indices
from promfuzz.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build"
needs_hosts = pytest.mark.skipif(
    not (BUILD / "prometheus-host").exists() or not (BUILD / "mimir-host").exists(),
    reason="engine hosts not built (run `make hosts`)",
)


# ----------------------------------------------------------------------------- planning


def test_budget_parses_durations_and_case_counts() -> None:
    assert parse_budget("90s") == Budget(seconds=90)
    assert parse_budget("2m") == Budget(seconds=120)
    assert parse_budget("1h30m") == Budget(seconds=5400)
    assert parse_budget("5000") == Budget(cases=5000)
    assert parse_budget("5000cases") == Budget(cases=5000)
    for bad in ("", "abc", "0", "-5", "2x"):
        with pytest.raises(ConfigError):
            parse_budget(bad)


def _indices(shard: tuple[int, int], workers: int, limit: int) -> list[list[int]]:
    return [[d for _, d in shard_indices(shard, w, workers, limit)] for w in range(workers)]


def test_workers_split_a_shard_without_overlap_or_gaps() -> None:
    one = _indices((0, 1), 1, 10)[0]
    two = _indices((0, 1), 2, 10)
    assert set(two[0]).isdisjoint(two[1])
    assert sorted(two[0] + two[1]) == one == list(range(10))


def test_shards_take_disjoint_dataset_indices() -> None:
    a = {d for w in _indices((0, 2), 2, 50) for d in w}
    b = {d for w in _indices((1, 2), 2, 50) for d in w}
    assert a.isdisjoint(b)
    assert len(a) == len(b) == 50
    seeds_a = {dataset_seed(7, d) for d in a}
    seeds_b = {dataset_seed(7, d) for d in b}
    assert seeds_a.isdisjoint(seeds_b)


def test_case_budget_plans_whole_datasets_and_a_partial_last_one() -> None:
    cfg = CampaignConfig(budget=Budget(cases=450), queries_per_dataset=200)
    assert plan_cases(cfg) == (3, 50)
    cfg = CampaignConfig(budget=Budget(seconds=10))
    assert plan_cases(cfg) == (None, None)


def test_dataset_seed_depends_on_run_seed_and_index_only() -> None:
    assert dataset_seed(1, 5) == dataset_seed(1, 5)
    assert dataset_seed(1, 5) != dataset_seed(1, 6)
    assert dataset_seed(1, 5) != dataset_seed(2, 5)


# ----------------------------------------------------------------------------- real runs


def _cfg(tmp: Path, name: str, **kw: object) -> CampaignConfig:
    base: dict[str, object] = dict(
        reference="prometheus", targets=("mqe",), budget=Budget(cases=400), seed=11, workers=1,
        corpus=tmp / f"{name}-corpus", out=tmp / name, queries_per_dataset=100, shrink=False, run_id=name,
    )
    base.update(kw)
    return CampaignConfig(**base)  # type: ignore[arg-type]


@pytest.mark.hosts
@needs_hosts
def test_same_seed_gives_the_same_cases_with_one_and_two_workers(tmp_path: Path) -> None:
    s1 = run_campaign(_cfg(tmp_path, "w1", workers=1), progress=False)
    s2 = run_campaign(_cfg(tmp_path, "w2", workers=2), progress=False)
    assert s1["counts"]["cases"] == s2["counts"]["cases"] == 400
    assert s1["cases_fingerprint"] == s2["cases_fingerprint"]
    assert s1["counts"]["by_verdict"] == s2["counts"]["by_verdict"]
    s3 = run_campaign(_cfg(tmp_path, "other-seed", seed=12), progress=False)
    assert s3["cases_fingerprint"] != s1["cases_fingerprint"]


@pytest.mark.hosts
@needs_hosts
def test_shards_run_disjoint_cases(tmp_path: Path) -> None:
    a = run_campaign(_cfg(tmp_path, "s0", shard=(0, 2), budget=Budget(cases=200)), progress=False)
    b = run_campaign(_cfg(tmp_path, "s1", shard=(1, 2), budget=Budget(cases=200)), progress=False)
    assert a["counts"]["cases"] == b["counts"]["cases"] == 200
    assert a["cases_fingerprint"] != b["cases_fingerprint"]


def _start_run(out: Path, corpus: Path, budget: str, extra: list[str] | None = None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "promfuzz.cli", "run", "--reference", "prometheus", "--target", "mqe",
           "--budget", budget, "--seed", "5", "--workers", "1", "--queries-per-dataset", "100",
           "--out", str(out), "--corpus", str(corpus), "--no-progress", "--no-shrink", *(extra or [])]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for_cases(out: Path, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Wait until the run has completed at least one dataset (state.json lists it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "run exited early"
        st = out / "state.json"
        if st.exists():
            try:
                if json.loads(st.read_text())["completed"]:
                    return
            except (ValueError, KeyError):
                pass
        time.sleep(0.5)
    raise AssertionError("the run made no progress in time")


@pytest.mark.hosts
@needs_hosts
def test_ctrl_c_leaves_a_complete_report_and_corpus(tmp_path: Path) -> None:
    out, corpus = tmp_path / "run", tmp_path / "corpus"
    proc = _start_run(out, corpus, "10m")
    try:
        _wait_for_cases(out, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["complete"] is False
    assert summary["counts"]["cases"] >= 100
    assert summary["finished_at"]
    for name in ("index.html", "junit.xml", "findings.jsonl", "state.json"):
        assert (out / name).exists(), name
    assert not list(out.glob(".*tmp*")), "a temporary file was left behind"
    # Every stored case is whole: a .test next to each sidecar, and no temp files.
    for sidecar in corpus.rglob("*.json"):
        assert sidecar.with_suffix(".test").exists()
    assert not [p for p in corpus.rglob("*") if p.name.startswith(".tmp")]


@pytest.mark.hosts
@needs_hosts
def test_resume_after_interrupt_gives_the_same_cases_as_one_run(tmp_path: Path) -> None:
    whole = run_campaign(_cfg(tmp_path, "whole", budget=Budget(cases=1000), seed=5), progress=False)
    out, corpus = tmp_path / "cut", tmp_path / "cut-corpus"
    proc = _start_run(out, corpus, "1000")
    try:
        _wait_for_cases(out, proc)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    first = json.loads((out / "summary.json").read_text())
    if first["complete"]:
        pytest.fail("the run finished before it could be interrupted; raise its budget")
    resumed = subprocess.run([sys.executable, "-m", "promfuzz.cli", "run", "--resume", str(out), "--no-progress"],
                             cwd=ROOT, capture_output=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr.decode()
    final = json.loads((out / "summary.json").read_text())
    assert final["complete"] is True
    assert final["counts"]["cases"] == 1000
    assert final["cases_fingerprint"] == whole["cases_fingerprint"]


# ----------------------------------------------------------------------------- answering


class _DigestEngine:
    """A fake engine whose answer to query ``q<i>`` has digest ``d<i>`` (the target's
    differs for odd i); asked without bodies it answers digest-only (bodiless) answers,
    and it records what it was asked."""

    def __init__(self, name: str, fail_at: int | None = None) -> None:
        self.name = name
        self.fail_at = fail_at
        self.asked: list[tuple[str, bool]] = []

    def versions(self) -> dict[str, str]:
        return {"fake": "v0"}

    def load(self, dataset: object) -> None:
        pass

    def close(self) -> None:
        pass

    def query_many_raw(self, items, timeout_s=None, bodies=True):  # type: ignore[no-untyped-def]
        from promfuzz.engines.base import RawAnswer
        from promfuzz.model import EngineStats, Result

        out = []
        for q, _p in items:
            i = int(q[1:])
            if i == self.fail_at:
                raise RuntimeError(f"{self.name} failed at {q}")
            self.asked.append((q, bodies))
            digest = f"d{i}" if self.name == "ref" or i % 2 == 0 else f"x{i}"
            res = Result.failure(self.name, "error", "bad_data", f"{q} {'body' if bodies else 'asked again'}")
            out.append(RawAnswer(digest if not bodies else "json-" + digest, EngineStats(wall_ns=1000),
                                 lambda r=res: r, bodiless=not bodies))
        return out


def test_digests_first_then_bodies_only_for_the_answers_that_differ() -> None:
    from promfuzz.model import EvalParams
    from promfuzz.pipeline import PIPELINE_CHUNK, Pipeline

    engines = {"ref": _DigestEngine("ref"), "tgt": _DigestEngine("tgt")}
    cfg = CampaignConfig(reference="ref", targets=("tgt",), corpus=None)
    p = Pipeline(cfg, engine_factory=lambda n: engines[n])  # type: ignore[arg-type,return-value]
    n = PIPELINE_CHUNK * 2 + 7
    items = [(f"q{i}", EvalParams.instant(0)) for i in range(n)]
    answers, waits = p._answers(items)
    odd = [f"q{i}" for i in range(1, n, 2)]
    for name, e in engines.items():
        # Every query once without bodies, in order; then the differing ones with bodies.
        assert e.asked == [(f"q{i}", False) for i in range(n)] + [(q, True) for q in odd], name
        got = [a.result().error.message for a in answers[name]]  # type: ignore[union-attr]
        assert got == [f"q{i} {'body' if i % 2 else 'asked again'}" for i in range(n)]
    assert [a.bodiless for a in answers["tgt"]] == [i % 2 == 0 for i in range(n)]
    # Equal first-phase digests stay equal (judged without a body); bodies decide the rest.
    assert all(answers["ref"][i].digest == answers["tgt"][i].digest for i in range(0, n, 2))
    assert set(waits) == {"ref", "tgt"} and all(v >= 0 for v in waits.values())


def test_a_reference_failure_in_its_thread_reaches_the_worker() -> None:
    from promfuzz.model import EvalParams
    from promfuzz.pipeline import PIPELINE_CHUNK, Pipeline

    engines = {"ref": _DigestEngine("ref", fail_at=PIPELINE_CHUNK + 3), "tgt": _DigestEngine("tgt")}
    cfg = CampaignConfig(reference="ref", targets=("tgt",), corpus=None)
    p = Pipeline(cfg, engine_factory=lambda n: engines[n])  # type: ignore[arg-type,return-value]
    items = [(f"q{i}", EvalParams.instant(0)) for i in range(PIPELINE_CHUNK * 3)]
    with pytest.raises(RuntimeError, match=f"ref failed at q{PIPELINE_CHUNK + 3}$"):
        p._answers(items)
    # The target answered the chunk the reference finished, and nothing after it.
    assert len(engines["tgt"].asked) == PIPELINE_CHUNK


# ----------------------------------------------------------------------------- findings and the console


def _finding(key: str, verdict: str, occurrences: int = 1, rule: str | None = None, panic: str | None = None,
             query: str = "q") -> object:
    from promfuzz.reports.records import Finding, ResultView

    return Finding(signature=key, title=f"title of {key}", verdict=verdict, oracle="differential",
                   category="engine_failure" if panic else "value", reference="thanos-prometheus", target="thanos",
                   query=query, original_query=query, params={"kind": "instant", "time_ms": 0}, case_file=None,
                   diff="", results=[ResultView("thanos-prometheus", "ok"), ResultView("thanos", "error", error="x")],
                   occurrences=occurrences, rule=rule, panic=panic)


def test_expected_hits_count_per_rule_and_shape_and_a_panic_leads_the_console(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from promfuzz.campaign import _Display, _print_summary, _Run

    run = _Run(CampaignConfig(reference="thanos-prometheus", targets=("thanos",), corpus=None, out=tmp_path / "r",
                              run_id="r"), None)
    for i in range(30):
        run.handle(("finding", _finding(f"differential-unsupported-{i:010x}", "unsupported", 100), None))
    run.handle(("finding", _finding("expected-r1-thanos-aaaaaaaaaa", "expected", 40, rule="r1", query="a"), None))
    run.handle(("finding", _finding("expected-r1-thanos-bbbbbbbbbb", "expected", 1, rule="r1", query="b"), None))
    for _ in range(9):
        run.handle(("occurrence", "expected-r1-thanos-bbbbbbbbbb"))
    run.handle(("finding", _finding("differential-engine_failure-cccccccccc", "engine_failure",
                                    panic="runtime error: nil pointer dereference", query="des(nothing[1m])"), None))
    assert "PANICS 1" in _Display(run, False)._line()
    summary = run.write(complete=True, interrupted=False)
    assert summary["rules"]["r1"]["hits"] == 50 and summary["rules"]["r1"]["shapes"] == 2
    assert [e["query"] for e in summary["rules"]["r1"]["examples"]] == ["a", "b"]
    assert summary["distinct_findings_by_verdict"] == {"engine_failure": 1, "expected": 2, "unsupported": 30}
    assert summary["signatures"][0]["panic"] and summary["panics"][0]["engine"] == "thanos"
    capsys.readouterr()
    _print_summary(summary, tmp_path / "r")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "PANIC in thanos: runtime error: nil pointer dereference (x1): des(nothing[1m])"
    assert "  rule r1: 50 hit(s) in 2 shape(s)" in lines
    # then one line per bug (not per signature): the panic is a new bug, listed first
    assert next(ln for ln in lines if ln.startswith("  [")).startswith("  [new] new-")
    assert "thanos panics: des(nothing[1m])" in next(ln for ln in lines if ln.startswith("  ["))
    assert "  other findings: 30 unsupported" in lines


@pytest.mark.hosts
def test_the_thanos_panic_is_a_shrunk_stored_engine_failure_finding(tmp_path: Path) -> None:
    """The audit's crash end to end on the real Thanos host: judged, shrunk (keeping the
    panic signature), stored in the corpus and at the top of the run's reports."""
    if not (BUILD / "thanos-host").exists():
        pytest.skip("thanos host not built (run `make hosts`)")
    from promfuzz.campaign import _Run
    from promfuzz.model import Case, Dataset, EvalParams
    from promfuzz.pipeline import Pipeline

    cfg = CampaignConfig(reference="thanos-prometheus", targets=("thanos",), corpus=tmp_path / "corpus",
                         out=tmp_path / "run", shrink=True, shrink_seconds=10, run_id="panic")
    ds = Dataset.build([({"__name__": "up_total", "job": j}, [(t * 15_000, float(t)) for t in range(40)])
                        for j in ("a", "b")])
    q = "sum(double_exponential_smoothing(nothing[1m30s], 0.5, -0.1)) + up_total"
    case = Case(ds, q, EvalParams.instant(300_000))
    with Pipeline(cfg) as pipe:
        for e in (pipe.reference, *pipe.targets):
            e.load(ds)
        ref, tgt = pipe.reference.query(q, case.params), pipe.targets[0].query(q, case.params)
        (verdict,) = pipe._judge(case, ref, tgt)
        assert verdict.kind == "engine_failure", verdict
        event = pipe._finding(case, verdict, ref, tgt, "thanos")
    _, finding, stored = event
    assert finding.panic == "runtime error: invalid memory address or nil pointer dereference"
    assert finding.verdict == "engine_failure"
    assert "double_exponential_smoothing" in finding.query and len(finding.query) <= len(q)
    run = _Run(cfg, None)
    run.handle(event)
    summary = run.write(complete=True, interrupted=False)
    if finding.case_file is None:
        # The campaign stores a case only when the reference's own promqltest runner passes
        # it (corpus/runner.py); when that runner is not there, the finding says why, and the
        # case is stored directly for the replay check below.
        assert finding.shrink.get("not_stored"), finding.shrink
        from promfuzz.corpus.store import CorpusStore

        outcome = CorpusStore(cfg.corpus).add(stored.case, finding.signature, expected=stored.expected,  # type: ignore[arg-type]
                                              oracle=finding.oracle, verdict=stored.verdict)
        finding.case_file = str(outcome.stored.test_path)
    assert Path(finding.case_file).exists()
    assert summary["panics"][0]["message"] == finding.panic
    on_disk = json.loads((cfg.out / "summary.json").read_text())
    assert [k for k in on_disk if k != "schema"][0] == "panics"
    assert (cfg.out / "junit.xml").read_text().count('type="panic"') == 1
    assert 'id="panics"' in (cfg.out / "index.html").read_text()
    # Replay reads the case files, never the folder's key: the stored case, also moved to
    # a folder with an older-style key, replays the same (the reference's empty answer).
    import shutil

    from promfuzz.corpus.replay import replay

    stored_dir = Path(finding.case_file).parent
    legacy = cfg.corpus / "differential-engine_failure-0123456789"  # type: ignore[operator]
    shutil.copytree(stored_dir, legacy)
    for sidecar in legacy.glob("*.json"):
        meta = json.loads(sidecar.read_text())
        meta["signature_key"] = legacy.name
        sidecar.write_text(json.dumps(meta))
    new_report = replay([stored_dir], "thanos-prometheus").totals
    old_report = replay([legacy], "thanos-prometheus").totals
    assert new_report == old_report and new_report["passed"] >= 1 and new_report["failed"] == 0
    assert replay([legacy], "thanos").totals["failed"] >= 1  # and the crash still shows on thanos


def test_a_time_budget_bounds_shrinking(monkeypatch: pytest.MonkeyPatch) -> None:
    """A campaign's findings after its deadline are stored unshrunk, and one found before
    shrinks at most until then (a 10-minute VictoriaMetrics run went on shrinking 222
    findings for minutes past its budget)."""
    import time as _time

    import promfuzz.shrink as shrink_mod
    from promfuzz.model import Case, Dataset, EvalParams
    from promfuzz.pipeline import Pipeline

    pipe = object.__new__(Pipeline)
    pipe.cfg = CampaignConfig(reference="prometheus", targets=("prometheus",), corpus=None, shrink_seconds=20.0)
    case = Case(Dataset(), "x", EvalParams.instant(0))
    pipe.deadline = _time.monotonic() - 1
    out = pipe._shrink(case, None, "t", None, None)  # type: ignore[arg-type]
    assert out[0] is case and out[2] == {"skipped": "the campaign's time budget was over"}

    asked: list[float] = []

    class Asked(Exception):
        pass

    def fake_shrink(case: Case, check: object, *, seconds: float, initial: object) -> None:
        asked.append(seconds)
        raise Asked

    monkeypatch.setattr(shrink_mod, "shrink", fake_shrink)
    monkeypatch.setattr(shrink_mod, "make_engine_check", lambda *a: None)
    pipe.targets = [type("T", (), {"name": "t"})()]
    pipe.reference, pipe.differential = None, None
    for left, want_max in ((5.0, 5.0), (3600.0, 20.0), (None, 20.0)):
        pipe.deadline = None if left is None else _time.monotonic() + left
        with pytest.raises(Asked):
            pipe._shrink(case, None, "t", None, None)  # type: ignore[arg-type]
        assert asked[-1] <= want_max and asked[-1] >= min(want_max, 1.0) - 1e-9
    assert asked[1] == 20.0 and asked[2] == 20.0 and asked[0] <= 5.0
