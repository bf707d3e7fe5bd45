"""Replay: promqltest's checks on canned answers, corpus statuses, live comparison, and the
upstream testdata against the real Prometheus host."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import pytest

from promfuzz.corpus.promqltest import EvalCommand, parse_test
from promfuzz.corpus.replay import (
    ReplayReport,
    almost_equal,
    check_eval,
    file_settings,
    format_report,
    replay,
    write_report,
)
from promfuzz.corpus.store import CorpusStore
from promfuzz.engines.base import LoadInfo
from promfuzz.model import (
    Dataset,
    EvalParams,
    Histogram,
    Point,
    Result,
    ResultError,
    ResultHistogram,
    ResultSeries,
    stale_nan,
)
from promfuzz.oracles.verdict import Signature

Answer = Callable[[str, EvalParams, Dataset], Result]


class CannedEngine:
    """Answers through a function of (query, params, loaded data)."""

    def __init__(self, name: str, answer: Answer) -> None:
        self.name = name
        self.answer = answer
        self.data = Dataset()
        self.loads = 0

    def load(self, dataset: Dataset) -> LoadInfo:
        self.data = dataset
        self.loads += 1
        return LoadInfo(self.name, dataset.fingerprint(), len(dataset.series), 0, 0, 0)

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        return self.answer(text, params, self.data)

    def query_many(
        self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None
    ) -> list[Result]:
        return [self.query(t, p) for t, p in items]

    def versions(self) -> dict[str, str]:
        return {}

    def dump(self) -> Dataset | None:
        return self.data

    def close(self) -> None:
        pass

    def __enter__(self) -> CannedEngine:
        return self

    def __exit__(
        self, a: type[BaseException] | None, b: BaseException | None, c: TracebackType | None
    ) -> None:
        pass


def _vec(*items: tuple[dict[str, str], float | ResultHistogram], t: int = 0) -> Result:
    return Result(
        engine="e",
        outcome="ok",
        value_type="vector",
        series=tuple(ResultSeries(tuple(sorted(lab.items())), (Point(t, v),)) for lab, v in items),
    )


def _ev(text: str) -> EvalCommand:
    return next(c for c in parse_test(text).commands if isinstance(c, EvalCommand))


def test_almost_equal_is_promqltests_relative_1e6() -> None:
    assert almost_equal(1.0, 1.0 + 1e-7) and not almost_equal(1.0, 1.0 + 1e-5)
    assert almost_equal(math.nan, math.nan) and not almost_equal(math.nan, stale_nan())
    assert almost_equal(stale_nan(), stale_nan()) and not almost_equal(0.0, 1e-300)
    assert almost_equal(math.inf, math.inf) and not almost_equal(math.inf, -math.inf)


def test_vector_values_within_tolerance_pass_and_outside_fail() -> None:
    ev = _ev('eval instant at 1m m\n  m{a="1"} 3\n  m{a="2"} 4\n')
    ok = _vec(({"__name__": "m", "a": "1"}, 3.0000001), ({"__name__": "m", "a": "2"}, 4.0), t=60_000)
    assert check_eval(ev, ok) == ("passed", "")
    kind, why = check_eval(ev, _vec(({"__name__": "m", "a": "1"}, 3.01), ({"__name__": "m", "a": "2"}, 4.0)))
    assert kind == "failed" and "expected 3.0" in why and "3.01" in why
    kind, why = check_eval(ev, _vec(({"__name__": "m", "a": "1"}, 3.0)))
    assert kind == "failed" and "not found" in why
    kind, why = check_eval(
        ev,
        _vec(
            ({"__name__": "m", "a": "1"}, 3.0), ({"__name__": "m", "a": "2"}, 4.0), ({"__name__": "x"}, 1.0)
        ),
    )
    assert kind == "failed" and "unexpected metric x" in why


def test_ordered_checks_positions() -> None:
    ev = _ev('eval instant at 0 sort_desc(m)\n  expect ordered\n  m{a="2"} 2\n  m{a="1"} 1\n')
    good = _vec(({"__name__": "m", "a": "2"}, 2.0), ({"__name__": "m", "a": "1"}, 1.0))
    bad = _vec(({"__name__": "m", "a": "1"}, 1.0), ({"__name__": "m", "a": "2"}, 2.0))
    assert check_eval(ev, good)[0] == "passed"
    assert check_eval(ev, bad)[0] == "failed"
    unordered = _ev('eval instant at 0 m\n  m{a="2"} 2\n  m{a="1"} 1\n')
    assert check_eval(unordered, bad)[0] == "passed"


def test_fail_expectations_msg_regex_and_legacy() -> None:
    err = Result.failure("e", "error", "execution", "vector cannot contain metrics with the same labelset")
    assert check_eval(_ev("eval instant at 0 x\n  expect fail\n"), err)[0] == "passed"
    assert (
        check_eval(
            _ev(
                "eval instant at 0 x\n  expect fail msg: vector cannot contain metrics with the same labelset\n"
            ),
            err,
        )[0]
        == "passed"
    )
    assert check_eval(_ev("eval instant at 0 x\n  expect fail msg: other\n"), err)[0] == "failed"
    assert (
        check_eval(_ev("eval instant at 0 x\n  expect fail regex: same label(set|s)\n"), err)[0] == "passed"
    )
    assert check_eval(_ev("eval_fail instant at 0 x\n  expected_fail_regexp nope\n"), err)[0] == "failed"
    assert (
        check_eval(
            _ev(
                "eval_fail instant at 0 x\n  expected_fail_message vector cannot contain metrics with the same labelset\n"
            ),
            err,
        )[0]
        == "passed"
    )
    # Expected to fail but succeeded; failed but not expected to.
    assert check_eval(_ev("eval instant at 0 x\n  expect fail\n"), _vec())[0] == "failed"
    kind, why = check_eval(_ev("eval instant at 0 x\n"), err)
    assert kind == "failed" and "error evaluating query" in why
    wrapped = Result.failure("e", "error", "bad_data", 'invalid parameter "query": 1:3: parse error: nope')
    assert (
        check_eval(_ev("eval instant at 0 x\n  expect fail msg: 1:3: parse error: nope\n"), wrapped)[0]
        == "passed"
    )
    assert (
        check_eval(_ev("eval instant at 0 x\n  expect fail msg: 1:3: parse error: other\n"), wrapped)[0]
        == "failed"
    )
    unsupported = Result(
        engine="e",
        outcome="unsupported",
        error=ResultError("unsupported", "not supported by streaming engine"),
    )
    assert check_eval(_ev("eval instant at 0 x\n"), unsupported)[0] == "unsupported"


def test_annotation_expectations() -> None:
    w = "PromQL warning: encountered a mix of histograms and floats for aggregation (1:5)"
    res = Result(engine="e", outcome="ok", value_type="vector", warnings=(w,))
    assert check_eval(_ev(f"eval instant at 0 sum(m)\n  expect warn msg: {w}\n"), res)[0] == "passed"
    assert (
        check_eval(_ev("eval instant at 0 sum(m)\n  expect warn regex: mix of histograms\n"), res)[0]
        == "passed"
    )
    assert (
        check_eval(_ev("eval instant at 0 sum(m)\n  expect warn msg: PromQL warning: other (1:5)\n"), res)[0]
        == "failed"
    )
    assert check_eval(_ev("eval instant at 0 sum(m)\n  expect no_warn\n"), res)[0] == "failed"
    assert check_eval(_ev("eval instant at 0 sum(m)\n  expect info\n"), res)[0] == "failed"
    assert check_eval(_ev("eval_warn instant at 0 sum(m)\n"), res)[0] == "passed"
    assert check_eval(_ev("eval_warn instant at 0 sum(m)\n"), _vec())[0] == "failed"
    # Mimir's files match the message without its position.
    unpositioned = w[: w.rindex(" (")]
    assert (
        check_eval(_ev(f"eval instant at 0 sum(m)\n  expect warn msg: {unpositioned}\n"), res)[0] == "passed"
    )


def test_range_results_histograms_and_range_mode() -> None:
    ev = _ev("eval range from 0 to 2m step 1m m\n  m 1 _ {{schema:0 count:2 sum:3 buckets:[1 1]}}\n")
    h = Histogram(schema=0, count=2, sum=3, positive_spans=((0, 2),), positive_buckets=(1, 1))
    mat = Result(
        engine="e",
        outcome="ok",
        value_type="matrix",
        series=(
            ResultSeries((("__name__", "m"),), (Point(0, 1.0), Point(120_000, ResultHistogram(2, 3, (), h)))),
        ),
    )
    assert check_eval(ev, mat) == ("passed", "")
    other = Histogram(schema=0, count=2, sum=3, positive_spans=((1, 2),), positive_buckets=(1, 1))
    mat2 = Result(
        engine="e",
        outcome="ok",
        value_type="matrix",
        series=(
            ResultSeries(
                (("__name__", "m"),), (Point(0, 1.0), Point(120_000, ResultHistogram(2, 3, (), other)))
            ),
        ),
    )
    assert check_eval(ev, mat2)[0] == "failed"
    # The range-mode check compares the middle step with the instant expectation.
    iev = _ev("eval instant at 1m m\n  m 5\n")
    inst = _vec(({"__name__": "m"}, 5.0), t=60_000)
    rng_ok = Result(
        engine="e",
        outcome="ok",
        value_type="matrix",
        series=(
            ResultSeries((("__name__", "m"),), (Point(0, 4.0), Point(60_000, 5.0), Point(120_000, 6.0))),
        ),
    )
    rng_bad = Result(
        engine="e",
        outcome="ok",
        value_type="matrix",
        series=(ResultSeries((("__name__", "m"),), (Point(0, 4.0), Point(60_000, 7.0))),),
    )
    assert check_eval(iev, inst, rng_ok)[0] == "passed"
    kind, why = check_eval(iev, inst, rng_bad)
    assert kind == "failed" and "range mode" in why


def _file_engine() -> CannedEngine:
    """Evaluates `m` and `m @ <seconds>` (the latest sample at or before t, no lookback
    subtleties) and `broken`."""

    def answer(q: str, p: EvalParams, ds: Dataset) -> Result:
        m = re.fullmatch(r"(\w+)(?: @ (-?[0-9.]+))?", q.strip())
        assert m is not None, q
        name, at = m.group(1), m.group(2)
        if name == "broken":
            return Result.failure("e", "error", "execution", "boom")
        times = list(range(p.start_ms, p.end_ms + 1, p.step_ms)) if p.is_range else [p.time_ms]
        series = []
        for s in ds.series:
            if s.name != name:
                continue
            pts = []
            for t in times:
                at_t = round(float(at) * 1000) if at is not None else t
                prior = [x for x in s.samples if x.t <= at_t]
                if prior and isinstance(prior[-1].v, float):
                    pts.append(Point(t, prior[-1].v))
            series.append(ResultSeries(s.labels, tuple(pts)))
        if p.is_range:
            return Result(
                engine="e", outcome="ok", value_type="matrix", series=tuple(s for s in series if s.points)
            )
        return Result(
            engine="e", outcome="ok", value_type="vector", series=tuple(s for s in series if s.points)
        )

    return CannedEngine("canned", answer)


def test_replay_reports_per_file_and_total(tmp_path: Path) -> None:
    good = tmp_path / "good.test"
    good.write_text(
        "load 1m\n  m 1 2 3\n\neval instant at 1m m\n  m 2\n\neval range from 0 to 2m step 1m m\n  m 1 2 3\n"
    )
    bad = tmp_path / "sub" / "bad.test"
    bad.parent.mkdir()
    bad.write_text(
        "load 1m\n  m 1 2 3\n\neval instant at 1m m\n  m 9\n\neval instant at 0 broken\n  expect fail msg: boom\n"
        '\nclear\nload 1m\n  m{x="y"}@st 1s\n  m{x="y"} 1\n\neval instant at 0 m\n  m{x="y"} 1\n'
    )
    broken = tmp_path / "zz_unreadable.test"
    broken.write_text("load 1m\n  m 1\n\nwhat is this\n")
    eng = _file_engine()
    report = replay([tmp_path], eng)
    t = report.totals
    assert (t["passed"], t["failed"], t["skipped"], t["error"]) == (3, 1, 1, 1)
    assert not report.ok
    text = format_report(report)
    assert "FAILED" in text and "expected 9.0" in text and "bad.test:4" in text
    assert "@st start timestamps" in text and "zz_unreadable.test:4" in text
    jp, tp = write_report(report, tmp_path / "out")
    assert jp.is_file() and "TOTAL" in tp.read_text()
    assert eng.loads == 2  # once per data segment with runnable evals (the @st one is skipped)


def test_replay_of_a_corpus_uses_sidecar_status(tmp_path: Path) -> None:
    from promfuzz.model import Case

    store = CorpusStore(tmp_path / "corpus")
    ds = Dataset.build([({"__name__": "m"}, [(0, 1.0), (60_000, 2.0)])])
    exp = _vec(({"__name__": "m"}, 5.0), t=60_000)  # wrong on purpose: the engine answers 2
    a = store.add(
        Case(ds, "m", EvalParams.instant(60_000)), Signature("differential", "value", ("a",)), expected=exp
    )
    b = store.add(
        Case(ds, "m ", EvalParams.instant(60_000)), Signature("differential", "value", ("b",)), expected=exp
    )
    store.update(a.stored.meta.case_id, status="expected")
    store.update(b.stored.meta.case_id, status="fixed")
    ok = _vec(({"__name__": "m"}, 2.0), t=60_000)
    c = store.add(
        Case(ds, "m", EvalParams.instant(0)),
        Signature("differential", "value", ("c",)),
        expected=_vec(({"__name__": "m"}, 1.0)),
    )
    _ = ok
    report = replay([store.root], _file_engine())
    kinds = {o.case_id: o.kind for o in report.outcomes}
    assert kinds[a.stored.meta.case_id] == "expected"
    assert kinds[b.stored.meta.case_id] == "failed"
    assert next(o for o in report.outcomes if o.case_id == b.stored.meta.case_id).detail.startswith(
        "REGRESSION"
    )
    assert kinds[c.stored.meta.case_id] == "passed"
    assert [o.case_id for o in report.fixed_candidates] == [c.stored.meta.case_id]
    assert "NOW PASSING" in format_report(report)


def test_replay_against_a_reference_compares_live(tmp_path: Path) -> None:
    f = tmp_path / "x.test"
    f.write_text("load 1m\n  m 1 2 3\n\neval instant at 1m m\n\neval instant at 2m m\n")
    ref = _file_engine()

    def shifted(q: str, p: EvalParams, ds: Dataset) -> Result:
        r = ref.answer(q, p, ds)
        if p.time_ms == 120_000:
            return _vec(({"__name__": "m"}, 4.0), t=120_000)
        return r

    report = replay([f], CannedEngine("target", shifted), against=ref)
    assert report.against == "canned"
    assert [o.kind for o in report.outcomes] == ["passed", "failed"]
    assert re.search(r"4\.0|value", report.outcomes[1].detail)


# --------------------------------------------------------------------------- real host


# Every eval of the upstream suites that fails on purpose, by (file name, line), with the
# reason. Replay applies the runners' per-file settings (delayed name removal, see
# promfuzz.corpus.replay.file_settings), so what is left is the prometheus host's parser:
# promqltest parses with TestParserOpts (EnableUnquotedUTF8Names), the fuzzed language does
# not include unquoted UTF-8 names. A failure not listed here fails the test, and so does a
# listed eval that passes (the list must not go stale).
_UTF8 = "the prometheus host's parser has no EnableUnquotedUTF8Names (promqltest.TestParserOpts has)"
EXPLAINED_FAILURES: dict[str, dict[tuple[str, int], str]] = {
    "prometheus": {
        ("unquoted_utf8_names.test", line): _UTF8
        for line in (13, 19, 26, 30, 36, 39, 47, 53, 56, 64, 68, 85, 88, 91, 94, 97, 100, 114, 121)
    },
    "mqe": {},
}


def _check_failures(report: ReplayReport, engine: str) -> None:
    failed = {(Path(o.file).name, o.line): o for o in report.outcomes if o.kind == "failed"}
    listed = EXPLAINED_FAILURES[engine]
    new = [o for k, o in failed.items() if k not in listed]
    assert not new, "\n".join(f"{o.file}:{o.line} {o.query}: {o.detail}" for o in new[:20])
    stale = sorted(set(listed) - set(failed))
    assert not stale, f"listed as failing but passed (remove them from EXPLAINED_FAILURES): {stale}"


@pytest.mark.hosts
def test_upstream_testdata_replays_on_the_prometheus_host(upstream_files: list[Path], prometheus_host: Path) -> None:
    from promfuzz.engines import open_engine

    with open_engine("prometheus") as eng:
        report = replay(upstream_files, eng)
    t = report.totals
    print(format_report(report, show=("failed", "error")))
    assert t["error"] == 0 and t["unsupported"] == 0
    skipped = [o for o in report.outcomes if o.kind == "skipped"]
    assert skipped and all(o.file.endswith("start_timestamps.test") for o in skipped)
    _check_failures(report, "prometheus")
    assert t["passed"] >= 2375


@pytest.mark.hosts
def test_mimir_testdata_replays_on_mqe(mimir_files: list[Path], mimir_host: Path) -> None:
    from promfuzz.engines import open_engine

    files = [f for f in mimir_files if "fuzz" not in f.parts]
    with open_engine("mqe") as eng:
        report = replay(files, eng)
    print(format_report(report, show=("failed", "error")))
    t = report.totals
    assert t["error"] == 0 and t["skipped"] == 0 and t["passed"] >= 3288
    _check_failures(report, "mqe")


def test_missing_host_or_module_cache_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
    host_requirement: Callable[[str], Path],
    testdata_requirements: tuple[Callable[[], list[Path]], ...],
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"no-such-host is not built \(run `make hosts`\)"):
        host_requirement("no-such-host")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no-such-host is not built"):
        host_requirement("no-such-host")
    monkeypatch.setenv("GOMODCACHE", "/nonexistent-modcache")
    for require in testdata_requirements:
        with pytest.raises(pytest.skip.Exception, match="is not in the Go module cache"):
            require()
    monkeypatch.setenv("CI", "true")
    for require in testdata_requirements:
        with pytest.raises(pytest.fail.Exception, match="is not in the Go module cache"):
            require()


def test_file_settings_follow_the_upstream_runners() -> None:
    mimir = "/m/github.com/grafana/mimir@v1/pkg/streamingpromql/testdata"
    dnr = {"delayed_name_removal": "true"}
    assert file_settings(f"{mimir}/ours/name_label_dropping.test")[0] == dnr
    assert file_settings(f"{mimir}/ours/name_label_dropping_histograms.test")[0] == dnr
    assert file_settings(f"{mimir}/ours/eliminate_deduplicate_and_merge_delayed_name_removal_enabled.test")[0] == dnr
    assert file_settings(f"{mimir}/ours/native_histograms_delayed_name_removal_disabled.test")[0] == {}
    assert file_settings(f"{mimir}/ours/aggregators.test")[0] == {}
    assert file_settings(f"{mimir}/upstream/functions.test")[0] == dnr
    assert file_settings("/p/prometheus@v0.316.0/promql/promqltest/testdata/functions.test")[0] == dnr
    assert file_settings("corpus/mqe/abc.test") == ({}, "")
    assert file_settings("name_label_dropping.test") == ({}, "")  # only inside Mimir's testdata


def test_per_file_settings_without_a_spec_are_reported(tmp_path: Path) -> None:
    d = tmp_path / "pkg" / "streamingpromql" / "testdata" / "ours"
    d.mkdir(parents=True)
    f = d / "name_label_dropping.test"
    f.write_text("load 1m\n  m 1 2 3\n\neval instant at 1m m\n  m 2\n")
    report = replay([f], _file_engine())
    assert report.totals["passed"] == 1
    assert any("per-file settings" in n and "has no spec" in n for n in report.notes)


@pytest.mark.hosts
def test_mimir_name_label_dropping_needs_the_runners_setting(mimir_files: list[Path], mimir_host: Path) -> None:
    """The files Mimir's runner evaluates with delayed name removal fail without it (4
    evals) and pass with replay's per-file settings, which open mqe[delayed_name_removal=true]."""
    files = [f for f in mimir_files if f.parent.name == "ours" and "name_label_dropping" in f.name]
    assert len(files) == 2
    plain = replay(files, "mqe", file_options=False)
    assert plain.totals["failed"] == 4
    applied = replay(files, "mqe")
    assert applied.totals["failed"] == 0 and applied.totals["passed"] == plain.totals["passed"] + 4
    assert {fr.engine for fr in applied.files} == {"mqe[delayed_name_removal=true]"}
    # a spec that says otherwise wins over the file's setting
    explicit = replay(files, "mqe[delayed_name_removal=false]")
    assert explicit.totals["failed"] == 4


def test_file_cases_and_check_case_one_eval_at_a_time(tmp_path: Path) -> None:
    from promfuzz.corpus.replay import check_case, file_cases

    f = tmp_path / "one.test"
    f.write_text(
        "load 1m\n  m 1 2 3\n\neval instant at 1m m\n  m 2\n\neval instant at 1m m\n  m 5\n"
        '\nclear\nload 1m\n  m{x="y"}@st 1s\n  m{x="y"} 1\n\neval instant at 0 m\n  m{x="y"} 1\n'
    )
    cases = file_cases(f)
    assert [c.line for c in cases] == [4, 7, 15]
    assert len({c.item_name for c in cases}) == 3
    eng = _file_engine()
    got = [check_case(c, eng) for c in cases]
    assert [g.status for g in got] == ["passed", "failed", "skipped"]
    assert "expected 5.0" in got[1].detail and "@st" in got[2].reason


def test_at_pinned_variants_catch_an_engine_that_ignores_at(tmp_path: Path) -> None:
    from promfuzz.corpus.replay import pinned_variants

    f = tmp_path / "at.test"
    f.write_text("load 1m\n  m 1 2 3\n\neval instant at 1m m\n  m 2\n")
    ev = next(c for c in parse_test(f.read_text()).commands if isinstance(c, EvalCommand))
    assert [p.time_ms for _, p in pinned_variants(ev)] == [-600_000, 0, 12_000, 60_000, 600_000]
    assert {q for q, _ in pinned_variants(ev)} == {"m @ 60.000"}
    good = _file_engine()

    def ignores_at(q: str, p: EvalParams, ds: Dataset) -> Result:
        return good.answer(q.split(" @ ")[0], p, ds)

    assert replay([f], good).totals["passed"] == 1
    report = replay([f], CannedEngine("no-at", ignores_at))
    [o] = report.outcomes
    assert o.kind == "failed" and o.detail.startswith("@-pinned variant 'm @ 60.000' at t=-600000ms")
    assert replay([f], CannedEngine("no-at", ignores_at), at_variants=False).totals["passed"] == 1


@pytest.mark.hosts
def test_written_expectations_accept_the_result_they_were_written_from(prometheus_host: Path) -> None:
    """write_case(case, prometheus's answer) read back must accept that same answer."""
    from promfuzz.corpus.promqltest import write_case
    from promfuzz.engines import open_engine
    from promfuzz.generators.cases import CaseConfig, generate_cases
    from promfuzz.generators.datasets import DatasetConfig

    cases = generate_cases(11, 200, CaseConfig(dataset=DatasetConfig.small(), queries_per_dataset=10))
    outcomes: dict[str, int] = {}
    with open_engine("prometheus") as eng:
        for c in cases:
            eng.load(c.dataset)
            r = eng.query(c.query, c.params)
            outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
            ev = [x for x in parse_test(write_case(c, r)).commands if isinstance(x, EvalCommand)][-1]
            kind, detail = check_eval(ev, r)
            assert kind == "passed", f"{c.query!r} at {c.params}: {detail}"
    assert outcomes.get("ok", 0) > 100  # most generated queries answer


INFO_AT = 'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "m" (1:{})'


def _annotated_store(tmp_path: Path, *, sidecar_annotations: bool = True) -> tuple[CorpusStore, str]:
    """One stored case whose reference answered with an info at (1:6)."""
    import json

    from promfuzz.model import Case

    store = CorpusStore(tmp_path / "corpus")
    ds = Dataset.build([({"__name__": "m"}, [(0, 1.0), (60_000, 2.0)])])
    exp = replace(_vec(({}, 0.0), t=60_000), infos=(INFO_AT.format(6),))
    added = store.add(Case(ds, "rate(m[1m])", EvalParams.instant(60_000)),
                      Signature("differential", "annotations", ("a",), target="mqe"), expected=exp,
                      engines={"prometheus": {}, "mqe": {}})
    jp = added.stored.json_path
    meta = json.loads(jp.read_text())
    assert meta["annotations"] == {"warnings": [], "infos": [INFO_AT.format(6)]}  # stored with the case
    if not sidecar_annotations:  # a case stored before sidecars held them
        del meta["annotations"]
        jp.write_text(json.dumps(meta))
    return store, added.stored.meta.case_id


def _info_engine(name: str, text: str) -> CannedEngine:
    return CannedEngine(name, lambda q, p, d: replace(_vec(({}, 0.0), t=p.time_ms or 0), infos=(text,)))


def test_replay_checks_the_exact_annotation_texts_the_file_pattern_leaves_open(tmp_path: Path) -> None:
    """The .test pattern accepts any (line:col) and an optional ' for metric name'; the
    sidecar's exact texts do not: an engine that moves the info (or names the metric) fails."""
    store, cid = _annotated_store(tmp_path)
    test_text = next(store.root.glob("*/*.test")).read_text()
    assert r"\(\d+:\d+\)" in test_text  # the file itself is lenient, so that Prometheus's runner passes it
    same = replay([store.root], _info_engine("prometheus", INFO_AT.format(6)), range_check=False, at_variants=False)
    assert [o.kind for o in same.outcomes] == ["passed"]
    for moved in (INFO_AT.format(1), INFO_AT.format(6).replace('"m"', '"m" for metric name "m"')):
        rep = replay([store.root], _info_engine("mqe", moved), range_check=False, at_variants=False)
        o = rep.outcomes[0]
        assert o.kind == "failed" and "exact texts stored with the case" in o.detail and moved in o.detail, moved


def test_record_annotations_fills_old_sidecars_from_the_reference_only(tmp_path: Path) -> None:
    import json

    store, _ = _annotated_store(tmp_path, sidecar_annotations=False)
    jp = next(store.root.glob("*/*.json"))
    # the target's answer never becomes the stored truth
    replay([store.root], _info_engine("mqe", INFO_AT.format(6)), range_check=False, at_variants=False,
           record_annotations=True)
    assert "annotations" not in json.loads(jp.read_text())
    # nor an answer that fails the file's own expectations
    replay([store.root], _info_engine("prometheus", "PromQL info: something else (1:1)"), range_check=False,
           at_variants=False, record_annotations=True)
    assert "annotations" not in json.loads(jp.read_text())
    replay([store.root], _info_engine("prometheus", INFO_AT.format(6)), range_check=False, at_variants=False,
           record_annotations=True)
    assert json.loads(jp.read_text())["annotations"] == {"warnings": [], "infos": [INFO_AT.format(6)]}
    rep = replay([store.root], _info_engine("mqe", INFO_AT.format(1)), range_check=False, at_variants=False)
    assert rep.outcomes[0].kind == "failed"
