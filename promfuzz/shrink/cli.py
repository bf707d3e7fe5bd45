"""Shrink one promqltest file with named engines (``promfuzz shrink CASE --reference R --target T``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from promfuzz.errors import CorpusError, PromfuzzError
from promfuzz.model import Case
from promfuzz.oracles.differential import DifferentialOracle
from promfuzz.oracles.known import load_rules
from promfuzz.shrink.orchestrator import EngineCheck, Oracle, QueryEngine, ShrinkResult, shrink


class NothingToShrinkError(PromfuzzError):
    """The case shows no divergence (or failure) between the two engines: nothing to shrink."""


def read_single_case(path: str | Path) -> Case:
    """The case of a ``.test`` file holding one eval (loads before it accumulate)."""
    from promfuzz.corpus.promqltest import read_test_file

    cases = read_test_file(path).cases()
    if len(cases) != 1:
        raise CorpusError(f"expected exactly one eval command, found {len(cases)}", str(path))
    return cases[0]


def shrunk_text(result: ShrinkResult, check: EngineCheck, reference_name: str, target_name: str) -> str:
    """The shrunk case as promqltest text, the reference's answer as the expected output."""
    from promfuzz.corpus.promqltest import write_case

    rs = check.results(result.case)
    sig = result.verdict.signature
    comment = [
        f"promfuzz shrink: {reference_name} (reference) vs {target_name} (target)",
        f"verdict: {result.verdict.kind}" + (f" -- {sig.title}" if sig else ""),
        f"signature: {sig.key()}" if sig else "",
        f"original query: {' '.join(result.original.query.split())}",
        f"shrink: {result.summary()}",
    ]
    if rs is not None and rs[1].error is not None:
        comment.append(
            f"{target_name} answered: {rs[1].error.error_type}: {' '.join(rs[1].error.message.split())}"
        )
    return write_case(
        result.case, rs[0] if rs is not None else None, comment="\n".join(c for c in comment if c)
    )


def shrink_file(
    path: str | Path,
    reference_name: str,
    target_name: str,
    seconds: float = 60.0,
    *,
    engine_calls: int | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> str:
    """Shrink the one case of a ``.test`` file and return it as promqltest text.

    Opens both engines through :class:`promfuzz.engines.registry.EngineRegistry` (engines of
    one host share its process), judges with the differential oracle and the shipped
    known-difference rules, shrinks within ``seconds`` (and ``engine_calls`` when given),
    and writes the result with the reference's answer as the expected output and a
    comment saying what was shrunk. Raises :class:`NothingToShrinkError` when the engines
    agree on the case.
    """
    from promfuzz.engines.registry import EngineRegistry

    case = read_single_case(path)
    with EngineRegistry() as reg:
        ref = reg.open(reference_name)
        tgt = reg.open(target_name)
        return shrink_case_text(
            case,
            ref,
            tgt,
            seconds=seconds,
            engine_calls=engine_calls,
            on_progress=on_progress,
            source=str(path),
        )


def shrink_case_text(
    case: Case,
    reference: QueryEngine,
    target: QueryEngine,
    seconds: float = 60.0,
    *,
    engine_calls: int | None = None,
    oracle: Oracle | None = None,
    on_progress: Callable[[str], None] | None = None,
    source: str = "<case>",
) -> str:
    """:func:`shrink_file` for a case and two open engines (the oracle defaults to the
    differential oracle with the shipped known-difference rules)."""
    check = EngineCheck(reference, target, oracle or DifferentialOracle(rules=load_rules()))
    result = shrink(case, check, seconds=seconds, engine_calls=engine_calls, on_progress=on_progress)
    if result.stop_reason == "not_a_problem":
        v = result.verdict
        raise NothingToShrinkError(
            f"{source}: {reference.name} and {target.name} do not diverge on this case ({v.kind}"
            + (f": {v.reason}" if v.reason else "")
            + ")"
        )
    return shrunk_text(result, check, reference.name, target.name)
