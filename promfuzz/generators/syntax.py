"""Syntax facts the query generator and the mutator share: where an operand needs
parentheses so the printed text parses back to the same tree, and matcher helpers."""

from __future__ import annotations

import math
import re
from typing import Literal

from promfuzz.promql.ast import (
    BinaryExpr,
    DurationExpr,
    Expr,
    LabelMatcher,
    MatrixSelector,
    NumberLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
)
from promfuzz.promql.functions import PRECEDENCE


def needs_paren_as_operand(child: Expr, parent_op: str, side: Literal["lhs", "rhs"]) -> bool:
    """Whether ``child`` must be parenthesised as an operand of binary ``parent_op``."""
    if isinstance(child, BinaryExpr):
        cp, pp = PRECEDENCE[child.op], PRECEDENCE[parent_op]
        if cp < pp:
            return True
        if cp == pp:
            right_assoc = parent_op == "^"
            return (side == "rhs") != right_assoc
        return False
    if isinstance(child, UnaryExpr):
        # Unary minus binds like "*": below "^", and "-a ^ b" is "-(a ^ b)".
        return side == "lhs" and parent_op == "^"
    if isinstance(child, NumberLiteral):
        # A negative literal is printed with its sign: "-2 ^ 2" would be "-(2 ^ 2)".
        # (+Inf prints as "+Inf": signed too.)
        signed = math.copysign(1.0, child.value) < 0 or child.value == math.inf
        return signed and side == "lhs" and parent_op == "^"
    return False


def matcher_non_empty(m: LabelMatcher) -> bool:
    """Whether the matcher does NOT match the empty string (Prometheus's non-empty rule)."""
    if m.op == "=":
        return m.value != ""
    if m.op == "!=":
        return m.value == ""
    try:
        matches_empty = re.fullmatch(m.value, "") is not None
    except re.error:
        return False
    return not matches_empty if m.op == "=~" else matches_empty


def re_escape(v: str) -> str:
    out = []
    for ch in v:
        if ch in r".^$*+?()[]{}|\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def has_trailing_modifier(e: Expr) -> bool:
    """Whether ``e`` ends in a modifier (offset, @, anchored/smoothed) that would bind
    differently next to another operator, or is a subquery/range selector."""
    if isinstance(e, VectorSelector):
        return e.offset != 0 or e.at is not None or e.anchored or e.smoothed
    return isinstance(e, (SubqueryExpr, MatrixSelector))


def ends_with_duration_expr(e: Expr) -> bool:
    """Whether the text of ``e`` ends in ``offset (<duration expression>)``: Prometheus's
    parser reads a following binary operator as part of that duration expression
    (``foo offset (5m) + bar`` does not parse), so such an operand needs parentheses."""
    while True:
        if isinstance(e, (VectorSelector, SubqueryExpr)):
            return isinstance(e.offset, DurationExpr)
        if isinstance(e, BinaryExpr):
            e = e.rhs
        elif isinstance(e, UnaryExpr):
            e = e.expr
        else:
            return False
