"""index.html organised by bug (issue #14 item 5), on a fixture frozen from two real
30-second campaigns (tests/fixtures/report-by-bug/freeze.py says how): the three lists
against the previous run, one card per bug, English titles, the side-by-side diff, the
ledger's part, and, in headless Chromium, the filters, a screenshot and the speed of a
1,000-bug page.

``PROMFUZZ_UPDATE_SCREENSHOT=1 pytest tests/reports/test_html_by_bug.py -k screenshot``
rewrites the checked-in tests/reports/report-by-bug.png.
"""

from __future__ import annotations

import copy
import html as htmllib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from promfuzz.bugs.ledger import Attribution, write_bug
from promfuzz.bugs.ledger import Bug as LedgerBug
from promfuzz.reports import bugview as bv
from promfuzz.reports.records import Finding
from promfuzz.reports.writer import load_run, write_report

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "report-by-bug"  # written before grouping
GROUPED = Path(__file__).resolve().parent.parent / "fixtures" / "report-by-bug-grouped"  # bugs and a ledger
SCREENSHOT = Path(__file__).resolve().parent / "report-by-bug.png"
FAILING = ("divergence", "engine_failure", "performance")


# ----------------------------------------------------------------------------- helpers


def _copy(src: Path, tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    shutil.copytree(src, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return root


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A copy of the ungrouped fixture (prev/, run/, corpus/ side by side, as under reports/)."""
    return _copy(FIXTURE, tmp_path)


@pytest.fixture
def grouped(tmp_path: Path) -> Path:
    """A copy of the grouped fixture (its corpus has the ledger entries the runs name)."""
    return _copy(GROUPED, tmp_path)


@pytest.fixture(params=["ungrouped", "grouped"])
def either(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return _copy(FIXTURE if request.param == "ungrouped" else GROUPED, tmp_path)


def render(folder: Path, **kw: Any) -> str:
    summary, findings = load_run(folder)
    write_report(folder, summary, findings, **kw)
    return (folder / "index.html").read_text(encoding="utf-8")


def failing(folder: Path) -> dict[str, dict[str, Any]]:
    """Failing findings of a fixture run, straight from its records (signature -> record)."""
    out = {}
    for line in (folder / "findings.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        if d["verdict"] in FAILING:
            out[d["signature"]] = d
    return out


class Page(HTMLParser):
    """The bits of a rendered page the tests look at: list entries, cards, visible text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.lists: dict[str, list[dict[str, str]]] = {}
        self.cards: list[dict[str, str]] = []
        self.counts: dict[str, str] = {}
        self.text: list[str] = []  # text outside <pre>, <code>, <script>, <style>
        self._list: str | None = None
        self._skip = 0
        self._count: str | None = None
        self._li: dict[str, str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "ol" and a.get("id", "").startswith("list-"):
            self._list = a["id"][5:]
            self.lists[self._list] = []
        if tag == "li" and self._list and "data-bug" in a:
            self._li = a
            self.lists[self._list].append(a)
        if tag == "a" and self._li is not None:
            self._li["href"] = a.get("href", "")
        if tag == "article" and "data-bug" in a:
            self.cards.append(a)
        if tag == "span" and a.get("id", "").startswith("count-"):
            self._count = a["id"][6:]
        if tag in ("pre", "code", "script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "ol":
            self._list = None
        if tag == "li":
            self._li = None
        if tag in ("pre", "code", "script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._count is not None:
            self.counts[self._count] = data.strip()
            self._count = None
        if self._skip == 0 and data.strip():
            self.text.append(data)


# ----------------------------------------------------------------------------- the three lists


def test_the_three_lists_compare_with_the_previous_run_next_to_this_one(runs: Path) -> None:
    page = Page(render(runs / "run"))
    prev, cur = failing(runs / "prev"), failing(runs / "run")
    # Independent of promfuzz's code: the sets of failing signatures of the two records.
    new, still, gone = set(cur) - set(prev), set(cur) & set(prev), set(prev) - set(cur)
    assert (len(new), len(still), len(gone)) == (62, 11, 16)  # the fixture as frozen
    assert {k: len(v) for k, v in page.lists.items()} == {"new": len(new), "still": len(still), "gone": len(gone)}
    assert page.counts == {"new": "62", "still": "11", "gone": "16"}
    # One card per bug: in a run written before grouping, each failing signature is one.
    assert len(page.cards) == len(cur)
    anchors = {c["id"] for c in page.cards}
    assert {li["href"][1:] for li in page.lists["new"] + page.lists["still"]} <= anchors
    assert "compared with the previous run 20261203-165306-s316786" in " ".join(page.text).lower()


def test_without_a_previous_run_every_unknown_bug_is_new(runs: Path) -> None:
    shutil.rmtree(runs / "prev")
    page = Page(render(runs / "run"))
    assert {k: len(v) for k, v in page.lists.items()} == {"new": 73, "still": 0, "gone": 0}
    assert "No earlier run with the same reference" in " ".join(page.text)


def test_the_previous_run_is_the_latest_earlier_one_with_the_same_reference(runs: Path) -> None:
    summary = json.loads((runs / "run" / "summary.json").read_text())
    later = json.loads((runs / "prev" / "summary.json").read_text())
    for name, started, reference, finished in (
            ("later", "2026-12-03T18:00:00+00:00", "prometheus", True),
            ("other-ref", "2026-12-03T17:00:00+00:00", "mimir-prometheus", True),
            ("still-running", "2026-12-03T17:01:00+00:00", "prometheus", False),
            ("older", "2026-12-03T10:00:00+00:00", "prometheus", True)):
        d = runs / name
        shutil.copytree(runs / "prev", d)
        s = dict(later, started_at=started, run_id=name, reference={"name": reference},
                 finished_at=later["finished_at"] if finished else None)
        (d / "summary.json").write_text(json.dumps(s))
    found = bv.find_previous_run(runs / "run", summary)
    assert found is not None and found.run_id == "20261203-165306-s316786"
    shutil.rmtree(runs / "prev")
    found = bv.find_previous_run(runs / "run", summary)
    assert found is not None and found.run_id == "older"


def test_report_a_b_compares_with_a(runs: Path) -> None:
    from promfuzz.cli import main

    elsewhere = runs.parent / "elsewhere"
    shutil.move(runs / "prev", elsewhere)  # not next to run/: only the command line names it
    assert main(["report", str(elsewhere), str(runs / "run")]) == 0
    page = Page((runs / "run" / "index.html").read_text())
    assert {k: len(v) for k, v in page.lists.items()} == {"new": 62, "still": 11, "gone": 16}


def _records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (folder / "findings.jsonl").read_text(encoding="utf-8").splitlines() if ln]


def test_a_grouped_run_lists_bugs_by_ledger_status_and_previous_run(grouped: Path) -> None:
    import datetime as dt
    import tomllib

    page = Page(render(grouped / "run"))
    cur = [d for d in _records(grouped / "run") if d["verdict"] in FAILING]
    prev = [d for d in _records(grouped / "prev") if d["verdict"] in FAILING]
    assert all(d["bug_id"] for d in cur + prev)  # the campaign grouped them
    prev_ids, prev_keys = {d["bug_id"] for d in prev}, {d["signature"] for d in prev}
    status = {d["bug_id"]: d["bug_status"] for d in cur}
    keys: dict[str, set[str]] = {}
    for d in cur:
        keys.setdefault(d["bug_id"], set()).add(d["signature"])
    new = {b for b in status if status[b] == "new" and b not in prev_ids and not keys[b] & prev_keys}
    still = set(status) - new
    gone = {d["bug_id"] for d in prev if d["bug_id"] not in status and d["signature"] not in
            {d["signature"] for d in cur}}

    def when(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    p_start, r_start = (when(json.loads((grouped / n / "summary.json").read_text())["started_at"])
                        for n in ("prev", "run"))
    for toml in (grouped / "corpus" / "bugs").glob("*.toml"):
        entry = tomllib.loads(toml.read_text())
        seen = entry.get("last_seen", "")
        if seen and p_start <= when(seen) < r_start and entry["id"] not in status and entry["status"] != "not-a-bug":
            gone.add(entry["id"])
    got = {name: {li["data-id"] for li in items} for name, items in page.lists.items()}
    assert got == {"new": new, "still": still, "gone": gone}
    assert (len(new), len(still), len(gone)) == (28, 8, 4)  # the fixture as frozen
    assert len(page.cards) == len(status) == 36  # 106 failing signatures, 36 bugs
    assert {c["data-status"] for c in page.cards} == {"new", "open", "documented"}
    # The ledger's attribution is on its bugs' cards.
    html = htmllib.unescape((grouped / "run" / "index.html").read_text())
    card = html[html.find('id="bug-mqe-skipped-side-hides-errors"'):]
    assert "layer: engine" in card[:card.find("</article>")]


# ----------------------------------------------------------------------------- bugs, not signatures


def _grouped(folder: Path) -> tuple[dict[str, Any], list[Finding]]:
    """The fixture run as the grouping (promfuzz/bugs/grouping.py) marks it: two mqe
    signatures of one ledger bug (open), one a regression of a fixed bug, the rest new."""
    summary, findings = load_run(folder)
    mqe = [f for f in findings if f.verdict == "divergence" and f.target == "mqe" and f.category == "annotations"]
    a, b, c = mqe[0], mqe[1], mqe[2]
    for f in (a, b):
        f.bug_id, f.bug_title, f.bug_status = "mqe-drops-annotations", "MQE drops annotations of one kind", "open"
    c.bug_id, c.bug_title, c.bug_status = "mqe-old-bug", "An old MQE bug back again", "fixed-regression"
    for f in findings:
        if f.verdict in FAILING and f.bug_id is None:
            f.bug_id, f.bug_title, f.bug_status = f"new-{f.signature[-10:]}", None, "new"
    return summary, findings


def test_findings_of_one_bug_share_one_card_and_ledger_statuses_sort_the_lists(runs: Path) -> None:
    shutil.rmtree(runs / "prev")
    summary, findings = _grouped(runs / "run")
    write_report(runs / "run", summary, findings)
    html = (runs / "run" / "index.html").read_text()
    page = Page(html)
    assert len(page.cards) == 73 - 1  # two signatures, one bug
    card = next(c for c in page.cards if c["id"] == "bug-mqe-drops-annotations")
    assert card["data-status"] == "open"
    body = html[html.find('id="bug-mqe-drops-annotations"'):]
    body = body[:body.find("</article>")]
    assert "MQE drops annotations of one kind" in body and "2 signatures of this bug" in body
    # A ledger bug is still failing though the previous run is gone; the regression comes first.
    assert [li["href"] for li in page.lists["still"]] == ["#bug-mqe-old-bug", "#bug-mqe-drops-annotations"]
    assert len(page.lists["new"]) == 70
    # summary.json has the bugs list the grouping helper defined, and the page agrees with it.
    bugs = json.loads((runs / "run" / "summary.json").read_text())["bugs"]
    assert len(bugs) == len(page.cards)


def test_a_grouped_title_with_placeholders_is_replaced_by_an_english_one(runs: Path) -> None:
    summary, findings = _grouped(runs / "run")
    f = next(f for f in findings if f.bug_id == "mqe-old-bug")
    f.bug_title = "differential: annotations in mqe [info_missing: PromQL <fn>: N]"
    write_report(runs / "run", summary, findings)
    page = Page((runs / "run" / "index.html").read_text())
    text = " ".join(page.text)
    assert "<fn>" not in text
    assert bv.english_title(f) in htmllib.unescape((runs / "run" / "index.html").read_text())


def test_the_ledger_gives_attribution_and_names_bugs_not_seen_since_the_previous_run(runs: Path) -> None:
    summary, findings = _grouped(runs / "run")
    corpus = runs / "corpus"
    member = next(f for f in findings if f.bug_id == "mqe-drops-annotations" and f.case_file).case_file
    assert member is not None
    write_bug(corpus, LedgerBug(
        id="mqe-drops-annotations", title="MQE drops annotations of one kind", engines=("mqe",), status="open",
        members=(member.removeprefix("corpus/"),),
        attribution=Attribution(layer="engine", pass_="eliminate-common-subexpressions", fails_on=("mqe",),
                                passes_on=("mimir-prometheus",))))
    other = next(p for p in sorted(corpus.glob("*/*.test")) if str(p.relative_to(corpus)) != member[7:])
    write_bug(corpus, LedgerBug(
        id="mqe-seen-last-week", title="A bug the replay saw between the two runs", engines=("mqe",), status="open",
        members=(str(other.relative_to(corpus)),), last_seen="2026-12-03T17:00:00.000000Z"))
    write_bug(corpus, LedgerBug(
        id="mqe-seen-long-ago", title="A bug last seen before the previous run", engines=("mqe",), status="open",
        members=(str(next(p for p in sorted(corpus.glob("*/*.test")) if p != other).relative_to(corpus)),),
        last_seen="2026-11-01"))
    (runs / "run" / "state.json").write_text(json.dumps({"config": {"corpus": str(corpus)}}))
    write_report(runs / "run", summary, findings)
    html = htmllib.unescape((runs / "run" / "index.html").read_text())
    card = html[html.find('id="bug-mqe-drops-annotations"'):]
    card = card[:card.find("</article>")]
    assert "layer: engine (optimization pass eliminate-common-subexpressions)" in card
    assert "passes on mimir-prometheus" in card
    gone = Page(html).lists["gone"]
    assert "A bug the replay saw between the two runs" in html
    assert all("A bug last seen before the previous run" not in li.get("href", "") for li in gone)
    assert "A bug last seen before the previous run" not in html
    # A ledger that does not load is named, and the report is still written.
    (corpus / "bugs" / "broken.toml").write_text("id = 'broken'\n")
    write_report(runs / "run", summary, findings)
    assert "was not read" in (runs / "run" / "index.html").read_text()


# ----------------------------------------------------------------------------- words and diffs


REPR = re.compile(r"\{'|': |<fn>|\bNone\b|\bTrue\b|\bFalse\b|diagnostics:")  # ({} and [] occur in engine messages)


def test_titles_and_labels_read_as_english(either: Path) -> None:
    html = render(either / "run")
    page = Page(html)
    bad = [t for t in page.text if REPR.search(t)]
    assert not bad, bad[:5]
    assert "&lt;fn&gt;" not in html and "{&#39;" not in html
    for c in page.cards:
        title = html[html.find(f'id="{c["id"]}"'):]
        title = htmllib.unescape(title[title.find("<h3>") + 4:title.find("</h3>")])
        assert bv.reads_as_english(title) and len(title) < 400, title


def test_the_diff_marks_the_differing_value_and_not_the_equal_ones(runs: Path) -> None:
    _, findings = load_run(runs / "run")
    f = next(f for f in findings if f.category == "value" and f.target == "mqe")
    rows, left = bv.answer_rows(f)
    series = [r for r in rows if r.kind == "series"]
    assert series and left == 0
    ref, tgt = {s.labels: dict(s.points) for s in f.results[0].series}, {s.labels: dict(s.points) for s in f.results[1].series}
    for r in series:
        assert r.ref is not None and r.tgt is not None
        for cell_r, cell_t in zip(r.ref, r.tgt, strict=True):
            v_r, v_t = cell_r.text.split(" @")[0], cell_t.text.split(" @")[0]
            assert cell_r.differs == cell_t.differs == (not bv.same_value(v_r, v_t))
    assert any(c.differs for r in series for c in r.ref or [])
    assert ref != tgt
    html = render(runs / "run")
    assert 'class="dv"' in html and 'class="v"' in html


def test_the_diff_marks_only_the_points_that_differ() -> None:
    # The fixture's value bugs differ in every point they have; this one does not.
    from promfuzz.reports.records import ResultView, SeriesView

    pts = [(t * 15_000, str(float(t))) for t in range(30)]
    changed = [(t, "NaN" if t == 150_000 else v) for t, v in pts]
    ref = ResultView("prometheus", "ok", "matrix", [SeriesView('{a="1"}', pts), SeriesView('{a="2"}', pts[:3]),
                                                     SeriesView('{a="3"}', [(0, "NaN"), (15_000, "1e300")]),
                                                     SeriesView('{a="4"}', pts[:3])])
    tgt = ResultView("mqe", "ok", "matrix", [SeriesView('{a="1"}', changed),
                                              SeriesView('{a="3"}', [(0, "NaN"), (15_000, "1.0000000000001e300")]),
                                              SeriesView('{a="4"}', [pts[0], (15_000, "7"), pts[2]])])
    rows = {r.key: r for r in bv.series_rows(ref, tgt)}
    one = rows['{a="1"}']
    assert one.differs and one.ref is not None and one.tgt is not None
    assert [c.text for c in one.ref] == ["10.0 @2m30s"] and [c.text for c in one.tgt] == ["NaN @2m30s"]
    assert one.hidden_equal == 29  # a long series shows its differing points only
    assert rows['{a="2"}'].tgt is None and rows['{a="2"}'].differs  # only in the reference
    three = rows['{a="3"}']  # NaN equals NaN; a 1e-13 relative difference is no difference
    assert not three.differs and not any(c.differs for c in (three.ref or []) + (three.tgt or []))
    four = rows['{a="4"}']  # a short series shows every point, the differing one marked
    assert [c.differs for c in four.ref or []] == [c.differs for c in four.tgt or []] == [False, True, False]


def test_the_diff_lines_up_annotations_moved_or_reworded() -> None:
    from promfuzz.reports.records import ResultView

    ref = ResultView("prometheus", "ok", "vector", infos=["PromQL info: ignored histogram in min aggregation (1:8)"],
                     warnings=["PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)"])
    tgt = ResultView("thanos", "ok", "vector", infos=["PromQL info: ignored histogram in"],
                     warnings=["PromQL warning: quantile value should be between 0 and 1, got 2 (1:1)"])
    pairs = bv.annotation_pairs(ref, tgt)
    assert len(pairs) == 2 and all(r and t for _, r, t in pairs)
    f = Finding("k", "t", "divergence", "differential", "annotations", "prometheus", "thanos", "q", "q",
                {"kind": "instant", "time_ms": 0}, None, "", [ref, tgt])
    assert bv.english_title(f) == ("thanos words the info “ignored histogram in min aggregation” as “ignored histogram "
                                   "in”; places the warning “quantile value should be between 0 and 1, got 2” at 1:1 "
                                   "instead of 1:10")


def test_expected_and_unsupported_fold_into_one_line_per_rule_and_reason(runs: Path) -> None:
    html = render(runs / "run")
    _, findings = load_run(runs / "run")
    rules = {f.rule for f in findings if f.verdict == "expected"}
    section = html[html.find('<section id="expected">'):html.find('<section id="unsupported">')]
    assert section.count('<details class="fold"') == len(rules)
    assert section.count("<tr><td>") == sum(1 for f in findings if f.verdict == "expected")
    reasons = {(f.target, bv.unsupported_reason(f)) for f in findings if f.verdict == "unsupported"}
    section = html[html.find('<section id="unsupported">'):html.find('<section id="throughput">')]
    assert section.count("<tr><td>") == len(reasons) == 8
    assert "unknown binary operation: &lt;/" in section


# ----------------------------------------------------------------------------- Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--mute-audio",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[list[str]]:
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed (make deps installs the Debian package)")
        pytest.skip("chromium not installed (make test installs it)")
    yield [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]


PROBE = """
<script>
(function () {
  function counts() {
    return {new: +document.getElementById("count-new").textContent,
            still: +document.getElementById("count-still").textContent,
            gone: +document.getElementById("count-gone").textContent,
            shown: +document.getElementById("shown").textContent,
            cards: document.querySelectorAll("article[data-bug]:not([hidden])").length};
  }
  var out = {initial: counts(), engine: {}, status: {}, category: {}, both: null, reset: null, hash: location.hash};
  var opts = {engine: "f-engine", status: "f-status", category: "f-category"};
  Object.keys(opts).forEach(function (k) {
    Array.prototype.forEach.call(document.getElementById(opts[k]).options, function (o) {
      if (!o.value) return;
      var sel = document.getElementById(opts[k]);
      sel.value = o.value; sel.dispatchEvent(new Event("change"));
      out[k][o.value] = counts();
      sel.value = ""; sel.dispatchEvent(new Event("change"));
    });
  });
  window.promfuzzFilter("thanos", "", "annotations");
  out.both = counts();
  document.getElementById("f-reset").click();
  out.reset = counts();
  var pre = document.createElement("pre");
  pre.id = "probe"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def _dump(chromium: list[str], page: Path, url_suffix: str = "") -> str:
    r = subprocess.run([*chromium, "--dump-dom", page.as_uri() + url_suffix], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def _probe(chromium: list[str], folder: Path, suffix: str = "") -> dict[str, Any]:
    html = (folder / "index.html").read_text()
    probe = folder / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = _dump(chromium, probe, suffix)
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m, "the probe script did not run"
    return json.loads(htmllib.unescape(m.group(1)))


def _expected(page: Page, **want: str) -> dict[str, int]:
    """What a filter must show, from the static page's data attributes (not from its script)."""
    def ok(a: dict[str, str]) -> bool:
        return ((not want.get("engine") or want["engine"] in a["data-engine"].split())
                and (not want.get("status") or a["data-status"] == want["status"])
                and (not want.get("category") or a["data-category"] == want["category"]))
    out = {name: sum(1 for a in page.lists.get(name, []) if ok(a)) for name in ("new", "still", "gone")}
    out["shown"] = out["cards"] = sum(1 for a in page.cards if ok(a))
    return out


def test_counts_and_every_filter_work_in_chromium(either: Path, chromium: list[str]) -> None:
    page = Page(render(either / "run"))
    got = _probe(chromium, either / "run")
    assert got["initial"] == _expected(page)  # the script's counts are the page's lists
    assert got["initial"]["shown"] == len(page.cards)
    assert set(got["engine"]) == {"mqe", "thanos"}
    assert len(got["category"]) >= 4
    statuses = {c["data-status"] for c in page.cards}
    assert set(got["status"]) == statuses | {li["data-status"] for items in page.lists.values() for li in items}
    for kind in ("engine", "status", "category"):
        for value, counts in got[kind].items():
            assert counts == _expected(page, **{kind: value}), (kind, value)
    assert got["engine"]["thanos"]["gone"] == 0 and got["engine"]["mqe"]["gone"] > 0  # prev/ tested mqe only
    assert got["both"] == _expected(page, engine="thanos", category="annotations")
    assert 0 < got["both"]["cards"] < got["engine"]["thanos"]["cards"]
    assert got["reset"] == got["initial"]
    # A filter in the address (a link someone shared) applies on load.
    linked = _probe(chromium, either / "run", "#filter=" + "thanos%7C%7C")
    assert linked["hash"].startswith("#filter=")
    assert linked["initial"] == _expected(page, engine="thanos")


def test_screenshot_of_the_fixture_run(grouped: Path, chromium: list[str], tmp_path: Path) -> None:
    from PIL import Image

    runs = grouped
    render(runs / "run")
    png = tmp_path / "shot.png"
    r = subprocess.run([*chromium, f"--screenshot={png}", "--window-size=1280,2000", (runs / "run" / "index.html").as_uri()],
                       capture_output=True, timeout=120)
    assert r.returncode == 0 and png.exists(), r.stderr[-2000:]
    img = Image.open(png).convert("RGB")
    assert img.size == (1280, 2000)
    # The panic box is at the top (its red border within the first 400 pixels) and the
    # page is not blank (a blank page is one colour).
    top = img.crop((0, 0, 1280, 400))
    red = sum(1 for p in top.get_flattened_data() if abs(p[0] - 0xC0) < 12 and abs(p[1] - 0x39) < 12 and abs(p[2] - 0x2B) < 12)
    assert red > 1000, red
    assert len(set(img.resize((160, 250)).get_flattened_data())) > 50
    if os.environ.get("PROMFUZZ_UPDATE_SCREENSHOT"):
        shutil.copyfile(png, SCREENSHOT)
    assert SCREENSHOT.is_file(), "tests/reports/report-by-bug.png is missing (PROMFUZZ_UPDATE_SCREENSHOT=1 makes it)"


def synthetic_run(folder: Path, n: int) -> None:
    """A run of ``n`` bugs made from the fixture's failing findings (each copy another bug)."""
    summary, findings = load_run(FIXTURE / "run")
    base = [f for f in findings if f.verdict in FAILING]
    out: list[Finding] = [f for f in findings if f.verdict not in FAILING]
    for i in range(n):
        f = copy.deepcopy(base[i % len(base)])
        out.append(replace(f, signature=f"{f.signature}-{i:04d}", query=f"{f.query} + {i}", occurrences=1 + i % 7,
                           panic=f.panic if i < len(base) else None, case_file=None))
    folder.mkdir(parents=True)
    (folder / "findings.jsonl").write_text("".join(json.dumps(f.to_json_obj()) + "\n" for f in out))
    write_report(folder, summary, out, previous=None)


TIMING = """
<script>
(function () {
  var parsed = performance.now();
  var h = document.body.offsetHeight;  // forces style and layout
  var laidOut = performance.now();
  var t0 = performance.now();
  window.promfuzzFilter("thanos", "", "");
  var filtered = performance.now() - t0;
  window.promfuzzFilter("", "", "");
  var pre = document.createElement("pre");
  pre.id = "timing";
  pre.textContent = JSON.stringify({parsed_ms: parsed, layout_ms: laidOut, filter_ms: filtered, height: h});
  document.body.appendChild(pre);
})();
</script>
"""


@pytest.mark.slow  # 10-30 s on 2 shared cores: a measurement; run with -m slow
def test_a_1000_bug_page_is_small_and_fast_enough(tmp_path: Path, chromium: list[str]) -> None:
    t0 = time.perf_counter()
    synthetic_run(tmp_path / "big", 1000)
    write_s = time.perf_counter() - t0
    page = tmp_path / "big" / "index.html"
    html = page.read_text()
    assert html.count('<article class="bug ') == 1000
    timed = tmp_path / "big" / "timed.html"
    timed.write_text(html.replace("</body>", TIMING + "</body>"))
    t0 = time.perf_counter()
    dom = _dump(chromium, timed)
    wall = time.perf_counter() - t0
    m = re.search(r'<pre id="timing">(.*?)</pre>', dom)
    assert m
    t = json.loads(htmllib.unescape(m.group(1)))
    load = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
    print(f"\n1,000 bugs: page {len(html.encode()) / 1e6:.2f} MB, written in {write_s:.2f} s; Chromium: parsed "
          f"{t['parsed_ms']:.0f} ms, laid out {t['layout_ms']:.0f} ms, a filter {t['filter_ms']:.0f} ms, "
          f"--dump-dom wall {wall:.1f} s (load average {load})")
    assert len(html.encode()) < 12e6
    assert t["layout_ms"] < 15_000 and t["filter_ms"] < 3000
