"""What a failing ``assert_same_result`` gives an engine developer (issue #17 item 2):
the case as a promqltest block that parses and passes Prometheus's own runner on the
reference, both answers, the difference, ``--promfuzz-store``, the campaign's known-
difference rules, and a bounded Hypothesis shrink whose huge example repr is cut."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from build_helpers import need_binary

from promfuzz.corpus.promqltest import parse_test, read_case
from promfuzz.pytest_failure import EnginesDiffer, FailureOptions, SameResultCheck, trim_hypothesis_notes

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "promfuzz" / "oracles" / "known" / "evidence"

# A Hypothesis test over a known MQE divergence (Prometheus: clamp_min(+Inf, NaN) = +Inf
# through Go's math.Max; MQE: NaN), drawn among agreeing cases so Hypothesis must search
# and shrink: only a series holding +Inf diverges.
DIVERGENT_TEST = '''
import math
from hypothesis import given, settings, strategies as st
from promfuzz.model import Dataset, EvalParams

@settings(deadline=None, max_examples=60, database=None)
@given(values=st.lists(st.sampled_from([1.0, 2.5, -3.0, math.inf]), min_size=1, max_size=6),
       fn=st.sampled_from(["clamp_min", "clamp_max"]))
def test_clamp(values, fn, assert_same_result):
    ds = Dataset.build([({"__name__": "up", "job": str(i)}, [(0, v)]) for i, v in enumerate(values)])
    assert_same_result(f"{fn}(up, NaN)", EvalParams.instant(0), ds)
'''


@pytest.fixture
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester's subprocess runs in a temp dir: point the engine registry at our builds."""
    need_binary("prometheus-host")
    need_binary("mimir-host")
    monkeypatch.setenv("PROMFUZZ_BUILD_DIR", str(ROOT / ".build"))


def _section(out: str) -> str:
    """The "promfuzz case (promqltest)" section of pytest's output, as pasted."""
    m = re.search(r"-+ promfuzz case \(promqltest\) -+\n(.*?)\n(?:=+ |-+ \w)", out, re.S)
    assert m, out[-4000:]
    return m.group(1) + "\n"


@pytest.mark.hosts
def test_failing_hypothesis_test_shows_a_pasteable_case_and_stores_it(
    pytester: pytest.Pytester, _env: None, tmp_path: Path
) -> None:
    pytester.makepyfile(test_div=DIVERGENT_TEST)
    store = tmp_path / "store"
    result = pytester.runpytest_subprocess("--promfuzz-target=mqe", f"--promfuzz-store={store}",
                                           "--promfuzz-shrink-seconds=10", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "mqe differs from prometheus (divergence)" in out
    assert "prometheus answered:" in out and "mqe answered:" in out and "Difference:" in out
    assert "+Inf vs NaN" in out

    block = _section(out)
    case = read_case(block)  # it parses as promqltest
    assert re.fullmatch(r"clamp_(min|max)\(up, NaN\)", case.query)
    # Hypothesis then promfuzz shrank it to the one series that diverges.
    assert len(case.dataset.series) == 1, block
    assert [s.v for s in case.dataset.series[0].samples] == [float("inf")], block

    # Prometheus's own harness accepts it (expected values are the reference's answer).
    from promfuzz.corpus.runner import run_promqltest

    need_binary("promqltest-runner")
    pasted = tmp_path / "pasted.test"
    pasted.write_text(block)
    [outcome] = run_promqltest([pasted])
    assert outcome.passed, outcome.message

    # --promfuzz-store wrote it like a campaign finding: .test and .json per signature.
    tests = list(store.rglob("*.test"))
    assert len(tests) == 1, tests
    assert tests[0].with_suffix(".json").is_file()
    assert read_case(tests[0].read_text()).query == case.query
    assert f"Stored in the corpus: {tests[0]}" in out
    assert "found by the pytest test test_div.py::test_clamp" in tests[0].with_suffix(".json").read_text()

    # The traceback shows the test's line, not the plugin's internals; no case repr flood.
    assert "def __call__" not in out
    assert len(out.splitlines()) < 200, len(out.splitlines())


@pytest.mark.hosts
def test_known_difference_rules_apply_as_in_campaigns(pytester: pytest.Pytester, _env: None) -> None:
    """The evidence case of rule mqe-binop-no-series-annotations (MQE drops an info of a
    side it need not evaluate) passes: the shipped rule explains it. The same case judged
    by the same oracle without rules is a divergence, so the rule is what passes it."""
    evidence = (EVIDENCE / "mqe-binop-no-series-annotations.test").read_text()
    pytester.makepyfile(test_rules=f'''
import pytest
from promfuzz.corpus.promqltest import read_case
from promfuzz.oracles import DifferentialOracle
from promfuzz.pytest_failure import EnginesDiffer, FailureOptions, SameResultCheck

CASE = read_case({evidence!r})

def test_explained(assert_same_result):
    assert_same_result(CASE.query, CASE.params, CASE.dataset)

def test_without_rules_it_diverges(promql_engines):
    check = SameResultCheck(*promql_engines, FailureOptions(shrink_seconds=0))
    check.oracle = DifferentialOracle(rules=(), versions=check.oracle.versions)
    with pytest.raises(EnginesDiffer, match="info only in reference"):
        check(CASE.query, CASE.params, CASE.dataset)
''')
    result = pytester.runpytest_subprocess("--promfuzz-target=mqe", "--promfuzz-shrink-seconds=0",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


EXAMPLE = ROOT / "docs" / "examples" / "test_my_engine.py"


@pytest.mark.hosts
def test_documented_example_runs_as_documented(pytester: pytest.Pytester, _env: None) -> None:
    """docs/examples/test_my_engine.py, with 25 examples, passes Prometheus against itself."""
    text = EXAMPLE.read_text()
    assert "max_examples=3000" in text  # what the docs and issue #17 show
    pytester.makepyfile(test_my_engine=text.replace("max_examples=3000", "max_examples=25"))
    result = pytester.runpytest_subprocess("--promfuzz-target=prometheus", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


@pytest.mark.hosts
@pytest.mark.slow
def test_documented_example_finds_an_mqe_divergence(pytester: pytest.Pytester, _env: None) -> None:
    """The documented example, unchanged (3,000 examples), against mqe fails with a
    pasteable case (measured: fails after about 100 s, 30 s of it Hypothesis shrinking)."""
    pytester.makepyfile(test_my_engine=EXAMPLE.read_text())
    result = pytester.runpytest_subprocess("--promfuzz-target=mqe", "-p", "no:cacheprovider",
                                           "--hypothesis-seed=1")
    result.assert_outcomes(failed=1, passed=1)
    out = result.stdout.str()
    assert "mqe differs from prometheus" in out
    read_case(_section(out))
    assert len(out.splitlines()) < 250


# --------------------------------------------------------------------------- no hosts


class _FakeEngine:
    """An engine answering from a function of the query (no host process)."""

    def __init__(self, name: str, value: float, delay: float = 0.0) -> None:
        self.name = name
        self.value = value
        self.delay = delay
        self.queries = 0

    def versions(self) -> dict[str, str]:
        return {}

    def load(self, dataset: Any) -> None:
        pass

    def query(self, query: str, params: Any) -> Any:
        from promfuzz.model import EngineStats, Point, Result, ResultSeries

        self.queries += 1
        time.sleep(self.delay)
        return Result(engine=self.name, outcome="ok", value_type="vector",
                      series=(ResultSeries(labels=(), points=(Point(params.time_ms, self.value),)),),
                      stats=EngineStats())


def test_hypothesis_shrinking_stops_at_its_budget() -> None:
    """Past the budget, Hypothesis's shrink tries are not run; its final run still is, and
    fails with the full message. Without the budget, every try runs the engines."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from promfuzz.model import Dataset, EvalParams

    ref, tgt = _FakeEngine("ref", 1.0), _FakeEngine("tgt", 2.0, delay=0.002)
    check = SameResultCheck(ref, tgt, FailureOptions(shrink_seconds=0, hypothesis_shrink_seconds=0.05))
    ds = Dataset.build([({"__name__": "up"}, [(0, 1.0)])])

    @settings(deadline=None, max_examples=200, database=None)
    @given(st.lists(st.integers(0, 1000), min_size=5, max_size=40))
    def body(xs: list[int]) -> None:
        check(f"up + {sum(xs)}", EvalParams.instant(0), ds)

    check.start_test("t")
    with pytest.raises(EnginesDiffer) as ei:
        body()
    assert check.skipped_shrink_runs > 0
    assert "stopped at its budget" in str(ei.value)
    assert "tgt answered:" in str(ei.value)  # the final run was judged for real


def test_long_hypothesis_notes_are_cut_short_ones_kept() -> None:
    e = EnginesDiffer("boom", promqltest="load 1m\n")
    e.add_note("Falsifying example: test(case=Case(" + "x" * 50_000 + "))")
    e.add_note("You can reproduce this example by temporarily adding @reproduce_failure(...)")
    trim_hypothesis_notes(ExceptionGroup("g", [e]))
    assert len(e.__notes__[0]) < 400 and "50,0" in e.__notes__[0]
    assert e.__notes__[1].startswith("You can reproduce")
    other = AssertionError("x")
    other.add_note("y" * 5000)
    trim_hypothesis_notes(other)  # only promfuzz's failures are touched
    assert len(other.__notes__[0]) == 5000


def test_promqltest_block_of_a_case_parses() -> None:
    from promfuzz.model import Case, Dataset, EvalParams
    from promfuzz.pytest_failure import promqltest_block

    ds = Dataset.build([({"__name__": "up", "job": "a"}, [(0, 1.0), (60_000, 2.0)])])
    c = Case(ds, "sum(up)", EvalParams.instant(60_000))
    text = promqltest_block(c, None, comment="c")
    assert parse_test(text).cases()[0].query == "sum(up)"
