"""Report writers: ``summary.json``, ``junit.xml`` and ``index.html`` in a run folder.

Layout of a run folder (``reports/<run-id>/``)::

    summary.json     engine panics first, then counts, versions, per-rule hits and shapes,
                     throughput, coverage (schema: docs/reports.md)
    findings.jsonl   one JSON object per distinct signature (appended as found)
    junit.xml        one test case per signature (errors for panics, failures for divergences)
    index.html       organised by bug: new / still failing / not seen again since the previous
                     run, one card per bug (minimal case, side-by-side answer diff), folds for
                     expected differences and unsupported queries (docs/reading-a-report.md)

:func:`write_report` rewrites the three derived files from the records at any time, so a
run calls it periodically and at the end, and ``promfuzz report DIR`` calls it again.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from promfuzz.reports import charts
from promfuzz.reports.records import Finding, RunStats, read_findings, write_json_atomic

FINDINGS_FILE = "findings.jsonl"
SUMMARY_FILE = "summary.json"

_FAILING = ("divergence", "engine_failure", "performance")


def report_order(findings: Sequence[Finding]) -> list[Finding]:
    """The order every report lists findings in: engine panics first (they are crashes,
    and easy to miss among thousands of other hits), then the other failing kinds, then
    the rest; most frequent first within each."""
    return sorted(findings, key=lambda f: (f.panic is None, f.verdict not in _FAILING, -f.occurrences, f.signature))


def panics(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """One entry per engine-panic finding (summary.json's ``panics``), most frequent first."""
    return [
        {"key": f.signature, "engine": panicked_engine(f), "message": f.panic,
         "occurrences": f.occurrences, "query": f.query, "original_query": f.original_query,
         "case_file": f.case_file, "reference": f.reference, "target": f.target}
        for f in report_order(findings) if f.panic is not None
    ]


def panicked_engine(f: Finding) -> str:
    """Which engine of a panic finding panicked: the target, unless only the reference's
    answer is an error."""
    by_name = {r.engine: r for r in f.results}
    tgt, ref = by_name.get(f.target), by_name.get(f.reference)
    if tgt is not None and tgt.error is None and ref is not None and ref.error is not None:
        return f.reference
    return f.target


def rules_summary(findings: Sequence[Finding]) -> dict[str, dict[str, Any]]:
    """Per known-difference rule: how many hits it absorbed and in how many distinct shapes
    (one ``expected`` finding per rule, target and signature), with an example query per
    shape, most frequent first. A rule with many shapes is worth a look: each shape past
    the first may be a different bug the rule happens to cover."""
    out: dict[str, dict[str, Any]] = {}
    for f in sorted(findings, key=lambda f: (-f.occurrences, f.signature)):
        if f.verdict != "expected" or not f.rule:
            continue
        r = out.setdefault(f.rule, {"hits": 0, "shapes": 0, "targets": [], "examples": []})
        r["hits"] += f.occurrences
        r["shapes"] += 1
        if f.target not in r["targets"]:
            r["targets"].append(f.target)
        r["examples"].append({"key": f.signature, "title": f.title, "category": f.category, "target": f.target,
                              "hits": f.occurrences, "query": f.query})
    return dict(sorted(out.items(), key=lambda kv: (-kv[1]["hits"], kv[0])))


BUG_STATUS_ORDER = ("new", "fixed-regression", "open", "reported", "wontfix", "documented")


def bugs_summary(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """summary.json's ``bugs``: the findings grouped by ``bug_id`` (set by the campaign from
    promfuzz/bugs/grouping.py), one entry per bug: ``{id, title, status, engines, category,
    findings: [finding keys], cases: [case files], hits}``. New bugs first, then regressions
    of fixed ones, then the rest by status; most hits first within a status."""
    out: dict[str, dict[str, Any]] = {}
    for f in sorted(findings, key=lambda f: (-f.occurrences, f.signature)):
        if not f.bug_id:
            continue
        b = out.setdefault(f.bug_id, {"id": f.bug_id, "title": f.bug_title or f.title, "status": f.bug_status or "new",
                                      "engines": [], "category": f.category, "findings": [], "cases": [], "hits": 0})
        if f.target not in b["engines"]:
            b["engines"].append(f.target)
        b["findings"].append(f.signature)
        if f.case_file and f.case_file not in b["cases"]:
            b["cases"].append(f.case_file)
        b["hits"] += f.occurrences
    rank = {s: i for i, s in enumerate(BUG_STATUS_ORDER)}
    return sorted(out.values(), key=lambda b: (rank.get(b["status"], len(rank)), -b["hits"], b["id"]))


def _ordered_summary(summary: Mapping[str, Any], findings: Sequence[Finding]) -> dict[str, Any]:
    """summary.json as written: ``panics`` (recomputed from the findings, so a rebuilt
    report has it too) at the top after ``schema``, then the rest by key."""
    d = dict(summary)
    d["panics"] = panics(findings)
    d["rules"] = rules_summary(findings)
    if any(f.bug_id for f in findings) or "bugs" not in d:  # a run grouped before keeps its list
        d["bugs"] = bugs_summary(findings)
    head = {k: d.pop(k) for k in ("schema", "panics") if k in d}
    return {**head, **dict(sorted(d.items()))}


def load_run(folder: Path) -> tuple[dict[str, Any], list[Finding]]:
    summary_path = folder / SUMMARY_FILE
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    fpath = folder / FINDINGS_FILE
    findings = read_findings(fpath.read_text(encoding="utf-8").splitlines()) if fpath.exists() else []
    return summary, findings


def write_junit(path: Path, summary: Mapping[str, Any], findings: Sequence[Finding]) -> None:
    """One test case per finding. An engine panic is an ``<error>`` (JUnit's element for a
    crash, counted in the suite's ``errors``), listed first and named ``PANIC in <engine>``;
    other failing kinds are ``<failure>``; the rest ``<skipped>``."""
    findings = report_order(findings)
    n_panics = sum(1 for f in findings if f.panic is not None)
    suite = ET.Element(
        "testsuite",
        name=f"promfuzz {summary.get('reference', {}).get('name', '?')} vs "
        + ",".join(t.get("name", "?") for t in summary.get("targets", [])),
        tests=str(len(findings)),
        errors=str(n_panics),
        failures=str(sum(1 for f in findings if f.verdict in _FAILING and f.panic is None)),
        skipped=str(sum(1 for f in findings if f.verdict not in _FAILING and f.panic is None)),
        time=f"{summary.get('wall_seconds', 0):.3f}",
    )
    for f in findings:
        name = f"{f.signature}: {f.title}"
        if f.panic is not None:
            name = f"PANIC in {panicked_engine(f)}: {f.panic} ({f.signature})"
        tc = ET.SubElement(suite, "testcase", classname=f"promfuzz.{f.target}", name=name)
        body = f"query: {f.query}\nparams: {json.dumps(f.params)}\ncase: {f.case_file}\n\n{f.diff}"
        if f.panic is not None:
            el = ET.SubElement(tc, "error", message=f"panic in {panicked_engine(f)}: {f.panic}", type="panic")
        elif f.verdict in _FAILING:
            el = ET.SubElement(tc, "failure", message=f"{f.verdict}: {f.title}", type=f.verdict)
        else:
            el = ET.SubElement(tc, "skipped", message=f"{f.verdict}: {f.rule or f.title}")
        el.text = body
    tmp = path.with_name(f".{path.name}.tmp")
    ET.ElementTree(suite).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("promfuzz.reports", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
)


_AUTO: Any = object()


def render_html(summary: Mapping[str, Any], findings: Sequence[Finding], trend: Mapping[str, Any] | None = None,
                *, folder: Path | None = None, previous: Any = _AUTO) -> str:
    """index.html, organised by bug (promfuzz/reports/bugview.py): three lists (new, still
    failing, not seen again since ``previous``: a :class:`bugview.Run`, None for none, by
    default the previous run folder next to ``folder``), one card per bug, folds for
    expected differences and unsupported queries."""
    from promfuzz.reports import bugview as bv
    from promfuzz.reports.records import ThroughputSample

    run = bv.Run(folder, summary, list(findings))
    if previous is _AUTO:
        previous = bv.find_previous_run(folder, summary) if folder is not None else None
    bugs = bv.group_bugs(run)
    bv.classify(bugs, previous)
    gone = bv.gone_bugs(bugs, run, previous)
    ledger_note = bv.apply_ledger(bugs, gone, run, previous, bv.corpus_of(folder))
    bugs = bv.order_bugs(bugs)
    cards: list[dict[str, Any]] = []
    for b in bugs:
        f = b.lead
        assert f is not None
        svg = f.chart_svg
        if svg is None and f.params.get("kind") == "range":
            svg = f.chart_svg = charts.result_overlay_svg(f.results) or ""
        b.case_text = bv.read_case(b.case_file, folder)
        rows, left = bv.answer_rows(f)
        older = b.case_text is not None and bv.case_query_differs(b.case_text, f.query)
        cards.append({"bug": b, "chart": Markup(svg) if svg else None, "rows": rows, "rows_left": left,
                      "case_is_older": older,
                      "params": bv.params_text(f.params), "shrink": bv.shrink_text(f.shrink),
                      "panicked": panicked_engine(f) if f.panic is not None else None})
    panic_rows = [{"engine": panicked_engine(b.lead), "message": b.panic, "hits": b.hits, "query": b.lead.query,
                   "anchor": b.anchor} for b in bugs if b.panic is not None and b.lead is not None]
    regressions = [b for b in bugs if b.status == "fixed-regression"]
    n_new = sum(b.trend == "new" for b in bugs)
    since = f"since run {previous.run_id}" if previous is not None else "no previous run to compare with"
    lists = [("new", "new bug" + ("s" if n_new != 1 else "") + " in this run", "not in the ledger, not in the previous run",
              [b for b in bugs if b.trend == "new"]),
             ("still", "still failing", "known to the ledger or failing in the previous run too",
              regressions + [b for b in bugs if b.trend == "still" and b not in regressions]),
             ("gone", "not seen again (fixed?)", since, gone)]
    if previous is not None:
        where = f", folder {previous.folder.name}/" if previous.folder else ""
        prev_line = (f"Compared with the previous run {previous.run_id} (started {previous.summary.get('started_at')}"
                     f"{where}): a bug it had and this run did not see is listed as not seen again, a hint rather "
                     "than proof that it is fixed.")
    elif folder is not None:
        prev_line = (f"No earlier run with the same reference next to this one (in {folder.parent}): a bug is new "
                     "unless the bug ledger knows it.")
    else:
        prev_line = "No previous run given: a bug is new unless the bug ledger knows it."

    def counted(values: Sequence[str]) -> list[tuple[str, int]]:
        return sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))
    everyone = bugs + gone
    filters = {"engine": counted([e for b in everyone for e in b.engines]),
               "status": counted([b.status for b in everyone]),
               "category": counted([b.category for b in everyone if b.category])}
    counts = summary.get("counts", {}) or {}
    status = ("complete" if summary.get("complete") else
              "interrupted (the report is complete up to the stop)" if summary.get("interrupted") else "running")
    tp = [ThroughputSample(**t) for t in summary.get("throughput", [])]
    tsvg = charts.throughput_svg(tp)
    return _env.get_template("index.html.j2").render(
        summary=summary, run=run, counts=counts, status_line=status,
        verdicts=sorted((counts.get("by_verdict") or {}).items(), key=lambda kv: -kv[1]),
        budget=bv.budget_text(summary.get("budget")), versions=bv.versions_text, cat=bv.category_words,
        status_words=bv.STATUS_WORDS, findings_count=len(findings),
        bugs=bugs, cards=cards, panics=panic_rows, lists=lists, filters=filters,
        previous_line=prev_line, ledger_note=ledger_note,
        expected=bv.expected_sections(findings), unsupported=bv.unsupported_sections(findings),
        throughput_chart=Markup(tsvg) if tsvg else None,
        coverage=summary.get("grammar_coverage") or {},
        trend=trend,
    )


def write_report(folder: Path, summary: Mapping[str, Any], findings: Sequence[Finding] | None = None,
                 trend: Mapping[str, Any] | None = None, previous: Any = _AUTO) -> None:
    """(Re)write summary.json, junit.xml and index.html in ``folder``. ``previous``: the run
    index.html compares with (a :class:`promfuzz.reports.bugview.Run`, or None); by default
    the latest earlier run next to ``folder`` (see :func:`render_html`)."""
    folder.mkdir(parents=True, exist_ok=True)
    if findings is None:
        _, findings = load_run(folder)
    write_json_atomic(folder / SUMMARY_FILE, _ordered_summary(summary, findings), sort_keys=False)
    write_junit(folder / "junit.xml", summary, findings)
    html = render_html(summary, findings, trend, folder=folder, previous=previous)
    tmp = folder / ".index.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(folder / "index.html")


def summary_dict(*, run_id: str, seed: int, budget: Mapping[str, Any], stats: RunStats, reference: Mapping[str, Any],
                 targets: Sequence[Mapping[str, Any]], oracles: Sequence[str], findings: Sequence[Finding],
                 workers: int, shard: str, started_at: str, finished_at: str | None, complete: bool,
                 interrupted: bool, grammar_coverage: Mapping[str, Any]) -> dict[str, Any]:
    engine_total = sum(stats.engine_seconds.values())
    suite_total = sum(stats.suite_seconds.values())
    return {
        "schema": 1,
        "run_id": run_id,
        "seed": seed,
        "budget": dict(budget),
        "workers": workers,
        "shard": shard,
        "started_at": started_at,
        "finished_at": finished_at,
        "complete": complete,
        "interrupted": interrupted,
        "reference": dict(reference),
        "targets": [dict(t) for t in targets],
        "oracles": list(oracles),
        "counts": {
            "cases": stats.cases,
            "datasets": stats.datasets,
            "invalid_queries": stats.invalid_queries,
            "by_verdict": dict(sorted(stats.verdicts.items())),
        },
        "cases_fingerprint": f"{stats.cases_fingerprint:016x}",
        "distinct_signatures": len(findings),
        "distinct_findings_by_verdict": dict(sorted(Counter(f.verdict for f in findings).items())),
        "panics": panics(findings),
        "rules": rules_summary(findings),
        "bugs": bugs_summary(findings),
        "signatures": [
            {"key": f.signature, "verdict": f.verdict, "title": f.title, "occurrences": f.occurrences,
             "target": f.target, "query": f.query, "case_file": f.case_file, "rule": f.rule, "panic": f.panic,
             "bug_id": f.bug_id}
            for f in report_order(findings)
        ],
        "wall_seconds": round(stats.wall_seconds, 3),
        "cases_per_second": round(stats.cases_per_second, 2),
        "engine_seconds": {k: round(v, 3) for k, v in sorted(stats.engine_seconds.items())},
        "suite_seconds": {k: round(v, 3) for k, v in sorted(stats.suite_seconds.items())},
        # Of the time spent on cases, the share inside the engines (hostStats engineNs)
        # rather than in the suite (workers' CPU, host HTTP/encoding overhead).
        "engine_share": round(engine_total / (engine_total + suite_total), 4) if engine_total + suite_total > 0 else 0.0,
        # Engine seconds per worker wall second. The reference and the targets answer side
        # by side, so this can pass 1.
        "engine_seconds_per_worker_second": (
            round(engine_total / (stats.wall_seconds * max(1, workers)), 4) if stats.wall_seconds > 0 else 0.0
        ),
        "grammar_coverage": dict(grammar_coverage),
        "throughput": [vars(t) for t in stats.throughput],
    }


def trend(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Signatures that are new, still failing and fixed across runs (oldest first)."""
    if not runs:
        return {"runs": [], "new": [], "still_failing": [], "fixed": []}
    sets = [
        (rid, {s["key"] for s in summ.get("signatures", []) if s.get("verdict") in _FAILING}) for rid, summ in runs
    ]
    last = sets[-1][1]
    before: set[str] = set().union(*(s for _, s in sets[:-1])) if len(sets) > 1 else set()
    prev = sets[-2][1] if len(sets) > 1 else set()
    return {
        "runs": [{"run_id": rid, "failing": len(s)} for rid, s in sets],
        "new": sorted(last - before),
        "still_failing": sorted(last & before),
        "fixed": sorted(prev - last),
    }
