"""Query passes: each proposes smaller queries for a case, keeping data and evaluation.

Every pass is a pure function ``(case) -> Iterator[Case]``. The proposed queries parse,
keep the original's top-level value type and are printed canonically (see
:func:`promfuzz.shrink._tree.render`); a pass never proposes the query it was given.
Biggest reductions come first within a pass: replacing the root by a leaf is tried
before replacing a leaf's parent.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from promfuzz.errors import PromQLSyntaxError
from promfuzz.model import Case
from promfuzz.promql._text import METRIC_NAME_RE
from promfuzz.promql.ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    DurationExpr,
    Expr,
    MatrixSelector,
    Node,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    VectorMatching,
    VectorSelector,
    value_type,
)
from promfuzz.promql.functions import FUNCTIONS, ValueType
from promfuzz.promql.parser import parse
from promfuzz.shrink._tree import count_nodes, map_nodes, positions, render, replace_at
from promfuzz.shrink.size import strictly_smaller

QueryPass = Callable[[Case], Iterator[Case]]

MINUTE_MS = 60_000


def _parsed(case: Case) -> tuple[Expr, ValueType] | None:
    try:
        tree = parse(case.query)
        return tree, value_type(tree)
    except (PromQLSyntaxError, KeyError, TypeError):
        return None


def _cases(case: Case, want: ValueType, trees: Iterable[Node]) -> Iterator[Case]:
    seen = {case.query}
    for tree in trees:
        text = render(tree, want)
        if text is None or text in seen:
            continue
        seen.add(text)
        yield Case(case.dataset, text, case.params)


def tree_pass(*, smallest_first: bool = False) -> Callable[[Callable[[Expr], Iterable[Node]]], QueryPass]:
    """Make a query pass from ``edits(tree) -> edited trees``: the case's query is parsed
    (a pass proposes nothing for a query our parser rejects), each edited tree is printed
    canonically with the original's value type, and repeats are dropped. With
    ``smallest_first`` the edits are tried smallest tree first."""

    def wrap(edits: Callable[[Expr], Iterable[Node]]) -> QueryPass:
        @functools.wraps(edits)
        def run(case: Case) -> Iterator[Case]:
            parsed = _parsed(case)
            if parsed is None:
                return
            tree, want = parsed
            trees = edits(tree)
            yield from _cases(case, want, _ordered(trees) if smallest_first else trees)

        return run

    return wrap


def _ordered(trees: Iterable[Node]) -> list[Node]:
    """Smallest resulting trees first (stable: source order among equals)."""
    return sorted(trees, key=count_nodes)


def _vtype(n: Node) -> ValueType | None:
    try:
        return value_type(n)
    except (KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- structure


@strictly_smaller
@tree_pass(smallest_first=True)
def replace_with_descendant(tree: Expr) -> Iterator[Node]:
    """Replace a node by one of its descendants of the same value type (``sum(rate(x[1m]))`` ->
    ``rate(x[1m])``; ``(a + b)`` -> ``a``; ``max_over_time(x[5m:1m])`` -> ... )."""
    for pos, node in positions(tree):
        t = _vtype(node)
        if t is None:
            continue
        for dpos, d in positions(node):
            if not dpos or not isinstance(d, Expr) or _vtype(d) != t:
                continue
            if isinstance(node, MatrixSelector):
                continue
            try:
                yield replace_at(tree, pos, d)
            except (TypeError, ValueError):
                continue


def _bare(vs: VectorSelector) -> VectorSelector:
    return VectorSelector(vs.name, vs.matchers)


@strictly_smaller
@tree_pass(smallest_first=True)
def replace_with_minimal(tree: Expr) -> Iterator[Node]:
    """Replace a node by a minimal expression of its type: a bare selector that the node
    reads (vector), the selector with its range (matrix), ``0`` or ``1`` (scalar), ``""``
    (string)."""
    for pos, node in positions(tree):
        t = _vtype(node)
        if isinstance(node, NumberLiteral | StringLiteral):
            continue
        subs: list[Expr] = []
        if t == "scalar":
            subs = [NumberLiteral(0.0), NumberLiteral(1.0)]
        elif t == "string":
            subs = [StringLiteral("")]
        elif t == "vector":
            subs = [_bare(d) for _, d in positions(node) if isinstance(d, VectorSelector)]
        elif t == "matrix":
            for _, d in positions(node):
                if isinstance(d, MatrixSelector):
                    subs.append(MatrixSelector(_bare(d.selector), d.range))
            if isinstance(node, SubqueryExpr):
                for _, d in positions(node.expr):
                    if isinstance(d, VectorSelector):
                        subs.append(MatrixSelector(_bare(d), node.range))
        for s in dict.fromkeys(subs):
            if s != node:
                try:
                    yield replace_at(tree, pos, s)
                except (TypeError, ValueError):
                    continue


@strictly_smaller
@tree_pass()
def unwrap_parens(tree: Expr) -> Iterable[Node]:
    """Drop parentheses (they come back where precedence needs them)."""
    return map_nodes(tree, lambda n: n.expr if isinstance(n, ParenExpr) else None)


@strictly_smaller
@tree_pass()
def subquery_to_range(tree: Expr) -> Iterable[Node]:
    """``x[5m:1m]`` -> ``x[5m]`` when the subquery's body is a plain selector."""

    def fn(n: Node) -> Node | None:
        if isinstance(n, SubqueryExpr):
            inner = n.expr
            while isinstance(inner, ParenExpr):
                inner = inner.expr
            if isinstance(inner, VectorSelector):
                return MatrixSelector(inner, n.range)
        return None

    return map_nodes(tree, fn)


@strictly_smaller
@tree_pass()
def drop_arguments(tree: Expr) -> Iterator[Node]:
    """Drop optional trailing function arguments (``round(x, 5)`` -> ``round(x)``,
    ``label_join(x, "d", ",", "a", "b")`` -> fewer source labels)."""
    for pos, node in positions(tree):
        if isinstance(node, Call) and node.func in FUNCTIONS:
            f = FUNCTIONS[node.func]
            for k in range(f.min_args, len(node.args)):
                yield replace_at(tree, pos, replace(node, args=node.args[:k]))
            if f.variadic != 0:  # one argument out of the middle of a variadic tail
                for i in range(f.min_args, len(node.args)):
                    yield replace_at(tree, pos, replace(node, args=node.args[:i] + node.args[i + 1 :]))


# --------------------------------------------------------------------------- clauses


@strictly_smaller
@tree_pass()
def simplify_aggregations(tree: Expr) -> Iterator[Node]:
    """Drop a ``by``/``without`` clause, then single grouping labels; ``without`` -> ``by``."""
    for pos, node in positions(tree):
        if isinstance(node, AggregateExpr) and node.grouping is not None:
            yield replace_at(tree, pos, replace(node, grouping=None, without=False))
            for i in range(len(node.grouping)):
                g = node.grouping[:i] + node.grouping[i + 1 :]
                yield replace_at(tree, pos, replace(node, grouping=g))
            if node.without:
                yield replace_at(tree, pos, replace(node, without=False))


@strictly_smaller
@tree_pass()
def simplify_matching(tree: Expr) -> Iterator[Node]:
    """Drop vector-matching clauses: the whole ``on``/``ignoring``, single labels,
    ``group_left``/``group_right`` (or its include labels), ``fill`` and ``bool``."""
    for pos, node in positions(tree):
        if not isinstance(node, BinaryExpr):
            continue
        if node.return_bool:
            yield replace_at(tree, pos, replace(node, return_bool=False))
        vm = node.matching
        if vm is None:
            continue
        opts: list[VectorMatching] = []
        if vm.labels or vm.on:
            opts.append(replace(vm, labels=(), on=False))
        for i in range(len(vm.labels)):
            opts.append(replace(vm, labels=vm.labels[:i] + vm.labels[i + 1 :]))
        if vm.card in ("many-to-one", "one-to-many"):
            opts.append(replace(vm, card="one-to-one", include=()))
            for i in range(len(vm.include)):
                opts.append(replace(vm, include=vm.include[:i] + vm.include[i + 1 :]))
        if vm.fill_lhs is not None or vm.fill_rhs is not None:
            opts.append(replace(vm, fill_lhs=None, fill_rhs=None))
        for o in opts:
            yield replace_at(tree, pos, replace(node, matching=o))


def _legacy_metric(name: str) -> bool:
    return METRIC_NAME_RE.match(name) is not None


_REGEX_META = re.compile(r"[\\.^$*+?()\[\]{}|]")


def _plain_alternatives(pattern: str) -> list[str]:
    """``a|b_c`` -> ``["a", "b_c"]`` when every alternative is plain text (else ``[]``)."""
    alts = pattern.split("|")
    return alts if all(a and not _REGEX_META.search(a) for a in alts) else []


@strictly_smaller
@tree_pass()
def drop_matchers(tree: Expr) -> Iterator[Node]:
    """Write ``{__name__="x"}`` as ``x``; drop a label matcher; a regex of plain alternatives
    ``=~"a|b"`` to one of them ``="a"``; a regex matcher into an equality matcher."""
    for pos, node in positions(tree):
        if isinstance(node, VectorSelector):
            ms = node.matchers
            for i, m in enumerate(ms):
                if node.name is None and m.name == "__name__" and m.op == "=" and _legacy_metric(m.value):
                    yield replace_at(tree, pos, replace(node, name=m.value, matchers=ms[:i] + ms[i + 1 :]))
            for i in range(len(ms)):
                yield replace_at(tree, pos, replace(node, matchers=ms[:i] + ms[i + 1 :]))
            for i, m in enumerate(ms):
                if m.op == "=~" and "|" in m.value:
                    for alt in _plain_alternatives(m.value):
                        eq = replace(m, op="=", value=alt)
                        yield replace_at(tree, pos, replace(node, matchers=ms[:i] + (eq,) + ms[i + 1 :]))
            for i, m in enumerate(ms):
                if m.op in ("=~", "!~"):
                    eq = replace(m, op="=" if m.op == "=~" else "!=")
                    yield replace_at(tree, pos, replace(node, matchers=ms[:i] + (eq,) + ms[i + 1 :]))


@strictly_smaller
@tree_pass()
def drop_modifiers(tree: Expr) -> Iterator[Node]:
    """Remove ``offset``, ``@``, ``anchored``/``smoothed``, and a subquery's explicit step."""
    for pos, node in positions(tree):
        if isinstance(node, VectorSelector):
            if node.offset != 0:
                yield replace_at(tree, pos, replace(node, offset=0))
            if node.at is not None:
                yield replace_at(tree, pos, replace(node, at=None))
            if node.anchored or node.smoothed:
                yield replace_at(tree, pos, replace(node, anchored=False, smoothed=False))
        elif isinstance(node, SubqueryExpr):
            if node.offset != 0:
                yield replace_at(tree, pos, replace(node, offset=0))
            if node.at is not None:
                yield replace_at(tree, pos, replace(node, at=None))
            if node.step is not None:
                yield replace_at(tree, pos, replace(node, step=None))


# --------------------------------------------------------------------------- literals


def simpler_numbers(v: float) -> list[float]:
    """Candidate replacements for a number, simplest first (0, 1, the integer part, fewer digits)."""
    out: list[float] = [0.0, 1.0]
    if math.isfinite(v):
        if v < 0:
            out.append(-1.0)
        if abs(v) < 1e15:
            out.append(float(math.trunc(v)))
            out.append(float(round(v)))
        for digits in (1, 2, 3, 6):
            try:
                out.append(float(f"{v:.{digits}g}"))
            except (ValueError, OverflowError):
                pass
    return [x for x in dict.fromkeys(out) if not (x == v and math.copysign(1, x) == math.copysign(1, v))]


@strictly_smaller
@tree_pass()
def simplify_numbers(tree: Expr) -> Iterator[Node]:
    """Number literals to 0, 1, integers, fewer significant digits."""
    for pos, node in positions(tree):
        if isinstance(node, NumberLiteral) and not node.duration:
            for v in simpler_numbers(node.value):
                yield replace_at(tree, pos, NumberLiteral(v))


@strictly_smaller
@tree_pass()
def simplify_strings(tree: Expr) -> Iterator[Node]:
    """String literals to ``""``, then to their first character."""
    for pos, node in positions(tree):
        if isinstance(node, StringLiteral) and node.value:
            yield replace_at(tree, pos, StringLiteral(""))
            if len(node.value) > 1:
                yield replace_at(tree, pos, StringLiteral(node.value[0]))


def simpler_durations(ms: int) -> list[int]:
    """Candidate replacements for a (positive) duration: 1m, rounded to minutes, to seconds."""
    out = [MINUTE_MS, 5 * MINUTE_MS]
    if ms >= MINUTE_MS:
        out.append(ms // MINUTE_MS * MINUTE_MS)
    if ms >= 1000:
        out.append(ms // 1000 * 1000)
    out.append(1000)
    return [d for d in dict.fromkeys(out) if d != ms and d > 0]


@strictly_smaller
@tree_pass()
def simplify_durations(tree: Expr) -> Iterator[Node]:
    """Ranges, subquery steps and offsets: to 1m/5m, whole minutes, whole seconds; duration
    expressions to a plain 1m."""

    def durs(d: int | DurationExpr) -> list[int]:
        if isinstance(d, DurationExpr):
            return [MINUTE_MS]
        return simpler_durations(d) if d > 0 else [-x for x in simpler_durations(-d)] if d < 0 else []

    for pos, node in positions(tree):
        if isinstance(node, MatrixSelector):
            for d in durs(node.range):
                yield replace_at(tree, pos, replace(node, range=d))
        elif isinstance(node, SubqueryExpr):
            for d in durs(node.range):
                yield replace_at(tree, pos, replace(node, range=d))
            if node.step is not None:
                for d in durs(node.step):
                    yield replace_at(tree, pos, replace(node, step=d))
            for d in durs(node.offset):
                yield replace_at(tree, pos, replace(node, offset=d))
        elif isinstance(node, VectorSelector):
            for d in durs(node.offset):
                yield replace_at(tree, pos, replace(node, offset=d))


@strictly_smaller
@tree_pass()
def canonical_text(tree: Expr) -> Iterable[Node]:
    """The same query printed canonically: comments, odd whitespace, keyword case and
    number spellings go (kept only if the difference survives, so a bug in the parser's
    handling of a spelling is not lost)."""
    return [tree]


QUERY_PASSES: tuple[QueryPass, ...] = (
    canonical_text,
    replace_with_descendant,
    replace_with_minimal,
    subquery_to_range,
    drop_arguments,
    simplify_aggregations,
    simplify_matching,
    drop_matchers,
    drop_modifiers,
    unwrap_parens,
    simplify_numbers,
    simplify_strings,
    simplify_durations,
)
"""The query passes in the order the orchestrator runs them (structure first, then clauses, then literals)."""
