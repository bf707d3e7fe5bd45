"""The HTML report: escaping, cards, charts, and that a real browser renders it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from promfuzz.reports.records import Finding, ResultView, SeriesView
from promfuzz.reports.writer import load_run, trend, write_report

EVIL = '<script>alert("x")</script>'


def _finding(sig: str, verdict: str = "divergence", kind: str = "range") -> Finding:
    pts_a = [(t * 15_000, str(float(t))) for t in range(10)]
    pts_b = [(t * 15_000, str(float(t) * 1.5)) for t in range(10)]
    return Finding(
        signature=sig, title=f"value differs {EVIL}", verdict=verdict, oracle="differential", category="value",
        reference="prometheus", target="mqe", query=f'sum(rate(x{{a="{EVIL}"}}[5m]))', original_query="q",
        params={"kind": kind, "start_ms": 0, "end_ms": 135_000, "step_ms": 15_000}, case_file=None,
        diff=f"value at 15s: 1 vs 1.5 {EVIL}",
        results=[ResultView("prometheus", "ok", "matrix", [SeriesView(f'{{a="{EVIL}"}}', pts_a)]),
                 ResultView("mqe", "ok", "matrix", [SeriesView(f'{{a="{EVIL}"}}', pts_b)])],
    )


def _summary(findings: list[Finding]) -> dict[str, object]:
    return {
        "run_id": "r1", "counts": {"cases": 10, "by_verdict": {"divergence": 1}},
        "signatures": [{"key": f.signature, "verdict": f.verdict} for f in findings],
        "throughput": [{"elapsed_s": 0, "cases": 0, "divergences": 0}, {"elapsed_s": 1, "cases": 10, "divergences": 1}],
        "grammar_coverage": {"kinds": {"functions": {"reached": 1, "total": 2, "missing": ["abs"]}}},
    }


def test_report_escapes_everything_from_queries_and_engines(tmp_path: Path) -> None:
    fs = [_finding("differential-value-aaaa")]
    write_report(tmp_path, _summary(fs), fs)
    html = (tmp_path / "index.html").read_text()
    assert EVIL not in html and "<script>alert" not in html  # the page has one script of its own, the filters
    assert "&lt;script&gt;" in html
    assert html.count('<article class="bug ') == 1  # one card per bug (each signature its own here)
    assert "<svg" in html  # the overlay chart and the throughput chart


def test_junit_has_one_testcase_per_signature_and_fails_divergences(tmp_path: Path) -> None:
    fs = [_finding("differential-value-aaaa"), _finding("expected-rule1-mqe", verdict="expected", kind="instant")]
    write_report(tmp_path, _summary(fs), fs)
    xml = (tmp_path / "junit.xml").read_text()
    assert xml.count("<testcase") == 2
    assert xml.count("<failure") == 1 and xml.count("<skipped") == 1


def test_trend_reports_new_still_failing_and_fixed() -> None:
    runs = [
        ("a", {"signatures": [{"key": "s1", "verdict": "divergence"}, {"key": "s2", "verdict": "divergence"}]}),
        ("b", {"signatures": [{"key": "s2", "verdict": "divergence"}, {"key": "s3", "verdict": "divergence"},
                              {"key": "s4", "verdict": "expected"}]}),
    ]
    t = trend(runs)
    assert t["new"] == ["s3"] and t["still_failing"] == ["s2"] and t["fixed"] == ["s1"]


def test_report_can_be_rebuilt_from_the_run_folder(tmp_path: Path) -> None:
    fs = [_finding("differential-value-aaaa")]
    (tmp_path / "findings.jsonl").write_text(json.dumps(fs[0].to_json_obj()) + "\n")
    write_report(tmp_path, _summary(fs))
    summary, findings = load_run(tmp_path)
    assert [f.signature for f in findings] == ["differential-value-aaaa"]
    assert summary["run_id"] == "r1"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it)")
def test_report_renders_in_headless_chromium_with_cards_and_a_chart(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    fs = [_finding("differential-value-aaaa"), _finding("differential-value-bbbb", kind="instant")]
    write_report(tmp_path / "run", _summary(fs), fs)
    url = (tmp_path / "run" / "index.html").as_uri()
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([CHROMIUM, *FLAGS, *profile, "--dump-dom", url], capture_output=True, timeout=120, text=True)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout
    assert rendered.count('<article class="bug ') == 2
    assert '<div class="chart"><svg' in rendered
    assert "<script>alert" not in rendered
    png = tmp_path / "shot.png"
    shot = subprocess.run([CHROMIUM, *FLAGS, *profile, f"--screenshot={png}", "--window-size=1200,1600", url],
                          capture_output=True, timeout=120)
    assert shot.returncode == 0 and png.exists()
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a blank page is a few KB; cards and charts are more


# ----------------------------------------------------------------------------- panics and rules
# Issue #12, item 13: a real promql-engine crash sat unseen among 1,881 "unsupported"
# findings. A panic must stand out at the top of every report.

PANIC = "runtime error: invalid memory address or nil pointer dereference"


def _panic_finding() -> Finding:
    f = _finding("differential-engine_failure-ccccccccc1", verdict="engine_failure", kind="instant")
    f.title, f.category, f.target, f.reference = f"differential: engine failure in thanos [panic: {PANIC}]", \
        "engine_failure", "thanos", "thanos-prometheus"
    f.query = "double_exponential_smoothing(nothing[1m30s], 0.5, -0.1)"
    f.results = [ResultView("thanos-prometheus", "ok", "vector"),
                 ResultView("thanos", "error", None, error=f"execution: unexpected error: {PANIC}")]
    f.panic = PANIC
    f.occurrences = 1
    return f


def _many(n: int, verdict: str = "unsupported") -> list[Finding]:
    out = []
    for i in range(n):
        f = _finding(f"differential-unsupported-{i:010x}", verdict=verdict, kind="instant")
        f.occurrences = 50 + i  # all more frequent than the panic
        out.append(f)
    return out


def _expected(rule: str, key: str, query: str, n: int) -> Finding:
    f = _finding(key, verdict="expected", kind="instant")
    f.rule, f.query, f.occurrences = rule, query, n
    return f


def test_a_panic_is_at_the_top_of_summary_json(tmp_path: Path) -> None:
    fs = [*_many(5), _panic_finding(), *_many(2, "divergence")]
    write_report(tmp_path, _summary(fs), fs)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [k for k in summary if k != "schema"][0] == "panics"
    assert [p["message"] for p in summary["panics"]] == [PANIC]
    p = summary["panics"][0]
    assert p["engine"] == "thanos" and p["query"].startswith("double_exponential_smoothing")


def test_a_panic_is_the_first_thing_the_html_report_shows(tmp_path: Path) -> None:
    fs = [*_many(5), _panic_finding(), *_many(2, "divergence")]
    write_report(tmp_path, _summary(fs), fs)
    html = (tmp_path / "index.html").read_text()
    banner = html.find('id="panics"')
    assert banner != -1, "no panic banner"
    assert banner < html.find('<section id="bugs">') and banner < html.find('<article class="bug ')
    assert PANIC in html[banner:html.find('<section id="overview">')]
    first_card = html[html.find('<article class="bug '):]
    assert first_card.startswith('<article class="bug s-new panic"')
    # Without a panic there is no banner.
    write_report(tmp_path / "calm", _summary(fs[:5]), fs[:5])
    assert 'id="panics"' not in (tmp_path / "calm" / "index.html").read_text()


def test_a_panic_is_a_junit_error_listed_first(tmp_path: Path) -> None:
    fs = [*_many(3), *_many(2, "divergence"), _panic_finding()]
    write_report(tmp_path, _summary(fs), fs)
    xml = (tmp_path / "junit.xml").read_text()
    import xml.etree.ElementTree as ET

    suite = ET.fromstring(xml)
    assert suite.get("errors") == "1" and suite.get("failures") == "2"
    first = suite.find("testcase")
    assert first is not None and first.get("name", "").startswith(f"PANIC in thanos: {PANIC}")
    err = first.find("error")
    assert err is not None and err.get("type") == "panic"


def test_the_report_shows_per_rule_hits_and_shapes(tmp_path: Path) -> None:
    fs = [
        _expected("mqe-binop-no-series-annotations", "expected-a-mqe-1111111111", "rate(foo[1m]) > 1", 900),
        _expected("mqe-binop-no-series-annotations", "expected-a-mqe-2222222222", "(A / B) ^ -33.9", 1),
        _expected("other-rule", "expected-b-mqe-3333333333", "x", 5),
    ]
    write_report(tmp_path, _summary(fs), fs)
    rules = json.loads((tmp_path / "summary.json").read_text())["rules"]
    r = rules["mqe-binop-no-series-annotations"]
    assert r["hits"] == 901 and r["shapes"] == 2
    assert [e["query"] for e in r["examples"]] == ["rate(foo[1m]) > 1", "(A / B) ^ -33.9"]
    assert rules["other-rule"]["shapes"] == 1
    html = (tmp_path / "index.html").read_text()
    section = html[html.find('<section id="expected">'):html.find('<section id="unsupported">')]
    assert "(A / B) ^ -33.9" in section and "901 hits" in section
