"""What a valid topk/bottomk/limitk pick is, as Prometheus v0.316.0 defines it
(``aggregationK`` in promql/engine.go): k truncated, nothing when k < 1, at most the group's
size, NaN ranked last, native histograms skipped by topk/bottomk but kept by limitk."""

from __future__ import annotations

import math
from collections.abc import Callable

from oracle_helpers import mat, vec

from promfuzz.model import Bucket, EvalParams, Result, ResultHistogram
from promfuzz.oracles.compare import compare_results

T = 60_000
P = EvalParams.instant(T)


def ops(answers: dict[str, Result]) -> Callable[[str], Result | None]:
    return answers.get


def s(i: str, v: float | ResultHistogram) -> tuple[dict[str, str], float | ResultHistogram]:
    return ({"i": i}, v)


TIES = vec(T, s("a", 5.0), s("b", 5.0), s("c", 5.0), s("d", 1.0))


def equal(q: str, ref: Result, tgt: Result, operand: dict[str, Result]) -> bool:
    return compare_results(q, P, ref, tgt, operand=ops(operand)).equal


def test_k_is_truncated() -> None:
    ref = vec(T, s("a", 5.0))
    assert equal("topk(1.9, m)", ref, vec(T, s("b", 5.0)), {"m": TIES})
    assert not equal("topk(1.9, m)", ref, vec(T, s("b", 5.0), s("c", 5.0)), {"m": TIES})


def test_k_below_one_keeps_nothing() -> None:
    empty = Result("e", "ok", "vector")
    assert not equal("topk(0.5, m)", empty, vec(T, s("a", 5.0)), {"m": TIES})
    assert not equal("limitk(-3, m)", empty, vec(T, s("d", 1.0)), {"m": TIES})


def test_k_above_the_group_size_keeps_the_whole_group() -> None:
    full = vec(T, s("a", 5.0), s("b", 5.0), s("c", 5.0), s("d", 1.0))
    assert equal("topk(10, m)", full, full, {"m": TIES})
    assert not equal("limitk(10, m)", full, vec(T, s("a", 5.0), s("b", 5.0), s("c", 5.0)), {"m": TIES})


def test_nan_ranks_last_for_topk_and_bottomk() -> None:
    # One-step range queries: no order check, so only the pick rule can tell.
    one = EvalParams.range(T, T, 60_000)

    def m(*series: tuple[dict[str, str], float]) -> Result:
        return mat(*[(lb, [(T, v)]) for lb, v in series])

    def ok(q: str, ref: Result, tgt: Result, x: Result) -> bool:
        return compare_results(q, one, ref, tgt, operand=ops({"m": x})).equal

    x = m(s("a", math.nan), s("b", 1.0), s("c", 1.0), s("d", 9.0))  # type: ignore[arg-type]
    ref = m(s("d", 9.0), s("b", 1.0))  # type: ignore[arg-type]
    assert ok("topk(2, m)", ref, m(s("d", 9.0), s("c", 1.0)), x)  # type: ignore[arg-type]
    assert not ok("topk(2, m)", ref, m(s("d", 9.0), s("a", math.nan)), x)  # type: ignore[arg-type]
    bref = m(s("b", 1.0), s("c", 1.0), s("d", 9.0))  # type: ignore[arg-type]
    assert not ok("bottomk(3, m)", bref, m(s("b", 1.0), s("c", 1.0), s("a", math.nan)), x)  # type: ignore[arg-type]
    # NaN is kept only when too few numbers remain, and then any NaN will do
    y = m(s("a", math.nan), s("b", math.nan), s("c", 1.0))  # type: ignore[arg-type]
    assert ok("topk(2, m)", m(s("c", 1.0), s("a", math.nan)), m(s("c", 1.0), s("b", math.nan)), y)  # type: ignore[arg-type]
    assert not ok("topk(2, m)", m(s("c", 1.0), s("a", math.nan)), m(s("a", math.nan), s("b", math.nan)), y)  # type: ignore[arg-type]


def test_histograms_are_skipped_by_topk_but_kept_by_limitk() -> None:
    h = ResultHistogram(3.0, 6.0, (Bucket(0, 1.0, 2.0, 3.0),))
    x = vec(T, s("a", h), s("b", 1.0), s("c", 1.0))
    assert not equal("topk(1, m)", vec(T, s("b", 1.0)), vec(T, s("a", h)), {"m": x})
    assert equal("topk(1, m)", vec(T, s("b", 1.0)), vec(T, s("c", 1.0)), {"m": x})
    assert equal("limitk(1, m)", vec(T, s("b", 1.0)), vec(T, s("a", h)), {"m": x})


def test_a_computed_k_takes_its_count_from_the_reference_pick() -> None:
    ref = vec(T, s("a", 5.0), s("b", 5.0))
    answers = {"m": TIES, "topk(scalar(k), m)": ref}
    assert equal("topk(scalar(k), m)", ref, vec(T, s("a", 5.0), s("c", 5.0)), answers)
    assert not equal("topk(scalar(k), m)", ref, vec(T, s("a", 5.0)), answers)
    # wrapped, so the reference's own pick must be asked for: without it, unverified
    wrapped = {"m": TIES, "-m": vec(T, s("a", -5.0), s("b", -5.0), s("c", -5.0), s("d", -1.0))}
    c = compare_results("-topk(scalar(k), m)", P, vec(T, s("a", -5.0), s("b", -5.0)),
                        vec(T, s("a", -5.0), s("c", -5.0)), operand=ops(wrapped))
    assert {d.detail for d in c.differences} == {"unverified_pick"}
    wrapped["topk(scalar(k), m)"] = ref
    assert equal("-topk(scalar(k), m)", vec(T, s("a", -5.0), s("b", -5.0)), vec(T, s("a", -5.0), s("c", -5.0)),
                 wrapped)


def test_a_pick_under_a_nested_topk_valid_against_the_reference_operand_is_accepted() -> None:
    inner = vec(T, s("a", 5.0), s("b", 5.0))  # the reference's own (valid) answer to topk(2, m)
    answers = {"topk(2, m)": inner}
    c = compare_results("topk(1, topk(2, m))", P, vec(T, s("a", 5.0)), vec(T, s("b", 5.0)), operand=ops(answers))
    assert c.equal
    # c is in m but not in the reference's inner pick: maybe valid, cannot be shown: tie-sensitive
    c = compare_results("topk(1, topk(2, m))", P, vec(T, s("a", 5.0)), vec(T, s("c", 5.0)), operand=ops(answers))
    assert not c.equal and c.tie_sensitive
