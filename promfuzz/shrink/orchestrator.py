"""The shrink loop: run small passes until none makes progress or the budget is spent.

Shape (after Hypothesis's shrinker): many small, independent passes, each a pure
function proposing candidates smaller than the current case (by :class:`CaseSize`); the
orchestrator evaluates candidates in the order a pass proposes them and keeps the first
one that still shows *the same bug*:

* the candidate's verdict has the same kind (a divergence stays a divergence, an engine
  failure stays an engine failure) and
* ``original_signature.preserved_by(candidate_signature)`` -- oracle, category, error
  classes, target and qualifier equal, features a subset. So the shrinker never slides
  from one bug to another, and it may drop features that did not matter.

After a success the same pass runs again on the new case; a sweep over all passes that
keeps nothing is a *fixed point*: no single pass applies any more. Candidates are cached
by content (:meth:`Case.case_id`), so nothing is evaluated twice. Everything is
deterministic: the same case and the same engines give the same result (a ``seconds``
budget can only stop it earlier).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from promfuzz.errors import EngineError
from promfuzz.model import Case, Result
from promfuzz.oracles.verdict import Signature, Verdict
from promfuzz.shrink import dataset_passes as dp
from promfuzz.shrink import eval_passes as ep
from promfuzz.shrink import query_passes as qp
from promfuzz.shrink.size import CaseSize, SeriesMemo, size_of

Check = Callable[[Case], Verdict | None]
"""Runs reference and target on a case and judges it; None when the case could not be run."""

DEFAULT_SECONDS = 60.0


@dataclass(frozen=True)
class ShrinkBudget:
    """Stop after ``seconds`` of wall time or ``engine_calls`` engine calls (None: no limit)."""

    seconds: float | None = DEFAULT_SECONDS
    engine_calls: int | None = None


@dataclass(frozen=True)
class Pass:
    """A named pass. ``fn`` gets the current case and the timestamps where it diverged."""

    name: str
    family: str
    fn: Callable[[Case, Sequence[int]], Iterator[Case]]


def _plain(family: str, f: Callable[[Case], Iterator[Case]]) -> Pass:
    return Pass(f.__name__, family, lambda c, _focus: f(c))


def default_passes() -> tuple[Pass, ...]:
    """All passes, cheapest big wins first: series the query cannot select, range to
    instant, the visible time range; then query, dataset and evaluation passes."""
    first = (
        _plain("dataset", dp.drop_unselected_series),
        Pass("range_to_instant", "eval", lambda c, focus: ep.range_to_instant(c, focus)),
        _plain("dataset", dp.cut_time_range),
    )
    query = tuple(_plain("query", f) for f in qp.QUERY_PASSES)
    data = tuple(
        _plain("dataset", f)
        for f in dp.DATASET_PASSES
        if f not in (dp.drop_unselected_series, dp.cut_time_range)
    )
    evals = tuple(_plain("eval", f) for f in ep.EVAL_PASSES if f is not ep.range_to_instant)
    return first + query + data + evals


@dataclass(frozen=True)
class ShrinkResult:
    """What :func:`shrink` did. ``case``/``verdict`` are the smallest case found and its verdict."""

    case: Case
    verdict: Verdict
    original: Case
    original_verdict: Verdict
    before: CaseSize
    after: CaseSize
    checks: int
    cache_hits: int
    engine_calls: int
    seconds: float
    passes_applied: tuple[tuple[str, int], ...]
    fixed_point: bool
    stop_reason: str
    """``fixed_point``, ``seconds``, ``engine_calls`` or ``not_a_problem`` (nothing to shrink)."""
    log: tuple[str, ...] = field(default=(), compare=False)

    @property
    def shrunk(self) -> bool:
        return self.case != self.original

    def stats_json(self) -> dict[str, Any]:
        return {
            "before": self.before.to_json_obj(),
            "after": self.after.to_json_obj(),
            "checks": self.checks,
            "cache_hits": self.cache_hits,
            "engine_calls": self.engine_calls,
            "seconds": round(self.seconds, 3),
            "passes_applied": dict(self.passes_applied),
            "fixed_point": self.fixed_point,
            "stop_reason": self.stop_reason,
        }

    def summary(self) -> str:
        b, a = self.before, self.after
        return (
            f"tokens {b.query_tokens}->{a.query_tokens}, series {b.series}->{a.series}, "
            f"samples {b.samples}->{a.samples}, steps {b.steps}->{a.steps}; "
            f"{self.engine_calls} engine calls, {self.seconds:.1f}s, "
            f"{'fixed point' if self.fixed_point else 'stopped: ' + self.stop_reason}"
        )


def same_bug(original: Verdict, candidate: Verdict | None) -> bool:
    """Does ``candidate`` show the bug ``original`` showed (same kind, signature preserved)?"""
    if candidate is None or candidate.signature is None or original.signature is None:
        return False
    return candidate.kind == original.kind and original.signature.preserved_by(candidate.signature)


def _focus(v: Verdict) -> tuple[int, ...]:
    out: list[int] = []
    for d in v.differences:
        t = getattr(d, "t", None)
        if isinstance(t, int) and t not in out:
            out.append(t)
    return tuple(out[:10])


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def shrink(
    case: Case,
    check: Check,
    budget: ShrinkBudget | None = None,
    *,
    seconds: float | None = None,
    engine_calls: int | None = None,
    initial: Verdict | None = None,
    passes: Sequence[Pass] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> ShrinkResult:
    """Shrink ``case`` while ``check`` keeps reporting the same bug.

    ``budget`` (or the ``seconds``/``engine_calls`` shortcuts, which override it) bounds
    the work; ``initial`` is the case's verdict when the caller already has it (else the
    case is checked first). Engine calls are read from ``check.engine_calls`` when the
    check counts them (as :func:`make_engine_check`'s does), else two per check.
    """
    b = budget or ShrinkBudget()
    if seconds is not None or engine_calls is not None:
        b = ShrinkBudget(
            seconds if seconds is not None else b.seconds,
            engine_calls if engine_calls is not None else b.engine_calls,
        )
    passes = tuple(passes) if passes is not None else default_passes()
    t0 = time.monotonic()
    calls0 = getattr(check, "engine_calls", None)
    checks = 0
    hits = 0
    cache: dict[str, Verdict | None] = {}
    applied: dict[str, int] = {}
    log: list[str] = []
    memo: SeriesMemo = {}

    def calls() -> int:
        now = getattr(check, "engine_calls", None)
        if isinstance(now, int) and isinstance(calls0, int):
            return now - calls0
        return 2 * checks

    def note(msg: str) -> None:
        log.append(msg)
        if on_progress is not None:
            on_progress(msg)

    def out_of_time() -> None:
        if b.seconds is not None and time.monotonic() - t0 >= b.seconds:
            raise _Stop("seconds")

    def evaluate(c: Case) -> Verdict | None:
        nonlocal checks, hits
        key = c.case_id()
        if key in cache:
            hits += 1
            return cache[key]
        out_of_time()
        if b.engine_calls is not None and calls() >= b.engine_calls:
            raise _Stop("engine_calls")
        checks += 1
        try:
            v = check(c)
        except EngineError as e:
            note(f"check failed: {e}")
            v = None
        cache[key] = v
        return v

    before = size_of(case, memo)
    if initial is None:
        try:
            initial = evaluate(case)
        except _Stop as s:
            initial = None
            reason = s.reason
        else:
            reason = "not_a_problem"
    else:
        cache[case.case_id()] = initial
        reason = "not_a_problem"
    if initial is None or initial.signature is None or initial.kind in ("match", "not_applicable"):
        v0 = initial or Verdict.not_applicable("shrink", "the case could not be checked")
        return ShrinkResult(
            case,
            v0,
            case,
            v0,
            before,
            before,
            checks,
            hits,
            calls(),
            time.monotonic() - t0,
            (),
            False,
            reason,
            tuple(log),
        )

    original_verdict = initial
    current, cur_verdict, cur_size = case, initial, before
    fixed = False
    stop = ""
    try:
        while True:
            progress = False
            for p in passes:
                while True:
                    improved = False
                    for cand in p.fn(current, _focus(cur_verdict)):
                        out_of_time()
                        cs = size_of(cand, memo)
                        if not cs < cur_size:
                            continue
                        v = evaluate(cand)
                        if same_bug(original_verdict, v):
                            assert v is not None
                            current, cur_verdict, cur_size = cand, v, cs
                            applied[p.name] = applied.get(p.name, 0) + 1
                            note(
                                f"{p.name}: {cs.query_tokens} tokens, {cs.series} series, {cs.samples} samples, {cs.steps} steps"
                            )
                            improved = progress = True
                            break
                    if not improved:
                        break
            if not progress:
                fixed = True
                stop = "fixed_point"
                break
    except _Stop as s:
        stop = s.reason
    # Stored cases are pasted into Prometheus's and Mimir's test suites: spell the query
    # as Prometheus's own String() does (e.g. `sum(x)`, not `sum by () (x)`), if the
    # difference survives that spelling (one more check, past any budget: it is the last).
    spelled = _prometheus_spelling(current.query)
    if spelled is not None and spelled != current.query:
        cand = replace(current, query=spelled)
        try:
            checks += 1
            v = check(cand)
        except EngineError as e:
            note(f"check failed: {e}")
            v = None
        if same_bug(original_verdict, v):
            assert v is not None
            current, cur_verdict = cand, v
            applied["prometheus_spelling"] = applied.get("prometheus_spelling", 0) + 1
            note(f"prometheus_spelling: {spelled}")
    return ShrinkResult(
        case=current,
        verdict=cur_verdict,
        original=case,
        original_verdict=original_verdict,
        before=before,
        after=cur_size,
        checks=checks,
        cache_hits=hits,
        engine_calls=calls(),
        seconds=time.monotonic() - t0,
        passes_applied=tuple(sorted(applied.items())),
        fixed_point=fixed,
        stop_reason=stop,
        log=tuple(log),
    )


# --------------------------------------------------------------------------- engine check


class Oracle(Protocol):
    def check(self, case: Case, ref: Result, tgt: Result) -> Verdict: ...


class QueryEngine(Protocol):
    name: str

    def load(self, dataset: Any) -> Any: ...

    def query(self, text: str, params: Any, timeout_s: float | None = None) -> Result: ...


class EngineCheck:
    """A :data:`Check` over two engines and a differential oracle.

    Loads a dataset only when it differs from the one loaded last (by fingerprint);
    counts ``engine_calls`` (loads plus queries), ``loads`` and ``queries``. A dataset an
    engine refuses to load gives None (the candidate is rejected).
    """

    def __init__(
        self, reference: QueryEngine, target: QueryEngine, oracle: Oracle, timeout_s: float | None = None
    ) -> None:
        self.reference = reference
        self.target = target
        self.oracle = oracle
        self._with_operand = _takes_operand(oracle)
        self.timeout_s = timeout_s
        self.engine_calls = 0
        self.loads = 0
        self.queries = 0
        self._fp: str | None = None

    def results(self, case: Case) -> tuple[Result, Result] | None:
        """Both engines' results for ``case`` (None when the dataset did not load)."""
        fp = case.dataset.fingerprint()
        if fp != self._fp:
            self._fp = None
            try:
                for e in (self.reference, self.target):
                    self.engine_calls += 1
                    self.loads += 1
                    e.load(case.dataset)
            except EngineError:
                return None
            self._fp = fp
        out = []
        for e in (self.reference, self.target):
            self.engine_calls += 1
            self.queries += 1
            out.append(e.query(case.query, case.params, self.timeout_s))
        return out[0], out[1]

    def operand(self, case: Case) -> Callable[[str], Result | None]:
        """The comparator's operand resolver: the reference's answer to a subexpression of
        ``case`` (its dataset is the one :meth:`results` just loaded)."""
        def resolve(text: str) -> Result | None:
            self.engine_calls += 1
            self.queries += 1
            return self.reference.query(text, case.params, self.timeout_s)

        return resolve

    def __call__(self, case: Case) -> Verdict | None:
        rs = self.results(case)
        if rs is None:
            return None
        if self._with_operand:
            return self.oracle.check(case, rs[0], rs[1], operand=self.operand(case))  # type: ignore[call-arg]
        return self.oracle.check(case, rs[0], rs[1])


def _takes_operand(oracle: Any) -> bool:
    """Whether ``oracle.check`` accepts the comparator's ``operand`` resolver."""
    import inspect

    try:
        return "operand" in inspect.signature(oracle.check).parameters
    except (TypeError, ValueError):
        return False


def make_engine_check(
    reference: QueryEngine, target: QueryEngine, oracle: Oracle, timeout_s: float | None = None
) -> EngineCheck:
    """A check running ``reference`` and ``target`` on a case and judging with ``oracle``."""
    return EngineCheck(reference, target, oracle, timeout_s)


__all__ = [
    "Check",
    "EngineCheck",
    "Pass",
    "ShrinkBudget",
    "ShrinkResult",
    "Signature",
    "default_passes",
    "make_engine_check",
    "same_bug",
    "shrink",
]


def _prometheus_spelling(query: str) -> str | None:
    """The query as Prometheus's ``String()`` prints it, or None when our parser refuses it."""
    from promfuzz.promql import parse, to_text

    try:
        return to_text(parse(query), prometheus=True)
    except Exception:  # noqa: BLE001 -- a query our parser refuses keeps its text
        return None
