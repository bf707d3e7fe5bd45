"""Report writers: ``summary.json``, ``junit.xml`` and ``index.html`` in a run folder.

Layout of a run folder (``reports/<run-id>/``)::

    summary.json     engine panics first, then counts, versions, per-rule hits and shapes,
                     throughput, coverage (schema: docs/reports.md)
    findings.jsonl   one JSON object per distinct signature (appended as found)
    junit.xml        one test case per signature (errors for panics, failures for divergences)
    index.html       one card per signature: shrunk case, both results, diff, chart

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


def render_html(summary: Mapping[str, Any], findings: Sequence[Finding], trend: Mapping[str, Any] | None = None) -> str:
    cards = []
    for f in report_order(findings):
        svg = f.chart_svg
        if svg is None and f.params.get("kind") == "range":
            svg = f.chart_svg = charts.result_overlay_svg(f.results) or ""
        cards.append({"f": f, "chart": Markup(svg) if svg else None,
                      "panicked": panicked_engine(f) if f.panic is not None else None})
    from promfuzz.reports.records import ThroughputSample

    tp = [ThroughputSample(**t) for t in summary.get("throughput", [])]
    tsvg = charts.throughput_svg(tp)
    return _env.get_template("index.html.j2").render(
        summary=summary,
        cards=cards,
        panics=[c for c in cards if c["f"].panic is not None],
        rules=rules_summary(findings),
        throughput_chart=Markup(tsvg) if tsvg else None,
        coverage=summary.get("grammar_coverage") or {},
        trend=trend,
    )


def write_report(folder: Path, summary: Mapping[str, Any], findings: Sequence[Finding] | None = None,
                 trend: Mapping[str, Any] | None = None) -> None:
    """(Re)write summary.json, junit.xml and index.html in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if findings is None:
        _, findings = load_run(folder)
    write_json_atomic(folder / SUMMARY_FILE, _ordered_summary(summary, findings), sort_keys=False)
    write_junit(folder / "junit.xml", summary, findings)
    html = render_html(summary, findings, trend)
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
