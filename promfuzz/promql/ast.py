"""The PromQL abstract syntax tree (Prometheus 3.x / parser v0.316.0 language).

Every node is a frozen dataclass; trees are values (hashable, comparable) and are
rewritten by building new nodes (:func:`replace_children`, :func:`dataclasses.replace`).

Conventions (see docs in each class):

* Durations (ranges, steps, offsets) are integer **milliseconds**; where the
  experimental duration-expression syntax is used (``[5m+1m]``, ``offset (2^2)``,
  ``[5m:step()]``) the field holds a :class:`DurationExpr` instead.
* ``@`` is ``None``, an integer timestamp in milliseconds, or ``"start"`` / ``"end"``.
* As in Prometheus, the ``offset``/``@``/``anchored``/``smoothed`` modifiers of a range
  selector ``foo[5m] offset 1m`` live on the inner :class:`VectorSelector`.
* Label matchers of a selector are kept sorted by their printed form (the order
  Prometheus's printer uses), so two selectors that differ only in matcher order
  are equal. The metric name written before the braces is ``VectorSelector.name``
  and is *not* repeated in ``matchers``; ``{__name__="x"}`` has ``name=None``.
* A :class:`NumberLiteral`'s value is the float; how it was spelled is not part of
  the tree (``duration`` is only a printing hint, ignored by equality). All NaNs are
  equal to each other; ``0.0`` and ``-0.0`` are different.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Literal

from promfuzz.promql._text import go_quote, label_needs_quoting
from promfuzz.promql.functions import FUNCTIONS, ValueType

__all__ = [
    "AggregateExpr",
    "At",
    "BinaryExpr",
    "Call",
    "Card",
    "Duration",
    "DurationExpr",
    "DurationNode",
    "Expr",
    "LabelMatcher",
    "MatchOp",
    "MatrixSelector",
    "Node",
    "NumberLiteral",
    "ParenExpr",
    "StringLiteral",
    "SubqueryExpr",
    "UnaryExpr",
    "ValueType",
    "VectorMatching",
    "VectorSelector",
    "children",
    "features",
    "replace_children",
    "transform",
    "value_type",
    "walk",
]

MatchOp = Literal["=", "!=", "=~", "!~"]
Card = Literal["one-to-one", "many-to-one", "one-to-many", "many-to-many"]
At = int | Literal["start", "end"] | None


class Node:
    """Base of every AST node (expressions, duration expressions, matchers)."""

    __slots__ = ()


class Expr(Node):
    """Base of PromQL expressions."""

    __slots__ = ()


def _float_key(v: float) -> int:
    if v != v:
        return -1  # every NaN alike
    return int(struct.unpack("<Q", struct.pack("<d", v))[0])


@dataclass(frozen=True, slots=True, eq=False)
class NumberLiteral(Expr):
    """A float literal. ``duration`` says it was written as a duration (``1m``): printing hint only."""

    value: float
    duration: bool = field(default=False, compare=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumberLiteral):
            return NotImplemented
        return _float_key(self.value) == _float_key(other.value)

    def __hash__(self) -> int:
        return hash(("NumberLiteral", _float_key(self.value)))


@dataclass(frozen=True, slots=True)
class StringLiteral(Expr):
    """A string literal (the unquoted value; invalid UTF-8 bytes as ``surrogateescape`` code points)."""

    value: str


@dataclass(frozen=True, slots=True)
class DurationExpr(Node):
    """An experimental duration expression (only inside ranges, steps and offsets).

    ``op`` is a binary operator ``+ - * / % ^`` (``lhs`` and ``rhs`` set), a unary
    ``+``/``-`` (``lhs`` None), ``step``/``range`` (no operands) or ``min_of``/``max_of``
    (two operands). ``wrapped`` records parentheses around it. Operands are
    :class:`NumberLiteral` (seconds) or nested :class:`DurationExpr`. A parenthesised
    bare number ``(5m)`` is ``DurationExpr("+", None, NumberLiteral(300), wrapped=True)``
    as in Prometheus.
    """

    op: Literal["+", "-", "*", "/", "%", "^", "step", "range", "min_of", "max_of"]
    lhs: DurationNode | None = None
    rhs: DurationNode | None = None
    wrapped: bool = False


DurationNode = NumberLiteral | DurationExpr
Duration = int | DurationExpr
"""A duration field: milliseconds, or an experimental duration expression."""


def _matcher_key(m: LabelMatcher) -> str:
    name = go_quote(m.name) if label_needs_quoting(m.name) else m.name
    return name + m.op + go_quote(m.value)


@dataclass(frozen=True, slots=True)
class LabelMatcher(Node):
    """``name op "value"`` inside braces; ``name`` may be any UTF-8 string."""

    name: str
    op: MatchOp
    value: str

    def printed(self) -> str:
        """The matcher as Prometheus prints it (name quoted when not a legacy label name)."""
        return _matcher_key(self)


@dataclass(frozen=True, slots=True)
class VectorSelector(Expr):
    """An instant vector selector ``name{matchers} @ at anchored|smoothed offset offset``.

    ``name`` is the metric name written before the braces (None when absent).
    ``offset`` is milliseconds (0 = no offset; negative allowed) or a DurationExpr.
    """

    name: str | None = None
    matchers: tuple[LabelMatcher, ...] = ()
    offset: Duration = 0
    at: At = None
    anchored: bool = False
    smoothed: bool = False

    def __post_init__(self) -> None:
        ms = self.matchers
        if len(ms) > 1:
            srt = tuple(sorted(ms, key=_matcher_key))
            if srt != ms:
                object.__setattr__(self, "matchers", srt)
        elif type(ms) is not tuple:
            object.__setattr__(self, "matchers", tuple(ms))


@dataclass(frozen=True, slots=True)
class MatrixSelector(Expr):
    """A range vector selector ``selector[range]``; modifiers sit on ``selector``."""

    selector: VectorSelector
    range: Duration


@dataclass(frozen=True, slots=True)
class SubqueryExpr(Expr):
    """A subquery ``expr[range:step] @ at offset offset`` (``step`` None for ``[range:]``)."""

    expr: Expr
    range: Duration
    step: Duration | None = None
    offset: Duration = 0
    at: At = None


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """A function call; ``func`` is the function name (see :data:`promfuzz.promql.functions.FUNCTIONS`)."""

    func: str
    args: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class AggregateExpr(Expr):
    """An aggregation ``op by|without (grouping) ([param,] expr)``.

    ``grouping`` is None when no ``by``/``without`` clause was written, and a
    (possibly empty) tuple when one was: ``sum by () (x)`` keeps ``grouping=()``.
    ``without`` selects ``without`` instead of ``by``.
    """

    op: str
    expr: Expr
    param: Expr | None = None
    grouping: tuple[str, ...] | None = None
    without: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class VectorMatching(Node):
    """How the two vector operands of a binary operation match.

    ``card`` is the cardinality (set operators are ``many-to-many``), ``on`` selects
    ``on(labels)`` versus ``ignoring(labels)``, ``include`` are the ``group_left``/
    ``group_right`` labels. ``fill_lhs``/``fill_rhs`` are the experimental fill values
    (``fill(v)`` sets both).
    """

    card: Card = "one-to-one"
    labels: tuple[str, ...] = ()
    on: bool = False
    include: tuple[str, ...] = ()
    fill_lhs: float | None = None
    fill_rhs: float | None = None

    def _key(self) -> tuple[object, ...]:
        return (
            self.card,
            self.labels,
            self.on,
            self.include,
            None if self.fill_lhs is None else _float_key(self.fill_lhs),
            None if self.fill_rhs is None else _float_key(self.fill_rhs),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VectorMatching):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True, slots=True)
class BinaryExpr(Expr):
    """``lhs op [bool] [on|ignoring (...)] [group_left|group_right (...)] [fill...] rhs``.

    ``matching`` is None unless both operands are instant vectors (as Prometheus's
    parser leaves it); set operators always carry ``many-to-many`` matching.
    """

    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    matching: VectorMatching | None = None


@dataclass(frozen=True, slots=True)
class UnaryExpr(Expr):
    """``-expr`` or ``+expr`` (a sign directly on a number literal folds into the literal)."""

    op: Literal["+", "-"]
    expr: Expr


@dataclass(frozen=True, slots=True)
class ParenExpr(Expr):
    """``(expr)``."""

    expr: Expr


# --------------------------------------------------------------------------- types


def value_type(node: Node) -> ValueType:
    """The value type an expression evaluates to, by Prometheus's rules (``Expr.Type()``).

    Raises KeyError for a call to an unknown function and TypeError for non-expressions
    other than :class:`DurationExpr` (scalar).
    """
    while True:
        t = type(node)
        if t is VectorSelector or t is AggregateExpr:
            return "vector"
        if t is NumberLiteral or t is DurationExpr:
            return "scalar"
        if t is MatrixSelector or t is SubqueryExpr:
            return "matrix"
        if t is StringLiteral:
            return "string"
        if t is Call:
            return FUNCTIONS[node.func].return_type  # type: ignore[attr-defined]
        if t is ParenExpr or t is UnaryExpr:
            node = node.expr  # type: ignore[attr-defined]
            continue
        if t is BinaryExpr:
            b: BinaryExpr = node  # type: ignore[assignment]
            if value_type(b.lhs) == "scalar" and value_type(b.rhs) == "scalar":
                return "scalar"
            return "vector"
        raise TypeError(f"not an expression: {node!r}")


# --------------------------------------------------------------------------- traversal


def children(node: Node) -> tuple[Node, ...]:
    """The direct expression children of ``node``, in source order.

    For an aggregation the parameter comes first (``topk(3, x)``: ``3`` then ``x``).
    Duration expressions (in ranges, steps, offsets) are not expression children;
    a :class:`DurationExpr` node's own children are its operands.
    """
    t = type(node)
    if t is BinaryExpr:
        return (node.lhs, node.rhs)  # type: ignore[attr-defined]
    if t is Call:
        return node.args  # type: ignore[attr-defined,no-any-return]
    if t is AggregateExpr:
        a: AggregateExpr = node  # type: ignore[assignment]
        return (a.expr,) if a.param is None else (a.param, a.expr)
    if t is ParenExpr or t is UnaryExpr or t is SubqueryExpr:
        return (node.expr,)  # type: ignore[attr-defined]
    if t is MatrixSelector:
        return (node.selector,)  # type: ignore[attr-defined]
    if t is DurationExpr:
        d: DurationExpr = node  # type: ignore[assignment]
        return tuple(x for x in (d.lhs, d.rhs) if x is not None)
    return ()


def replace_children(node: Node, new: Sequence[Node]) -> Node:
    """A copy of ``node`` whose children (as listed by :func:`children`) are ``new``.

    ``new`` must have the same length as ``children(node)``; types are not checked here
    (a MatrixSelector's child must be a VectorSelector).
    """
    old = children(node)
    if len(old) != len(new):
        raise ValueError(f"{type(node).__name__} has {len(old)} children, got {len(new)}")
    if not old:
        return node
    t = type(node)
    if t is BinaryExpr:
        return replace(node, lhs=new[0], rhs=new[1])  # type: ignore[type-var]
    if t is Call:
        return replace(node, args=tuple(new))  # type: ignore[type-var]
    if t is AggregateExpr:
        a: AggregateExpr = node  # type: ignore[assignment]
        if a.param is None:
            return replace(a, expr=new[0])  # type: ignore[arg-type]
        return replace(a, param=new[0], expr=new[1])  # type: ignore[arg-type]
    if t is ParenExpr or t is UnaryExpr or t is SubqueryExpr:
        return replace(node, expr=new[0])  # type: ignore[type-var]
    if t is MatrixSelector:
        if not isinstance(new[0], VectorSelector):
            raise TypeError("a MatrixSelector's child must be a VectorSelector")
        return replace(node, selector=new[0])  # type: ignore[type-var]
    if t is DurationExpr:
        d: DurationExpr = node  # type: ignore[assignment]
        it = iter(new)
        lhs = next(it) if d.lhs is not None else None
        rhs = next(it) if d.rhs is not None else None
        return replace(d, lhs=lhs, rhs=rhs)  # type: ignore[arg-type]
    raise TypeError(f"cannot replace children of {node!r}")


def walk(node: Node) -> Iterator[tuple[Node, tuple[Node, ...]]]:
    """Depth-first, pre-order: yields ``(node, path)`` where ``path`` is the ancestors, root first."""
    stack: list[tuple[Node, tuple[Node, ...]]] = [(node, ())]
    while stack:
        n, path = stack.pop()
        yield n, path
        cs = children(n)
        if cs:
            sub = path + (n,)
            for c in reversed(cs):
                stack.append((c, sub))


Position = tuple[int, ...]
"""A node's place in a tree: the child indices (as :func:`children` lists them) from the root."""


def positions(root: Node) -> Iterator[tuple[Position, Node]]:
    """Every node with its position, pre-order (the root first, then children in source order)."""
    stack: list[tuple[Position, Node]] = [((), root)]
    while stack:
        pos, node = stack.pop()
        yield pos, node
        cs = children(node)
        for i in range(len(cs) - 1, -1, -1):
            stack.append((pos + (i,), cs[i]))


def replace_at(root: Node, pos: Position, new: Node) -> Node:
    """A copy of ``root`` with the node at ``pos`` replaced by ``new``."""
    if not pos:
        return new
    cs = list(children(root))
    cs[pos[0]] = replace_at(cs[pos[0]], pos[1:], new)
    return replace_children(root, cs)


def transform(node: Node, fn: Callable[[Node], Node]) -> Node:
    """Rebuild the tree bottom-up, replacing every node ``n`` by ``fn(n)`` (children first)."""
    cs = children(node)
    if cs:
        new = [transform(c, fn) for c in cs]
        if any(a is not b for a, b in zip(new, cs, strict=True)):
            node = replace_children(node, new)
    return fn(node)


# --------------------------------------------------------------------------- features


def _duration_features(d: Duration | None, out: set[str]) -> None:
    if isinstance(d, DurationExpr):
        out.add("mod:duration_expr")
        stack: list[DurationNode] = [d]
        while stack:
            x = stack.pop()
            if isinstance(x, DurationExpr):
                out.add(f"dur:{x.op}" if x.lhs is not None or x.rhs is None else f"dur:unary{x.op}")
                stack.extend(c for c in (x.lhs, x.rhs) if c is not None)


def _modifier_features(offset: Duration, at: At, out: set[str]) -> None:
    if offset != 0:
        out.add("mod:offset")
        if isinstance(offset, int) and offset < 0:
            out.add("mod:negative_offset")
        _duration_features(offset, out)
    if at is not None:
        out.add("mod:@")
        if isinstance(at, str):
            out.add(f"mod:@{at}()")


def features(node: Node) -> frozenset[str]:
    """Names of the language features a tree uses (for signatures and coverage).

    ``fn:<name>``, ``agg:<op>``, ``op:<binop>``, ``unary:<op>``, ``mod:offset``,
    ``mod:negative_offset``, ``mod:@`` (+ ``mod:@start()``/``mod:@end()``), ``mod:subquery``,
    ``mod:subquery_default_step``, ``mod:bool``, ``mod:by``, ``mod:without``,
    ``mod:anchored``, ``mod:smoothed``, ``mod:duration_expr`` (+ ``dur:<op>``),
    ``match:on``, ``match:ignoring``, ``match:group_left``, ``match:group_right``,
    ``match:fill``, ``match:fill_left``, ``match:fill_right``, ``sel:range``,
    ``sel:matcher<op>``, ``sel:utf8_name``, ``lit:number``, ``lit:string``, ``paren``.
    """
    out: set[str] = set()
    for n, _ in walk(node):
        t = type(n)
        if t is VectorSelector:
            vs: VectorSelector = n  # type: ignore[assignment]
            for m in vs.matchers:
                out.add(f"sel:matcher{m.op}")
                if label_needs_quoting(m.name) or (m.name == "__name__" and label_needs_quoting(m.value)):
                    out.add("sel:utf8_name")
            _modifier_features(vs.offset, vs.at, out)
            if vs.anchored:
                out.add("mod:anchored")
            if vs.smoothed:
                out.add("mod:smoothed")
        elif t is MatrixSelector:
            out.add("sel:range")
            _duration_features(n.range, out)  # type: ignore[attr-defined]
        elif t is SubqueryExpr:
            sq: SubqueryExpr = n  # type: ignore[assignment]
            out.add("mod:subquery")
            if sq.step is None:
                out.add("mod:subquery_default_step")
            _duration_features(sq.range, out)
            _duration_features(sq.step, out)
            _modifier_features(sq.offset, sq.at, out)
        elif t is Call:
            out.add(f"fn:{n.func}")  # type: ignore[attr-defined]
        elif t is AggregateExpr:
            ag: AggregateExpr = n  # type: ignore[assignment]
            out.add(f"agg:{ag.op}")
            if ag.grouping is not None:
                out.add("mod:without" if ag.without else "mod:by")
        elif t is BinaryExpr:
            b: BinaryExpr = n  # type: ignore[assignment]
            out.add(f"op:{b.op}")
            if b.return_bool:
                out.add("mod:bool")
            vm = b.matching
            if vm is not None:
                if vm.on:
                    out.add("match:on")
                elif vm.labels:
                    out.add("match:ignoring")
                if vm.card == "many-to-one":
                    out.add("match:group_left")
                elif vm.card == "one-to-many":
                    out.add("match:group_right")
                if vm.fill_lhs is not None and vm.fill_rhs is not None:
                    out.add("match:fill")
                elif vm.fill_lhs is not None:
                    out.add("match:fill_left")
                elif vm.fill_rhs is not None:
                    out.add("match:fill_right")
        elif t is UnaryExpr:
            out.add(f"unary:{n.op}")  # type: ignore[attr-defined]
        elif t is ParenExpr:
            out.add("paren")
        elif t is NumberLiteral:
            out.add("lit:number")
        elif t is StringLiteral:
            out.add("lit:string")
    return frozenset(out)


def expr_fields(node: Node) -> tuple[str, ...]:
    """Names of the dataclass fields of ``node`` (helper for generic tree code)."""
    return tuple(f.name for f in fields(node))  # type: ignore[arg-type]
