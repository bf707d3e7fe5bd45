"""Every stored corpus file passes Prometheus's own promqltest runner (the file is
pasteable into promql/promqltest/testdata/ as it is), except the files listed with a
reason in corpus/promqltest-runner-exceptions.toml. A failure that is not listed fails;
a listed, non-flaky file that now passes fails too (its entry must go)."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest
from build_helpers import need_binary

from promfuzz.corpus.runner import parse_runner_output, run_promqltest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
EXCEPTIONS = CORPUS / "promqltest-runner-exceptions.toml"




def _exceptions() -> dict[str, dict[str, object]]:
    doc = tomllib.loads(EXCEPTIONS.read_text(encoding="utf-8"))
    out = {}
    for e in doc["file"]:
        assert set(e) <= {"path", "reason"}, e
        assert str(e["reason"]).strip(), e
        assert (CORPUS / str(e["path"])).is_file(), f"listed file does not exist: {e['path']}"
        out[str(e["path"])] = e
    return out


RUNS = 3
RECHECKS = 12


@pytest.mark.hosts
def test_every_corpus_file_passes_prometheus_own_runner() -> None:
    """Runs the corpus through the runner RUNS times. A file that fails every run and is
    not listed fails the test, as does a listed file that passes every run. A file whose
    outcome varies between runs of the same file is Prometheus's answer varying (map
    order in aggregations over mixed sample types, picks among ties in the re-runs): it
    is named in a warning, not judged, because no stored expectation can be right for it."""
    need_binary("promqltest-runner")
    files = sorted(CORPUS.rglob("*.test"))
    assert len(files) >= 100
    listed = _exceptions()
    runs = [run_promqltest(files) for _ in range(RUNS)]
    unexpected, stale, varying = [], [], []
    for i, f in enumerate(files):
        rel = str(f.relative_to(CORPUS))
        outcomes = [r[i] for r in runs]
        passed = {o.passed for o in outcomes}
        if len(passed) > 1:
            varying.append(rel)
        elif passed == {False} and rel not in listed:
            unexpected.append(f"{rel}: {outcomes[0].message}")
        elif passed == {True} and rel in listed:
            stale.append(rel)
    # A file that looked stable is run again on its own before it is judged: an outcome
    # that varies with probability p looks stable in RUNS runs with p**RUNS.
    for bucket in (unexpected, stale):
        for item in list(bucket):
            rel = item.split(": ", 1)[0]
            again = {o.passed for o in run_promqltest([CORPUS / rel] * RECHECKS)}
            if len(again) > 1 or (bucket is unexpected) == (again == {True}):
                bucket.remove(item)
                varying.append(rel)
    if varying:
        warnings.warn(f"{len(varying)} corpus files pass Prometheus's runner on some runs only: {varying}",
                      stacklevel=1)
    assert unexpected == [], "files Prometheus's runner rejects:\n" + "\n".join(unexpected)
    assert stale == [], f"listed as failing but passing now, delete their entries: {stale}"
    assert len(varying) < len(files) // 10, f"too many files vary between runs: {varying}"


def test_runner_output_is_parsed_per_file() -> None:
    text = "\n".join([
        "=== RUN   TestFiles",
        "=== RUN   TestFiles/f0000",
        "    runner_test.go:54: file /x/a.test",
        "=== RUN   TestFiles/f0000/line_2/sum(x)",
        "=== RUN   TestFiles/f0001",
        "    runner_test.go:54: file /x/b.test",
        "=== RUN   TestFiles/f0001/line_5/rate(x[1m])",
        "    test.go:1725: ",
        "        \tError Trace:\t/test.go:1725",
        "        \tError:      \tReceived unexpected error:",
        "        \t            \terror in eval rate(x[1m]) (line 5): expected 1 but got 2",
        "--- FAIL: TestFiles (0.01s)",
        "    --- PASS: TestFiles/f0000 (0.00s)",
        "        --- PASS: TestFiles/f0000/line_2/sum(x) (0.00s)",
        "    --- FAIL: TestFiles/f0001 (0.00s)",
    ])
    a, b = parse_runner_output(text)
    assert a is not None and b is not None
    assert a.file == "/x/a.test" and a.passed
    assert b.file == "/x/b.test" and not b.passed
    assert b.message == "error in eval rate(x[1m]) (line 5): expected 1 but got 2"


@pytest.mark.hosts
@pytest.mark.parametrize("runner", ["promqltest-runner", "promqltest-runner-mimir", "promqltest-runner-thanos"])
def test_the_runner_rejects_a_wrong_expectation(tmp_path: Path, runner: str) -> None:
    need_binary(runner)
    good = tmp_path / "good.test"
    good.write_text("load 1m\n  x 1 2 3\n\neval instant at 2m x\n  x 3\n")
    bad = tmp_path / "bad.test"
    bad.write_text("load 1m\n  x 1 2 3\n\neval instant at 2m x\n  x 4\n")
    g, b = run_promqltest([good, bad], runner=runner)
    assert g.passed and not b.passed
    assert "x" in b.message and "line 4" in b.message


@pytest.mark.hosts
def test_metric_name_pattern_passes_both_configurations(tmp_path: Path) -> None:
    """The stored annotation pattern accepts the text with and without the
    ` for metric name "..."` part (delayed name removal on in promqltest's engine, off in a
    default server), and nothing else: a different annotation still fails."""
    from promfuzz.corpus.promqltest import annotation_regex

    need_binary("promqltest-runner")
    data = "load 1m\n  up{le=\"\"} 1\n\n"
    as_run = 'PromQL warning: bucket label "le" is missing or has a malformed value of "" (1:20)'
    f = tmp_path / "a.test"
    f.write_text(data + f"eval instant at 0s histogram_quantile(0.5, up)\n  expect warn regex: "
                 f"{annotation_regex(as_run)}\n")
    wrong = tmp_path / "b.test"
    wrong.write_text(data + "eval instant at 0s histogram_quantile(0.5, up)\n  expect warn regex: "
                     + annotation_regex(as_run.replace('"le"', '"lx"')) + "\n")
    ok, bad = run_promqltest([f, wrong])
    assert ok.passed, ok.message
    assert not bad.passed


@pytest.mark.hosts
def test_a_campaign_does_not_store_a_case_the_reference_runner_rejects(tmp_path: Path) -> None:
    """store_finding refuses (ValueError, which the campaign records as `not_stored`) a case
    whose stored expectation the reference's own promqltest runner rejects; a right one is
    stored. The wrong one here is a real Prometheus answer to another query."""
    from promfuzz.campaign import CampaignConfig
    from promfuzz.corpus.store import CorpusStore
    from promfuzz.engines.registry import EngineRegistry
    from promfuzz.model import Case, Dataset, EvalParams
    from promfuzz.pipeline import StoredCase, store_finding
    from promfuzz.reports.records import Finding

    need_binary("promqltest-runner")
    ds = Dataset.build([({"__name__": "x"}, [(0, 1.0), (60_000, 2.0)])])
    case = Case(ds, "x", EvalParams.instant(60_000))
    with EngineRegistry() as reg:
        e = reg.open("prometheus")
        e.load(ds)
        right = e.query("x", case.params)
        wrong = e.query("x * 2", case.params)
    store = CorpusStore(tmp_path / "corpus")
    cfg = CampaignConfig()

    def finding(sig: str) -> Finding:
        return Finding(signature=sig, title="t", verdict="divergence", oracle="differential", category="value",
                       reference="prometheus", target="mqe", query="x", original_query="x",
                       params=case.params.to_json_obj(), case_file=None, diff="")

    with pytest.raises(ValueError, match="promqltest runner rejects the case"):
        store_finding(store, StoredCase(case, wrong, {}), finding("differential-value-0000000001"), cfg, {})
    assert not list((tmp_path / "corpus").rglob("*.test"))
    path = store_finding(store, StoredCase(case, right, {}), finding("differential-value-0000000002"), cfg, {})
    assert path is not None and Path(path).is_file()
