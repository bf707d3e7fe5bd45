"""promqltest reading and writing: upstream files, tricky values, generated cases, errors."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import pytest

from promfuzz.corpus.gosyntax import format_duration, parse_duration, parse_go_number
from promfuzz.corpus.promqltest import (
    ClearCommand,
    EvalCommand,
    LoadCommand,
    expected_to_result,
    parse_test,
    promqltest_dataset,
    read_case,
    read_test_file,
    write_case,
    write_test_file,
)
from promfuzz.corpus.seriesdesc import parse_series_desc
from promfuzz.errors import PromQLTestFormatError
from promfuzz.model import (
    Case,
    Dataset,
    EvalParams,
    Histogram,
    Point,
    Result,
    ResultError,
    ResultHistogram,
    ResultSeries,
    float_bits,
    is_stale,
    stale_nan,
)

# --------------------------------------------------------------------------- upstream files


def test_reads_every_upstream_prometheus_file(upstream_files: list[Path]) -> None:
    evals = hist_evals = loads = 0
    for f in upstream_files:
        tf = read_test_file(f)
        for cmd in tf.commands:
            loads += isinstance(cmd, LoadCommand)
        for _, ev in tf.evals():
            evals += 1
            hist_evals += any(isinstance(v.value, Histogram) for s in ev.series for _, v in s.points)
    assert len(upstream_files) == 22
    # Counted with `grep -c '^\s*eval'` over the same files.
    assert evals == 2434
    assert hist_evals == 254
    assert loads == 341  # `grep -c "^\s*load"`


def test_reads_every_mimir_promqltest_file(mimir_files: list[Path]) -> None:
    read = 0
    for f in mimir_files:
        if f.name == "seed-queries.test":
            # A fuzz seed corpus of bare query lines, not promqltest: must be refused with a line.
            with pytest.raises(PromQLTestFormatError) as ei:
                read_test_file(f)
            assert ei.value.line > 0 and ei.value.source == str(f)
            continue
        read_test_file(f)
        read += 1
    assert read >= 40


def test_legacy_forms_are_understood() -> None:
    tf = parse_test(
        "load 1m\n  m 1 2\n\n"
        "eval_fail instant at 1m foo(\n  expected_fail_message bad thing\n\n"
        "eval_fail instant at 1m bar\n  expected_fail_regexp bad.*\n\n"
        "eval_warn instant at 1m m\n  m 2\n\n"
        "eval_info range from 0 to 1m step 1m m\n  m 1 2\n\n"
        "eval_ordered instant at 1m sort(m)\n  m 2\n"
    )
    evs = [c for c in tf.commands if isinstance(c, EvalCommand)]
    assert [e.legacy for e in evs] == ["fail", "fail", "warn", "info", "ordered"]
    assert evs[0].expected_fail_message == "bad thing" and evs[0].is_fail
    assert evs[1].expected_fail_regexp == "bad.*"
    assert evs[4].is_ordered and not evs[2].is_ordered


def test_expect_lines_and_blocks() -> None:
    tf = parse_test(
        'load 10s\n  some_metric{env="a"} 1+1x5\n\n'
        "eval instant at 1m some_metric[1m]\n"
        "  expect range vector from 10s to 1m step 10s\n"
        '  some_metric{env="a"} 2 3 4 5 6\n\n'
        'eval instant at 50m ("Foo")\n  expect string "Foo"\n\n'
        "eval range from 0 to 3m step 1m sum(some_metric)\n"
        "  expect warn msg: PromQL warning: something (1:15)\n"
        "  expect info regex: PromQL info: some(thing)? \\(1:15\\)\n"
        "  expect ordered\n"
        "  {} 1 _ 3\n\n"
        "eval instant at 0 1+1\n  2\n"
    )
    evs = [c for c in tf.commands if isinstance(c, EvalCommand)]
    rv = evs[0]
    assert rv.range_vector == (10_000, 60_000, 10_000) and rv.eval_params == EvalParams.instant(60_000)
    res = expected_to_result(rv)
    assert res.value_type == "matrix" and [p.t for p in res.series[0].points] == [
        10_000,
        20_000,
        30_000,
        40_000,
        50_000,
    ]
    assert evs[1].string == "Foo" and expected_to_result(evs[1]).string == "Foo"
    rng = evs[2]
    assert [e.kind for e in rng.expectations] == ["warn", "info", "ordered"]
    assert rng.expectations[0].matches("PromQL warning: something (1:15)")
    assert rng.expectations[1].matches("PromQL info: something (1:15)")
    assert not rng.expectations[1].matches("PromQL info: other (1:15)")
    r = expected_to_result(rng)
    assert [(p.t, p.v) for p in r.series[0].points] == [(0, 1.0), (120_000, 3.0)]
    assert evs[3].scalar == 2.0 and expected_to_result(evs[3]).value_type == "scalar"


def test_comment_line_ends_a_block_and_clear_resets_data() -> None:
    tf = parse_test("load 1m\n  a 1\n# note\nclear\nload 1m\n  c 3\n\neval instant at 0 c\n  c 3\n")
    cmds = tf.commands
    assert isinstance(cmds[0], LoadCommand) and [s.name for s in cmds[0].dataset.series] == ["a"]
    # The indented `b 2` after the comment is a new top-level line: not a command.
    with pytest.raises(PromQLTestFormatError) as ei:
        parse_test("load 1m\n  a 1\n# note\n  b 2\n", "x.test")
    assert ei.value.line == 4
    assert any(isinstance(c, ClearCommand) for c in cmds)
    [(ds, _)] = list(tf.evals())
    assert [s.name for s in ds.series] == ["c"]


# --------------------------------------------------------------------------- series values


def test_series_value_forms_expand_like_promqltest() -> None:
    _, vals = parse_series_desc('m{a="b"} 1+2x3 _x2 5-1x2 stale Inf -Inf NaN 7x2 010 1_000 _')
    got = [v.value for v in vals]
    assert got[:4] == [1.0, 3.0, 5.0, 7.0]
    assert got[4:6] == [None, None]
    assert got[6:9] == [5.0, 4.0, 3.0]
    assert isinstance(got[9], float) and is_stale(got[9])
    assert got[10] == math.inf and got[11] == -math.inf
    assert isinstance(got[12], float) and math.isnan(got[12]) and not is_stale(got[12])
    assert got[13:16] == [7.0, 7.0, 7.0]
    assert got[16] == 8.0  # Go's ParseInt(s, 0, 64) reads a leading 0 as octal
    assert got[17] == 1000.0
    assert got[18] is None and len(got) == 19


def test_histogram_series_adds_and_reduces_schema_like_prometheus() -> None:
    _, vals = parse_series_desc(
        "h {{schema:-1 sum:4 count:1 buckets:[1] offset:1}}+{{schema:0 sum:4 count:4 buckets:[2 2] offset:1}}x1"
    )
    a, b = (v.value for v in vals)
    assert isinstance(a, Histogram) and isinstance(b, Histogram)
    # schema 0 buckets 1,2 fold into schema -1 bucket 1: ((i-1)>>1)+1
    assert b.schema == -1 and b.count == 5 and b.sum == 8
    assert dict(zip([1], b.positive_buckets, strict=False)) == {1: 5.0}
    _, vals = parse_series_desc("h {{sum:2 count:2 counter_reset_hint:gauge}}-{{sum:1 count:3}}x2")
    hs = [v.value for v in vals]
    assert [h.count for h in hs if isinstance(h, Histogram)] == [2.0, -1.0, -4.0]
    assert all(not v.hint_set for v in vals)  # the hint flag follows the increment
    assert [h.counter_reset_hint for h in hs if isinstance(h, Histogram)] == ["gauge"] * 3


def test_load_with_nhcb_adds_custom_bucket_histograms() -> None:
    tf = parse_test(
        'load_with_nhcb 5m\n  t_bucket{le="0.1"} 0+5x1\n  t_bucket{le="0.2"} 0+7x1\n  t_bucket{le="+Inf"} 0+12x1\n'
    )
    load = tf.commands[0]
    assert isinstance(load, LoadCommand) and load.with_nhcb
    by = {s.labels: s for s in load.dataset.series}
    h = by[(("__name__", "t"),)].samples[1].v
    assert isinstance(h, Histogram)
    assert h.schema == -53 and h.custom_values == (0.1, 0.2) and h.count == 12.0
    assert h.positive_buckets == (5.0, 2.0, 5.0)
    assert load.declared is not None and len(load.declared.series) == 3


def test_start_timestamp_lines_are_kept() -> None:
    tf = parse_test('load 1m\n  c{t="x"}@st _ -30s-1mx1\n  c{t="x"} _ 0+60x1\n')
    load = tf.commands[0]
    assert isinstance(load, LoadCommand)
    assert load.start_timestamps == (((("__name__", "c"), ("t", "x")), (None, -30_000, -90_000)),)


def test_go_duration_and_number_rules() -> None:
    assert (
        parse_duration("1m30s") == 90_000 and parse_duration("0") == 0 and parse_duration("10s53ms") == 10_053
    )
    for bad in ("", "1.5m", "-1m", "30s1m", "1x"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    for ms in (0, 1, 10, 999, 1000, 90_000, 3_600_000, 86_400_001, 7 * 86_400_000, 365 * 86_400_000):
        assert parse_duration(format_duration(ms)) == ms
    assert format_duration(90_000) == "1m30s"
    assert (
        parse_go_number("0x1F") == 31.0
        and parse_go_number("1e3") == 1000.0
        and parse_go_number("-Inf") == -math.inf
    )


# --------------------------------------------------------------------------- round trips


def _tricky_dataset() -> Dataset:
    floats = [1 / 3, 5e-324, 1e-308, -0.0, 0.0, 1.7976931348623157e308, -2.5e-7, 1e16, 123456789.123456789]
    h1 = Histogram(
        schema=3,
        count=10.5,
        sum=-2.25,
        zero_threshold=1e-3,
        zero_count=0.5,
        positive_spans=((-2, 2), (3, 1)),
        positive_buckets=(1.0, 2.0, 3.5),
        negative_spans=((1, 1),),
        negative_buckets=(4.0,),
        counter_reset_hint="gauge",
    )
    h2 = Histogram(
        schema=-53,
        count=3,
        sum=math.inf,
        positive_spans=((0, 3),),
        positive_buckets=(1, 0, 2),
        custom_values=(0.25, 1e300),
    )
    h3 = Histogram(schema=0, count=math.nan, sum=1 / 7, counter_reset_hint="reset")
    return Dataset.build(
        [
            ({"__name__": "plain", "job": 'q"uo\\te\n'}, [(i * 15_000, v) for i, v in enumerate(floats)]),
            (
                {"__name__": "special"},
                [(0, stale_nan()), (1, math.inf), (2, -math.inf), (3, math.nan), (60_000, 1.0)],
            ),
            ({"__name__": "http.server.requests", "service.name": "ünï", "a": "x y"}, [(7, 1.0), (8, 2.0)]),
            ({"__name__": "on", "le": "+Inf"}, [(0, 1.0)]),
            ({"__name__": "Inf"}, [(0, 1.0)]),
            ({"__name__": "sum"}, [(0, 2.0)]),
            ({"__name__": "hists"}, [(0, h1), (30_000, h2), (45_000, h3), (60_000, stale_nan())]),
            ({"__name__": "runs"}, [(i * 1000, float(i % 3 == 0) + 0.1 * i) for i in range(40)]),
            ({"x": "only labels"}, [(5, 1.0)]),
        ]
    )


def _assert_same_case(back: Case, want: Case) -> None:
    assert back.query == want.query
    assert back.params == want.params
    _assert_same_dataset(back.dataset, want.dataset)


def _assert_same_dataset(back: Dataset, want: Dataset) -> None:
    assert back == promqltest_dataset(want)
    for s1, s2 in zip(back.series, want.series, strict=True):
        for x, y in zip(s1.samples, s2.samples, strict=True):
            if isinstance(x.v, float) and isinstance(y.v, float):
                assert float_bits(x.v) == float_bits(y.v) or (
                    math.isnan(x.v) and not is_stale(x.v) and not is_stale(y.v)
                )


@pytest.mark.parametrize(
    "params",
    [EvalParams.instant(0), EvalParams.instant(90_007), EvalParams.range(1, 3_600_000, 15_001)],
)
def test_tricky_case_round_trips_bit_for_bit(params: EvalParams) -> None:
    case = Case(_tricky_dataset(), 'sum by ("service.name") (rate({"http.server.requests"}[5m]))', params)
    text = write_case(case)
    _assert_same_case(read_case(text, "tricky.test"), case)


def test_multi_line_query_round_trips_through_the_query_comment() -> None:
    q = 'sum by (job) ( # total\n  rate(x{a="#not a comment"}[5m])\n)'
    case = Case(_tricky_dataset(), q, EvalParams.instant(60_000))
    text = write_case(case)
    assert text.count('\neval instant at 1m sum by (job) ( rate(x{a="#not a comment"}[5m]) )\n') == 1
    assert read_case(text).query == q


@pytest.mark.parametrize(
    "query",
    [
        "step\n()  != bool m @ 1770",
        "sum(rate(x[5m])) / on() group_left step()",
        'label_replace(m, "to", "step", "to", " to ") + to',
        "(to) + step ()",
    ],
)
def test_range_eval_lines_with_to_and_step_words_round_trip(query: str) -> None:
    case = Case(_tricky_dataset(), query, EvalParams.range(1_217_799, 3_600_000, 30_000))
    text = write_case(case)
    assert read_case(text).query == query
    assert read_case(text).params == case.params


def test_writer_refuses_what_promqltest_cannot_express() -> None:
    ds = Dataset.build([({"__name__": "a"}, [(0, 1.0)])])
    with pytest.raises(ValueError):
        write_case(Case(ds, "a", EvalParams.instant(-1)))
    with pytest.raises(ValueError):
        write_case(Case(ds, "x{a=`multi\nline`}", EvalParams.instant(0)))


def test_generated_cases_round_trip() -> None:
    from promfuzz.generators.cases import CaseConfig, generate_cases
    from promfuzz.generators.datasets import DatasetConfig

    cases = generate_cases(20260101, 150, CaseConfig(dataset=DatasetConfig.small(), queries_per_dataset=3))
    cases += generate_cases(7, 6, CaseConfig(queries_per_dataset=3))
    for c in cases:
        _assert_same_case(read_case(write_case(c)), c)


@pytest.mark.slow
def test_ten_thousand_generated_cases_round_trip() -> None:
    from promfuzz.generators.cases import CaseConfig, generate_cases

    # Cases share datasets (5 queries each): a load block is read back and checked once;
    # when the same text comes again it must come from the same data (the fingerprint),
    # else the writer lost a difference between two datasets.
    loads: dict[bytes, str] = {}  # sha256 of the load text -> fingerprint of its dataset
    n = 0
    for seed in range(20):
        for c in generate_cases(seed, 500, CaseConfig(queries_per_dataset=5)):
            text = write_case(c)
            cut = text.index("\n\n") + 2 if text.startswith("load") else 0
            load_text, eval_text = text[:cut], text[cut:]
            key = hashlib.sha256(load_text.encode()).digest()
            if key not in loads:
                _assert_same_dataset(read_case(load_text + "eval instant at 0 x\n").dataset, c.dataset)
                loads[key] = c.dataset.fingerprint()
            assert loads[key] == c.dataset.fingerprint()
            ev = read_case(eval_text)
            assert (ev.query, ev.params) == (c.query, c.params)
            n += 1
    assert n == 10_000
    assert len(loads) >= 1_900  # about one dataset per 5 cases


def test_expected_result_round_trips_through_write_case() -> None:
    ds = _tricky_dataset()
    h = Histogram(schema=0, count=4, sum=5, positive_spans=((0, 3),), positive_buckets=(1, 2, 1))
    rh = ResultHistogram(4, 5, (), full=h)
    vec = Result(
        engine="ref",
        outcome="ok",
        value_type="vector",
        series=(
            ResultSeries((("a", "1"),), (Point(60_000, 1 / 3),)),
            ResultSeries((("a", "2"),), (Point(60_000, rh),)),
        ),
        warnings=("PromQL warning: something (1:5)",),
    )
    case = Case(ds, "x", EvalParams.instant(60_000))
    ev = [c for c in parse_test(write_case(case, vec)).commands if isinstance(c, EvalCommand)][0]
    warn = ev.expects("warn")[0]
    assert ev.expects("no_info") and warn.match == "regex"
    # A regex, so promqltest's @-pinned re-runs (positions move) still match.
    assert re.search(warn.text, "PromQL warning: something (1:5)")
    assert re.search(warn.text, "PromQL warning: something (1:13)")
    assert not re.search(warn.text, "PromQL warning: something else (1:5)")
    got = expected_to_result(ev)
    assert [s.labels for s in got.series] == [(("a", "1"),), (("a", "2"),)]
    assert got.series[0].points[0].v == 1 / 3
    v2 = got.series[1].points[0].v
    assert isinstance(v2, ResultHistogram) and v2.full == h

    mat = Result(
        engine="ref",
        outcome="ok",
        value_type="matrix",
        series=(ResultSeries((("b", "x"),), (Point(0, 1.0), Point(30_000, 2.0), Point(90_000, 4.0))),),
    )
    rcase = Case(ds, "y", EvalParams.range(0, 90_000, 30_000))
    got = expected_to_result(
        [c for c in parse_test(write_case(rcase, mat)).commands if isinstance(c, EvalCommand)][0]
    )
    assert got.series == mat.series

    rv = Result(
        engine="ref",
        outcome="ok",
        value_type="matrix",
        series=(ResultSeries((("b", "x"),), (Point(10_000, 1.0), Point(40_000, 2.0))),),
    )
    icase = Case(ds, "y[1m]", EvalParams.instant(70_000))
    ev = [c for c in parse_test(write_case(icase, rv)).commands if isinstance(c, EvalCommand)][0]
    assert ev.range_vector is not None and ev.eval_params == icase.params
    assert expected_to_result(ev).series == rv.series

    err = Result(
        engine="ref",
        outcome="error",
        error=ResultError("execution", "vector cannot contain metrics with the same labelset"),
    )
    ev = [c for c in parse_test(write_case(case, err)).commands if isinstance(c, EvalCommand)][0]
    assert ev.is_fail and ev.expects("fail")[0].matches(
        "vector cannot contain metrics with the same labelset"
    )


def test_ordered_written_for_sort_at_top_level() -> None:
    ds = Dataset.build([({"__name__": "a", "i": str(i)}, [(0, float(i))]) for i in range(3)])
    res = Result(
        engine="r",
        outcome="ok",
        value_type="vector",
        series=tuple(ResultSeries((("i", str(i)),), (Point(0, float(i)),)) for i in (2, 1, 0)),
    )
    text = write_case(Case(ds, "(sort_desc(a))", EvalParams.instant(0)), res)
    assert "expect ordered" in text
    text = write_case(Case(ds, "sum(sort_desc(a))", EvalParams.instant(0)), res)
    assert "expect ordered" not in text


def test_whole_file_writes_back_to_the_same_commands(upstream_files: list[Path]) -> None:
    for f in upstream_files:
        tf = read_test_file(f)
        if any(isinstance(c, LoadCommand) and c.start_timestamps for c in tf.commands):
            continue
        again = parse_test(write_test_file(tf), "again.test")
        assert [type(c) for c in again.commands] == [type(c) for c in tf.commands], f
        for a, b in zip(again.commands, tf.commands, strict=True):
            if isinstance(a, EvalCommand) and isinstance(b, EvalCommand):
                assert (a.query, a.params, a.legacy) == (b.query, b.params, b.legacy)
                assert [(e.kind, e.match, e.text) for e in a.expectations] == [
                    (e.kind, e.match, e.text) for e in b.expectations
                ]
                assert [s.labels for s in a.series] == [s.labels for s in b.series]
                assert expected_to_result(a) == expected_to_result(b), (f, b.line)
            elif isinstance(a, LoadCommand) and isinstance(b, LoadCommand):
                assert a.dataset == promqltest_dataset(b.dataset), (f, b.line)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("load 1m\n  m 1 2\n\nfoo\n", 4, "invalid command"),
        ("load xyz\n  m 1\n", 1, "invalid step definition"),
        ('load 1m\n  m{a="b" 1\n', 2, "label set"),
        ("load 1m\n  m 1 two\n", 2, 'number or "stale"'),
        ("load 1m\n  m {{schema:0 bogus:1}}\n", 2, "histogram descriptor"),
        ("load 1m\n  m {{schema:0 sum:1 sum:2}}\n", 2, "duplicate key"),
        ("load 1m\n  m 1x\n", 2, "repetition"),
        ("\n\neval instant at 1m\n", 3, "invalid evaluation command"),
        ("eval instant at 1q m\n", 1, "invalid timestamp definition"),
        ("eval range from 2m to 1m step 1m m\n", 1, "end timestamp"),
        ("eval instant at 1m m\n  expect bogus\n", 2, "invalid expect statement"),
        ("eval instant at 1m m\n  expect warn\n  expect no_warn\n", 3, "warn and no_warn"),
        ("eval instant at 1m m\n  m 1 2\n", 2, "expecting multiple values"),
        ("eval instant at 1m m\n  expect fail regex: (unclosed\n", 2, "invalid regex"),
        ("eval instant at 1m m\n  expect string Foo\n", 2, "correctly quoted"),
        ("load 1m\n  m@st 1s\n\n", 2, "@st line has no following sample line"),
        ("load 1m\n  on 1\n", 2, "keyword"),
    ],
)
def test_malformed_input_names_file_and_line(text: str, line: int, needle: str) -> None:
    with pytest.raises(PromQLTestFormatError) as ei:
        parse_test(text, "bad.test")
    e = ei.value
    assert e.source == "bad.test" and e.line == line, str(e)
    assert needle in e.message, e.message
    assert str(e).startswith(f"bad.test:{line}")


def test_annotation_pattern_accepts_the_metric_name_part_only_where_prometheus_puts_it() -> None:
    import re

    from promfuzz.corpus.promqltest import annotation_regex

    bare = 'PromQL info: input to histogram_quantile has NaN observations, result is NaN (1:8)'
    named = 'PromQL info: input to histogram_quantile has NaN observations, result is NaN for metric name "x" (1:8)'
    for text in (bare, named):
        pat = annotation_regex(text)
        assert re.search(pat, bare) and re.search(pat, named)
        assert not re.search(pat, bare.replace("is NaN", "is skewed higher"))
        assert not re.search(pat, named.replace('"x" ', '"x" extra '))
    mono = ("PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see u) "
            "for metric name \"b\", from buckets 1 to 2, with a max diff of 1, over 1 samples from "
            "1970-01-01T00:00:00Z to 1970-01-01T00:00:01Z (1:1)")
    pat = annotation_regex(mono.replace(' for metric name "b"', ""))
    assert re.search(pat, mono) and re.search(pat, mono.replace(' for metric name "b"', ""))
    assert not re.search(pat, mono.replace("max diff of 1", "max diff of 2"))


def test_fail_message_is_written_without_the_http_api_prefix() -> None:
    from promfuzz.corpus.promqltest import write_case
    from promfuzz.model import Case, Dataset, EvalParams, Result

    case = Case(Dataset.build([]), "first_over_time(x[step():])", EvalParams.instant(0))
    r = Result.failure("prometheus", "error", "bad_data",
                       'invalid parameter "query": 18:24: duration must be greater than 0')
    text = write_case(case, r)
    assert "  expect fail msg: 18:24: duration must be greater than 0" in text.splitlines()
