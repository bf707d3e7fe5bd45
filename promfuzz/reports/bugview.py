"""What index.html shows, organised by bug: the view model behind the template.

A *bug* is a group of failing findings (divergences, engine failures, performance hits)
with one root cause. Findings carry ``bug_id``/``bug_title``/``bug_status`` when the
campaign grouped them (promfuzz/bugs/grouping.py) and summary.json a ``bugs`` list; a run
written before grouping existed has neither, and then each signature is its own bug (the
grouping such a run had). Expected differences and unsupported queries are not bugs: they
fold into one short section per known-difference rule and per unsupported reason.

Every bug falls in one of three lists at the top of the page:

* **new**: not in the ledger (status ``new``) and not failing in the previous run;
* **still failing**: a ledger bug (open, reported, wontfix, documented; a ``fixed`` one that
  fails again is a regression and comes first) or one the previous run had too;
* **not seen again**: failing in the previous run (same reference, a target this run
  tested) but not in this one, or a ledger bug last seen failing between the previous
  run's start and this run's. A random campaign not hitting a bug is a hint, not proof,
  that it is fixed; the page says so.

The *previous run* is the latest finished run folder next to this one (the same ``--out``
parent, ``reports/`` by default) with the same reference that started before this run, or
the second-to-last folder given to ``promfuzz report A B``.

Titles and labels read as English: signatures' titles carry placeholders (``<fn>``,
``N``) and engine answers are data, so a bug without a grouped title gets one written
from its lead finding's two answers (:func:`english_title`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promfuzz.reports.records import Finding, ResultView, read_findings
from promfuzz.reports.writer import panicked_engine

FAILING = ("divergence", "engine_failure", "performance")
LEDGER_STATUSES = ("open", "reported", "wontfix", "documented")
STATUS_WORDS = {
    "new": "new",
    "open": "open",
    "reported": "reported upstream",
    "fixed-regression": "REGRESSION (was fixed)",
    "wontfix": "won't fix",
    "documented": "documented difference",
}
_POSITION = re.compile(r"\s*\(\d+:\d+\)$")
_PLACEHOLDER = re.compile(r"<fn>|\{'|': |\bNone\b|\b(?:diagnostics|answer|order|panic):[a-z]+(?:-[a-z]+)*\b")
"""Signature placeholders, Python reprs, and the grouping's internal kind words
(``diagnostics:fewer-error``)."""


# ----------------------------------------------------------------------------- words


def short(text: str, n: int = 110) -> str:
    """One line, at most ``n`` characters (an ellipsis says where it was cut)."""
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1].rstrip() + "…"


def strip_position(annotation: str) -> str:
    """An annotation without its trailing ``(line:column)``."""
    return _POSITION.sub("", annotation)


def reads_as_english(title: str | None) -> bool:
    """False for empty titles, signature placeholders and Python reprs."""
    return bool(title and title.strip()) and not _PLACEHOLDER.search(title or "")


def duration(ms: float) -> str:
    """``90000`` -> ``1m30s`` (promqltest's way of writing times)."""
    if ms == 0:
        return "0s"
    sign, ms = ("-" if ms < 0 else ""), abs(ms)
    out, rest = [], int(ms)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    if rest:
        out.append(f"{rest}ms")
    return sign + "".join(out)


def params_text(params: Mapping[str, Any]) -> str:
    kind = params.get("kind")
    if kind == "instant":
        return f"instant query at {duration(params.get('time_ms', 0))}"
    if kind == "range":
        return (f"range query from {duration(params.get('start_ms', 0))} to {duration(params.get('end_ms', 0))}, "
                f"step {duration(params.get('step_ms', 0))}")
    return ", ".join(f"{k} {v}" for k, v in sorted(params.items())) or "no parameters"


def budget_text(budget: Mapping[str, Any] | None) -> str:
    if not budget:
        return "not recorded"
    parts = []
    if budget.get("seconds"):
        parts.append(duration(float(budget["seconds"]) * 1000))
    if budget.get("cases"):
        parts.append(f"{budget['cases']} cases")
    return " or ".join(parts) or "unlimited"


def versions_text(versions: Mapping[str, Any] | None) -> str:
    if not versions:
        return "versions not recorded"
    return ", ".join(f"{k} {v}" for k, v in versions.items())


def shrink_text(shrink: Mapping[str, Any]) -> str:
    if not shrink:
        return ""
    if shrink.get("skipped"):
        return f"not shrunk: {shrink['skipped']}"
    if shrink.get("not_stored") and not shrink.get("before"):
        return f"not stored: {shrink['not_stored']}"
    b, a = shrink.get("before") or {}, shrink.get("after") or {}
    parts = []
    for key, what in (("query_chars", "query characters"), ("series", "series"), ("samples", "samples")):
        if key in b and key in a:
            parts.append(f"{b[key]} to {a[key]} {what}")
    out = "shrunk from " + ", ".join(parts) if parts else "shrunk"
    if "seconds" in shrink:
        out += f" in {shrink['seconds']} s ({shrink.get('checks', 0)} checks)"
    if shrink.get("not_stored"):
        out += f"; not stored: {shrink['not_stored']}"
    return out


def category_words(category: str) -> str:
    return {"error_vs_result": "error vs result", "error_class": "error class", "error_message": "error message",
            "missing_series": "missing series", "extra_series": "extra series",
            "duplicate_series": "duplicate series", "engine_failure": "engine failure"}.get(
                category, category.replace("_", " "))


# ----------------------------------------------------------------------------- titles


def _by_engine(f: Finding) -> tuple[ResultView | None, ResultView | None]:
    by = {r.engine: r for r in f.results}
    return by.get(f.reference), by.get(f.target)


def _answer_words(r: ResultView | None) -> str:
    if r is None:
        return "no answer"
    if r.error is not None:
        return "an error"
    if r.value_type in ("vector", "matrix"):
        n = len(r.series)
        return f"a {r.value_type} of {n} series" if n else f"an empty {r.value_type}"
    return f"a {r.value_type or 'result'}"


def _error_class(msg: str) -> tuple[str, str]:
    """``execution: invalid parameter "query": 1:2: parse error: x`` -> (execution, 1:2: parse error: x)."""
    head, sep, rest = msg.partition(": ")
    if not (sep and re.fullmatch(r"[a-z_]+", head)):
        head, rest = "", msg
    return head, rest.removeprefix('invalid parameter "query": ')


def unsupported_reason(f: Finding) -> str:
    """The normalized reason of an unsupported finding (the signature's qualifier, which
    groups one construct), else the target's message."""
    m = re.search(r"\[([^\[\]]+)\]$", f.title)
    if m:
        return m.group(1)
    _, tgt = _by_engine(f)
    if tgt is not None and tgt.error:
        return short(_error_class(tgt.error)[1].removeprefix("not supported by streaming engine: "), 80)
    return "no reason given"


def annotation_pairs(ref: ResultView | None, tgt: ResultView | None) -> list[tuple[str, str | None, str | None]]:
    """Both answers' annotations lined up: (kind, reference text, target text). Equal texts
    pair up (as many times as both have them), then texts equal but for their
    ``(line:column)`` position, then texts that start alike (the same annotation worded
    otherwise); the rest stand alone (None on the other side)."""
    out: list[tuple[str, str | None, str | None]] = []
    for kind, attr in (("warning", "warnings"), ("info", "infos")):
        a = list(getattr(ref, attr) if ref else [])
        b = list(getattr(tgt, attr) if tgt else [])
        for x in list(a):
            if x in b:
                a.remove(x)
                b.remove(x)
                out.append((kind, x, x))
        for same in (lambda x, y: strip_position(x) == strip_position(y),
                     lambda x, y: _shared_start(_ann_text(x), _ann_text(y)) >= 12):
            for x in list(a):
                y = next((y for y in b if same(x, y)), None)
                if y is not None:
                    a.remove(x)
                    b.remove(y)
                    out.append((kind, x, y))
        out += [(kind, x, None) for x in a] + [(kind, None, y) for y in b]
    return out


def _position(text: str) -> str:
    m = re.search(r"\((\d+:\d+)\)$", text)
    return m.group(1) if m else "no position"


def _ann_text(text: str) -> str:
    return short(re.sub(r"^PromQL (warning|info): ", "", strip_position(text)), 90)


def _more(items: Sequence[Any]) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


def _shared_start(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def english_title(f: Finding) -> str:
    """A title for people, written from the finding's two answers."""
    ref_name, tgt_name = f.reference, f.target
    ref, tgt = _by_engine(f)
    if f.panic is not None:
        return f"{panicked_engine(f)} panics: {short(f.panic, 90)}"
    if f.verdict == "unsupported":
        return f"{tgt_name} does not support this query: {unsupported_reason(f)}"
    if f.verdict == "performance":
        return f"{tgt_name} is far slower or hungrier than {ref_name}"
    cat = f.category
    if cat == "annotations":
        pairs = [p for p in annotation_pairs(ref, tgt) if p[1] != p[2]]
        missing = [(k, r) for k, r, t in pairs if t is None and r is not None]
        extra = [(k, t) for k, r, t in pairs if r is None and t is not None]
        both = [(k, r, t) for k, r, t in pairs if r is not None and t is not None]
        moved = [(k, r, t) for k, r, t in both if strip_position(r) == strip_position(t)]
        reworded = [x for x in both if x not in moved]
        parts = []
        for items, words in ((missing, "does not report the"), (extra, "reports an extra")):
            if items:
                kind, text = items[0]
                parts.append(f"{words} {kind} “{_ann_text(text)}”{_more(items)}")
        if reworded:
            kind, r, t = reworded[0]
            if _ann_text(r) == _ann_text(t):  # they differ past the cut
                n = _shared_start(strip_position(r), strip_position(t))
                r_tail, t_tail = strip_position(r)[max(0, n - 20):], strip_position(t)[max(0, n - 20):]
                parts.append(f"words the {kind} differently: “…{short(r_tail, 60)}” vs “…{short(t_tail, 60)}”"
                             f"{_more(reworded)}")
            else:
                parts.append(f"words the {kind} “{_ann_text(r)}” as “{_ann_text(t)}”{_more(reworded)}")
        if moved:
            kind, r, t = moved[0]
            parts.append(f"places the {kind} “{_ann_text(r)}” at {_position(t)} instead of {_position(r)}{_more(moved)}")
        if parts:
            rest = len(parts) - 2
            return f"{tgt_name} " + "; ".join(parts[:2]) + (f"; and {rest} other annotation difference"
                                                              f"{'s' if rest > 1 else ''}" if rest > 0 else "")
        return f"{tgt_name} and {ref_name} report different annotations"
    if cat == "error_vs_result" or (cat == "engine_failure" and f.panic is None):
        if ref is not None and ref.error is not None and (tgt is None or tgt.error is None):
            klass, msg = _error_class(ref.error)
            return f"{tgt_name} answers {_answer_words(tgt)} where {ref_name} fails ({klass or 'error'}: “{short(msg, 90)}”)"
        if tgt is not None and tgt.error is not None:
            klass, msg = _error_class(tgt.error)
            return f"{tgt_name} fails ({klass or 'error'}: “{short(msg, 90)}”) where {ref_name} answers {_answer_words(ref)}"
    if cat in ("error_class", "error_message") and ref is not None and tgt is not None and ref.error and tgt.error:
        rk, rm = _error_class(ref.error)
        tk, tm = _error_class(tgt.error)
        if cat == "error_class":
            return (f"{tgt_name} fails with {_a(tk or 'different')} error where {ref_name} gives {_a(rk or 'different')} "
                    f"error (“{short(tm, 70)}”)")
        return f"{tgt_name} and {ref_name} fail with different messages (“{short(tm, 60)}” vs “{short(rm, 60)}”)"
    rows = series_rows(ref, tgt)
    only_ref = sum(1 for r in rows if r.tgt is None)
    only_tgt = sum(1 for r in rows if r.ref is None)
    differing = sum(1 for r in rows if r.ref is not None and r.tgt is not None and r.differs)
    if cat == "missing_series" and only_ref:
        return f"{tgt_name} leaves out {_n(only_ref, 'series')} that {ref_name} returns"
    if cat == "extra_series" and only_tgt:
        return f"{tgt_name} returns {_n(only_tgt, 'series')} that {ref_name} does not"
    if cat in ("value", "histogram", "timestamp") and differing:
        what = {"value": "values", "histogram": "histogram values", "timestamp": "timestamps"}[cat]
        cells = [(a, b) for r in rows if r.ref is not None and r.tgt is not None
                 for a, b in zip(r.ref, r.tgt, strict=False) if a.differs and "(no point)" not in a.text + b.text]
        if cat == "value" and cells:
            a, b = cells[0]
            (rv, _, at), tv = a.text.partition(" @"), b.text.partition(" @")[0]
            example = f"{short(tv, 40)} where {ref_name} returns {short(rv, 40)}"
            if len(cells) == 1:
                return f"{tgt_name} returns {example} (at {at})"
            return f"{tgt_name} returns different {what} than {ref_name} on {_n(differing, 'series')} (e.g. {example} at {at})"
        return f"{tgt_name} returns different {what} than {ref_name} on {_n(differing, 'series')}"
    if cat == "order":
        return f"{tgt_name} orders the series differently than {ref_name}"
    if cat == "type" and ref is not None and tgt is not None:
        return f"{tgt_name} answers {_answer_words(tgt)} where {ref_name} answers {_answer_words(ref)}"
    if cat == "duplicate_series":
        return f"{tgt_name} returns duplicate series"
    return f"{tgt_name} and {ref_name} differ ({category_words(cat)})"


def _n(n: int, what: str) -> str:
    return f"{n} {what}" if what == "series" or n == 1 else f"{n} {what}s"


# ----------------------------------------------------------------------------- the answer diff


@dataclass
class Cell:
    text: str
    differs: bool = False


@dataclass
class Row:
    """One line of the side-by-side diff: a series (by labels), an error, an annotation."""

    kind: str  # answer | error | scalar | series | warning | info
    key: str
    ref: list[Cell] | None  # None: the reference side has no such line
    tgt: list[Cell] | None
    differs: bool
    hidden_equal: int = 0  # equal points left out of a long series


def _num(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def same_value(a: str, b: str) -> bool:
    if a == b:
        return True
    x, y = _num(a), _num(b)
    if x is None or y is None:
        return False
    if math.isnan(x) and math.isnan(y):
        return True
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-300)


MAX_POINTS = 16
MAX_ROWS = 40


def series_rows(ref: ResultView | None, tgt: ResultView | None) -> list[Row]:
    """Series of both answers matched by labels; differing points marked. A long series
    shows its differing points only (and says how many equal ones it left out)."""
    a = {s.labels: dict(s.points) for s in (ref.series if ref else [])}
    b = {s.labels: dict(s.points) for s in (tgt.series if tgt else [])}
    rows = []
    for labels in sorted(set(a) | set(b)):
        pa, pb = a.get(labels), b.get(labels)
        if pa is None or pb is None:
            pts = pa if pa is not None else pb
            assert pts is not None
            cells = [Cell(f"{v} @{duration(t)}", True) for t, v in sorted(pts.items())[:MAX_POINTS]]
            rest = len(pts) - len(cells)
            if rest > 0:
                cells.append(Cell(f"… {rest} more points", True))
            rows.append(Row("series", labels, cells if pa is not None else None,
                            cells if pb is not None else None, True))
            continue
        ts = sorted(set(pa) | set(pb))
        diff_ts = {t for t in ts if t not in pa or t not in pb or not same_value(pa[t], pb[t])}
        shown = ts if len(ts) <= MAX_POINTS else [t for t in ts if t in diff_ts][:MAX_POINTS]
        hidden = sum(1 for t in ts if t not in diff_ts and t not in shown)

        def side(p: dict[int, str], shown: list[int] = shown, diff_ts: set[int] = diff_ts) -> list[Cell]:
            return [Cell(f"{p[t]} @{duration(t)}" if t in p else f"(no point) @{duration(t)}", t in diff_ts)
                    for t in shown]
        rows.append(Row("series", labels, side(pa), side(pb), bool(diff_ts), hidden))
    return rows


def answer_rows(f: Finding) -> tuple[list[Row], int]:
    """The whole side-by-side diff of a finding: answer kind, error, scalar, series,
    annotations; the differing rows first when there are too many. Returns the rows shown
    and how many were left out."""
    ref, tgt = _by_engine(f)
    rows: list[Row] = []

    def kind_words(r: ResultView | None) -> str:
        if r is None:
            return "no answer"
        return "error" if r.error is not None else (r.value_type or r.outcome)
    rk, tk = kind_words(ref), kind_words(tgt)
    rows.append(Row("answer", "answer", [Cell(rk, rk != tk)], [Cell(tk, rk != tk)], rk != tk))
    if (ref and ref.error) or (tgt and tgt.error):
        re_, te = (ref.error if ref else None), (tgt.error if tgt else None)
        d = re_ != te
        rows.append(Row("error", "error", [Cell(re_, d)] if re_ else None, [Cell(te, d)] if te else None, d))
    if (ref and ref.scalar is not None) or (tgt and tgt.scalar is not None):
        rs, ts = (ref.scalar if ref else None), (tgt.scalar if tgt else None)
        d = rs is None or ts is None or not same_value(rs, ts)
        rows.append(Row("scalar", "scalar", [Cell(rs, d)] if rs is not None else None,
                        [Cell(ts, d)] if ts is not None else None, d))
    rows += series_rows(ref, tgt)
    for kind, r_text, t_text in annotation_pairs(ref, tgt):
        d = r_text != t_text
        rows.append(Row(kind, kind, [Cell(r_text, d)] if r_text is not None else None,
                        [Cell(t_text, d)] if t_text is not None else None, d))
    if len(rows) <= MAX_ROWS:
        return rows, 0
    keep = [r for r in rows if r.differs or r.kind == "answer"][:MAX_ROWS]
    keep += [r for r in rows if r not in keep][: MAX_ROWS - len(keep)]
    order = {id(r): i for i, r in enumerate(rows)}
    keep.sort(key=lambda r: order[id(r)])
    return keep, len(rows) - len(keep)


# ----------------------------------------------------------------------------- previous runs


@dataclass
class Run:
    """A run folder as the report reads it."""

    folder: Path | None
    summary: Mapping[str, Any]
    findings: list[Finding]

    @property
    def run_id(self) -> str:
        return str(self.summary.get("run_id") or (self.folder.name if self.folder else "?"))

    @property
    def reference(self) -> str:
        return str((self.summary.get("reference") or {}).get("name", ""))

    @property
    def targets(self) -> list[str]:
        return [str(t.get("name", "")) for t in self.summary.get("targets", []) if isinstance(t, Mapping)]

    @property
    def started(self) -> _dt.datetime | None:
        return parse_time(self.summary.get("started_at"))


def parse_time(text: Any) -> _dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def _read_summary(folder: Path) -> dict[str, Any] | None:
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or "run_id" not in summary or "schema" not in summary:
        return None
    return summary


def read_run(folder: Path) -> Run | None:
    """A run folder's summary.json and findings.jsonl; None when it is not one."""
    summary = _read_summary(folder)
    if summary is None:
        return None
    fp = folder / "findings.jsonl"
    try:
        findings = read_findings(fp.read_text(encoding="utf-8").splitlines()) if fp.is_file() else []
    except (OSError, ValueError, TypeError, KeyError):
        findings = []
    return Run(folder, summary, findings)


_previous_cache: dict[tuple[str, str, int], Run | None] = {}


def find_previous_run(folder: Path, summary: Mapping[str, Any]) -> Run | None:
    """The latest finished run next to ``folder`` (same parent) with the same reference
    that started before this one and tested at least one of its targets (a run still
    going, or one that crashed, has partial lists). Cached per parent folder state: a
    campaign rewrites its report every 15 s."""
    me = Run(folder, summary, [])
    start = me.started
    parent = folder.parent
    try:
        stamp = parent.stat().st_mtime_ns
    except OSError:
        return None
    key = (str(folder.resolve()), me.run_id, stamp)
    if key in _previous_cache:
        return _previous_cache[key]
    best: tuple[_dt.datetime, Path] | None = None
    if start is not None:
        for sp in parent.glob("*/summary.json"):
            other_dir = sp.parent
            if other_dir.resolve() == folder.resolve():
                continue
            other = _read_summary(other_dir)
            if other is None:
                continue
            o = Run(other_dir, other, [])
            if o.reference != me.reference or not set(o.targets) & set(me.targets):
                continue
            if not other.get("finished_at"):  # still running (or it crashed): its lists are partial
                continue
            t = o.started
            if t is not None and t < start and (best is None or t > best[0]):
                best = (t, other_dir)
    found = read_run(best[1]) if best is not None else None
    if len(_previous_cache) > 64:
        _previous_cache.clear()
    _previous_cache[key] = found
    return found


# ----------------------------------------------------------------------------- bugs


@dataclass
class Bug:
    id: str
    title: str
    status: str  # new | open | reported | fixed-regression | wontfix | documented
    trend: str  # new | still | gone
    engines: list[str]
    category: str
    findings: list[Finding] = field(default_factory=list)
    hits: int = 0
    seen_before: bool = False
    attribution: list[str] = field(default_factory=list)
    link: str = ""
    note: str = ""  # for a bug not seen again: where it was last seen
    detail: str = ""  # what its lead finding shows, when the title is the group's
    case_text: str | None = None
    case_file: str | None = None

    @property
    def lead(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    @property
    def panic(self) -> str | None:
        return next((f.panic for f in self.findings if f.panic is not None), None)

    @property
    def status_words(self) -> str:
        return STATUS_WORDS.get(self.status, self.status)

    @property
    def anchor(self) -> str:
        return "bug-" + re.sub(r"[^A-Za-z0-9_.:-]+", "-", self.id)


def _report_order(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.panic is None, f.verdict not in FAILING, -f.occurrences, f.signature))


def group_bugs(run: Run) -> list[Bug]:
    """The run's failing findings as bugs (by ``bug_id``, by summary.json's ``bugs`` list,
    else one per signature), panics first, then regressions, new bugs, the rest; most hits
    first within each."""
    entries = {str(b["id"]): b for b in run.summary.get("bugs", []) or []
               if isinstance(b, Mapping) and b.get("id")}
    owner = {str(k): bid for bid, b in entries.items() for k in b.get("findings", []) or []}
    groups: dict[str, list[Finding]] = {}
    for f in _report_order(run.findings):
        if f.verdict not in FAILING:
            continue
        groups.setdefault(f.bug_id or owner.get(f.signature) or f.signature, []).append(f)
    bugs = []
    for bid, fs in groups.items():
        lead, entry = fs[0], entries.get(bid, {})
        title = next((t for t in (lead.bug_title, entry.get("title")) if reads_as_english(t)), None)
        status = lead.bug_status or entry.get("status") or "new"
        engines = list(dict.fromkeys(f.target for f in fs))
        own = english_title(lead)
        bugs.append(Bug(id=bid, title=title or own, detail=own if title and own != title else "",
                        status=str(status), trend="new",
                        engines=engines, category=lead.category, findings=fs, hits=sum(f.occurrences for f in fs),
                        case_file=next((f.case_file for f in fs if f.case_file), None)))
    return bugs


def _keys_of(run: Run) -> tuple[set[str], set[str]]:
    """(bug ids, failing finding keys) of a run, from its records and its summary."""
    ids = {str(b.get("id")) for b in run.summary.get("bugs", []) or [] if isinstance(b, Mapping)}
    ids |= {f.bug_id for f in run.findings if f.bug_id and f.verdict in FAILING}
    keys = {str(s.get("key")) for s in run.summary.get("signatures", []) or []
            if isinstance(s, Mapping) and s.get("verdict") in FAILING}
    keys |= {f.signature for f in run.findings if f.verdict in FAILING}
    return ids, keys


def classify(bugs: list[Bug], previous: Run | None) -> None:
    """Set each bug's ``trend`` (new | still) and ``seen_before``."""
    ids, keys = _keys_of(previous) if previous is not None else (set(), set())
    for b in bugs:
        b.seen_before = b.id in ids or any(f.signature in keys for f in b.findings)
        b.trend = "new" if b.status == "new" and not b.seen_before else "still"


def gone_bugs(current: list[Bug], run: Run, previous: Run | None) -> list[Bug]:
    """Bugs of the previous run (on a target this run tested) that this run did not see."""
    if previous is None:
        return []
    cur_ids = {b.id for b in current}
    cur_keys = {f.signature for b in current for f in b.findings}
    tested = set(run.targets)
    out = []
    for b in group_bugs(previous):
        if b.id in cur_ids or any(f.signature in cur_keys for f in b.findings):
            continue
        if not set(b.engines) & tested:
            continue
        b.trend = "gone"  # the list's heading names the previous run
        out.append(b)
    return out


def order_bugs(bugs: list[Bug]) -> list[Bug]:
    rank = {"fixed-regression": 0, "new": 1}
    return sorted(bugs, key=lambda b: (b.panic is None, rank.get(b.status, 2), -b.hits, b.id))


# ----------------------------------------------------------------------------- ledger


def corpus_of(folder: Path | None) -> Path | None:
    """The corpus a campaign stored into (state.json's config), when it still exists."""
    if folder is None:
        return None
    try:
        cfg = json.loads((folder / "state.json").read_text(encoding="utf-8")).get("config", {})
    except (OSError, ValueError, AttributeError):
        return None
    c = cfg.get("corpus") if isinstance(cfg, Mapping) else None
    if not isinstance(c, str) or not c:
        return None
    p = Path(c)
    # Relative: to the run folder (a moved or frozen run), else to the working directory
    # (a campaign's default corpus/).
    for cand in ([p] if p.is_absolute() else [folder / p, p]):
        if (cand / "bugs").is_dir():
            return cand
    return None


def apply_ledger(bugs: list[Bug], gone: list[Bug], run: Run, previous: Run | None,
                 corpus: Path | None) -> str:
    """Attribution, link and status from the ledger for the bugs it knows; ledger bugs last
    seen failing since the previous run started but not in this run join ``gone``.
    Returns a note for the page (which ledger was read, or why not)."""
    if corpus is None:
        return ""
    from promfuzz.bugs.ledger import _engine_matches, load_ledger
    from promfuzz.errors import InputError

    try:
        ledger = {b.id: b for b in load_ledger(corpus, check_members=False)}
    except InputError as e:
        return f"the bug ledger in {corpus} was not read: {e}"
    for b in bugs:
        lb = ledger.get(b.id)
        if lb is None:
            continue
        a = lb.attribution
        b.attribution = [x for x in (
            f"layer: {a.layer}" + (f" (optimization pass {a.pass_})" if a.pass_ else ""),
            f"configuration: {a.config}" if a.config else "",
            f"fails on {', '.join(a.fails_on)}" if a.fails_on else "",
            f"passes on {', '.join(a.passes_on)}" if a.passes_on else "",
            a.note,
            "the reference (Prometheus) is the one that is wrong" if lb.wrong == "reference" else "",
        ) if x]
        b.link = lb.link
    start, prev_start = run.started, previous.started if previous else None
    have = {b.id for b in bugs} | {b.id for b in gone}
    if start is not None and prev_start is not None:
        for lb in ledger.values():
            seen = parse_time(lb.last_seen + ("T00:00:00+00:00" if len(lb.last_seen) == 10 else ""))
            if lb.id in have or seen is None or not (prev_start <= seen < start) or not lb.is_bug:
                continue
            if not any(_engine_matches(e, t) for e in lb.engines for t in run.targets):
                continue
            gone.append(Bug(id=lb.id, title=lb.title, status=lb.status, trend="gone", engines=list(lb.engines),
                            category="", note=f"ledger: last seen failing {_when(seen)}, not seen in this run",
                            link=lb.link))
    return f"Attribution and status from the bug ledger in {corpus.resolve()}"


def _when(t: _dt.datetime) -> str:
    t = t.astimezone(_dt.UTC)
    return t.strftime("%Y-%m-%d") if (t.hour, t.minute) == (0, 0) else t.strftime("%Y-%m-%d %H:%M UTC")


def read_case(path: str | None, folder: Path | None) -> str | None:
    """The stored promqltest case of a bug (absolute, or relative to the working
    directory or to the run folder's parent)."""
    if not path:
        return None
    p = Path(path)
    for cand in ([p] if p.is_absolute() else [p, *([folder.parent / p] if folder else [])]):
        try:
            return cand.read_text(encoding="utf-8")
        except OSError:
            continue
    return None


def case_query_differs(case_text: str, query: str) -> bool:
    """Whether a stored case's eval queries all differ from ``query`` (whitespace aside):
    the corpus keeps the first case of a signature, so a later run's shrunk query may not
    be the one stored."""
    want = " ".join(query.split())
    evals = [" ".join(m.group(1).split()) for m in re.finditer(r"(?m)^eval\S*(?: [a-z_]+=\S+)* (?:instant at \S+|range from \S+ to \S+ step \S+) (.*)$", case_text)]
    return bool(evals) and want not in evals


# ----------------------------------------------------------------------------- folds


def expected_sections(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """One entry per known-difference rule: hits, shapes (one finding each), targets, the
    rule's reason and link, each shape's English title and example query."""
    try:
        from promfuzz.oracles.known import load_rules

        rules = load_rules()
    except Exception:  # noqa: BLE001 - the report must not fail on a broken rules file
        rules = None
    out: dict[str, dict[str, Any]] = {}
    for f in sorted(findings, key=lambda f: (-f.occurrences, f.signature)):
        if f.verdict != "expected":
            continue
        rid = f.rule or "no rule recorded"
        r = out.setdefault(rid, {"id": rid, "hits": 0, "targets": [], "shapes": [], "reason": "", "link": ""})
        if rules is not None and not r["reason"] and (kd := rules.get(rid)) is not None:
            r["reason"], r["link"] = short(kd.reason, 300), kd.link
        r["hits"] += f.occurrences
        if f.target not in r["targets"]:
            r["targets"].append(f.target)
        r["shapes"].append({"title": english_title(f), "category": category_words(f.category), "hits": f.occurrences,
                            "query": f.query, "target": f.target})
    return sorted(out.values(), key=lambda r: (-r["hits"], r["id"]))


def unsupported_sections(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """One entry per (target, reason) of the unsupported findings."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for f in sorted(findings, key=lambda f: (-f.occurrences, f.signature)):
        if f.verdict != "unsupported":
            continue
        reason = unsupported_reason(f)
        r = out.setdefault((f.target, reason), {"target": f.target, "reason": reason, "hits": 0, "queries": []})
        r["hits"] += f.occurrences
        r["queries"].append(f.query)
    return sorted(out.values(), key=lambda r: (-r["hits"], r["target"], r["reason"]))
