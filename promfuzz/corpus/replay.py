"""Replay promqltest files and corpus folders against an engine.

``replay(paths, engine)`` runs every ``eval`` of every ``.test`` file (folders are searched
recursively; a corpus case's ``.json`` sidecar adds its status) and checks the engine's
answer against the file's expectations with promqltest's own rules (``test.go`` of
Prometheus v0.316.0), so Prometheus's upstream testdata becomes a compliance suite for any
engine:

* floats compare with ``almost.Equal(a, b, 1e-6)`` (relative; the stale marker equals
  only itself, other NaNs equal each other) -- the files' contract, not the differential
  tolerance;
* ``expect fail`` (``msg:`` exact, ``regex:`` search), legacy ``eval_fail`` with
  ``expected_fail_message`` / ``expected_fail_regexp``;
* ``expect warn|info`` (every expectation matches an annotation and every annotation
  matches an expectation), ``no_warn``/``no_info``, legacy ``eval_warn``/``eval_info``
  (at least one). An annotation also matches when equal after dropping its trailing
  position ``(l:c)``: Mimir's files are written against unpositioned messages; an error
  also matches without the HTTP API's ``invalid parameter "query": `` prefix;
* ``expect ordered`` / ``eval_ordered`` (vector positions), range results sorted by labels;
* native histograms compared after ``Compact(0)`` (counter-reset hint only when the file
  sets one), by count/sum/bucket bounds when the engine gives no full form;
* instant evals are re-run as a range query from t-1m to t+1m step 1m whose middle step
  must give the same answer (skipped, as promqltest does, for ordered results, range
  vectors, strings and queries using start()/end()/range()/step()).

* instant evals are also re-run with ``@ t`` pinned on every selector at the times
  promqltest uses (``-10t, 0, t/5, t, 10t``; ``-1s, 0, 1s`` when t is 0), each with its
  own range-mode check (the query is rewritten with :mod:`promfuzz.promql`; queries it
  cannot parse, and those using promql.AtModifierUnsafeFunctions, get no variants).

Evals that read data loaded with ``@st`` start timestamps are skipped with that reason:
a dataset cannot carry start timestamps.

With ``against=`` the two engines are compared live with :mod:`promfuzz.oracles.compare`
instead of the file's expectations.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from promfuzz.corpus import histmath
from promfuzz.corpus.promqltest import (
    EPSILON,
    EvalCommand,
    Expectation,
    TestFile,
    read_test_file,
)
from promfuzz.corpus.seriesdesc import SeqValue, format_series_name
from promfuzz.corpus.store import SIDECAR_FORMAT, CaseMeta
from promfuzz.errors import CorpusError, EngineError, PromQLTestFormatError
from promfuzz.model import (
    Dataset,
    EvalParams,
    Histogram,
    Labels,
    Point,
    PointValue,
    Result,
    ResultHistogram,
    ResultSeries,
    is_stale,
)

OutcomeKind = Literal["passed", "failed", "unsupported", "skipped", "expected", "error"]
_MIN_NORMAL = 2.2250738585072014e-308
_POSITION = re.compile(r"\s*\(\d+:\d+\)$")
_QUERY_CONTEXT_FUNCS = re.compile(r"(start|end|range|step)\(\)")


def almost_equal(a: float, b: float, epsilon: float = EPSILON) -> bool:
    """Prometheus's ``util/almost.Equal``."""
    if is_stale(a) or is_stale(b):
        return is_stale(a) and is_stale(b)
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < epsilon * _MIN_NORMAL
    return diff / min(abs_sum, 1.7976931348623157e308) < epsilon


# ----------------------------------------------------------------------------- report


@dataclass(frozen=True)
class EvalOutcome:
    """One eval's result. ``detail`` is the diff or the reason."""

    file: str
    line: int
    query: str
    kind: OutcomeKind
    detail: str = ""
    case_status: str | None = None  # corpus sidecar status (open/expected/fixed)
    case_id: str | None = None

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "query": self.query,
            "outcome": self.kind,
            "detail": self.detail,
            "case_status": self.case_status,
            "case_id": self.case_id,
        }


KINDS: tuple[OutcomeKind, ...] = ("passed", "failed", "unsupported", "skipped", "expected", "error")


def _counts(outcomes: Iterable[EvalOutcome]) -> dict[str, int]:
    c: dict[str, int] = dict.fromkeys(KINDS, 0)
    for o in outcomes:
        c[o.kind] += 1
    return c


@dataclass(frozen=True)
class FileReport:
    path: str
    outcomes: tuple[EvalOutcome, ...] = ()
    error: str | None = None  # the file could not be read or loaded
    engine: str | None = None  # the engine spec this file ran on, when per-file settings changed it

    @property
    def counts(self) -> dict[str, int]:
        c = _counts(self.outcomes)
        if self.error is not None and not self.outcomes:
            c["error"] += 1
        return c


@dataclass(frozen=True)
class ReplayReport:
    engine: str
    against: str | None
    files: tuple[FileReport, ...]
    wall_s: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def totals(self) -> dict[str, int]:
        t: dict[str, int] = dict.fromkeys(KINDS, 0)
        for f in self.files:
            for k, v in f.counts.items():
                t[k] += v
        return t

    @property
    def failed(self) -> int:
        """Failed evals plus files or loads in error (what makes a replay unsuccessful)."""
        t = self.totals
        return t["failed"] + t["error"]

    @property
    def ok(self) -> bool:
        """No failures and no errors (skips, unsupported and expected are fine)."""
        t = self.totals
        return t["failed"] == 0 and t["error"] == 0

    @property
    def outcomes(self) -> list[EvalOutcome]:
        return [o for f in self.files for o in f.outcomes]

    @property
    def fixed_candidates(self) -> list[EvalOutcome]:
        """Corpus cases still marked open that pass now."""
        return [o for o in self.outcomes if o.kind == "passed" and o.case_status == "open"]

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "against": self.against,
            "wall_s": round(self.wall_s, 3),
            "totals": self.totals,
            "notes": list(self.notes),
            "files": [
                {
                    "path": f.path,
                    "engine": f.engine or self.engine,
                    "counts": f.counts,
                    "error": f.error,
                    "outcomes": [o.to_json_obj() for o in f.outcomes],
                }
                for f in self.files
            ],
        }


def format_report(
    report: ReplayReport,
    *,
    verbose: bool = False,
    show: Sequence[OutcomeKind] = ("failed", "error", "skipped", "unsupported"),
    max_detail_lines: int = 30,
) -> str:
    """A readable report: per-file counts, then each failure (with its diff), error, skip
    and unsupported eval (``verbose``: every eval, passed ones too)."""
    if verbose:
        show = KINDS
    vs = f" against {report.against}" if report.against else " against the files' expectations"
    lines = [f"replay: engine {report.engine}{vs}"]
    width = max((len(f.path) for f in report.files), default=10)
    head = "  ".join(f"{k:>11}" for k in KINDS)
    lines.append(f"{'file':<{width}}  {head}")
    for f in report.files:
        c = f.counts
        lines.append(f"{f.path:<{width}}  " + "  ".join(f"{c[k]:>11}" for k in KINDS))
    t = report.totals
    lines.append(f"{'TOTAL':<{width}}  " + "  ".join(f"{t[k]:>11}" for k in KINDS))
    for f in report.files:
        if f.error:
            lines.append(f"\nERROR {f.path}: {f.error}")
    for o in report.outcomes:
        if o.kind not in show:
            continue
        tag = o.kind.upper()
        status = f" [case {o.case_id} status {o.case_status}]" if o.case_status else ""
        lines.append(f"\n{tag} {o.file}:{o.line}{status}: {o.query}")
        detail = o.detail.splitlines()
        for d in detail[:max_detail_lines]:
            lines.append(f"    {d}")
        if len(detail) > max_detail_lines:
            lines.append(f"    ... {len(detail) - max_detail_lines} more lines")
    for o in report.fixed_candidates:
        lines.append(f"\nNOW PASSING {o.file}:{o.line} [case {o.case_id} is marked open]: {o.query}")
    for n in report.notes:
        lines.append(f"note: {n}")
    lines.append(f"\n{report.wall_s:.1f}s; " + ", ".join(f"{t[k]} {k}" for k in KINDS))
    return "\n".join(lines) + "\n"


def write_report(report: ReplayReport, out_dir: str | Path) -> tuple[Path, Path]:
    """``replay.json`` and ``replay.txt`` in ``out_dir``."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    jp, tp = d / "replay.json", d / "replay.txt"
    jp.write_text(json.dumps(report.to_json_obj(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tp.write_text(format_report(report), encoding="utf-8")
    return jp, tp


# ----------------------------------------------------------------------------- promqltest checks


class _Mismatch(Exception):
    pass


def _fmt(x: PointValue | SeqValue | Histogram | float | None) -> str:
    v = x.value if isinstance(x, SeqValue) else x
    if isinstance(v, ResultHistogram):
        return f"{{{{count:{v.count!r} sum:{v.sum!r} buckets:{[(b.lower, b.upper, b.count) for b in v.buckets]}}}}}"
    if isinstance(v, Histogram):
        from promfuzz.corpus.seriesdesc import format_histogram

        return format_histogram(v)
    if isinstance(v, float):
        return "stale" if is_stale(v) else repr(v)
    return str(v)


def _annotation_matches(e: Expectation, actual: str) -> bool:
    if e.matches(actual):
        return True
    stripped = _POSITION.sub("", actual)
    return stripped != actual and e.matches(stripped)


def _check_annotations(ev: EvalCommand, res: Result) -> None:
    if ev.legacy == "warn" and not res.warnings:
        raise _Mismatch(f"expected warnings evaluating query {ev.query!r} but got none")
    if ev.legacy == "info" and not res.infos:
        raise _Mismatch(f"expected info annotations evaluating query {ev.query!r} but got none")
    for kind, actual in (("warn", res.warnings), ("info", res.infos)):
        exps = ev.expects(kind)  # type: ignore[arg-type]
        if exps:
            if not actual:
                raise _Mismatch(f"expected {kind} annotations but none were found")
            for e in exps:
                if not any(_annotation_matches(e, a) for a in actual):
                    raise _Mismatch(
                        f"expected {kind} annotation matching {e.match} {e.text!r} but found: {list(actual)}"
                    )
            for a in actual:
                if not any(_annotation_matches(e, a) for e in exps):
                    raise _Mismatch(f"unexpected {kind} annotation {a!r}")
    if ev.expects("no_warn") and res.warnings:
        raise _Mismatch(f"unexpected warning annotations: {list(res.warnings)}")
    if ev.expects("no_info") and res.infos:
        raise _Mismatch(f"unexpected info annotations: {list(res.infos)}")


_API_PREFIX = 'invalid parameter "query": '


def _check_failure(ev: EvalCommand, message: str) -> None:
    try:
        _check_failure_text(ev, message)
    except _Mismatch:
        # The HTTP API wraps parse/prepare errors; promqltest sees the engine's own text.
        if not message.startswith(_API_PREFIX):
            raise
        _check_failure_text(ev, message[len(_API_PREFIX) :])


def _check_failure_text(ev: EvalCommand, message: str) -> None:
    if (
        ev.expected_fail_message is not None
        and ev.expected_fail_message != ""
        and ev.expected_fail_message != message
    ):
        raise _Mismatch(f"expected error {ev.expected_fail_message!r}, but got: {message}")
    if ev.expected_fail_regexp is not None and not re.search(ev.expected_fail_regexp, message):
        raise _Mismatch(f"expected error matching pattern {ev.expected_fail_regexp!r}, but got: {message}")
    fails = ev.expects("fail")
    if fails and not fails[0].matches(message):
        raise _Mismatch(f"expected error matching {fails[0].text!r}, but got: {message}")


def _hist_equal(exp: Histogram, hint_set: bool, got: ResultHistogram) -> bool:
    if got.full is not None:
        return histmath.semantic_equal(histmath.compact(exp, 0), got.full, almost_equal, hint_set)
    if not (almost_equal(exp.count, got.count) and almost_equal(exp.sum, got.sum)):
        return False
    eb = histmath.api_buckets(exp)
    gb = sorted(got.buckets, key=lambda b: (b.lower, b.upper))
    eb = tuple(sorted(eb, key=lambda b: (b.lower, b.upper)))
    if len(eb) != len(gb):
        return False
    return all(
        x.boundary == y.boundary
        and almost_equal(x.lower, y.lower)
        and almost_equal(x.upper, y.upper)
        and almost_equal(x.count, y.count)
        for x, y in zip(eb, gb, strict=True)
    )


def _expected_map(ev: EvalCommand) -> dict[Labels, tuple[int, list[tuple[int, SeqValue]], int]]:
    return {s.labels: (s.pos, list(s.points), s.length) for s in ev.series}


def _compare_result(ev: EvalCommand, res: Result, params: EvalParams) -> None:
    vt = res.value_type
    expected = _expected_map(ev)
    if vt == "matrix":
        if ev.is_ordered:
            raise _Mismatch("expected ordered result, but query returned a matrix")
        if ev.expect_scalar:
            raise _Mismatch("expected scalar result, but got matrix")
        for a, b in zip(res.series, res.series[1:], strict=False):
            if a.labels > b.labels:
                raise _Mismatch(
                    f"matrix results should always be sorted by labels, but {format_series_name(b.labels)} comes after {format_series_name(a.labels)}"
                )
        if ev.range_vector is not None:
            start, end, step = ev.range_vector
        elif params.is_range:
            start, end, step = params.start_ms, params.end_ms, params.step_ms
        else:
            start, end, step = params.time_ms, params.time_ms, 0
        seen: set[Labels] = set()
        for s in res.series:
            if s.labels not in expected:
                raise _Mismatch(
                    f"unexpected metric {format_series_name(s.labels)} in result, has {_brief(s.points)}"
                )
            seen.add(s.labels)
            _, pts, length = expected[s.labels]
            if length and start + (length - 1) * step > end:
                raise _Mismatch(
                    f"expected {length} points for {format_series_name(s.labels)}, but query time range cannot return this many points"
                )
            exp_f = [(start + k * step, v) for k, v in pts if not isinstance(v.value, Histogram)]
            exp_h = [(start + k * step, v) for k, v in pts if isinstance(v.value, Histogram)]
            got_f = [p for p in s.points if not isinstance(p.v, ResultHistogram)]
            got_h = [p for p in s.points if isinstance(p.v, ResultHistogram)]
            if len(exp_f) != len(got_f) or len(exp_h) != len(got_h):
                raise _Mismatch(
                    f"expected {len(exp_f)} float points and {len(exp_h)} histogram points for {format_series_name(s.labels)}, but got {_brief(s.points)}"
                )
            for (t, e), p in zip(exp_f, got_f, strict=True):
                if t != p.t:
                    raise _Mismatch(
                        f"expected float value for {format_series_name(s.labels)} at t={t}, but it had timestamp {p.t} (result has {_brief(s.points)})"
                    )
                assert isinstance(e.value, float) and isinstance(p.v, float)
                if not almost_equal(p.v, e.value):
                    raise _Mismatch(
                        f"expected float value at t={t} for {format_series_name(s.labels)} to be {_fmt(e)}, but got {_fmt(p.v)}"
                    )
            for (t, e), p in zip(exp_h, got_h, strict=True):
                if t != p.t:
                    raise _Mismatch(
                        f"expected histogram value for {format_series_name(s.labels)} at t={t}, but it had timestamp {p.t}"
                    )
                assert isinstance(e.value, Histogram) and isinstance(p.v, ResultHistogram)
                if not _hist_equal(e.value, e.hint_set, p.v):
                    raise _Mismatch(
                        f"expected histogram value at t={t} for {format_series_name(s.labels)} to be {_fmt(e)}, but got {_fmt(p.v.full or p.v)}"
                    )
        for lab in expected:
            if lab not in seen:
                raise _Mismatch(f"expected metric {format_series_name(lab)} not found")
        return
    if vt == "vector":
        if ev.expect_scalar:
            raise _Mismatch(f"expected scalar result, but got vector {_brief_vec(res.series)}")
        seen = set()
        for pos, s in enumerate(res.series):
            if s.labels not in expected:
                raise _Mismatch(
                    f"unexpected metric {format_series_name(s.labels)} in result, has value {_fmt(s.points[0].v if s.points else None)}"
                )
            epos, pts, _ = expected[s.labels]
            if ev.is_ordered and epos != pos + 1:
                raise _Mismatch(
                    f"expected metric {format_series_name(s.labels)} at position {epos} but was at {pos + 1}"
                )
            e0 = pts[0][1] if pts and pts[0][0] == 0 else SeqValue(None)
            got = s.points[0].v if s.points else math.nan
            if isinstance(e0.value, Histogram):
                if not isinstance(got, ResultHistogram):
                    raise _Mismatch(
                        f"expected histogram {_fmt(e0)} for {format_series_name(s.labels)} but got float value {_fmt(got)}"
                    )
                if not _hist_equal(e0.value, e0.hint_set, got):
                    raise _Mismatch(
                        f"expected {_fmt(e0)} for {format_series_name(s.labels)} but got {_fmt(got.full or got)}"
                    )
            else:
                if isinstance(got, ResultHistogram):
                    raise _Mismatch(
                        f"expected float value {_fmt(e0)} for {format_series_name(s.labels)} but got histogram {_fmt(got)}"
                    )
                ef = e0.value if isinstance(e0.value, float) else 0.0
                if not almost_equal(ef, got):
                    raise _Mismatch(
                        f"expected {_fmt(ef)} for {format_series_name(s.labels)} but got {_fmt(got)}"
                    )
            seen.add(s.labels)
        for lab in expected:
            if lab not in seen:
                raise _Mismatch(f"expected metric {format_series_name(lab)} not found")
        return
    if vt == "scalar":
        if not ev.expect_scalar:
            raise _Mismatch(
                f"expected vector or matrix result, but got scalar {_fmt(res.scalar.v if res.scalar else None)}"
            )
        got = res.scalar.v if res.scalar else math.nan
        assert ev.scalar is not None
        if isinstance(got, ResultHistogram) or not almost_equal(ev.scalar, got):
            raise _Mismatch(f"expected scalar {_fmt(ev.scalar)} but got {_fmt(got)}")
        return
    if vt == "string":
        if (ev.string or "") != (res.string or ""):
            raise _Mismatch(f"expected string {ev.string!r} but got {res.string!r}")
        return
    raise _Mismatch(f"unexpected result type {vt!r}")


def _brief(points: Sequence[Point], limit: int = 6) -> str:
    s = ", ".join(f"{_fmt(p.v)} @{p.t}" for p in points[:limit])
    return f"{len(points)} points [{s}{', ...' if len(points) > limit else ''}]"


def _brief_vec(series: Sequence[ResultSeries], limit: int = 5) -> str:
    return "; ".join(
        f"{format_series_name(s.labels)} {_fmt(s.points[0].v) if s.points else ''}" for s in series[:limit]
    )


def _range_mode_result(res: Result, t: int, was_scalar: bool) -> Result:
    """The middle step of the range check as the instant result it must equal."""
    series = []
    for s in res.series:
        for p in s.points:
            if p.t == t:
                series.append(ResultSeries(s.labels, (p,)))
                break
    if was_scalar:
        return Result(
            engine=res.engine,
            outcome="ok",
            value_type="scalar",
            scalar=series[0].points[0] if series else None,
        )
    return Result(engine=res.engine, outcome="ok", value_type="vector", series=tuple(series))


def check_eval(
    ev: EvalCommand, res: Result, range_res: Result | None = None, at_ms: int | None = None
) -> tuple[OutcomeKind, str]:
    """promqltest's verdict on one eval: ``("passed", "")`` or ``("failed", why)`` (or
    ``unsupported`` when the engine declined the query)."""
    if res.outcome == "unsupported":
        return "unsupported", res.error.message if res.error else ""
    if res.outcome in ("timeout", "engine_failure"):
        return "failed", f"{res.outcome}: {res.error.message if res.error else ''}"
    try:
        if res.outcome == "error":
            msg = res.error.message if res.error else ""
            if not ev.is_fail:
                raise _Mismatch(f"error evaluating query: {msg}")
            _check_failure(ev, msg)
            return "passed", ""
        if ev.is_fail:
            raise _Mismatch(f"expected error evaluating query {ev.query!r} but got none")
        _check_annotations(ev, res)
        _compare_result(ev, res, ev.eval_params)
        if range_res is not None:
            if not range_res.ok:
                msg = range_res.error.message if range_res.error else range_res.outcome
                raise _Mismatch(f"error evaluating query in range mode: {msg}")
            if not ev.is_ordered:
                t = ev.eval_params.time_ms if at_ms is None else at_ms
                mid = _range_mode_result(range_res, t, res.value_type == "scalar")
                try:
                    _compare_result(ev, mid, ev.eval_params)
                except _Mismatch as e:
                    raise _Mismatch(f"range mode (t-1m..t+1m step 1m, middle step): {e}") from None
    except _Mismatch as e:
        return "failed", str(e)
    return "passed", ""


def wants_range_check(ev: EvalCommand) -> bool:
    return (
        not ev.params.is_range
        and not ev.exclude_from_range_query
        and not _QUERY_CONTEXT_FUNCS.search(ev.query)
    )


# ----------------------------------------------------------------------------- driving


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(
                sorted(x for x in p.rglob("*.test") if not any(part.startswith(".") for part in x.parts))
            )
        else:
            out.append(p)
    seen: set[Path] = set()
    uniq = []
    for p in out:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    return uniq


def _sidecar(test_path: Path) -> CaseMeta | None:
    jp = test_path.with_suffix(".json")
    if not jp.is_file():
        return None
    text = jp.read_text(encoding="utf-8")
    try:
        head = json.loads(text)
    except json.JSONDecodeError:
        head = None
    if not isinstance(head, dict) or head.get("format") != SIDECAR_FORMAT:
        return None
    return CaseMeta.from_json(text, str(jp))


def _file_lookback(path: str | Path) -> str | None:
    """The duration of a ``# promfuzz:lookback`` line of the file, if it has one."""
    from promfuzz.corpus.promqltest import LOOKBACK_COMMENT

    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                s = line.strip()
                if s.startswith(LOOKBACK_COMMENT):
                    return s[len(LOOKBACK_COMMENT):].strip()
    except OSError:
        return None
    return None


def file_settings(path: str | Path) -> tuple[dict[str, str], str]:
    """The engine options the upstream suite's own runner uses for ``path``, and where that
    is decided (empty for files of no known suite, corpus files included):

    * Prometheus's ``promql/promqltest/testdata/*.test``: promqltest.NewTestEngine runs
      every file with EnableDelayedNameRemoval (promql/promqltest/test.go:115).
    * Mimir's ``pkg/streamingpromql/testdata/upstream/*.test``: TestUpstreamTestCases runs
      MQE with delayed name removal on (comparisons/comparisons_test.go:31).
    * Mimir's ``testdata/ours*/*.test``: TestOurTestCases switches to engines with delayed
      name removal for files whose name contains ``name_label_dropping`` or
      ``delayed_name_removal_enabled`` (comparisons/comparisons_test.go:102), the default
      engines otherwise.
    * Any file with a ``# promfuzz:lookback 30s`` line (a campaign case run under another
      lookback delta; Thanos' engine tests set it per case in Go, promqltest cannot): the
      engines' ``lookback`` option.
    """
    lookback = _file_lookback(path)
    if lookback is not None:  # a case a campaign ran under another lookback delta
        return {"lookback": lookback}, "the file's # promfuzz:lookback line"
    parts = Path(path).parts
    name = parts[-1] if parts else ""
    if len(parts) >= 3 and parts[-2] == "testdata" and parts[-3] == "promqltest":
        return {"delayed_name_removal": "true"}, "promqltest.NewTestEngine (promql/promqltest/test.go:115)"
    if len(parts) >= 4 and parts[-3] == "testdata" and parts[-4] == "streamingpromql":
        if parts[-2] == "upstream":
            return {"delayed_name_removal": "true"}, "Mimir TestUpstreamTestCases (comparisons_test.go:31)"
        if parts[-2].startswith("ours"):
            if "name_label_dropping" in name or "delayed_name_removal_enabled" in name:
                return {"delayed_name_removal": "true"}, "Mimir TestOurTestCases (comparisons_test.go:102)"
            return {}, "Mimir TestOurTestCases (comparisons_test.go:102)"
    return {}, ""


class _FileEngines:
    """Engines with the per-file settings applied: the engine as given for files that need
    nothing else, or a sibling opened from its spec with the file's options added (options
    the spec sets itself win). Engines without a spec (fakes, http targets) and families
    without the option run every file as given, and the report says so in a note."""

    def __init__(self, eng: Any) -> None:
        self.eng = eng
        self.opened: dict[str, Any] = {}
        self.notes: set[str] = set()

    def for_file(self, path: Path) -> Any:
        settings, source = file_settings(path)
        spec = getattr(self.eng, "spec", None)
        if not settings:
            return self.eng
        if spec is None or spec.family_def is None:
            self.notes.add(f"per-file settings ({source}) not applied: engine {getattr(self.eng, 'name', '?')} has no spec")
            return self.eng
        explicit = set(spec.given)
        extra = {k: v for k, v in settings.items() if k not in explicit and spec.family_def.option(k) is not None}
        missing = sorted(set(settings) - set(extra) - set(explicit))
        if missing:
            self.notes.add(f"{spec.family} has no option {', '.join(missing)} ({source}); those files ran without it")
        from promfuzz.engines.spec import parse_spec

        wanted = parse_spec(spec.name)
        if extra:
            inner = spec.name[len(spec.family) + 1 : -1] if spec.name != spec.family else ""
            items = [i for i in [inner, *(f"{k}={v}" for k, v in extra.items())] if i]
            wanted = parse_spec(f"{spec.family}[{','.join(items)}]")
        if wanted.name == spec.name:
            return self.eng
        if wanted.name not in self.opened:
            from promfuzz.engines import open_engine

            self.opened[wanted.name] = open_engine(wanted.name)
        return self.opened[wanted.name]

    def close(self) -> None:
        for e in self.opened.values():
            e.close()
        self.opened.clear()


def _open(engine: Any) -> tuple[Any, bool]:
    if isinstance(engine, str):
        from promfuzz.engines import open_engine

        return open_engine(engine), True
    return engine, False


def _run_segment(
    engine: Any, ds: Dataset, items: list[tuple[str, EvalParams]], timeout_s: float | None
) -> list[Result] | str:
    try:
        engine.load(ds)
    except EngineError as e:
        return f"load failed: {e}"
    return list(engine.query_many(items, timeout_s))


def replay(
    paths: Iterable[str | Path],
    engine: Any,
    against: Any | None = None,
    *,
    range_check: bool = True,
    at_variants: bool = True,
    timeout_s: float | None = None,
    out_dir: str | Path | None = None,
    file_options: bool = True,
    record_annotations: bool = False,
) -> ReplayReport:
    """Replay every eval of the given .test files / folders on ``engine`` (an Engine or a
    name for :func:`promfuzz.engines.open_engine`). Without ``against``, check the files'
    expectations; with it, compare the two engines live. ``file_options``: run each
    upstream suite file with the engine options its own runner uses (:func:`file_settings`;
    Prometheus's and Mimir's testdata turn on delayed name removal). ``record_annotations``:
    a corpus case whose sidecar lacks the exact annotations gets them from ``engine``'s
    answer when ``engine`` is the case's reference and the eval passes."""
    t0 = time.perf_counter()
    eng, own_e = _open(engine)
    ref, own_r = _open(against) if against is not None else (None, False)
    files: list[FileReport] = []
    per_file = _FileEngines(eng) if file_options and against is None else None
    try:
        for path in _expand(paths):
            feng = per_file.for_file(path) if per_file is not None else eng
            fr = _replay_file(path, feng, ref, range_check, timeout_s, at_variants, record_annotations)
            if feng is not eng:
                fr = replace(fr, engine=feng.name)
            files.append(fr)
    finally:
        if per_file is not None:
            per_file.close()
        if own_e:
            eng.close()
        if own_r and ref is not None:
            ref.close()
    notes = (
        ()
        if against is not None or at_variants
        else ("promqltest's @-pinned re-runs of instant queries were not replayed",)
    ) + tuple(sorted(per_file.notes if per_file is not None else ()))
    report = ReplayReport(
        engine=getattr(eng, "name", str(engine)),
        against=getattr(ref, "name", None) if ref is not None else None,
        files=tuple(files),
        wall_s=time.perf_counter() - t0,
        notes=notes,
    )
    if out_dir is not None:
        write_report(report, out_dir)
    return report


# promql.AtModifierUnsafeFunctions: an instant eval using one of these is not re-run pinned.
_AT_UNSAFE = frozenset(
    f"fn:{f}"
    for f in (
        "days_in_month day_of_month day_of_week day_of_year end hour minute month year "
        "predict_linear range start step time timestamp"
    ).split()
)


@dataclass(frozen=True)
class _Run:
    label: str  # "" for the eval itself, else which @-pinned variant
    main: int  # index of the query in the batch
    rng: int  # index of its range-mode check, or -1
    query: str = ""
    at_ms: int = 0


def pinned_variants(ev: EvalCommand) -> list[tuple[str, EvalParams]]:
    """promqltest's re-runs of an instant eval with ``@ t`` pinned on every selector
    (``atModifierTestCases``): empty for range evals, queries using time-dependent
    functions, and queries our parser cannot read."""
    if ev.params.is_range:
        return []
    from promfuzz.oracles._metamorphic import parse_case_query
    from promfuzz.oracles.at_pinning import pin_at
    from promfuzz.promql import to_text

    parsed = parse_case_query(ev.query)
    if isinstance(parsed, str) or parsed.features & _AT_UNSAFE:
        return []
    ts = ev.eval_params.time_ms
    # Printed exactly as Prometheus's String() prints it (promqltest runs that text, and
    # annotation positions in expectations refer to it: e.g. "+Inf", not our "Inf").
    pinned = to_text(pin_at(parsed.expr, ts)[0], prometheus=True)
    times = [-1000, 0, 1000] if ts == 0 else [-10 * ts, 0, int(ts / 5), ts, 10 * ts]
    return [(pinned, EvalParams.instant(t)) for t in times]


def _plan(
    ev: EvalCommand, items: list[tuple[str, EvalParams]], range_check: bool, with_at: bool
) -> list[_Run]:
    runs = []
    variants = [("", ev.query, ev.eval_params)]
    if with_at:
        variants += [(f"@-pinned variant {q!r} at t={p.time_ms}ms", q, p) for q, p in pinned_variants(ev)]
    for label, q, p in variants:
        main = len(items)
        items.append((q, p))
        rng = -1
        if range_check and wants_range_check(ev) and not _QUERY_CONTEXT_FUNCS.search(q):
            rng = len(items)
            items.append((q, EvalParams.range(p.time_ms - 60_000, p.time_ms + 60_000, 60_000)))
        runs.append(_Run(label, main, rng, q, p.time_ms))
    return runs


def _check_plan(ev: EvalCommand, plan: list[_Run], got: Sequence[Result]) -> tuple[OutcomeKind, str]:
    for run in plan:
        kind, detail = check_eval(ev, got[run.main], got[run.rng] if run.rng >= 0 else None, run.at_ms)
        if kind != "passed":
            return kind, f"{run.label}: {detail}" if run.label else detail
    return "passed", ""


def _replay_file(
    path: Path,
    eng: Any,
    ref: Any | None,
    range_check: bool,
    timeout_s: float | None,
    at_variants: bool = True,
    record_annotations: bool = False,
) -> FileReport:
    name = str(path)
    try:
        tf: TestFile = read_test_file(path)
        meta = _sidecar(path)
    except (PromQLTestFormatError, CorpusError) as e:
        return FileReport(name, error=str(e))
    st_flags = dict((id(ev), st) for ev, st in tf.start_timestamps_in_effect())
    outcomes: list[EvalOutcome] = []
    # Group consecutive evals over the same data so each dataset loads once.
    segments: list[tuple[Dataset, list[EvalCommand]]] = []
    for ds, ev in tf.evals():
        if segments and segments[-1][0] is ds:
            segments[-1][1].append(ev)
        else:
            segments.append((ds, [ev]))
    status = meta.status if meta else None
    cid = meta.case_id if meta else None
    bug = ledger_bug(path)  # the ledger's status (corpus/bugs/) overrides the sidecar's
    if bug is not None and bug.status == "fixed":
        status = "fixed"

    def out(ev: EvalCommand, kind: OutcomeKind, detail: str = "") -> None:
        if kind == "failed" and status == "expected":
            kind = "expected"
        elif kind == "failed" and status == "fixed":
            which = f" (bug {bug.id}, fixed in {bug.fixed_in})" if bug is not None and bug.status == "fixed" else ""
            detail = f"REGRESSION: this case is marked fixed{which}\n{detail}"
        outcomes.append(EvalOutcome(name, ev.line, ev.query, kind, detail, status, cid))

    for ds, evs in segments:
        runnable = []
        for ev in evs:
            if st_flags.get(id(ev)):
                out(ev, "skipped", "the data carries @st start timestamps, which a dataset cannot express")
            else:
                runnable.append(ev)
        if not runnable:
            continue
        exact = None
        if meta is not None and len(runnable) == 1 and len(evs) == 1:
            # A corpus case: the sidecar holds the exact case (and the answer's exact annotations).
            ds = meta.case.dataset
            runnable = [_with_query(runnable[0], meta.case.query)]
            exact = meta.annotations
        items: list[tuple[str, EvalParams]] = []
        plans: list[list[_Run]] = []
        for ev in runnable:
            if ref is None:
                plans.append(_plan(ev, items, range_check, at_variants))
            else:
                plans.append([_Run("", len(items), -1)])
                items.append((ev.query, ev.eval_params))
        got = _run_segment(eng, ds, items, timeout_s)
        if isinstance(got, str):
            for ev in runnable:
                out(ev, "error", got)
            continue
        ref_got: list[Result] | str | None = None
        if ref is not None:
            ref_got = _run_segment(ref, ds, items, timeout_s)
        for ev, plan in zip(runnable, plans, strict=True):
            if ref is None:
                kind, detail = _check_plan(ev, plan, got)
                if kind == "passed" and exact is not None:
                    kind, detail = check_exact_annotations(exact, got[plan[0].main])
                elif kind == "passed" and record_annotations and meta is not None and is_reference_of(eng, meta):
                    _record_annotations(path, meta, got[plan[0].main])
                out(ev, kind, detail)
            elif isinstance(ref_got, str):
                out(ev, "error", f"reference {ref_got}")
            else:
                assert ref_got is not None
                kind, detail = _compare_live(ev, ref_got[plan[0].main], got[plan[0].main],
                                             _operand(ref, ev.eval_params, timeout_s))
                out(ev, kind, detail)
    return FileReport(name, tuple(outcomes))


def check_exact_annotations(exact: Mapping[str, Sequence[str]], res: Result) -> tuple[OutcomeKind, str]:
    """The stored answer's exact warnings and infos (positions and the metric name
    included) against the engine's, as multisets: the patterns in the .test file accept
    any position and an optional `` for metric name "..."``, so this is what catches an
    engine that moves an annotation or names the metric where the reference does not."""
    from collections import Counter

    for kind, got in (("warnings", res.warnings), ("infos", res.infos)):
        want = Counter(exact.get(kind, ()))
        have = Counter(got)
        if want != have:
            lost = sorted((want - have).elements())
            extra = sorted((have - want).elements())
            return "failed", (f"{kind} differ from the exact texts stored with the case (.json 'annotations'): "
                              f"stored only {lost}, got only {extra}")
    return "passed", ""


def is_reference_of(eng: Any, meta: CaseMeta) -> bool:
    """Is ``eng`` the engine whose answer the case stores (its sidecar names the engines
    compared; the signature names the target, the other one is the reference)?"""
    vsig = (meta.verdict or {}).get("signature") or {}
    target = str((meta.signature or {}).get("target") or vsig.get("target") or "")
    refs = [e for e in meta.engines if e != target]
    return len(refs) == 1 and getattr(eng, "name", None) == refs[0]


def _record_annotations(path: Path, meta: CaseMeta, res: Result) -> None:
    """Fill a sidecar's missing exact annotations from its reference's passing answer."""
    from promfuzz.corpus.store import atomic_write, exact_annotations

    if meta.annotations is None and res.ok:
        atomic_write(path.with_suffix(".json"), replace(meta, annotations=exact_annotations(res)).to_json())


def ledger_bug(test_path: str | Path) -> Any:
    """The bug-ledger entry (promfuzz.bugs.Bug) whose members include this corpus case, or
    None (no ``bugs/`` folder next to its signature folder, or not a member)."""
    p = Path(test_path).resolve()
    root = p.parent.parent
    d = root / "bugs"
    if not d.is_dir():
        return None
    stamp = tuple((f.name, f.stat().st_mtime_ns) for f in sorted(d.glob("*.toml")))
    return _ledger_index(str(root), stamp).get(str(p.relative_to(root)))


@functools.lru_cache(maxsize=8)
def _ledger_index(root: str, stamp: tuple[tuple[str, int], ...]) -> dict[str, Any]:
    from promfuzz.bugs.ledger import case_index, load_ledger

    return case_index(load_ledger(root, check_members=False))


def _with_query(ev: EvalCommand, query: str) -> EvalCommand:
    from dataclasses import replace

    return replace(ev, query=query)


def _operand(ref: Any, params: EvalParams, timeout_s: float | None) -> Any:
    """The comparator's operand resolver: the reference engine's answer to a subexpression
    (it still holds the segment's data: both engines answered the segment just before)."""
    return lambda text: ref.query(text, params, timeout_s)


def _compare_live(ev: EvalCommand, ref: Result, tgt: Result, operand: Any = None) -> tuple[OutcomeKind, str]:
    from promfuzz.oracles.compare import compare_results

    if tgt.outcome == "unsupported":
        return "unsupported", tgt.error.message if tgt.error else ""
    c = compare_results(ev.query, ev.eval_params, ref, tgt, operand=operand)
    if c.equal:
        return "passed", ""
    return "failed", c.diff_text()


# ----------------------------------------------------------------------------- one eval at a time


@dataclass(frozen=True)
class ReplayCase:
    """One eval of a file with the data it runs on (for the pytest plugin)."""

    source: str
    line: int
    query: str
    item_name: str
    dataset: Dataset
    eval: EvalCommand
    skip_reason: str | None = None
    case_status: str | None = None
    case_id: str | None = None


@dataclass(frozen=True)
class CaseOutcome:
    status: Literal["passed", "failed", "skipped"]
    engine: str
    detail: str = ""
    reason: str = ""


def file_cases(path: str | Path) -> list[ReplayCase]:
    """Every eval of a .test file (with the corpus sidecar's exact case when there is one).
    Raises :class:`PromQLTestFormatError` / :class:`CorpusError` for a malformed file."""
    p = Path(path)
    tf = read_test_file(p)
    meta = _sidecar(p)
    st_flags = {id(ev): st for ev, st in tf.start_timestamps_in_effect()}
    evals = list(tf.evals())
    out = []
    for ds, ev in evals:
        if meta is not None and len(evals) == 1:
            ds, ev = meta.case.dataset, _with_query(ev, meta.case.query)
        skip = (
            "the data carries @st start timestamps, which a dataset cannot express"
            if st_flags.get(id(ev))
            else None
        )
        short = ev.query if len(ev.query) <= 80 else ev.query[:77] + "..."
        out.append(
            ReplayCase(
                source=str(p),
                line=ev.line,
                query=ev.query,
                item_name=f"line {ev.line}: {short}",
                dataset=ds,
                eval=ev,
                skip_reason=skip,
                case_status=meta.status if meta else None,
                case_id=meta.case_id if meta else None,
            )
        )
    return out


def check_case(
    case: ReplayCase,
    engine: Any,
    *,
    range_check: bool = True,
    at_variants: bool = True,
    timeout_s: float | None = None,
) -> CaseOutcome:
    """Run one eval on ``engine`` and apply promqltest's checks. ``unsupported`` and failures
    of cases whose corpus status is ``expected`` come back as ``skipped`` with the reason."""
    name = str(getattr(engine, "name", engine))
    if case.skip_reason:
        return CaseOutcome("skipped", name, reason=case.skip_reason)
    ev = case.eval
    items: list[tuple[str, EvalParams]] = []
    plan = _plan(ev, items, range_check, at_variants)
    got = _run_segment(engine, case.dataset, items, timeout_s)
    if isinstance(got, str):
        return CaseOutcome("failed", name, detail=got)
    kind, detail = _check_plan(ev, plan, got)
    if kind == "passed":
        return CaseOutcome("passed", name)
    if kind == "unsupported":
        return CaseOutcome("skipped", name, detail, reason=f"unsupported by {name}: {detail}")
    if case.case_status == "expected":
        return CaseOutcome(
            "skipped", name, detail, reason=f"known difference (corpus status expected): {detail}"
        )
    return CaseOutcome("failed", name, detail)
