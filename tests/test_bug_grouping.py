"""Root-cause grouping (promfuzz/bugs/grouping.py): its precision and recall against the
ledger's hand labels (frozen in tests/fixtures/bug_grouping/labelled.json), that it keeps
different bugs apart and joins variants of one, ledger matching and regressions in a
campaign, summary.json's bugs and the console summary by bug."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from promfuzz.bugs import grouping as g
from promfuzz.bugs import load_ledger
from promfuzz.bugs.grouping import HitFacts, group_key, measure, pairwise_scores
from promfuzz.cli import main

if TYPE_CHECKING:
    from promfuzz.pipeline import StoredCase
    from promfuzz.reports.records import Finding

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
FIXTURE = ROOT / "tests" / "fixtures" / "bug_grouping" / "labelled.json"


def _hit(query: str, category: str = "value", **kw: object) -> HitFacts:
    return HitFacts(**{"target": "mqe", "reference": "prometheus", "query": query, "category": category,
                       "error_classes": ("ok", "ok"), **kw})  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- measured on the labels


def test_grouping_reaches_090_precision_and_recall_on_the_labelled_set() -> None:
    labelled = g.load_labelled(FIXTURE)
    assert len(labelled["cases"]) >= 300 and len({r["bug"] for r in labelled["cases"]}) >= 40
    m = measure(labelled)
    assert m["precision"] >= 0.9, m
    assert m["recall"] >= 0.9, m
    # tens of groups for 42 bugs, not one per signature (the corpus has 287 signature folders)
    assert 42 <= m["auto_groups"] <= 90, m["auto_groups"]


def test_the_threshold_test_fails_for_a_finer_or_a_coarser_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 0.9 test can fail: a key that keeps the whole query tree splits bugs (recall),
    one without the focus merges them (precision)."""
    labelled = g.load_labelled(FIXTURE)
    monkeypatch.setattr(g, "FOCUS_DEPTH", 6)
    monkeypatch.setattr(g, "_peel", lambda node: node)
    assert measure(labelled)["recall"] < 0.9
    monkeypatch.undo()
    monkeypatch.setattr(g, "focus", lambda query: "")
    assert measure(labelled)["precision"] < 0.9


def test_the_fixture_is_the_ledger_of_the_corpus() -> None:
    """Every labelled case is a ledger member of that bug (the labels are not made up)."""
    idx = {m: b.id for b in load_ledger(CORPUS) for m in b.members}
    rows = g.load_labelled(FIXTURE)["cases"]
    assert {r["case"]: r["bug"] for r in rows} == {c: idx[c] for c in (r["case"] for r in rows)}


def test_pairwise_scores_on_a_hand_counted_example() -> None:
    truth = {"a": "B1", "b": "B1", "c": "B1", "d": "B2"}
    auto = {"a": "x", "b": "x", "c": "y", "d": "y"}
    s = pairwise_scores(auto, truth)
    # same auto group: (a,b) (c,d) -> 2 pairs, 1 of them in one bug; same bug: ab ac bc -> 3
    assert (s["pairs_same_auto"], s["pairs_both"], s["pairs_same_true"]) == (2, 1, 3)
    assert s["precision"] == 0.5 and s["recall"] == pytest.approx(1 / 3)


def test_cli_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bugs", "grouping", "--labelled", str(FIXTURE), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    with_attr = data["with attribution (promfuzz explain)"]
    assert with_attr["precision"] >= 0.9 and with_attr["recall"] >= 0.9
    assert "without attribution (what an unexplained finding has)" in data
    assert main(["bugs", "grouping", "--labelled", str(FIXTURE)]) == 0
    out = capsys.readouterr().out
    assert "pairwise precision 0.9" in out and "groups that mix bugs" in out
    bad = FIXTURE.parent.parent / "no-such-file.json"
    assert main(["bugs", "grouping", "--labelled", str(bad)]) == 2
    assert "cannot read the labelled set" in capsys.readouterr().err


# ----------------------------------------------------------------------------- apart and together


def test_two_different_bugs_get_different_keys() -> None:
    bottomk = _hit("bottomk(2, asin(bar))", "missing_series", aspect=("points:nan",))
    count_values = _hit('count_values without (le) ("le", foo_count)', "missing_series")
    assert group_key(bottomk) != group_key(count_values)
    # the same query: a warning left out vs one added is two bugs
    fewer = _hit("x unless sum(rate(x[1h]))", "annotations", qualifier="info_missing: PromQL info: metric ...")
    more = _hit("x unless sum(rate(x[1h]))", "annotations", qualifier="warning_extra: PromQL warning: ...")
    assert group_key(fewer) != group_key(more)
    # the same difference, attributed to a pass or to the engine
    narrow = _hit("foo unless on (job) bar", "extra_series", label="engine", attributed=("+narrow_binary_selectors",))
    plain = _hit("foo unless on (job) bar", "extra_series", label="engine")
    assert group_key(narrow) != group_key(plain)
    # fork lag (mimir-prometheus differs from upstream too) vs an MQE bug
    assert group_key(_hit("mad_over_time(x[5m])", label="fork-lag")) != group_key(_hit("mad_over_time(x[5m])"))


def test_two_shrunk_variants_of_one_bug_get_one_key() -> None:
    # k = 0 skips the operand: whichever annotation or error the operand raises
    a = _hit("limit_ratio(0, delta(process_memory_bytes[1h]))", "annotations",
             qualifier="warning_missing: PromQL warning: this native histogram metric is not a gauge")
    b = _hit('topk(0, label_replace(bar, "", "", "", "["))', "error_vs_result",
             qualifier="ref: invalid regular expression", error_classes=("execution", "ok"))
    assert group_key(a) == group_key(b)
    # a quantile at φ = 0 in the fork, under a comparison with a literal or not, over any operand
    c = _hit("quantile(0, cosh(100 * bar))", label="fork-lag")
    d = _hit("quantile_over_time(0, foo_total[1m]) >= 0", "missing_series", label="fork-lag")
    assert group_key(c) == group_key(d)
    # count_values without: wrappers and operands vary
    e = _hit('sinh(count_values without (le) ("__name__", up_bucket))', "duplicate_series")
    f = _hit('count_values without () ("__name__", vector(0))', "missing_series")
    assert group_key(e) == group_key(f)
    # a pass toggled by explain: its bug whatever the query (and either sign)
    p = _hit("x_total and on (env) x_total @ 0", "missing_series", label="engine", attributed=("+narrow_binary_selectors",))
    q = _hit("sum by (b) (y) unless z", "extra_series", label="engine", attributed=("-narrow_binary_selectors",))
    assert group_key(p) == group_key(q)


def test_a_prometheus_engine_target_is_a_version_or_fork_lag_without_explaining() -> None:
    thanos = _hit("avg(bar)", "histogram", target="thanos-prometheus", vendored="v0.308.0")
    other = _hit("count_values(\"v\", sum_over_time(foo[1m]))", "missing_series", target="thanos-prometheus",
                 vendored="v0.308.0")
    assert group_key(thanos) == group_key(other) == g.GroupKey("thanos-prometheus", "version")
    fork = _hit("mad_over_time(x[1h])", target="mimir-prometheus",
                vendored="github.com/grafana/mimir-prometheus v1.8.2-0.20260421065545-af7900704075")
    assert g.attribution(fork) == ("mimir-prometheus", "fork")


def test_new_bug_titles_read_as_english() -> None:
    for hf in (_hit("topk(0, x)", "annotations", qualifier="info_extra: PromQL <fn>: ignored histogram in <fn>"),
               _hit('{job="a"} / on () x', "error_vs_result", error_classes=("ok", "execution")),
               _hit('x unless count_values("", y)', "error_vs_result", error_classes=("execution", "ok")),
               _hit("mad_over_time(x[1h])", target="thanos-prometheus", vendored="v0.308.0")):
        key = group_key(hf)
        title = g.new_bug_title(hf, key)
        assert "<fn>" not in title and "{'" not in title and "_" not in title.split(":")[0], title
        assert "diagnostics" not in title, title  # a key's words are not a title
        assert key.new_id().startswith("new-") and len(key.new_id()) == 14


# ----------------------------------------------------------------------------- in a campaign


def _copy_member(corpus: Path, member: str) -> None:
    for ext in (".test", ".json"):
        dst = corpus / (member[:-5] + ext)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / (member[:-5] + ext), dst)


def _stored_finding(member: str) -> tuple[Finding, StoredCase]:
    from promfuzz.model import Case
    from promfuzz.pipeline import StoredCase
    from promfuzz.reports.records import Finding

    d = json.loads((CORPUS / member).with_suffix(".json").read_text(encoding="utf-8"))
    case = Case.from_json_obj(d["case"])
    sig = d["verdict"]["signature"]
    f = Finding(signature=d["signature_key"], title="t", verdict="divergence", oracle="differential",
                category=sig["category"], reference="prometheus", target="mqe", query=case.query,
                original_query=case.query, params={}, case_file=None, diff="")
    return f, StoredCase(case, None, d["verdict"])


def test_a_campaign_finding_matches_its_ledger_bug_and_a_fixed_one_is_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bottomk = next(b for b in load_ledger(CORPUS) if b.id == "mqe-bottomk-ranks-nan-lowest")
    known, hit = bottomk.members[0], bottomk.members[1]  # the ledger knows one; the run finds another
    _copy_member(tmp_path, known)
    (tmp_path / "bugs").mkdir()
    (tmp_path / "bugs" / "mqe-bottomk-nan.toml").write_text(
        f'id = "mqe-bottomk-nan"\ntitle = "bottomk ranks NaN best"\nengines = ["mqe"]\nstatus = "fixed"\n'
        f'fixed_in = "deadbeef"\nmembers = ["{known}"]\n', encoding="utf-8")
    run = g.RunBugs(tmp_path)
    f, stored = _stored_finding(hit)
    run.assign(f, stored)
    assert (f.bug_id, f.bug_status, f.bug_title) == ("mqe-bottomk-nan", "fixed-regression", "bottomk ranks NaN best")
    [b] = load_ledger(tmp_path)
    assert "fails again on mqe" in b.regression and b.last_seen
    assert "REGRESSION bug mqe-bottomk-nan" in capsys.readouterr().err
    # another bug is new, named by its key
    cv = next(b for b in load_ledger(CORPUS) if b.id == "mqe-count-values-without-drops-output-label").members[0]
    f2, stored2 = _stored_finding(cv)
    run.assign(f2, stored2)
    assert f2.bug_status == "new" and f2.bug_id and f2.bug_id.startswith("new-")
    # expected differences are not bugs
    f3, _ = _stored_finding(cv)
    f3.verdict = "expected"
    run.assign(f3)
    assert f3.bug_id is None


def test_summary_bugs_and_the_console_list_bugs_new_first(capsys: pytest.CaptureFixture[str]) -> None:
    from promfuzz.campaign import _print_summary
    from promfuzz.reports.records import Finding, RunStats
    from promfuzz.reports.writer import summary_dict

    def fd(sig: str, bug: str | None, status: str | None, n: int, verdict: str = "divergence") -> Finding:
        return Finding(signature=sig, title=f"sig {sig}", verdict=verdict, oracle="differential", category="value",
                       reference="prometheus", target="mqe", query=f"q_{sig}", original_query="", params={},
                       case_file=f"corpus/{sig}/0000000000000000.test", diff="", occurrences=n,
                       bug_id=bug, bug_title=f"Title of {bug}" if bug else None, bug_status=status)

    findings = [fd("s1", "mqe-known", "open", 50), fd("s2", "mqe-known", "open", 3), fd("s3", "new-abc", "new", 2),
                fd("s4", None, None, 7, "unsupported"), fd("s5", None, None, 9, "expected")]
    summary = summary_dict(run_id="r", seed=1, budget={}, stats=RunStats(), reference={}, targets=[], oracles=[],
                           findings=findings, workers=1, shard="0/1", started_at="", finished_at=None, complete=True,
                           interrupted=False, grammar_coverage={})
    bugs = summary["bugs"]
    assert [b["id"] for b in bugs] == ["new-abc", "mqe-known"]
    assert bugs[1] == {"id": "mqe-known", "title": "Title of mqe-known", "status": "open", "engines": ["mqe"],
                       "category": "value", "findings": ["s1", "s2"], "hits": 53,
                       "cases": ["corpus/s1/0000000000000000.test", "corpus/s2/0000000000000000.test"]}
    _print_summary(summary, Path("/tmp/out"))
    err = capsys.readouterr().err
    lines = err.splitlines()
    i_new = next(i for i, line in enumerate(lines) if "new-abc" in line)
    i_known = next(i for i, line in enumerate(lines) if "mqe-known" in line)
    assert i_new < i_known
    assert "2 bug(s): 1 new, 1 open" in err
    assert "[open] mqe-known (2 findings, 53 hits, mqe): Title of mqe-known" in err
    assert "q_s1" not in err and "s4" not in err  # no line per signature
    assert "other findings: 1 unsupported" in err
