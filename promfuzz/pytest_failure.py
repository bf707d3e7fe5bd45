"""What the pytest plugin's ``assert_same_result`` does when two engines disagree.

The check is the campaign's: the same :class:`~promfuzz.oracles.DifferentialOracle` with
the shipped known-difference rules, their version ranges checked against the engines'
module versions (:func:`promfuzz.pipeline.engine_versions_for_rules`), and the operand
resolver for topk & co. A ``divergence`` or ``engine_failure`` fails the test with
:class:`EnginesDiffer`, an ``AssertionError`` whose message holds

* the case as a promqltest file (a ``load`` block and the ``eval`` with the reference's
  answer as the expected result, ready to paste into the target engine's test suite);
  promfuzz-shrunk (:func:`promfuzz.shrink.shrink`) when that gives a smaller case,
* both engines' answers and the oracle's difference,
* where the case was stored (``--promfuzz-store DIR``: written like a campaign's
  finding, :meth:`promfuzz.corpus.store.CorpusStore.add`).

Inside a Hypothesis test the shrinking, storing and long message happen only on
Hypothesis's final run (its shrunk example): the runs Hypothesis makes while shrinking
get a one-line failure. Hypothesis's own shrinking gets a budget
(``--promfuzz-hypothesis-shrink-seconds``, default 30 s from the first failure of a test):
every example loads a dataset into both engines, and unbounded it ran for Hypothesis's
own five-minute limit on the documented example. Past the budget, the examples Hypothesis
tries while shrinking are not run (they pass at once), so Hypothesis stops with the
smallest failing example it has, which its final run judges for real and the promfuzz
shrinker (which knows the case's structure) then reduces further.
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promfuzz.model import Case, Dataset, EvalParams, Result
from promfuzz.oracles.verdict import Verdict

FAILING_KINDS = ("divergence", "engine_failure")
MAX_SERIES_SHOWN = 12
MAX_POINTS_SHOWN = 12


@dataclass(frozen=True)
class FailureOptions:
    store: Path | None = None
    """Corpus folder the failing case is written to (None: not stored)."""
    shrink_seconds: float = 20.0
    """promfuzz shrinker budget per failure (0: do not shrink)."""
    hypothesis_shrink_seconds: float = 30.0
    """Budget of Hypothesis's shrinking, from a test's first failing example (see the module doc)."""


class EnginesDiffer(AssertionError):
    """The target's answer differs from the reference's. ``promqltest`` holds the case
    as a promqltest file, ``stored`` the .test path when ``--promfuzz-store`` is set."""

    def __init__(self, message: str, promqltest: str = "", stored: str | None = None) -> None:
        super().__init__(message)
        self.promqltest = promqltest
        self.stored = stored


def _final_run() -> bool:
    """Outside Hypothesis, or in Hypothesis's final run (the shrunk example it reports)."""
    try:
        from hypothesis.control import current_build_context, currently_in_test_context
    except ImportError:  # pragma: no cover - Hypothesis is a dependency
        return True
    if not currently_in_test_context():
        return True
    return bool(getattr(current_build_context(), "is_final", True))


class SameResultCheck:
    """``assert_same_result(query, params, dataset)`` over one (reference, target) pair."""

    def __init__(self, reference: Any, target: Any, options: FailureOptions | None = None,
                 test_name: str | None = None) -> None:
        from promfuzz.oracles import DifferentialOracle, load_rules
        from promfuzz.pipeline import engine_versions_for_rules

        self.ref = reference
        self.tgt = target
        self.options = options or FailureOptions()
        self.test_name = test_name
        self.versions = {e.name: e.versions() for e in (reference, target)}
        self.oracle = DifferentialOracle(rules=load_rules(), versions=engine_versions_for_rules(self.versions))
        self._shrink_stats: dict[str, Any] = {}
        self._first_failure: float | None = None
        self.skipped_shrink_runs = 0
        """Examples Hypothesis tried while shrinking past the budget (not run), this test."""

    def start_test(self, name: str | None) -> None:
        """A new test item begins: its own Hypothesis shrink budget."""
        self.test_name = name
        self._first_failure = None
        self.skipped_shrink_runs = 0

    def _past_shrink_budget(self) -> bool:
        if self._first_failure is None:
            return False
        return time.monotonic() - self._first_failure > self.options.hypothesis_shrink_seconds

    def judge(self, case: Case, detail: bool = True) -> tuple[Verdict, Result, Result]:
        ref, tgt = self.ref, self.tgt
        ref.load(case.dataset)
        tgt.load(case.dataset)
        r = ref.query(case.query, case.params)
        t = tgt.query(case.query, case.params)
        # The reference still holds the dataset: it answers the operand of a topk & co
        # whose pick differs, so a valid tie pick is told from a wrong one.
        verdict = self.oracle.check(case, r, t, detail=detail,
                                    operand=lambda text: ref.query(text, case.params))
        return verdict, r, t

    def __call__(self, query: str, params: EvalParams, dataset: Dataset) -> None:
        __tracebackhide__ = True  # pytest shows the test's line, not this method's
        case = Case(dataset, query, params)
        final = _final_run()
        if not final and self._past_shrink_budget():
            self.skipped_shrink_runs += 1
            return
        verdict, r, t = self.judge(case, detail=final)
        if verdict.kind not in FAILING_KINDS:
            return
        if not final:
            if self._first_failure is None:
                self._first_failure = time.monotonic()
            raise EnginesDiffer(f"{self.tgt.name} differs from {self.ref.name} ({verdict.kind}) for {query!r}")
        raise self.failure(case, verdict, r, t)

    # ------------------------------------------------------------------ the failure
    def failure(self, case: Case, verdict: Verdict, r: Result, t: Result) -> EnginesDiffer:
        from promfuzz.shrink import size_of

        original, original_verdict = case, verdict
        shrink_note = ""
        self._shrink_stats = {}
        if self.options.shrink_seconds > 0:
            try:
                case, verdict, r, t, shrink_note = self._shrink(case, verdict)
            except Exception as e:  # noqa: BLE001 - a shrinker bug must not hide the failure
                shrink_note = f"promfuzz shrink failed ({type(e).__name__}: {e}); the case is Hypothesis's example"
                case, verdict = original, original_verdict
                verdict, r, t = self.judge(case)
        sig = verdict.signature or original_verdict.signature
        from promfuzz.pipeline import finding_key

        key = finding_key(verdict) if verdict.signature is not None else finding_key(original_verdict)
        block = promqltest_block(case, r, comment=f"promfuzz: {self.tgt.name} vs {self.ref.name}; signature {key}")
        stored = self._store(case, key, verdict, r, original, shrink_note) if self.options.store else None
        lines = [
            f"{self.tgt.name} differs from {self.ref.name} ({verdict.kind}): {sig.title if sig else key}",
            f"signature: {key}",
            "",
            f"The case as a promqltest file (expected values: {self.ref.name}'s answer"
            + (f"; {shrink_note}" if shrink_note else "") + "):",
            "",
            textwrap.indent(block.rstrip("\n"), "    "),
            "",
            f"{self.ref.name} answered:",
            textwrap.indent(format_answer(r), "    "),
            f"{self.tgt.name} answered:",
            textwrap.indent(format_answer(t), "    "),
            "",
            "Difference:",
            textwrap.indent((verdict.detail or verdict.reason or "(no detail)").rstrip("\n"), "    "),
        ]
        if self.skipped_shrink_runs:
            lines += ["", f"Hypothesis's shrinking stopped at its budget of {self.options.hypothesis_shrink_seconds:g} s "
                      f"({self.skipped_shrink_runs} later tries not run; --promfuzz-hypothesis-shrink-seconds)"]
        if case != original:
            lines += ["", f"Before promfuzz shrank it ({_size_line(size_of(original))}): "
                      f"{original.query!r} at {_params_text(original.params)}"]
        if stored:
            lines += ["", f"Stored in the corpus: {stored}"]
        elif self.options.store is None:
            lines += ["", "(--promfuzz-store DIR writes the case into a corpus folder)"]
        return EnginesDiffer("\n".join(lines), promqltest=block, stored=stored)

    def _shrink(self, case: Case, verdict: Verdict) -> tuple[Case, Verdict, Result, Result, str]:
        from promfuzz.shrink import make_engine_check, shrink

        check = make_engine_check(self.ref, self.tgt, self.oracle)
        res = shrink(case, check, seconds=self.options.shrink_seconds, initial=verdict)
        self._shrink_stats = res.stats_json()
        if not res.after < res.before:
            v, r, t = self.judge(case)
            return case, v, r, t, ""
        v, r, t = self.judge(res.case)
        if v.kind not in FAILING_KINDS:  # flaky on replay: keep the example that failed
            v, r, t = self.judge(case)
            return case, v, r, t, "promfuzz's shrunk case did not fail again; this is Hypothesis's example"
        note = f"promfuzz-shrunk from the failing example: {res.summary()}"
        return res.case, v, r, t, note

    def _store(self, case: Case, key: str, verdict: Verdict, expected: Result, original: Case,
               shrink_note: str) -> str:
        from promfuzz.corpus.store import CorpusStore

        assert self.options.store is not None
        notes = []
        if self.test_name:
            notes.append(f"found by the pytest test {self.test_name}")
        if original.query != case.query:
            notes.append(f"original query (before shrinking): {original.query}")
        outcome = CorpusStore(self.options.store).add(
            case,
            key,
            expected=expected,
            oracle=verdict.oracle,
            verdict=verdict.to_json_obj(),
            engines={self.ref.name: dict(self.versions[self.ref.name]),
                     self.tgt.name: dict(self.versions[self.tgt.name])},
            shrink={**self._shrink_stats, "note": shrink_note} if shrink_note else self._shrink_stats,
            note="; ".join(notes),
        )
        return str(outcome.stored.test_path) + ("" if outcome.new else " (already stored: one more occurrence)")


# --------------------------------------------------------------------------- text

MAX_NOTE_CHARS = 2000


def trim_hypothesis_notes(exc: BaseException) -> None:
    """Shorten the notes Hypothesis adds to a failing :class:`EnginesDiffer` (its
    "Falsifying example" is the repr of the whole Case, dataset included: 10,000 lines on
    the documented example) to a pointer at the promqltest block, which is the case."""
    excs = [exc, *getattr(exc, "exceptions", ())]
    for e in excs:
        notes = getattr(e, "__notes__", None)
        if not isinstance(e, EnginesDiffer) or not notes:
            continue
        out = []
        for n in notes:
            if isinstance(n, str) and len(n) > MAX_NOTE_CHARS:
                head = n.split("(", 1)[0].strip()
                n = (f"{head}(...): Hypothesis's example is {len(n):,} characters of repr, left out; "
                     "the promqltest block above is the same case (promfuzz-shrunk where that was smaller)")
            out.append(n)
        e.__notes__ = out


def promqltest_block(case: Case, expected: Result | None, comment: str = "") -> str:
    """The case as a promqltest file; without the expected values when promqltest cannot
    express them, and as plain text when it cannot express the case at all."""
    from promfuzz.corpus.promqltest import write_case

    try:
        return write_case(case, expected, comment=comment or None)
    except ValueError as e:
        try:
            return write_case(case, None, comment=f"{comment}\nexpected result not expressible: {e}".strip())
        except ValueError as e2:
            from promfuzz.generators.loadtext import format_load

            return (f"# {comment}\n# not expressible as promqltest: {e2}\n{format_load(case.dataset)}\n"
                    f"# query: {case.query}\n# at: {_params_text(case.params)}\n")


def format_answer(r: Result) -> str:
    """One engine's answer, a line per series (at most a dozen series and points)."""
    from promfuzz.pipeline import result_view

    v = result_view(r)
    if v.error:
        return f"error: {v.error}"
    out: list[str] = []
    if v.scalar is not None:
        out.append(f"{v.value_type}: {v.scalar}")
    for s in v.series[:MAX_SERIES_SHOWN]:
        pts = s.points[:MAX_POINTS_SHOWN]
        if len(pts) == 1 and r.value_type == "vector":
            body = pts[0][1]
        else:
            body = "  ".join(f"{_ms(t)}:{val}" for t, val in pts)
            if len(s.points) > len(pts):
                body += f"  ... ({len(s.points)} points)"
        out.append(f"{s.labels or '{}'}  {body}")
    if len(v.series) > MAX_SERIES_SHOWN:
        out.append(f"... {len(v.series) - MAX_SERIES_SHOWN} more series")
    if not out:
        out.append(f"({v.value_type or 'no'} result, empty)")
    out += [f"warning: {w}" for w in v.warnings] + [f"info: {i}" for i in v.infos]
    return "\n".join(out)


def _ms(t: int) -> str:
    from promfuzz.generators.loadtext import format_duration_ms

    return format_duration_ms(t) if t >= 0 else f"{t}ms"


def _params_text(p: EvalParams) -> str:
    if p.is_range:
        return f"range {_ms(p.start_ms)} to {_ms(p.end_ms)} step {_ms(p.step_ms)}"
    return f"instant {_ms(p.time_ms)}"


def _size_line(s: Any) -> str:
    return f"{s.query_tokens} tokens, {s.series} series, {s.samples} samples, {s.steps} steps"
