"""Tree plumbing shared by the query passes: positions, replacement, parentheses, printing.

A *position* is the tuple of child indexes (as :func:`promfuzz.promql.ast.children` lists
them) leading from the root to a node. Passes build new trees by replacing the node at a
position; :func:`render` then inserts the parentheses the new shape needs (a child that
used to be parenthesised may now sit under an operator that binds tighter), prints the
tree canonically, parses the text back and checks the top-level value type, so every
query a pass proposes is one the parser accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from promfuzz.errors import PromQLSyntaxError
from promfuzz.promql.ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    Expr,
    MatrixSelector,
    Node,
    NumberLiteral,
    ParenExpr,
    Position,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
    children,
    positions,
    replace_at,
    replace_children,
    transform,
    value_type,
)
from promfuzz.promql.functions import PRECEDENCE, ValueType
from promfuzz.promql.parser import parse, tokenize
from promfuzz.promql.printer import to_text


def node_at(root: Node, pos: Position) -> Node:
    node = root
    for i in pos:
        node = children(node)[i]
    return node


def map_nodes(root: Node, fn: Callable[[Node], Node | None]) -> Iterator[Node]:
    """For each node where ``fn`` proposes a replacement, the tree with that one replacement."""
    for pos, node in positions(root):
        new = fn(node)
        if new is not None and new != node:
            try:
                yield replace_at(root, pos, new)
            except (TypeError, ValueError):
                continue


# --------------------------------------------------------------------------- parentheses


def _negative_literal(n: Node) -> bool:
    return isinstance(n, NumberLiteral) and (n.value < 0 or str(n.value).startswith("-"))


def _needs_parens(child: Node, parent: Node, index: int) -> bool:
    if isinstance(child, ParenExpr):
        return False
    if isinstance(parent, BinaryExpr):
        if isinstance(child, BinaryExpr):
            pc, pp = PRECEDENCE[child.op], PRECEDENCE[parent.op]
            if pc != pp:
                return pc < pp
            right_assoc = parent.op == "^"
            return (index == 0) if right_assoc else (index == 1)
        if isinstance(child, UnaryExpr) or _negative_literal(child):
            return parent.op == "^" and index == 0
        return False
    if isinstance(parent, UnaryExpr):
        return isinstance(child, BinaryExpr | UnaryExpr) or _negative_literal(child)
    if isinstance(parent, SubqueryExpr):
        if isinstance(child, VectorSelector):
            return child.offset != 0 or child.at is not None or child.anchored or child.smoothed
        return not isinstance(child, Call | AggregateExpr | StringLiteral | MatrixSelector) and not (
            isinstance(child, NumberLiteral) and not _negative_literal(child)
        )
    return False


def fix_parens(root: Node) -> Node:
    """Insert the parentheses needed for the tree to print as itself."""

    def fix(node: Node) -> Node:
        cs = children(node)
        if not cs or isinstance(node, MatrixSelector):
            return node
        new = [
            ParenExpr(c) if isinstance(c, Expr) and _needs_parens(c, node, i) else c for i, c in enumerate(cs)
        ]
        if any(a is not b for a, b in zip(new, cs, strict=True)):
            return replace_children(node, new)
        return node

    return transform(root, fix)


def strip_top_parens(root: Node) -> Node:
    while isinstance(root, ParenExpr):
        root = root.expr
    return root


def render(root: Node, want: ValueType) -> str | None:
    """Canonical text of ``root`` when it parses back as a valid query of type ``want``."""
    try:
        text = to_text(fix_parens(strip_top_parens(root)))
        back = parse(text)
        if value_type(back) != want:
            return None
    except (PromQLSyntaxError, ValueError, TypeError, KeyError, RecursionError):
        return None
    return text


def count_tokens(text: str) -> int:
    try:
        return sum(1 for t in tokenize(text) if t[0] != "EOF")
    except Exception:  # noqa: BLE001 -- an unlexable text is as big as its length
        return len(text)


def count_nodes(root: Node) -> int:
    return sum(1 for _ in positions(root))
