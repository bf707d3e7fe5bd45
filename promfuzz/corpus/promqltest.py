"""Read and write Prometheus's promqltest format (``.test`` files).

Reading follows ``promql/promqltest/test.go`` of Prometheus v0.316.0 line by line:

* lines are trimmed; a line starting with ``#`` counts as blank, and a blank line ends a
  ``load`` or ``eval`` block;
* ``load <interval>`` / ``load_with_nhcb <interval>``: series lines in the
  series-description language (:mod:`promfuzz.corpus.seriesdesc`), optionally preceded by
  a ``metric{...}@st <offsets>`` start-timestamp line; the same series twice in one block:
  the later line wins;
* ``clear``;
* ``eval instant at <t> <query>`` and ``eval range from <t> to <t> step <d> <query>``,
  with legacy prefixes ``eval_fail``, ``eval_warn``, ``eval_info``, ``eval_ordered``, then
  ``expect fail|warn|no_warn|info|no_info|ordered [msg:|regex: text]``,
  ``expect range vector from .. to .. step ..``, ``expect string "..."``,
  ``expected_fail_message`` / ``expected_fail_regexp`` (legacy, end the block), a scalar
  line (ends the block) or expected series lines.

Everything not understood raises :class:`~promfuzz.errors.PromQLTestFormatError` with the
file, the 1-based line and what was expected. The query text is kept verbatim (not parsed).

Writing: :func:`write_case` turns a :class:`~promfuzz.model.Case` (and optionally the
reference :class:`~promfuzz.model.Result`) into a one-eval test file that reads back to
the same case (:func:`read_case`): floats to the bit, stale markers, native histograms
(in their one-span-per-sign promqltest form, see :func:`promqltest_dataset`), UTF-8
names. :func:`write_test_file` writes a whole :class:`TestFile` back.

promqltest keeps a query on one line, and its range pattern ``from (.+) to (.+) step``
is greedy. A query that spans lines (or has ``#`` comments) is written flattened, and a
range query containing `` to ``/`` step `` words gets the spaces around them dropped
where that is safe; in both cases a ``# promfuzz:query "<exact JSON string>"`` comment
above the eval line keeps the exact text, which :func:`parse_test` restores (promqltest
itself ignores the comment and runs the equivalent one-line query).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Literal

from promfuzz.corpus import histmath
from promfuzz.corpus.gosyntax import format_duration, go_unquote, parse_duration, parse_go_number
from promfuzz.corpus.seriesdesc import (
    SeqValue,
    SeriesDescError,
    format_float,
    format_series_name,
    format_series_values,
    format_sparse_values,
    parse_series_desc_sparse,
    promqltest_form,
)
from promfuzz.errors import DatasetError, PromQLTestFormatError
from promfuzz.model import (
    Case,
    Dataset,
    EvalParams,
    Histogram,
    Labels,
    Point,
    Result,
    ResultError,
    ResultHistogram,
    ResultSeries,
    Sample,
    Series,
    Value,
    quote_string,
)

ExpectKind = Literal["fail", "warn", "no_warn", "info", "no_info", "ordered"]
MatchKind = Literal["any", "msg", "regex"]
LegacyMod = Literal["", "fail", "warn", "info", "ordered"]

_PAT_SPACE = re.compile(r"[\t ]+")
_PAT_LOAD = re.compile(r"^load(?:_(with_nhcb))?\s+(.+?)$")
_PAT_EVAL_INSTANT = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_PAT_EVAL_RANGE = re.compile(
    r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$"
)
_PAT_EXPECT = re.compile(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
_RANGE_VECTOR_PREFIX = "expect range vector"
_PAT_EXPECT_RANGE = re.compile(r"^" + _RANGE_VECTOR_PREFIX + r"\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
_EXPECT_STRING_PREFIX = "expect string"
_GO_SPACE = " \t\n\v\f\r\x85\xa0"

EPSILON = 1e-6
"""promqltest's relative tolerance for sample values (``defaultEpsilon``)."""


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class LoadCommand:
    """A ``load`` block. ``declared`` is the data as written; ``dataset`` what promqltest
    appends (``declared`` plus the custom-bucket histograms ``load_with_nhcb`` derives).
    ``start_timestamps`` keeps ``@st`` lines: per series, the ST offset (ms) per position."""

    dataset: Dataset
    interval_ms: int
    line: int = 0
    with_nhcb: bool = False
    declared: Dataset | None = None
    start_timestamps: tuple[tuple[Labels, tuple[int | None, ...]], ...] = ()

    @property
    def written(self) -> Dataset:
        return self.declared if self.declared is not None else self.dataset


@dataclass(frozen=True)
class ClearCommand:
    line: int = 0


@dataclass(frozen=True)
class Expectation:
    """One ``expect`` line (or a legacy equivalent)."""

    kind: ExpectKind
    match: MatchKind = "any"
    text: str = ""
    line: int = 0

    def matches(self, s: str) -> bool:
        if self.match == "msg":
            return s == self.text
        if self.match == "regex":
            return re.search(self.text, s) is not None
        return True

    def to_line(self) -> str:
        if self.match == "any":
            return f"expect {self.kind}"
        return f"expect {self.kind} {self.match}: {self.text}"


@dataclass(frozen=True)
class ExpectedSeries:
    """An expected series: ``length`` positions, of which ``points`` (position, value) are
    not omitted (``_xN`` runs stay unexpanded)."""

    labels: Labels
    length: int
    points: tuple[tuple[int, SeqValue], ...]
    line: int = 0
    pos: int = 0  # 1-based position used by ordered checks (as test.go counts it)

    @property
    def values(self) -> list[SeqValue]:
        out = [SeqValue(None)] * self.length
        for k, v in self.points:
            out[k] = v
        return out


@dataclass(frozen=True)
class EvalCommand:
    """An ``eval`` and what it expects.

    ``params`` is the evaluation as written (``instant at t`` or ``range``). For an instant
    eval with ``expect range vector``, promqltest evaluates at the range vector's end
    (:attr:`eval_params`). ``scalar`` holds an expected scalar, ``string`` an expected
    string; otherwise ``series`` is the expected vector/matrix (possibly empty).
    """

    query: str
    params: EvalParams
    line: int = 0
    legacy: LegacyMod = ""
    expectations: tuple[Expectation, ...] = ()
    expected_fail_message: str | None = None
    expected_fail_regexp: str | None = None
    series: tuple[ExpectedSeries, ...] = ()
    scalar: float | None = None
    string: str | None = None
    range_vector: tuple[int, int, int] | None = None  # (from, to, step) ms

    # promqltest's derived properties ------------------------------------------
    def expects(self, kind: ExpectKind) -> tuple[Expectation, ...]:
        return tuple(e for e in self.expectations if e.kind == kind)

    @property
    def is_fail(self) -> bool:
        return self.legacy == "fail" or bool(self.expects("fail"))

    @property
    def is_ordered(self) -> bool:
        return self.legacy == "ordered" or bool(self.expects("ordered"))

    @property
    def expect_scalar(self) -> bool:
        return self.scalar is not None

    @property
    def exclude_from_range_query(self) -> bool:
        return self.range_vector is not None or self.string is not None

    @property
    def eval_params(self) -> EvalParams:
        if self.range_vector is not None and not self.params.is_range:
            return EvalParams.instant(self.range_vector[1])
        return self.params

    @property
    def grid(self) -> tuple[int, int]:
        """(start, step) of the expected points: range evals and range vectors."""
        if self.range_vector is not None:
            return self.range_vector[0], self.range_vector[2]
        if self.params.is_range:
            return self.params.start_ms, self.params.step_ms
        return self.params.time_ms, 0


Command = LoadCommand | ClearCommand | EvalCommand


@dataclass(frozen=True)
class TestFile:
    source: str
    commands: tuple[Command, ...] = field(default_factory=tuple)
    lookback_ms: int | None = None
    """A ``# promfuzz:lookback 30s`` line: every eval of the file runs under that lookback
    delta (a per-file setting: promqltest has no directive for it, and ignores the comment;
    :func:`promfuzz.corpus.replay.file_settings` opens the engines with it)."""

    __test__ = False  # not a pytest class

    def evals(self) -> Iterator[tuple[Dataset, EvalCommand]]:
        """Each eval with the data loaded at that point (loads accumulate, clear resets)."""
        data = Dataset()
        for cmd in self.commands:
            if isinstance(cmd, ClearCommand):
                data = Dataset()
            elif isinstance(cmd, LoadCommand):
                data = merge_datasets(data, cmd.dataset)
            else:
                yield data, cmd

    def cases(self) -> list[Case]:
        if self.lookback_ms is not None:
            return [Case(ds, ev.query, ev.eval_params.with_lookback(self.lookback_ms)) for ds, ev in self.evals()]
        return [Case(ds, ev.query, ev.eval_params) for ds, ev in self.evals()]

    def start_timestamps_in_effect(self) -> Iterator[tuple[EvalCommand, bool]]:
        """Each eval and whether data loaded before it carries ``@st`` start timestamps."""
        st = False
        for cmd in self.commands:
            if isinstance(cmd, ClearCommand):
                st = False
            elif isinstance(cmd, LoadCommand):
                st = st or bool(cmd.start_timestamps)
            else:
                yield cmd, st


def merge_datasets(a: Dataset, b: Dataset) -> Dataset:
    """Data of two loads into one storage: series united, an existing sample at the same
    timestamp kept (the TSDB drops or rejects a second append)."""
    if not a.series:
        return b
    if not b.series:
        return a
    by: dict[Labels, dict[int, Value]] = {s.labels: {x.t: x.v for x in s.samples} for s in a.series}
    for s in b.series:
        cur = by.setdefault(s.labels, {})
        for x in s.samples:
            cur.setdefault(x.t, x.v)
    return Dataset(tuple(Series(k, tuple(Sample(t, v[t]) for t in sorted(v))) for k, v in sorted(by.items())))


# ----------------------------------------------------------------------------- reading


class _Reader:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = []
        self.raw = text.split("\n")
        for raw in self.raw:
            s = raw.strip(_GO_SPACE)
            if s.startswith("#"):
                s = ""
            self.lines.append(s)

    def fail(self, i: int, msg: str, column: int = 0) -> PromQLTestFormatError:
        return PromQLTestFormatError(msg, self.source, i + 1, column)

    def duration(self, i: int, s: str, what: str) -> int:
        try:
            return parse_duration(s)
        except ValueError as e:
            raise self.fail(
                i, f"invalid {what} {s!r}: {e} (expected a duration such as 0, 1m or 1m30s)"
            ) from e

    def series(self, i: int, text: str) -> tuple[Labels, int, list[tuple[int, SeqValue]]]:
        try:
            return parse_series_desc_sparse(text)
        except SeriesDescError as e:
            raise self.fail(i, f"invalid series line {text!r}: {e.message}", e.column) from e

    def parse(self) -> TestFile:
        cmds: list[Command] = []
        i = 0
        n = len(self.lines)
        while i < n:
            line = self.lines[i]
            if line == "":
                i += 1
                continue
            word = _PAT_SPACE.split(line, maxsplit=1)[0].lower()
            if word == "clear":
                cmds.append(ClearCommand(i + 1))
            elif word.startswith("load"):
                i, load = self.parse_load(i)
                cmds.append(load)
            elif word.startswith("eval"):
                i, ev = self.parse_eval(i)
                cmds.append(ev)
            else:
                raise self.fail(i, f"invalid command {line!r}: expected load, load_with_nhcb, clear or eval")
            i += 1
        return TestFile(self.source, tuple(cmds), self.lookback())

    def lookback(self) -> int | None:
        found = None
        for i, raw in enumerate(self.raw):
            s = raw.strip(_GO_SPACE)
            if s.startswith(LOOKBACK_COMMENT):
                ms = self.duration(i, s[len(LOOKBACK_COMMENT):].strip(), "lookback")
                if ms <= 0:
                    raise self.fail(i, f"invalid lookback {s[len(LOOKBACK_COMMENT):].strip()!r}: expected a positive duration")
                if found is not None and found != ms:
                    raise self.fail(i, "a second, different # promfuzz:lookback line")
                found = ms
        return found

    # load ---------------------------------------------------------------------
    def parse_load(self, i: int) -> tuple[int, LoadCommand]:
        start = i
        m = _PAT_LOAD.match(self.lines[i])
        if not m:
            raise self.fail(i, "invalid load command: expected load[_with_nhcb] <step:duration>")
        with_nhcb = m.group(1) == "with_nhcb"
        gap = self.duration(i, m.group(2), "step definition")
        defs: dict[Labels, list[tuple[int, SeqValue]]] = {}
        sts: dict[Labels, tuple[int | None, ...]] = {}
        pending: tuple[Labels, list[int | None], int] | None = None
        while i + 1 < len(self.lines):
            i += 1
            line = self.lines[i]
            if line == "":
                i -= 1
                break
            first = re.split(r"[ \t]", line, maxsplit=1)[0]
            if first.endswith("@st") and (" " in line or "\t" in line):
                if pending is not None:
                    raise self.fail(pending[2], "@st line has no following sample line")
                labels, _, _ = self.series(i, first[: -len("@st")] + " _")
                pending = (labels, self.parse_st(i, line[len(first) :].strip()), i)
                continue
            labels, npos, vals = self.series(i, line)
            if pending is not None:
                if pending[0] != labels:
                    raise self.fail(pending[2], "@st metric does not match the following sample line metric")
                if len(pending[1]) != npos:
                    raise self.fail(
                        pending[2], f"@st line has {len(pending[1])} values but sample line has {npos}"
                    )
                sts[labels] = tuple(pending[1])
                pending = None
            else:
                sts.pop(labels, None)
            defs[labels] = vals
        if pending is not None:
            raise self.fail(pending[2], "@st line has no following sample line")
        series = []
        for labels, vals in defs.items():
            samples = [(k * gap, v.value) for k, v in vals if v.value is not None]
            series.append((labels, samples))
        try:
            declared = Dataset.build(series)
        except DatasetError as e:
            raise self.fail(start, f"invalid load block: {e.message}") from e
        dataset = declared
        if with_nhcb:
            try:
                dataset = merge_datasets(declared, nhcb_series(declared))
            except histmath.HistogramError as e:
                raise self.fail(start, f"load_with_nhcb cannot convert the classic histograms: {e}") from e
        return i, LoadCommand(
            dataset=dataset,
            interval_ms=gap,
            line=start + 1,
            with_nhcb=with_nhcb,
            declared=declared if with_nhcb else None,
            start_timestamps=tuple(sorted(sts.items())),
        )

    def parse_st(self, i: int, text: str) -> list[int | None]:
        out: list[int | None] = []
        for item in text.split():
            if item == "_":
                out.append(None)
                continue
            if item.startswith("_x"):
                if not item[2:].isdigit() or int(item[2:]) == 0:
                    raise self.fail(
                        i, f"invalid @st sequence: invalid ST item {item!r}: invalid repeat count"
                    )
                out.extend([None] * int(item[2:]))
                continue
            m = re.fullmatch(r"([+-]?)(\d+[a-wyzA-Z]*)(?:(x)(\d+)|([+-])(\d+[a-wyzA-Z]*)x(\d+))?", item)
            if not m:
                raise self.fail(
                    i, f"invalid @st sequence: invalid ST item {item!r} (expected _, _xN, D, DxN or D+DxN)"
                )
            base = self.duration(i, m.group(2), "@st duration") * (-1 if m.group(1) == "-" else 1)
            if m.group(3):
                out.extend([base] * (int(m.group(4)) + 1))
            elif m.group(5):
                delta = self.duration(i, m.group(6), "@st step duration") * (-1 if m.group(5) == "-" else 1)
                for k in range(int(m.group(7)) + 1):
                    out.append(base + k * delta)
            else:
                out.append(base)
        return out

    # eval ---------------------------------------------------------------------
    def parse_eval(self, i: int) -> tuple[int, EvalCommand]:
        line = self.lines[i]
        mi = _PAT_EVAL_INSTANT.match(line)
        mr = _PAT_EVAL_RANGE.match(line)
        if not mi and not mr:
            raise self.fail(
                i,
                "invalid evaluation command: expected 'eval[_fail|_warn|_info|_ordered] instant at <time> <query>' "
                "or 'eval[_fail|_warn|_info] range from <start> to <end> step <step> <query>'",
            )
        evline = i
        legacy: LegacyMod
        if mi:
            legacy = mi.group(1) or ""  # type: ignore[assignment]
            query = mi.group(3)
            if mi.group(2) is None:
                raise self.fail(i, "invalid timestamp definition '': expected 'instant at <time>'")
            params = EvalParams.instant(self.duration(i, mi.group(2), "timestamp definition"))
        else:
            assert mr is not None
            legacy = mr.group(1) or ""  # type: ignore[assignment]
            query = mr.group(5)
            t0 = self.duration(i, mr.group(2), "start timestamp definition")
            t1 = self.duration(i, mr.group(3), "end timestamp definition")
            if t1 < t0:
                raise self.fail(
                    i,
                    f"invalid test definition, end timestamp ({mr.group(3)}) is before start timestamp ({mr.group(2)})",
                )
            step = self.duration(i, mr.group(4), "step definition")
            params = EvalParams.range(t0, t1, step)
        is_instant = mi is not None
        exact_query = self.exact_query(i, query)
        expectations: list[Expectation] = []
        series: list[ExpectedSeries] = []
        scalar: float | None = None
        string: str | None = None
        rv: tuple[int, int, int] | None = None
        fail_msg: str | None = None
        fail_re: str | None = None
        j = 1
        while i + 1 < len(self.lines):
            i += 1
            d = self.lines[i]
            if d == "":
                i -= 1
                break
            if legacy == "fail" and d.startswith("expected_fail_message"):
                fail_msg = d[len("expected_fail_message") :].strip(_GO_SPACE)
                break
            if legacy == "fail" and d.startswith("expected_fail_regexp"):
                fail_re = d[len("expected_fail_regexp") :].strip(_GO_SPACE)
                self.check_regex(i, fail_re, "expected_fail_regexp")
                break
            if d.startswith(_RANGE_VECTOR_PREFIX):
                m = _PAT_EXPECT_RANGE.match(d)
                if not m:
                    raise self.fail(
                        i,
                        f"invalid range vector definition {d!r}: expected 'expect range vector from <t> to <t> step <d>'",
                    )
                a = self.duration(i, m.group(1), "start timestamp definition")
                b = self.duration(i, m.group(2), "end timestamp definition")
                if b < a:
                    raise self.fail(
                        i,
                        f"invalid test definition, end timestamp ({m.group(2)}) is before start timestamp ({m.group(1)})",
                    )
                rv = (a, b, self.duration(i, m.group(3), "step definition"))
                j += 1
                continue
            if d.startswith(_EXPECT_STRING_PREFIX):
                lit = d[len(_EXPECT_STRING_PREFIX) + 1 :] if d.startswith(_EXPECT_STRING_PREFIX + " ") else ""
                if not lit:
                    raise self.fail(
                        i, "expected string literal not valid - a quoted string literal is required"
                    )
                if lit[0] == "'" or len(lit) < 2:
                    raise self.fail(
                        i, "expected string literal not valid - check that the string is correctly quoted"
                    )
                try:
                    string = go_unquote(lit)
                except ValueError as e:
                    raise self.fail(
                        i, "expected string literal not valid - check that the string is correctly quoted"
                    ) from e
                j += 1
                continue
            if d.split(" ")[0] == "expect":
                expectations.append(self.parse_expect(i, d))
                kinds = [e.kind for e in expectations]
                if "info" in kinds and "no_info" in kinds:
                    raise self.fail(i, "invalid expect lines, info and no_info cannot be used together")
                if "warn" in kinds and "no_warn" in kinds:
                    raise self.fail(i, "invalid expect lines, warn and no_warn cannot be used together")
                if kinds.count("fail") > 1:
                    raise self.fail(i, "invalid expect lines, multiple expect fail lines are not allowed")
                continue
            try:
                scalar = parse_go_number(d)
            except ValueError:
                pass
            else:
                series = []
                break
            labels, npos, vals = self.series(i, d)
            if npos > 1 and is_instant and rv is None:
                raise self.fail(
                    i,
                    "expecting multiple values in instant evaluation not allowed. consider using "
                    "'expect range vector' directive to enable a range vector result for an instant query",
                )
            series = [s for s in series if s.labels != labels]
            series.append(ExpectedSeries(labels, npos, tuple(vals), i + 1, j))
            scalar = None
            j += 1
        return i, EvalCommand(
            query=exact_query or query,
            params=params,
            line=evline + 1,
            legacy=legacy,
            expectations=tuple(expectations),
            expected_fail_message=fail_msg,
            expected_fail_regexp=fail_re,
            series=tuple(series),
            scalar=scalar,
            string=string,
            range_vector=rv,
        )

    def exact_query(self, i: int, query: str) -> str | None:
        """The query of a ``# promfuzz:query`` comment right above line ``i`` when its
        one-line form is the eval's query."""
        prev = self.raw[i - 1].strip(_GO_SPACE) if i > 0 else ""
        if not prev.startswith(QUERY_COMMENT):
            return None
        try:
            exact = json.loads(prev[len(QUERY_COMMENT) :])
        except json.JSONDecodeError as e:
            raise self.fail(
                i - 1, f"invalid {QUERY_COMMENT.strip()} comment: expected a JSON string ({e.msg})"
            ) from e
        if not isinstance(exact, str):
            raise self.fail(i - 1, f"invalid {QUERY_COMMENT.strip()} comment: expected a JSON string")
        try:
            flat = _one_line_query(exact)
        except ValueError:
            return None
        return exact if query in (flat, _tighten_range_words(flat)) else None

    def check_regex(self, i: int, pattern: str, what: str) -> None:
        try:
            re.compile(pattern)
        except re.error as e:
            raise self.fail(i, f"invalid regex {pattern!r} for {what}: {e}") from e

    def parse_expect(self, i: int, d: str) -> Expectation:
        m = _PAT_EXPECT.match(d.strip(_GO_SPACE))
        if not m:
            raise self.fail(
                i,
                "invalid expect statement, must match `expect <type> <match_type>: <string>` "
                "(type fail|warn|no_warn|info|no_info|ordered, match_type msg|regex)",
            )
        kind: ExpectKind = m.group(1)  # type: ignore[assignment]
        if m.group(2) is None:
            return Expectation(kind, "any", "", i + 1)
        text = m.group(3).strip(_GO_SPACE)
        if m.group(2) == "regex":
            self.check_regex(i, text, kind)
            return Expectation(kind, "regex", text, i + 1)
        return Expectation(kind, "msg", text, i + 1)


def nhcb_series(declared: Dataset) -> Dataset:
    """The custom-bucket histograms ``load_with_nhcb`` adds for classic histogram series
    (``*_bucket`` with ``le``, ``*_count``, ``*_sum``), per promqltest's appendCustomHistogram."""
    groups: dict[Labels, dict[int, tuple[list[tuple[float, float]], list[float], list[float]]]] = {}
    for s in declared.series:
        name = s.name
        for suffix, kind in (("_bucket", 0), ("_sum", 2), ("_count", 1)):  # noqa: B007
            if name.endswith(suffix):
                break
        else:
            continue
        d = dict(s.labels)
        le = 0.0
        if kind == 0:
            if "le" not in d:
                raise histmath.HistogramError(f"expected bucket label in metric {name}")
            try:
                le = (
                    parse_go_number(d["le"])
                    if d["le"].lower().lstrip("+-") not in ("inf", "+inf")
                    else (-math.inf if d["le"].startswith("-") else math.inf)
                )
            except ValueError:
                continue
            if math.isnan(le):
                continue
        d["__name__"] = name[: -len(suffix)]
        d.pop("le", None)
        base = tuple(sorted(d.items()))
        per_t = groups.setdefault(base, {})
        for x in s.samples:
            if isinstance(x.v, Histogram):
                continue
            b, c, sm = per_t.setdefault(x.t, ([], [], []))
            if kind == 0:
                b.append((le, x.v))
            elif kind == 1:
                c.append(x.v)
            else:
                sm.append(x.v)
    out = []
    for labels, per_t in groups.items():
        samples: list[tuple[int, Value]] = []
        for t in sorted(per_t):
            b, c, sm = per_t[t]
            samples.append((t, histmath.classic_to_nhcb(b, c[-1] if c else None, sm[-1] if sm else 0.0)))
        out.append((labels, samples))
    return Dataset.build(out)


def parse_test(text: str, source: str = "<string>") -> TestFile:
    """Parse promqltest text; raises :class:`PromQLTestFormatError`."""
    return _Reader(text, source).parse()


def read_test_file(path: str | Path) -> TestFile:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise PromQLTestFormatError(f"not UTF-8 text: {e}", str(p)) from e
    except OSError as e:
        raise PromQLTestFormatError(f"cannot read: {e.strerror}", str(p)) from e
    return parse_test(text, str(p))


def read_case(text: str, source: str = "<string>") -> Case:
    """The single case of a file written by :func:`write_case` (the last eval's case)."""
    cases = parse_test(text, source).cases()
    if not cases:
        raise PromQLTestFormatError("expected an eval command", source)
    return cases[-1]


# ----------------------------------------------------------------------------- writing


def promqltest_dataset(ds: Dataset) -> Dataset:
    """``ds`` as promqltest can express it: histograms with one span per sign (gaps written
    as empty buckets, zero-length spans dropped). Every other value is kept bit for bit.
    ``read_case(write_case(c)).dataset == promqltest_dataset(c.dataset)``."""
    if not any(isinstance(x.v, Histogram) for s in ds.series for x in s.samples):
        return ds
    return Dataset(
        tuple(
            Series(
                s.labels,
                tuple(
                    Sample(x.t, promqltest_form(x.v) if isinstance(x.v, Histogram) else x.v)
                    for x in s.samples
                ),
            )
            for s in ds.series
        )
    )


def choose_interval(ds: Dataset, extra: Sequence[int] = ()) -> int:
    """The load interval: the gcd of all sample timestamps (1m when every sample is at 0)."""
    g = reduce(math.gcd, (x.t for s in ds.series for x in s.samples), 0)
    g = reduce(math.gcd, extra, g)
    return g or 60_000


def _load_lines(ds: Dataset, interval: int, with_nhcb: bool = False) -> list[str]:
    out = [f"load{'_with_nhcb' if with_nhcb else ''} {format_duration(interval)}"]
    for s in ds.series:
        if not s.samples:
            out.append(f"  {format_series_name(s.labels)}")
            continue
        pts: list[tuple[int, SeqValue]] = []
        for x in s.samples:
            if x.t % interval:
                raise ValueError(f"sample time {x.t} is not a multiple of the load interval {interval}")
            pts.append((x.t // interval, SeqValue(x.v)))
        out.append(f"  {format_series_name(s.labels)} {format_sparse_values(pts)}")
    return out


QUERY_COMMENT = "# promfuzz:query "
LOOKBACK_COMMENT = "# promfuzz:lookback "
"""Comment prefix before an eval line whose query had to be flattened to one line: the
exact query as a JSON string (promqltest ignores it; :func:`read_case` restores it)."""


def flatten_query(query: str) -> str:
    """The query on one line: ``#`` comments (outside string literals) dropped, line breaks
    and the whitespace around them turned into one space. Raises ``ValueError`` when a raw
    string literal spans lines (flattening would change its value)."""
    out: list[str] = []
    i = 0
    n = len(query)
    while i < n:
        c = query[i]
        if c in "\"'`":
            j = i + 1
            while j < n and query[j] != c:
                if c != "`" and query[j] == "\\":
                    j += 1
                elif query[j] in "\r\n":
                    raise ValueError("a string literal spans lines: the query cannot be written on one line")
                j += 1
            out.append(query[i : j + 1])
            i = j + 1
        elif c == "#":
            while i < n and query[i] not in "\r\n":
                i += 1
        else:
            out.append(c)
            i += 1
    flat = re.sub(r"[ \t]*[\r\n][\s]*", " ", "".join(out)).strip(_GO_SPACE)
    if not flat:
        raise ValueError("empty query")
    return flat


def _one_line_query(query: str) -> str:
    q = query.strip(_GO_SPACE)
    if "\n" in q or "\r" in q or "#" in q:
        return flatten_query(q)
    if not q:
        raise ValueError("empty query")
    return q


_NAME_CHAR = re.compile(r"[A-Za-z0-9_:.]")
_RANGE_WORD = re.compile(r"\s+(to|step)\s+")
_RANGE_WORD_AT_START = re.compile(r"(to|step)\s+")  # right after the eval line's own space


def _tighten_range_words(q: str) -> str:
    """Drop the whitespace around standalone ``to``/``step`` words (outside string
    literals) where that cannot glue two names together, so promqltest's greedy
    ``range from (.+) to (.+) step`` pattern cannot split inside the query."""
    out: list[str] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c in "\"'`":
            j = i + 1
            while j < n and q[j] != c:
                j += 2 if (c != "`" and q[j] == "\\") else 1
            out.append(q[i : j + 1])
            i = j + 1
            continue
        m = _RANGE_WORD.match(q, i) or (_RANGE_WORD_AT_START.match(q, i) if i == 0 else None)
        if m:
            before = "".join(out)[-1:]
            after = q[m.end() : m.end() + 1]
            left = "" if before and not _NAME_CHAR.match(before) else q[m.start() : m.start(1)]
            right = "" if after and not _NAME_CHAR.match(after) else q[m.end(1) : m.end()]
            if left == "" or right == "":
                out.append(left + m.group(1) + right)
                i = m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _eval_line(query: str, params: EvalParams) -> str:
    q = _one_line_query(query)
    if params.is_range:
        if params.start_ms < 0 or params.end_ms < 0 or params.step_ms < 0:
            raise ValueError("promqltest cannot express negative times")
        head = (
            f"eval range from {format_duration(params.start_ms)} to {format_duration(params.end_ms)} "
            f"step {format_duration(params.step_ms)} "
        )
        m = _PAT_EVAL_RANGE.match(head + q)
        if not m or m.group(5) != q:
            q = _tighten_range_words(q)
            m = _PAT_EVAL_RANGE.match(head + q)
            if not m or m.group(5) != q:
                raise ValueError(
                    "the query contains ' to '/' step ' words that promqltest's range pattern misreads"
                )
        return head + q
    if params.time_ms < 0:
        raise ValueError("promqltest cannot express negative times")
    return f"eval instant at {format_duration(params.time_ms)} {q}"


def _written_query(line: str) -> str:
    m = _PAT_EVAL_RANGE.match(line)
    if m:
        return m.group(5)
    mi = _PAT_EVAL_INSTANT.match(line)
    assert mi is not None
    return mi.group(3)


_ORDERED_TOP = re.compile(r"^\s*(sort|sort_desc|sort_by_label|sort_by_label_desc)\s*\(")
_TOPK_TOP = re.compile(r"^\s*(topk|bottomk)\s*\(")


def _strip_parens(q: str) -> str:
    q = q.strip()
    while q.startswith("(") and q.endswith(")"):
        depth = 0
        for k, ch in enumerate(q):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and k != len(q) - 1:
                return q
        q = q[1:-1].strip()
    return q


def is_ordered_query(query: str, result: Result | None = None) -> bool:
    """Whether an instant result's order is defined: top level ``sort*``, or ``topk``/``bottomk``
    without grouping whose values are all distinct (ties have no defined order)."""
    q = _strip_parens(query)
    if _ORDERED_TOP.match(q):
        return True
    if _TOPK_TOP.match(q) and not re.search(r"\b(by|without)\s*\(", q) and result is not None:
        vals = [p.v for s in result.series for p in s.points]
        floats = [v for v in vals if isinstance(v, float)]
        return len(floats) == len(vals) and len({repr(v) for v in floats}) == len(floats)
    return False


def _single_line(s: str) -> bool:
    return "\n" not in s and "\r" not in s and s == s.strip(_GO_SPACE) and s != ""


def _result_value(v: float | ResultHistogram) -> SeqValue:
    if isinstance(v, ResultHistogram):
        if v.full is None:
            raise ValueError(
                "a histogram result without its full form cannot be written (use histograms=full)"
            )
        return SeqValue(promqltest_form(v.full), v.full.counter_reset_hint != "unknown")
    return SeqValue(v)


_POS_ESCAPED_RE = re.compile(r"\\\(\d+:\d+\\\)")
_TIME_ESCAPED_RE = re.compile(r"\d{4}\\-\d{2}\\-\d{2}T\d{2}:\d{2}:\d{2}(?:\\\.\d+)?Z")
_POSITION_TAIL_RE = re.compile(r"\s*\(\d+:\d+\)\s*$")
_API_PREFIX = 'invalid parameter "query": '
"""The Prometheus HTTP API's prefix of a query's parse and planning errors; the engine's
own message (what promqltest's ``expect fail msg:`` sees) is without it."""


_METRIC_NAME_PART_RE = re.compile(r' for metric name "(?:[^"\\]|\\.)*"')
METRIC_NAME_GROUP = r'(?: for metric name "[^"]*")?'
_METRIC_NAME_ANCHORS = (", from buckets",)
"""What an annotation pattern accepts in place of the `` for metric name "..."`` part."""


def annotation_regex(message: str) -> str:
    """An ``expect warn|info regex:`` pattern for an annotation: the exact text, except its
    position ``(l:c)``, RFC 3339 times and the `` for metric name "..."`` part. Valid RE2
    and Python syntax.

    * promqltest re-runs instant queries with ``@`` pinned on every selector and checks
      annotations on those too; the rewritten query moves positions and the evaluation
      time moves times, so a ``msg:`` line would fail in Prometheus's own harness.
    * Whether an annotation names the metric depends on the engine's configuration, not on
      the case: with delayed name removal (``EnableDelayedNameRemoval``, on in promqltest's
      test engine, off in a default Prometheus server) the name is still known where the
      annotation is raised. The pattern accepts the text with the part (any name) or
      without it, so the file passes in Prometheus's own runner and on a server as run;
      everything else in the text must match exactly.
    """
    tail = ""
    base = message
    m = _POSITION_TAIL_RE.search(base)
    if m:
        base, tail = base[: m.start()], base[m.start():]
    base = _METRIC_NAME_PART_RE.sub("", base)
    esc = re.escape(base).replace("\\ ", " ")  # a space needs no escape in RE2 or Python
    esc = _TIME_ESCAPED_RE.sub(lambda m: r"[-0-9T:.]+Z", esc)
    # Where Prometheus's annotations put the part (util/annotations: maybeAddMetricName
    # appends it to the base text, before any detail such as ", from buckets ...").
    for anchor in _METRIC_NAME_ANCHORS:
        esc = esc.replace(anchor, METRIC_NAME_GROUP + anchor, 1)
    esc += METRIC_NAME_GROUP
    if tail:
        esc += _POS_ESCAPED_RE.sub(lambda m: r"\(\d+:\d+\)", re.escape(tail).replace("\\ ", " "))
    return esc


def _expected_lines(case: Case, expected: Result, annotations: bool, fail_msg: bool) -> list[str]:
    out: list[str] = []
    if not expected.ok:
        msg = expected.error.message if expected.error else ""
        if msg.startswith(_API_PREFIX):
            msg = msg[len(_API_PREFIX):]
        if fail_msg and _single_line(msg):
            out.append(f"  expect fail msg: {msg}")
        else:
            out.append("  expect fail")
        return out
    if annotations:
        for kind, items in (("warn", expected.warnings), ("info", expected.infos)):
            if not items:
                out.append(f"  expect no_{kind}")
            for a in items:
                out.append(f"  expect {kind} regex: {annotation_regex(a)}" if _single_line(a) else f"  expect {kind}")
    p = case.params
    if expected.value_type == "scalar":
        if expected.scalar is None or isinstance(expected.scalar.v, ResultHistogram):
            raise ValueError("scalar result without a float value")
        out.append(f"  {format_float(expected.scalar.v)}")
        return out
    if expected.value_type == "string":
        out.append(f"  expect string {quote_string(expected.string or '')}")
        return out
    if expected.value_type == "vector":
        if not p.is_range and is_ordered_query(case.query, expected):
            out.append("  expect ordered")
        for s in expected.series:
            if len(s.points) != 1:
                raise ValueError("vector series must have one point")
            out.append(
                f"  {format_series_name(s.labels)} {format_series_values([_result_value(s.points[0].v)])}"
            )
        return out
    # matrix
    if p.is_range:
        start, step, end = p.start_ms, p.step_ms, p.end_ms
    else:
        end = p.time_ms
        ts = [pt.t for s in expected.series for pt in s.points]
        if any(t > end for t in ts):
            raise ValueError("range vector points after the evaluation time cannot be written")
        if any(t < 0 for t in ts):
            # e.g. `x[1m] smoothed` at 0s has a point at -1m; promqltest has no negative times.
            raise ValueError("range vector points before time 0 cannot be written in promqltest")
        start = min(ts) if ts else end
        step = reduce(math.gcd, (end - t for t in ts), 0) or 1000
        out.append(
            f"  expect range vector from {format_duration(start)} to {format_duration(end)} step {format_duration(step)}"
        )
    for s in expected.series:
        pts = []
        for pt in s.points:
            if step == 0 or (pt.t - start) % step or pt.t < start:
                raise ValueError(f"point at {pt.t} is not on the grid {start}+k*{step}")
            pts.append(((pt.t - start) // step, _result_value(pt.v)))
        out.append(f"  {format_series_name(s.labels)} {format_sparse_values(pts)}".rstrip())
    _ = end
    return out


def write_case(
    case: Case,
    expected: Result | None = None,
    *,
    comment: str | None = None,
    annotations: bool = True,
    fail_msg: bool = True,
) -> str:
    """A promqltest file for one case: a ``load`` block, the ``eval`` and, with
    ``expected``, ``expect`` lines and the expected values. Without ``expected`` the eval
    only asserts that the query succeeds. Raises ``ValueError`` for what promqltest cannot
    express (negative times, a multi-line query with a comment, points off the grid)."""
    lines: list[str] = []
    if comment:
        lines.extend(f"# {c}".rstrip() for c in comment.splitlines())
    if case.params.lookback_ms is not None:
        lines.append(LOOKBACK_COMMENT + format_duration(case.params.lookback_ms))
    ds = promqltest_dataset(case.dataset)
    if ds.series:
        lines.extend(_load_lines(ds, choose_interval(ds)))
        lines.append("")
    line = _eval_line(case.query, case.params)
    if _written_query(line) != case.query:
        lines.append(QUERY_COMMENT + json.dumps(case.query, ensure_ascii=False))
    lines.append(line)
    if expected is not None:
        lines.extend(_expected_lines(case, expected, annotations, fail_msg))
    return "\n".join(lines) + "\n"


def _write_eval(ev: EvalCommand) -> list[str]:
    head = "eval" + (f"_{ev.legacy}" if ev.legacy else "")
    base = _eval_line(ev.query, ev.params)
    lines = (
        [QUERY_COMMENT + json.dumps(ev.query, ensure_ascii=False)]
        if _one_line_query(ev.query) != ev.query
        else []
    )
    lines.append(head + base[len("eval") :])
    for e in ev.expectations:
        lines.append(f"  {e.to_line()}")
    if ev.range_vector is not None:
        a, b, c = ev.range_vector
        lines.append(
            f"  expect range vector from {format_duration(a)} to {format_duration(b)} step {format_duration(c)}"
        )
    if ev.string is not None:
        lines.append(f"  expect string {quote_string(ev.string)}")
    for s in ev.series:
        vals = format_sparse_values(s.points)
        if s.length > (s.points[-1][0] + 1 if s.points else 0):
            gap = s.length - (s.points[-1][0] + 1 if s.points else 0)
            vals = (vals + " " + ("_" if gap == 1 else f"_x{gap}")).strip()
        lines.append(f"  {format_series_name(s.labels)} {vals}".rstrip())
    if ev.scalar is not None:
        lines.append(f"  {format_float(ev.scalar)}")
    if ev.expected_fail_message is not None:
        lines.append(f"  expected_fail_message {ev.expected_fail_message}")
    elif ev.expected_fail_regexp is not None:
        lines.append(f"  expected_fail_regexp {ev.expected_fail_regexp}")
    return lines


def write_test_file(tf: TestFile) -> str:
    """A whole :class:`TestFile` back to text (comments are not kept, but for the
    ``# promfuzz:lookback`` setting)."""
    lines: list[str] = []
    if tf.lookback_ms is not None:
        lines.append(LOOKBACK_COMMENT + format_duration(tf.lookback_ms))
    for cmd in tf.commands:
        if isinstance(cmd, ClearCommand):
            lines.append("clear")
        elif isinstance(cmd, LoadCommand):
            ds = promqltest_dataset(cmd.written)
            lines.extend(_load_lines(ds, cmd.interval_ms, cmd.with_nhcb))
            if cmd.start_timestamps:
                raise ValueError("writing @st start timestamps is not supported")
        else:
            lines.extend(_write_eval(cmd))
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- expected


def _seq_point(t: int, v: SeqValue) -> Point | None:
    if v.value is None:
        return None
    if isinstance(v.value, Histogram):
        h = v.value
        return Point(t, ResultHistogram(h.count, h.sum, histmath.api_buckets(h), h))
    return Point(t, v.value)


def expected_to_result(ev: EvalCommand, engine: str = "expected") -> Result:
    """A file's expectation as a :class:`Result` (errors and annotations as far as the file
    spells them out: ``msg:`` texts are kept, regexes and bare ``expect warn`` are not)."""
    if ev.is_fail:
        msg = ev.expected_fail_message or next((e.text for e in ev.expects("fail") if e.match == "msg"), "")
        return Result(engine=engine, outcome="error", error=ResultError("", msg))
    warnings = tuple(e.text for e in ev.expects("warn") if e.match == "msg")
    infos = tuple(e.text for e in ev.expects("info") if e.match == "msg")
    p = ev.eval_params
    if ev.string is not None:
        return Result(
            engine=engine, outcome="ok", value_type="string", string=ev.string, warnings=warnings, infos=infos
        )
    if ev.scalar is not None:
        return Result(
            engine=engine,
            outcome="ok",
            value_type="scalar",
            scalar=Point(p.time_ms if not p.is_range else p.start_ms, ev.scalar),
            warnings=warnings,
            infos=infos,
        )
    start, step = ev.grid
    matrix = p.is_range or ev.range_vector is not None
    series = []
    for s in ev.series:
        pts = []
        for k, v in s.points:
            pt = _seq_point(start + k * step, v)
            if pt is not None:
                pts.append(pt)
        series.append(ResultSeries(s.labels, tuple(pts)))
    if matrix:
        series.sort(key=lambda s: s.labels)
    return Result(
        engine=engine,
        outcome="ok",
        value_type="matrix" if matrix else "vector",
        series=tuple(series),
        warnings=warnings,
        infos=infos,
    )
