"""pytest plugin: differential PromQL testing inside any pytest suite.

Installed with the package (entry point ``pytest11``), so it is active wherever promfuzz
is installed. Everything it adds is prefixed ``promfuzz``:

Options (``pytest --help`` lists them under "promfuzz"):
  --promfuzz-reference ENGINE   reference engine for the fixtures (default: prometheus)
  --promfuzz-target ENGINE      engine under test (default: mqe); any name ``promfuzz engines``
                                lists, or ``http:<url>`` for your own engine over HTTP
  --promfuzz-corpus PATH        corpus folder or .test file: every eval in it becomes a test item
                                that checks the target against the file's expected result
  --promfuzz-examples N         Hypothesis examples per test using promfuzz strategies
  --promfuzz-store DIR          corpus folder a failing assert_same_result case is written to
  --promfuzz-shrink-seconds S   promfuzz shrinker budget for a failing case (default 20)
  --promfuzz-hypothesis-shrink-seconds S
                                budget of Hypothesis's own shrinking from a test's first
                                failure (default 30; past it its tries are not run)

Fixtures:
  promql_engines        (session) the (reference, target) engine pair, started once per
                        session (once per pytest-xdist worker)
  assert_same_result    ``assert_same_result(query, params, dataset)`` loads the dataset into
                        both engines, runs the query and, when the campaign's differential
                        oracle finds a divergence, fails with the (shrunk) case as a
                        promqltest file, both answers and the difference
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from promfuzz.model import Dataset, EvalParams


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("promfuzz", "promfuzz: differential PromQL testing")
    g.addoption("--promfuzz-reference", default="prometheus", metavar="ENGINE",
                help="reference engine for promfuzz fixtures (default: prometheus)")
    g.addoption("--promfuzz-target", default="mqe", metavar="ENGINE",
                help="engine under test for promfuzz fixtures (default: mqe; http:<url> for a server)")
    g.addoption("--promfuzz-corpus", action="append", default=[], metavar="PATH",
                help="corpus folder or .test file; each eval becomes a test item (repeatable)")
    g.addoption("--promfuzz-examples", type=int, default=None, metavar="N",
                help="Hypothesis max_examples for tests that use promfuzz strategies")
    g.addoption("--promfuzz-store", default=None, metavar="DIR",
                help="corpus folder: a case assert_same_result fails on is written there, as campaigns store findings")
    g.addoption("--promfuzz-shrink-seconds", type=float, default=20.0, metavar="S",
                help="promfuzz shrinker budget for a failing assert_same_result case (default 20; 0: no shrinking)")
    g.addoption("--promfuzz-hypothesis-shrink-seconds", type=float, default=30.0, metavar="S",
                help="budget of Hypothesis's own shrinking from a test's first failing example (default 30); "
                     "past it, the examples it tries are not run and it reports the smallest failing one so far")


def pytest_configure(config: pytest.Config) -> None:
    # A Case's repr (its whole dataset) is large by nature; the failure shows it as promqltest.
    config.addinivalue_line("filterwarnings", "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")
    n = config.getoption("--promfuzz-examples", default=None)
    if n:
        from hypothesis import settings

        settings.register_profile("promfuzz", max_examples=int(n))
        settings.load_profile("promfuzz")


@pytest.fixture(scope="session")
def promql_engines(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """The (reference, target) engines named by --promfuzz-reference / --promfuzz-target."""
    from promfuzz.engines.registry import open_engine

    ref = open_engine(request.config.getoption("--promfuzz-reference"))
    tgt = open_engine(request.config.getoption("--promfuzz-target"))
    try:
        yield ref, tgt
    finally:
        tgt.close()
        ref.close()


@pytest.fixture(scope="session")
def assert_same_result(
    promql_engines: tuple[Any, Any], request: pytest.FixtureRequest
) -> Callable[[str, EvalParams, Dataset], None]:
    """Check one query on one dataset with the campaign's differential oracle (shipped
    known-difference rules, operand resolver); on a divergence fail with the case as a
    promqltest file (promfuzz-shrunk), both answers and the difference, and store it with
    --promfuzz-store (see :mod:`promfuzz.pytest_failure`).

    Session-scoped (it holds no per-test state), so Hypothesis ``@given`` tests can use it."""
    from promfuzz.pytest_failure import FailureOptions, SameResultCheck

    ref, tgt = promql_engines
    store = request.config.getoption("--promfuzz-store")
    seconds = request.config.getoption("--promfuzz-shrink-seconds")
    if seconds < 0:
        raise pytest.UsageError(f"--promfuzz-shrink-seconds must be >= 0, got {seconds}")
    hyp_seconds = request.config.getoption("--promfuzz-hypothesis-shrink-seconds")
    if hyp_seconds < 0:
        raise pytest.UsageError(f"--promfuzz-hypothesis-shrink-seconds must be >= 0, got {hyp_seconds}")
    check = SameResultCheck(ref, tgt, FailureOptions(store=Path(store) if store else None, shrink_seconds=seconds,
                                                     hypothesis_shrink_seconds=hyp_seconds))
    request.config.stash[_CHECK_KEY] = check
    return check


_CHECK_KEY = pytest.StashKey[Any]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Each test gets its own name in stored cases and its own Hypothesis shrink budget
    (the check is session-scoped, set up by the first test using it). Hypothesis's
    "Falsifying example" note on a failing assert_same_result is the repr of the whole
    case: it is cut, the failure message already holds the case as promqltest."""
    check = item.config.stash.get(_CHECK_KEY, None)
    if check is not None:
        check.start_test(item.nodeid)
    outcome: Any = yield
    excinfo = outcome.excinfo
    if excinfo is not None:
        from promfuzz.pytest_failure import trim_hypothesis_notes

        trim_hypothesis_notes(excinfo[1])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing assert_same_result's case, once more without pytest's ``E`` prefixes,
    so it pastes as it is."""
    outcome = yield
    exc = call.excinfo.value if call.excinfo is not None else None
    block = getattr(exc, "promqltest", "")
    if block:
        outcome.get_result().sections.append(("promfuzz case (promqltest)", block))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- corpus items


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    paths = config.getoption("--promfuzz-corpus", default=[])
    for p in paths:
        for f in _test_files(Path(p)):
            node = CorpusFile.from_parent(session, path=f)
            items.extend(node.collect())  # type: ignore[arg-type]


def _test_files(p: Path) -> list[Path]:
    if p.is_dir():
        return sorted(p.rglob("*.test"))
    if p.is_file():
        return [p]
    raise pytest.UsageError(f"--promfuzz-corpus {p}: no such file or folder")


class CorpusFile(pytest.File):
    """One promqltest file of the corpus: one test item (a corpus case is one file)."""

    def collect(self) -> Iterator[pytest.Item]:
        yield CorpusCase.from_parent(self, name=self.path.parent.name + "/" + self.path.stem)


class CorpusCase(pytest.Item):
    """Replays one case file on the target; fails with the file, line and diff."""

    def runtest(self) -> None:
        from promfuzz.corpus.replay import replay

        report = replay([self.path], _session_target(self.config))
        if not report.ok:
            raise CorpusCaseFailure(self.path, report)
        t = report.totals
        if t["passed"] == 0 and (t["skipped"] or t["unsupported"]):
            reasons = "; ".join(o.detail for o in report.outcomes if o.kind in ("skipped", "unsupported"))
            pytest.skip(f"{self.path}: {reasons}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CorpusCaseFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"promfuzz corpus case {self.name}"


class CorpusCaseFailure(AssertionError):
    def __init__(self, path: Path, report: Any) -> None:
        from promfuzz.corpus.replay import format_report

        super().__init__(
            f"promfuzz corpus case {path} fails on {report.engine}:\n"
            + format_report(report, show=("failed", "error"))
        )


_TARGET_KEY = pytest.StashKey[Any]()


def _session_target(config: pytest.Config) -> Any:
    """The target engine for corpus items, started once per session (per xdist worker)."""
    if _TARGET_KEY not in config.stash:
        from promfuzz.engines.registry import open_engine

        tgt = open_engine(config.getoption("--promfuzz-target"))
        config.stash[_TARGET_KEY] = tgt
        config.add_cleanup(tgt.close)
    return config.stash[_TARGET_KEY]
