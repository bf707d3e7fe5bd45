"""Evaluation passes: each proposes simpler evaluation parameters (and, for the time shift,
the same case moved earlier in time).

Every pass is a pure function ``(case) -> Iterator[Case]`` (``range_to_instant`` also takes
the timestamps where the divergence showed, tried first). Proposed parameters are valid:
``step > 0``, ``end >= start``, no negative times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace

from promfuzz.errors import DatasetError, PromQLSyntaxError
from promfuzz.model import Case, Dataset, EvalParams
from promfuzz.promql.ast import Node, SubqueryExpr, VectorSelector, transform, value_type, walk
from promfuzz.promql.parser import parse
from promfuzz.shrink._tree import render
from promfuzz.shrink.size import strictly_smaller

EvalPass = Callable[[Case], Iterator[Case]]

SECOND_MS = 1000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000


def _distinct(case: Case, params: Iterable[EvalParams]) -> Iterator[Case]:
    seen = {case.params}
    for p in params:
        if p in seen:
            continue
        if p.is_range and (p.step_ms <= 0 or p.end_ms < p.start_ms or p.start_ms < 0):
            continue
        if not p.is_range and p.time_ms < 0:
            continue
        seen.add(p)
        yield Case(case.dataset, case.query, p)


def _grid(p: EvalParams) -> list[int]:
    return [p.start_ms + k * p.step_ms for k in range(p.steps())]


@strictly_smaller
def range_to_instant(case: Case, focus: Sequence[int] = ()) -> Iterator[Case]:
    """A range evaluation becomes an instant one: at the ``focus`` times first (where the
    divergence showed), then the last, first and middle steps, then a few spread out."""
    p = case.params
    if not p.is_range:
        return
    grid = _grid(p)
    on_grid = set(grid)
    times = [t for t in focus if t in on_grid]
    n = len(grid)
    times += [grid[-1], grid[0], grid[n // 2]]
    times += [grid[(n * k) // 8] for k in range(1, 8)]
    yield from _distinct(case, (EvalParams.instant(t) for t in times))


@strictly_smaller
def fewer_steps(case: Case) -> Iterator[Case]:
    """Halve the range (either half, then quarters...), double the step, two steps, one step."""
    p = case.params
    if not p.is_range:
        return
    grid = _grid(p)
    n = len(grid)

    def gen() -> Iterator[EvalParams]:
        k = n // 2
        while k >= 1:
            for i in range(0, n, k):
                j = min(n, i + k)
                if j - i < n:
                    yield EvalParams.range(grid[i], grid[j - 1], p.step_ms)
            if k == 1:
                break
            k //= 2
        if n > 1:
            yield EvalParams.range(p.start_ms, p.end_ms, p.step_ms * 2)
            yield EvalParams.range(p.start_ms, p.end_ms, max(1, p.end_ms - p.start_ms))

    yield from _distinct(case, gen())


def _rounded(t: int) -> list[int]:
    return [
        t // MINUTE_MS * MINUTE_MS,
        round(t / MINUTE_MS) * MINUTE_MS,
        t // SECOND_MS * SECOND_MS,
        round(t / SECOND_MS) * SECOND_MS,
    ]


@strictly_smaller
def round_times(case: Case) -> Iterator[Case]:
    """Evaluation times and step to whole minutes, then whole seconds; an instant time
    after the data back to the data's last sample time."""
    p = case.params

    def gen() -> Iterator[EvalParams]:
        if not p.is_range:
            for t in _rounded(p.time_ms):
                yield EvalParams.instant(t)
            last = case.dataset.time_range()[1]
            if case.dataset.series and p.time_ms > last:
                yield EvalParams.instant(last)
                yield EvalParams.instant(-(-last // MINUTE_MS) * MINUTE_MS)
            return
        for s, e in zip(_rounded(p.start_ms), _rounded(p.end_ms), strict=True):
            yield EvalParams.range(s, max(s, e), p.step_ms)
        for st in _rounded(p.step_ms):
            if st > 0:
                yield EvalParams.range(p.start_ms, p.end_ms, st)

    yield from _distinct(case, gen())


def _shift_at(tree: Node, delta: int) -> Node | None:
    bad = False

    def fn(n: Node) -> Node:
        nonlocal bad
        if isinstance(n, VectorSelector | SubqueryExpr) and isinstance(n.at, int):
            if n.at - delta < 0:
                bad = True
                return n
            return replace(n, at=n.at - delta)
        return n

    out = transform(tree, fn)
    return None if bad else out


@strictly_smaller
def shift_earlier(case: Case) -> Iterator[Case]:
    """Move data, evaluation times and ``@`` timestamps earlier together, so the case starts
    near 0 (whole minutes first, then half the way)."""
    p = case.params
    first_eval = p.start_ms if p.is_range else p.time_ms
    data_first = case.dataset.time_range()[0] if case.dataset.series else first_eval
    lo = min(first_eval, data_first)
    if lo <= 0:
        return
    try:
        tree = parse(case.query)
        want = value_type(tree)
    except (PromQLSyntaxError, KeyError, TypeError):
        return
    deltas = [
        lo // HOUR_MS * HOUR_MS,
        lo // MINUTE_MS * MINUTE_MS,
        lo // SECOND_MS * SECOND_MS,
        lo // 2 // MINUTE_MS * MINUTE_MS,
    ]
    seen: set[int] = set()
    for d in deltas:
        if d <= 0 or d in seen:
            continue
        seen.add(d)
        shifted = _shift_at(tree, d)
        if shifted is None:
            continue
        text = case.query if shifted == tree else render(shifted, want)
        if text is None:
            continue
        try:
            ds = Dataset.build((s.labels, ((x.t - d, x.v) for x in s.samples)) for s in case.dataset.series)
        except DatasetError:
            continue
        np = (
            EvalParams.range(p.start_ms - d, p.end_ms - d, p.step_ms)
            if p.is_range
            else EvalParams.instant(p.time_ms - d)
        )
        yield Case(ds, text, np)


@strictly_smaller
def absorb_offset(case: Case) -> Iterator[Case]:
    """When every selector and subquery carries the same positive ``offset``, drop the
    offsets and evaluate that much earlier instead (``x offset 1m`` at 5m -> ``x`` at 4m)."""
    try:
        tree = parse(case.query)
        want = value_type(tree)
    except (PromQLSyntaxError, KeyError, TypeError):
        return
    offsets = {
        n.offset for n, _ in walk(tree) if isinstance(n, VectorSelector | SubqueryExpr) and n.offset != 0
    }
    if len(offsets) != 1:
        return
    off = next(iter(offsets))
    if not isinstance(off, int) or off <= 0:
        return

    def fn(n: Node) -> Node:
        if isinstance(n, VectorSelector | SubqueryExpr) and n.offset != 0:
            return replace(n, offset=0)
        return n

    text = render(transform(tree, fn), want)
    p = case.params
    first = p.start_ms if p.is_range else p.time_ms
    if text is None or first - off < 0:
        return
    np = (
        EvalParams.range(p.start_ms - off, p.end_ms - off, p.step_ms)
        if p.is_range
        else EvalParams.instant(p.time_ms - off)
    )
    yield Case(case.dataset, text, np)


EVAL_PASSES: tuple[EvalPass, ...] = (range_to_instant, fewer_steps, round_times, shift_earlier, absorb_offset)
"""The evaluation passes in the order the orchestrator runs them."""
