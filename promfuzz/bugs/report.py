"""Listing the ledger, and upstream-ready reports (``promfuzz bugs report ID --out FILE.md``).

A report is what an engine's issue tracker expects: title, engine and module versions,
configuration, the minimal case as a promqltest block to paste, expected vs actual
answers side by side (both engines are run now), why the expected answer is right,
attribution, and how to reproduce it with promfuzz.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promfuzz.bugs.ledger import Bug, LedgerError

TRACKERS = {
    "mimir": ("Grafana Mimir (MQE, `pkg/streamingpromql`)", "https://github.com/grafana/mimir/issues",
              "pkg/streamingpromql/testdata/ours/"),
    "prometheus": ("Prometheus", "https://github.com/prometheus/prometheus/issues", "promql/promqltest/testdata/"),
    "thanos": ("Thanos promql-engine", "https://github.com/thanos-io/promql-engine/issues", "engine/ (enginetest)"),
    "promfuzz": ("promfuzz", "", ""),
}


def format_list(bugs: Sequence[Bug]) -> str:
    counts = Counter(b.status for b in bugs)
    lines = [f"{len(bugs)} ledger entries: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))]
    w = max((len(b.id) for b in bugs), default=2)
    lines.append(f"{'id':<{w}}  {'status':<10}  {'engines':<28}  {'members':>7}  title")
    for b in bugs:
        flag = "  REGRESSION" if b.regression else ""
        lines.append(f"{b.id:<{w}}  {b.status:<10}  {','.join(b.engines) or '-':<28}  {len(b.members):>7}  "
                     f"{b.title}{flag}")
    return "\n".join(lines) + "\n"


def format_show(b: Bug) -> str:
    a = b.attribution
    lines = [f"{b.id}: {b.title}", f"  status:      {b.status}"]
    for label, v in (("link", b.link), ("fixed in", b.fixed_in), ("reason", b.reason), ("REGRESSION", b.regression)):
        if v:
            lines.append(f"  {label + ':':<12} {v}")
    lines += [
        f"  engines:     {', '.join(b.engines) or '-'}",
        f"  wrong:       {'the reference (Prometheus) is wrong' if b.wrong == 'reference' else 'the engine under test'}"
        f"; addressed to {b.addressed_to}",
        f"  first seen:  {b.first_seen or '-'}   last seen: {b.last_seen or '-'}",
        f"  attribution: layer {a.layer}" + (f", pass {a.pass_}" if a.pass_ else "") +
        (f", config {a.config}" if a.config else ""),
    ]
    if a.fails_on or a.passes_on:
        lines.append(f"               fails on {', '.join(a.fails_on) or '-'}; passes on {', '.join(a.passes_on) or '-'}")
    if a.note:
        lines.append(f"               {a.note}")
    if b.summary:
        lines += ["", *("  " + s for s in b.summary.strip().splitlines())]
    if b.report.file:
        lines.append(f"\n  report: {b.report.file}")
    lines.append(f"\n  members ({len(b.members)}):")
    lines += [f"    {m}" for m in b.members]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- upstream reports


@dataclass(frozen=True)
class Answers:
    reference: Any  # Result
    target: Any  # Result
    reference_name: str
    target_name: str
    versions: dict[str, dict[str, str]]
    options: dict[str, dict[str, str]]


def _answer_lines(case: Any, result: Any) -> list[str]:
    """The promqltest expectation lines of ``result`` (what follows the eval line)."""
    from promfuzz.corpus.promqltest import write_case

    text = write_case(case, result)
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("eval"))
    return [ln.strip() for ln in lines[start + 1:]] or ["(empty result)"]


def run_answers(case: Any, target: str, reference: str = "prometheus") -> Answers:
    """Run the case on both engines now, with their versions and effective options."""
    from promfuzz.engines.registry import available_engines, open_engine
    from promfuzz.engines.spec import parse_spec

    got: dict[str, Any] = {}
    for name in (reference, target):
        eng = open_engine(name)
        try:
            eng.load(case.dataset)
            got[name] = eng.query(case.query, case.params)
        finally:
            eng.close()
    infos = {i.name: i for i in available_engines()}
    versions, options = {}, {}
    for name in (reference, target):
        spec = parse_spec(name)
        info = infos.get(spec.family)
        versions[name] = dict(info.versions) if info else {}
        defaults = parse_spec(spec.family).option_values()
        options[name] = {k: v + ("" if defaults.get(k) == v else " (not the default)")
                         for k, v in spec.option_values().items()}
    return Answers(got[reference], got[target], reference, target, versions, options)


def _case_of(bug: Bug, corpus: str | os.PathLike[str]) -> tuple[str, Any, str]:
    from promfuzz.corpus.store import CaseMeta

    rel = bug.report.case or min(bug.members, key=lambda m: (Path(corpus) / m).stat().st_size
                                 if (Path(corpus) / m).is_file() else 1 << 40)
    test = Path(corpus) / rel
    side = test.with_suffix(".json")
    if not side.is_file():
        raise LedgerError(f"key 'report.case': {side} is missing (the case's sidecar)", bug.path)
    meta = CaseMeta.from_json(side.read_text(encoding="utf-8"), str(side))
    return rel, meta.case, test.read_text(encoding="utf-8")


def promqltest_block(case: Any, reference_answer: Any) -> str:
    """The minimal case as a promqltest file (the reference's answer as the expectation)."""
    from promfuzz.corpus.promqltest import write_case

    return write_case(case, reference_answer)


def render_report(bug: Bug, corpus: str | os.PathLike[str], answers: Answers | None = None) -> str:
    """The Markdown report of ``bug``; runs the engines unless ``answers`` is given."""
    rel, case, _stored = _case_of(bug, corpus)
    target = bug.report.target or (bug.engines[0] if bug.engines else "mqe")
    reference = bug.report.reference or "prometheus"
    ans = answers or run_answers(case, target, reference)
    right, wrong_name = (ans.target_name, ans.reference_name) if bug.wrong == "reference" else \
        (ans.reference_name, ans.target_name)
    right_res, wrong_res = (ans.target, ans.reference) if bug.wrong == "reference" else (ans.reference, ans.target)
    tracker, url, testdir = TRACKERS[bug.addressed_to]
    block = promqltest_block(case, right_res)
    exp, act = _side(_answer_lines(case, right_res)), _side(_answer_lines(case, wrong_res))
    n = max(len(exp), len(act))
    rows = []
    for i in range(n):
        e, g = exp[i] if i < len(exp) else "", act[i] if i < len(act) else ""
        rows.append(f"| {_code(e)} | {_code(g)} | {'' if e == g else 'differs'} |")
    a = bug.attribution
    out = [f"# {bug.title}", "",
           f"*For: {tracker}* ({url or 'internal'}). Ledger entry `{bug.id}` "
           f"(`corpus/bugs/{bug.id}.toml`), status **{bug.status}**"
           + (f" ({bug.link})" if bug.link else "") + f"; {len(bug.members)} corpus case(s) share this cause.", ""]
    if bug.summary:
        out += [bug.summary.strip(), ""]
    out += ["## Versions", ""]
    for name in (ans.target_name, ans.reference_name):
        mods = ", ".join(f"`{k}` {v}" for k, v in ans.versions.get(name, {}).items()) or "unknown"
        out.append(f"* `{name}`: {mods}")
    out += ["", "## Configuration", ""]
    if bug.report.options:
        out += [bug.report.options, ""]
    for name in (ans.target_name, ans.reference_name):
        opts = ", ".join(f"{k}={v}" for k, v in ans.options.get(name, {}).items()) or "defaults"
        out.append(f"* `{name}`: {opts}")
    out += ["", "## Minimal case", "",
            f"Paste into `{testdir}`" + (" (a new file or an existing one)" if testdir else "") +
            f"; the expectation is `{right}`'s answer, which is the right one:", "",
            "```", block.rstrip("\n"), "```", "",
            "## Expected vs actual", "",
            f"| expected (`{right}`) | actual (`{wrong_name}`) | |", "|---|---|---|", *rows, "",
            "(series lines sorted by labels on both sides; promqltest compares them as a set unless the query "
            "orders its result)", "",
            "## Why the expected answer is right", "", bug.report.rule.strip() or "(not written yet)"]
    if bug.report.rule_link:
        out += ["", f"Reference: {bug.report.rule_link}"]
    out += ["", "## Attribution", "", f"* Layer: {a.layer}" + (f" (optimization pass `{a.pass_}`)" if a.pass_ else "")]
    if a.config:
        out.append(f"* Configuration: {a.config}")
    if a.fails_on:
        out.append(f"* Fails on: {', '.join(f'`{e}`' for e in a.fails_on)}")
    if a.passes_on:
        out.append(f"* Passes on: {', '.join(f'`{e}`' for e in a.passes_on)}")
    if a.note:
        out.append(f"* {a.note}")
    if bug.report.upstream:
        out += ["", "## Upstream check", "", bug.report.upstream.strip()]
    if bug.report.notes:
        out += ["", "## Notes", "", bug.report.notes.strip()]
    out += ["", "## Reproduce with promfuzz", "", "```sh",
            f"promfuzz replay corpus/{rel} --engine '{ans.reference_name}'   # passes",
            f"promfuzz replay corpus/{rel} --engine '{ans.target_name}'   # fails" if bug.wrong == "target" else
            f"promfuzz replay corpus/{rel} --against '{ans.reference_name}' --engine '{ans.target_name}'",
            f"promfuzz bugs show {bug.id}", "```", "",
            f"Other cases of this bug ({len(bug.members) - 1}): see `promfuzz bugs show {bug.id}`.", ""]
    return "\n".join(out)


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("`", "'")


def _code(s: str) -> str:
    return f"`{_cell(s)}`" if s else ""


def _side(lines: list[str]) -> list[str]:
    """Expectation lines with the series lines sorted (``expect`` lines and errors first)."""
    head = [ln for ln in lines if ln.startswith("expect") or ln.startswith("(")]
    return head + sorted(ln for ln in lines if ln not in head)


def write_report_file(bug: Bug, corpus: str | os.PathLike[str], out: str | os.PathLike[str],
                      answers: Answers | None = None) -> Path:
    text = render_report(bug, corpus, answers)
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def to_json(bugs: Sequence[Bug]) -> str:
    return json.dumps([b.to_json_obj() for b in bugs], indent=2, ensure_ascii=False) + "\n"
