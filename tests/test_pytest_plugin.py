"""The pytest plugin, run the way an engine developer runs it (pytester subprocess runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
needs_host = pytest.mark.skipif(
    not (ROOT / ".build" / "prometheus-host").exists(), reason="engine hosts not built (run `make hosts`)"
)

PASSING = """load 1m
  up{job="a"} 1 2 3

eval instant at 2m up
  up{job="a"} 3
"""

FAILING = """load 1m
  up{job="a"} 1 2 3

eval instant at 2m up * 2
  {job="a"} 7
"""


@pytest.fixture
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Subprocess pytest runs in a temp dir: point the engine registry at our builds."""
    monkeypatch.setenv("PROMFUZZ_BUILD_DIR", str(ROOT / ".build"))


def test_plugin_options_are_listed_in_pytest_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    out = result.stdout.str()
    for opt in ("--promfuzz-reference", "--promfuzz-target", "--promfuzz-corpus", "--promfuzz-examples"):
        assert opt in out


@pytest.mark.hosts
@needs_host
def test_corpus_case_that_fails_names_its_file_and_the_difference(pytester: pytest.Pytester, _env: None) -> None:
    corpus = pytester.mkdir("corpus")
    (corpus / "sig-a").mkdir()
    (corpus / "sig-a" / "good.test").write_text(PASSING)
    (corpus / "sig-b").mkdir()
    (corpus / "sig-b" / "bad.test").write_text(FAILING)
    result = pytester.runpytest_subprocess(
        f"--promfuzz-corpus={corpus}", "--promfuzz-target=prometheus", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "sig-b/bad.test" in out
    assert "fails on prometheus" in out
    assert "sig-a/good.test" not in out.split("FAILURES")[-1]


@pytest.mark.hosts
@needs_host
def test_assert_same_result_fixture_passes_on_agreeing_engines_and_fails_with_a_diff(
    pytester: pytest.Pytester, _env: None
) -> None:
    pytester.makepyfile(
        """
        import math
        from promfuzz.model import Dataset, EvalParams

        DS = Dataset.build([({"__name__": "up", "job": "a"}, [(0, 1.0), (60_000, math.inf)])])

        def test_agree(assert_same_result):
            assert_same_result("sum(up)", EvalParams.instant(0), DS)

        def test_mqe_clamp_min_nan_of_inf(assert_same_result):
            # A finding of this project: Prometheus gives +Inf (Go's math.Max), MQE gives NaN.
            assert_same_result("clamp_min(up, NaN)", EvalParams.instant(60_000), DS)
        """
    )
    result = pytester.runpytest_subprocess("--promfuzz-target=mqe", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    assert "mqe differs from prometheus" in result.stdout.str()


@pytest.mark.hosts
@needs_host
def test_plugin_works_under_xdist(pytester: pytest.Pytester, _env: None) -> None:
    corpus = pytester.mkdir("corpus")
    for i in range(4):
        (corpus / f"s{i}").mkdir()
        (corpus / f"s{i}" / "c.test").write_text(PASSING)
    result = pytester.runpytest_subprocess(
        f"--promfuzz-corpus={corpus}", "--promfuzz-target=prometheus", "-n", "2", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=4)
