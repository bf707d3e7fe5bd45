"""The bug ledger: ``corpus/bugs/<bug-id>.toml``, one file per root cause.

A bug is a group of corpus cases that a maintainer would fix with one change. Each file::

    id = "mqe-count-values-label-order"          # the file's name without .toml
    title = "count_values drops ..."             # written for people
    engines = ["mqe"]                            # the engines that answer wrongly
    status = "open"                              # open | reported | fixed | wontfix | documented | not-a-bug
    link = ""                                    # required for reported (the upstream issue)
    fixed_in = ""                                # required for fixed (the engine revision)
    reason = ""                                  # required for wontfix, documented, not-a-bug
    wrong = "target"                             # target | reference (Prometheus itself is wrong)
    addressed_to = "mimir"                       # whose tracker: mimir | prometheus | thanos | promfuzz
    first_seen = "2026-11-26"
    last_seen = "2026-12-03"
    members = ["differential-.../0123456789abcdef.test", ...]   # paths relative to the corpus

    [attribution]                                # what replaying the members showed
    layer = "engine"                             # engine | fork | prometheus | config | promfuzz
    config = "mqe (Mimir's defaults)"
    pass = ""                                    # the MQE optimization pass, when one is to blame
    fails_on = ["mqe", "mqe[passes=all]"]
    passes_on = ["mimir-prometheus"]

    [report]                                     # what `promfuzz bugs report` needs (optional)
    case = "differential-.../0123456789abcdef.test"
    rule = "why the expected answer is right"
    rule_link = "https://prometheus.io/docs/..."
    upstream = "still present in pkg/streamingpromql/... at <revision>"
    file = "docs/bug-reports/<id>.md"

Merging two corpora is a union of files (each bug is its own file). Validation errors
name the file, the key and what was expected (:class:`LedgerError`).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promfuzz.errors import InputError

STATUSES = ("open", "reported", "fixed", "wontfix", "documented", "not-a-bug")
WRONG = ("target", "reference")
ADDRESSED_TO = ("mimir", "prometheus", "thanos", "promfuzz")
LAYERS = ("engine", "fork", "prometheus", "config", "promfuzz")
LEDGER_DIR = "bugs"
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,80}$")
_MEMBER_RE = re.compile(r"^[A-Za-z0-9_.:-]+/[0-9a-f]{16}\.test$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(T[0-9:.]+Z)?$")
_TOP_KEYS = {"id", "title", "engines", "status", "link", "fixed_in", "reason", "wrong", "addressed_to",
             "first_seen", "last_seen", "members", "summary", "attribution", "report", "regression"}
_ATTR_KEYS = {"layer", "config", "pass", "fails_on", "passes_on", "note"}
_REPORT_KEYS = {"case", "rule", "rule_link", "upstream", "file", "target", "reference", "options", "notes"}


class LedgerError(InputError):
    """A malformed bug file: ``source`` is the file, the message names the key."""


@dataclass(frozen=True)
class Attribution:
    layer: str = "engine"
    config: str = ""
    pass_: str = ""
    fails_on: tuple[str, ...] = ()
    passes_on: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ReportInfo:
    case: str = ""
    rule: str = ""
    rule_link: str = ""
    upstream: str = ""
    file: str = ""
    target: str = ""  # engine spec the report runs as the one that is wrong (default: engines[0])
    reference: str = ""  # engine spec of the right answer (default: prometheus)
    options: str = ""  # the configuration, said in words
    notes: str = ""


@dataclass(frozen=True)
class Bug:
    id: str
    title: str
    engines: tuple[str, ...]
    status: str
    members: tuple[str, ...]
    wrong: str = "target"
    addressed_to: str = "mimir"
    link: str = ""
    fixed_in: str = ""
    reason: str = ""
    first_seen: str = ""
    last_seen: str = ""
    summary: str = ""
    regression: str = ""  # set when a member of a fixed bug failed again (when, on which engine)
    attribution: Attribution = field(default_factory=Attribution)
    report: ReportInfo = field(default_factory=ReportInfo)
    path: str = ""

    @property
    def is_bug(self) -> bool:
        return self.status != "not-a-bug"

    def to_json_obj(self) -> dict[str, Any]:
        a, r = self.attribution, self.report
        return {
            "id": self.id, "title": self.title, "engines": list(self.engines), "status": self.status,
            "link": self.link, "fixed_in": self.fixed_in, "reason": self.reason, "wrong": self.wrong,
            "addressed_to": self.addressed_to, "first_seen": self.first_seen, "last_seen": self.last_seen,
            "summary": self.summary, "regression": self.regression, "members": list(self.members),
            "attribution": {"layer": a.layer, "config": a.config, "pass": a.pass_, "fails_on": list(a.fails_on),
                            "passes_on": list(a.passes_on), "note": a.note},
            "report": {k: getattr(r, k) for k in sorted(_REPORT_KEYS)},
        }


def _err(source: str, key: str, expected: str, found: Any) -> LedgerError:
    return LedgerError(f"key {key!r}: expected {expected}, found {found!r}", source)


def _str(d: Mapping[str, Any], key: str, source: str, *, required: bool = False, prefix: str = "") -> str:
    v = d.get(key, "")
    if not isinstance(v, str):
        raise _err(source, prefix + key, "a string", v)
    if required and not v.strip():
        raise _err(source, prefix + key, "a non-empty string", v)
    return v


def _strs(d: Mapping[str, Any], key: str, source: str, *, required: bool = False, prefix: str = "") -> tuple[str, ...]:
    v = d.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise _err(source, prefix + key, "a list of non-empty strings", v)
    if required and not v:
        raise _err(source, prefix + key, "a non-empty list", v)
    return tuple(v)


def _unknown(d: Mapping[str, Any], allowed: set[str], source: str, prefix: str = "") -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise LedgerError(f"unknown key {prefix + extra[0]!r}; allowed: {', '.join(sorted(allowed))}", source)


def parse_bug(text: str, source: str = "<string>") -> Bug:
    """One bug file's text, validated (clear errors naming file and key)."""
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LedgerError(f"invalid TOML: {e}", source) from e
    _unknown(d, _TOP_KEYS, source)
    bug_id = _str(d, "id", source, required=True)
    if not _ID_RE.match(bug_id):
        raise _err(source, "id", "lower-case letters, digits and dashes (3-81 characters)", bug_id)
    stem = Path(source).stem
    if source.endswith(".toml") and stem != bug_id:
        raise _err(source, "id", f"the file's name without .toml ({stem!r})", bug_id)
    title = _str(d, "title", source, required=True)
    if "<fn>" in title or "{" in title and "}" in title and "'" in title:
        raise _err(source, "title", "a title written for people (no placeholders or dict reprs)", title)
    status = _str(d, "status", source, required=True)
    if status not in STATUSES:
        raise _err(source, "status", " | ".join(STATUSES), status)
    link, fixed_in, reason = _str(d, "link", source), _str(d, "fixed_in", source), _str(d, "reason", source)
    if status == "reported" and not link.strip():
        raise _err(source, "link", "the upstream issue's address (status is reported)", link)
    if status == "fixed" and not fixed_in.strip():
        raise _err(source, "fixed_in", "the revision that fixed it (status is fixed)", fixed_in)
    if status in ("wontfix", "documented", "not-a-bug") and not reason.strip():
        raise _err(source, "reason", f"why (status is {status})", reason)
    wrong = _str(d, "wrong", source) or "target"
    if wrong not in WRONG:
        raise _err(source, "wrong", " | ".join(WRONG), wrong)
    addressed = _str(d, "addressed_to", source) or ("prometheus" if wrong == "reference" else "mimir")
    if addressed not in ADDRESSED_TO:
        raise _err(source, "addressed_to", " | ".join(ADDRESSED_TO), addressed)
    members = _strs(d, "members", source, required=True)
    for m in members:
        if not _MEMBER_RE.match(m):
            raise _err(source, "members", "corpus paths SIGNATURE-FOLDER/CASE-ID.test", m)
    if len(set(members)) != len(members):
        dup = next(m for m in members if members.count(m) > 1)
        raise _err(source, "members", "each case once", dup)
    for key in ("first_seen", "last_seen"):
        v = _str(d, key, source)
        if v and not _DATE_RE.match(v):
            raise _err(source, key, "a date YYYY-MM-DD or a UTC timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ", v)
    engines = _strs(d, "engines", source, required=status != "not-a-bug")
    raw_attr = d.get("attribution", {})
    if not isinstance(raw_attr, dict):
        raise _err(source, "attribution", "a table", raw_attr)
    _unknown(raw_attr, _ATTR_KEYS, source, "attribution.")
    layer = _str(raw_attr, "layer", source, prefix="attribution.") or "engine"
    if layer not in LAYERS:
        raise _err(source, "attribution.layer", " | ".join(LAYERS), layer)
    attr = Attribution(
        layer=layer, config=_str(raw_attr, "config", source, prefix="attribution."),
        pass_=_str(raw_attr, "pass", source, prefix="attribution."),
        fails_on=_strs(raw_attr, "fails_on", source, prefix="attribution."),
        passes_on=_strs(raw_attr, "passes_on", source, prefix="attribution."),
        note=_str(raw_attr, "note", source, prefix="attribution."),
    )
    raw_rep = d.get("report", {})
    if not isinstance(raw_rep, dict):
        raise _err(source, "report", "a table", raw_rep)
    _unknown(raw_rep, _REPORT_KEYS, source, "report.")
    rep = ReportInfo(**{k: _str(raw_rep, k, source, prefix="report.") for k in _REPORT_KEYS})
    if rep.case and rep.case not in members:
        raise _err(source, "report.case", "one of the bug's members", rep.case)
    return Bug(
        id=bug_id, title=title, engines=engines, status=status, members=members, wrong=wrong,
        addressed_to=addressed, link=link, fixed_in=fixed_in, reason=reason,
        first_seen=_str(d, "first_seen", source), last_seen=_str(d, "last_seen", source),
        summary=_str(d, "summary", source), regression=_str(d, "regression", source),
        attribution=attr, report=rep, path=source,
    )


def ledger_dir(corpus: str | os.PathLike[str]) -> Path:
    return Path(corpus) / LEDGER_DIR


def load_ledger(corpus: str | os.PathLike[str], *, check_members: bool = True) -> list[Bug]:
    """Every bug of ``corpus/bugs/``, sorted by id. ``check_members``: each member case
    exists in the corpus, and no case belongs to two bugs."""
    d = ledger_dir(corpus)
    if not d.is_dir():
        return []
    bugs = [parse_bug(p.read_text(encoding="utf-8"), str(p)) for p in sorted(d.glob("*.toml"))]
    owner: dict[str, str] = {}
    for b in bugs:
        for m in b.members:
            if m in owner:
                raise LedgerError(f"key 'members': case {m} is already a member of bug {owner[m]!r} "
                                  "(a case belongs to one bug)", b.path)
            owner[m] = b.id
            if check_members and not (Path(corpus) / m).is_file():
                raise LedgerError(f"key 'members': case {m} does not exist in {corpus}", b.path)
    return bugs


def find_bug(bugs: Sequence[Bug], bug_id: str) -> Bug:
    for b in bugs:
        if b.id == bug_id:
            return b
    near = [b.id for b in bugs if bug_id in b.id][:5]
    raise LedgerError(f"no bug {bug_id!r} in the ledger" + (f" (did you mean: {', '.join(near)})" if near else ""),
                      "corpus/bugs")


def case_index(bugs: Iterable[Bug]) -> dict[str, Bug]:
    """Member path (relative to the corpus) -> its bug."""
    return {m: b for b in bugs for m in b.members}


def unassigned_cases(corpus: str | os.PathLike[str], bugs: Iterable[Bug]) -> list[str]:
    """Corpus cases that no ledger entry names (neither a bug nor not-a-bug)."""
    idx = case_index(bugs)
    root = Path(corpus)
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*.test")
                  if p.parent.name != LEDGER_DIR and str(p.relative_to(root)) not in idx)


# ----------------------------------------------------------------------------- writing


def _q(s: str) -> str:
    if "\n" in s:
        body = s.replace("\\", "\\\\").replace('"""', '\\"""')
        return f'"""\n{body}"""'
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'


def _list(xs: Sequence[str], one_line: bool = True) -> str:
    if one_line and sum(len(x) + 4 for x in xs) < 90:
        return "[" + ", ".join(_q(x) for x in xs) + "]"
    return "[\n" + "".join(f"  {_q(x)},\n" for x in xs) + "]"


def dump_bug(b: Bug) -> str:
    """The file text of a bug (parse_bug(dump_bug(b)) == b, path aside)."""
    out = [f"id = {_q(b.id)}", f"title = {_q(b.title)}", f"engines = {_list(b.engines)}", f"status = {_q(b.status)}"]
    for key in ("link", "fixed_in", "reason", "regression"):
        if getattr(b, key):
            out.append(f"{key} = {_q(getattr(b, key))}")
    out += [f"wrong = {_q(b.wrong)}", f"addressed_to = {_q(b.addressed_to)}"]
    for key in ("first_seen", "last_seen", "summary"):
        if getattr(b, key):
            out.append(f"{key} = {_q(getattr(b, key))}")
    out.append(f"members = {_list(b.members, one_line=False)}")
    a = b.attribution
    out += ["", "[attribution]", f"layer = {_q(a.layer)}"]
    for key, v in (("config", a.config), ("pass", a.pass_), ("note", a.note)):
        if v:
            out.append(f"{key} = {_q(v)}")
    for key, vs in (("fails_on", a.fails_on), ("passes_on", a.passes_on)):
        if vs:
            out.append(f"{key} = {_list(vs)}")
    r = b.report
    if any(getattr(r, k) for k in _REPORT_KEYS):
        out += ["", "[report]"]
        for key in ("case", "target", "reference", "options", "rule", "rule_link", "upstream", "notes", "file"):
            if getattr(r, key):
                out.append(f"{key} = {_q(getattr(r, key))}")
    return "\n".join(out) + "\n"


def write_bug(corpus: str | os.PathLike[str], b: Bug) -> Path:
    """Write (atomically) ``corpus/bugs/<id>.toml``."""
    d = ledger_dir(corpus)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{b.id}.toml"
    text = dump_bug(b)
    parse_bug(text, str(path))  # never write a file the loader refuses
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# ----------------------------------------------------------------------------- last seen, regressions


@dataclass(frozen=True)
class SeenUpdate:
    """What :func:`record_replay` changed: bugs seen failing, and fixed bugs that fail again."""

    seen: tuple[str, ...] = ()
    regressions: tuple[tuple[str, str, str], ...] = ()  # (bug id, case, engine)
    now_passing: tuple[tuple[str, str], ...] = ()  # (bug id, case): an open bug's member passes

    def lines(self) -> list[str]:
        out = [f"REGRESSION bug {b}: case {c} (marked fixed) fails again on {e}" for b, c, e in self.regressions]
        out += [f"bug {b}: member {c} passes now (fixed?)" for b, c in self.now_passing]
        return out


def _today() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _family(engine: str) -> str:
    return re.split(r"[\[@]", engine, maxsplit=1)[0]


def _engine_matches(bug_engine: str, engine: str) -> bool:
    """A bug on ``mqe`` is seen on every ``mqe[...]`` configuration; a bug on one
    configuration (``mqe[+narrow_binary_selectors]``) only on that one."""
    if "[" not in bug_engine:
        return _family(engine) == bug_engine
    from promfuzz.engines.spec import normalize

    try:
        return normalize(bug_engine) == normalize(engine)
    except Exception:  # noqa: BLE001 - an unknown spec matches nothing
        return False


def record_results(corpus: str | os.PathLike[str], results: Iterable[tuple[str, str, bool]], *,
                   now: str | None = None, write: bool = True) -> SeenUpdate:
    """Update the ledger from case results ``(case path relative to corpus, engine spec,
    failed)``: a failing member of a bug on one of its engines (same family) sets the bug's
    ``last_seen``; a failing member of a ``fixed`` bug is a regression (the bug gets
    ``regression = ...`` and the returned update lists it). ``case`` may also be an absolute
    path inside ``corpus``. Campaigns should call this for every divergence they store or
    find again (``Campaign._finding`` in promfuzz/campaign.py, after ``_store_case``, with
    ``(f.case_file, target, True)``); replay calls :func:`record_replay`."""
    bugs = load_ledger(corpus, check_members=False)
    idx = case_index(bugs)
    now = now or _today()
    changed: dict[str, Bug] = {}
    seen: list[str] = []
    regressions: list[tuple[str, str, str]] = []
    passing: list[tuple[str, str]] = []
    root = Path(corpus).resolve()
    for case, engine, failed in results:
        if os.path.isabs(case):  # a path as the store returns it (campaigns: Finding.case_file)
            try:
                case = str(Path(case).resolve().relative_to(root))
            except ValueError:
                continue
        b = changed.get(idx[case].id, idx[case]) if case in idx else None
        if b is None or not b.is_bug:
            continue
        if b.wrong == "reference":
            # The stored answer is the reference's (wrong) one: an engine that fails the
            # case still answers otherwise, so the bug is still there; passing says nothing.
            if failed:
                b = replace(b, last_seen=now)
                changed[b.id] = b
                if b.id not in seen:
                    seen.append(b.id)
            continue
        if not any(_engine_matches(e, engine) for e in b.engines):
            continue
        if failed:
            b = replace(b, last_seen=now)
            if b.id not in seen:
                seen.append(b.id)
            if b.status == "fixed":
                regressions.append((b.id, case, engine))
                b = replace(b, regression=f"{now}: {case} fails again on {engine} (fixed in {b.fixed_in})")
            changed[b.id] = b
        elif b.status == "open":
            passing.append((b.id, case))
    if write:
        for b in changed.values():
            write_bug(corpus, b)
    return SeenUpdate(tuple(seen), tuple(regressions), tuple(passing))


def record_bug_seen(corpus: str | os.PathLike[str], bug_id: str, case: str, engine: str, *,
                    now: str | None = None, write: bool = True) -> SeenUpdate:
    """A campaign found bug ``bug_id`` again (a new hit the grouping matched to it,
    :func:`promfuzz.bugs.grouping.assign`, whose case need not be a member): set its
    ``last_seen``; a ``fixed`` bug seen on one of its engines is a regression (the bug gets
    ``regression = ...``, as :func:`record_results` does for a failing member)."""
    bugs = {b.id: b for b in load_ledger(corpus, check_members=False)}
    b = bugs.get(bug_id)
    if b is None or not b.is_bug:
        return SeenUpdate()
    now = now or _today()
    b = replace(b, last_seen=now)
    regressions: tuple[tuple[str, str, str], ...] = ()
    if b.status == "fixed" and b.wrong == "target" and any(_engine_matches(e, engine) for e in b.engines):
        regressions = ((b.id, case, engine),)
        b = replace(b, regression=f"{now}: {case} fails again on {engine} (fixed in {b.fixed_in})")
    if write:
        write_bug(corpus, b)
    return SeenUpdate((b.id,), regressions)


def record_replay(report: Any, *, now: str | None = None, write: bool = True) -> dict[str, SeenUpdate]:
    """:func:`record_results` for a :class:`promfuzz.corpus.replay.ReplayReport`, per corpus
    (a file's corpus is the folder above its signature folder, when it has ``bugs/``)."""
    by_corpus: dict[Path, list[tuple[str, str, bool]]] = {}
    for f in report.files:
        p = Path(f.path).resolve()
        root = p.parent.parent
        if not ledger_dir(root).is_dir():
            continue
        for o in f.outcomes:
            if o.kind in ("passed", "failed"):
                by_corpus.setdefault(root, []).append(
                    (str(p.relative_to(root)), f.engine or report.engine, o.kind == "failed"))
    return {str(root): record_results(root, rs, now=now, write=write) for root, rs in by_corpus.items()}


# ----------------------------------------------------------------------------- merging corpora


_STATUS_RANK = {"open": 0, "reported": 1, "documented": 2, "wontfix": 2, "not-a-bug": 2, "fixed": 3}


def merge_ledgers(dest: str | os.PathLike[str], src: str | os.PathLike[str]) -> list[str]:
    """Union ``src``'s ledger into ``dest``'s (both corpus folders). A bug only in ``src`` is
    copied; a bug in both gets the union of members, the earliest first_seen, the latest
    last_seen and the more settled status (fixed > documented/wontfix/not-a-bug > reported >
    open; its link/revision/reason come with it). A case that ``dest`` already files under
    another bug stays there: the returned list says so, one line per such case."""
    src_bugs = load_ledger(src, check_members=False)
    if not src_bugs:
        return []
    cur = {b.id: b for b in load_ledger(dest, check_members=False)}
    owner = {m: b.id for b in cur.values() for m in b.members}
    conflicts: list[str] = []
    for sb in src_bugs:
        db = cur.get(sb.id)
        members = []
        for m in sb.members:
            if m in owner and owner[m] != sb.id:
                conflicts.append(f"{m}: bug {sb.id} in {src}, bug {owner[m]} in {dest} (kept)")
            else:
                members.append(m)
        if db is None:
            if members:
                b = replace(sb, members=tuple(members))
                cur[b.id] = b
                owner.update(dict.fromkeys(members, b.id))
                write_bug(dest, b)
            continue
        settled = sb if _STATUS_RANK[sb.status] > _STATUS_RANK[db.status] else db
        firsts = [x for x in (db.first_seen, sb.first_seen) if x]
        lasts = [x for x in (db.last_seen, sb.last_seen) if x]
        merged = replace(
            db, members=tuple(dict.fromkeys((*db.members, *members))),
            status=settled.status, link=settled.link, fixed_in=settled.fixed_in, reason=settled.reason,
            first_seen=min(firsts) if firsts else "", last_seen=max(lasts) if lasts else "",
            regression=db.regression or sb.regression,
        )
        if merged != db:
            cur[merged.id] = merged
            owner.update(dict.fromkeys(merged.members, merged.id))
            write_bug(dest, merged)
    return conflicts
