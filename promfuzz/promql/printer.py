"""PromQL printers: the canonical text of a tree, and randomized surface variants.

:func:`to_text` reproduces Prometheus's ``Expr.String()`` (v0.316.0) byte for byte, with
one deliberate difference: an aggregation with an empty ``by ()`` clause is printed
``sum by () (x)`` (Prometheus drops the clause and prints ``sum(x)``), so that
``parse(to_text(t)) == t`` holds for every tree the parser returns. Pass
``prometheus=True`` to get Prometheus's exact spelling.

:func:`to_text_variant` prints the same tree with random but meaning-preserving surface
changes (spaces and newlines, comments, keyword case, ``by`` before or after the body,
number spellings, duration spellings, quote styles, matcher order, redundant
parentheses); the result parses back to the same tree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

from promfuzz.promql._text import (
    METRIC_NAME_RE,
    format_duration,
    format_float_f,
    format_float_v,
    go_quote,
    label_needs_quoting,
)
from promfuzz.promql.ast import (
    AggregateExpr,
    At,
    BinaryExpr,
    Call,
    Duration,
    DurationExpr,
    DurationNode,
    LabelMatcher,
    MatrixSelector,
    Node,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
)

__all__ = ["Choices", "to_text", "to_text_variant"]

T = TypeVar("T")


class Choices(Protocol):
    """The random-decision interface (see promfuzz.generators.choices)."""

    def integer(self, lo: int, hi: int) -> int: ...

    def boolean(self, p: float = 0.5) -> bool: ...

    def choice(self, seq: Sequence[T]) -> T: ...


# --------------------------------------------------------------------------- canonical


def to_text(node: Node, *, prometheus: bool = False, unquoted_utf8_names: bool = False) -> str:
    """The canonical text of ``node`` (Prometheus's ``String()``; see the module docstring).

    ``unquoted_utf8_names`` prints names as Prometheus does with ``EnableUnquotedUTF8Names``
    (Unicode letters and dots unquoted); without it a metric name that needs quoting
    raises ValueError (write it as a ``__name__`` matcher instead).
    """
    return _Printer(prometheus, None, unquoted_utf8_names).p(node)


def to_text_variant(node: Node, choices: Choices) -> str:
    """A randomized spelling of ``node`` that parses back to the same tree."""
    return _Printer(False, choices).p(node)


_UTF8_METRIC_RE = re.compile(r"(?:[:_]|[^\W\d_])(?:[:_.]|\w)*\Z")
_UTF8_NAME_RE = re.compile(r"(?:_|[^\W\d_])(?:[_.]|\w)*\Z")


def _needs_quoting(name: str, utf8: bool) -> bool:
    if utf8:
        return _UTF8_NAME_RE.match(name) is None
    return label_needs_quoting(name)


def _labels(names: Sequence[str], utf8: bool = False) -> str:
    return ", ".join(go_quote(n) if _needs_quoting(n, utf8) else n for n in names)


_KW_CASE_WORDS = ("by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset")


class _Printer:
    __slots__ = ("compat", "c", "utf8")

    def __init__(self, compat: bool, choices: Choices | None, utf8: bool = False) -> None:
        self.compat = compat
        self.c = choices
        self.utf8 = utf8

    # -- variant helpers (identity when canonical)
    def sp(self, canonical: str = " ", comments: bool = True) -> str:
        """Whitespace: canonical or a random mix of spaces, tabs, newlines and comments."""
        c = self.c
        if c is None:
            return canonical
        k = c.integer(0, 9 if comments else 8)
        if k <= 4:
            return canonical
        if k <= 6:
            return canonical + " " * c.integer(0, 2)
        if k == 7:
            return (canonical or "") + "\n" + " " * c.integer(0, 4)
        if k == 8:
            return (canonical or "") + "\t"
        return " # comment " + str(c.integer(0, 99)) + "\n"

    def kw(self, word: str) -> str:
        c = self.c
        if c is None or not c.boolean(0.2):
            return word
        return c.choice((word.upper(), word.capitalize(), word))

    def p(self, node: Node) -> str:
        t = type(node)
        if t is NumberLiteral:
            return self.number(node)  # type: ignore[arg-type]
        if t is StringLiteral:
            return self.string(node.value)  # type: ignore[attr-defined]
        if t is VectorSelector:
            return self.selector(node)  # type: ignore[arg-type]
        if t is MatrixSelector:
            return self.matrix(node)  # type: ignore[arg-type]
        if t is SubqueryExpr:
            sq: SubqueryExpr = node  # type: ignore[assignment]
            step = "" if sq.step is None else self.duration(sq.step)
            return (
                self.p(sq.expr)
                + self.sp("")
                + "["
                + self.duration(sq.range)
                + ":"
                + step
                + "]"
                + self.at_offset(sq.at, sq.offset)
            )
        if t is Call:
            cl: Call = node  # type: ignore[assignment]
            sep = "," + self.sp(" ")
            return cl.func + self.sp("") + "(" + sep.join(self.p(a) for a in cl.args) + ")"
        if t is AggregateExpr:
            return self.aggregate(node)  # type: ignore[arg-type]
        if t is BinaryExpr:
            b: BinaryExpr = node  # type: ignore[assignment]
            op = b.op
            if op in ("and", "or", "unless", "atan2"):
                op = self.kw(op)
            mod = (" " + self.kw("bool")) if b.return_bool else ""
            if b.matching is not None:
                mod += self.matching(b.matching)
            return self.p(b.lhs) + self.sp(" ") + op + mod + self.sp(" ") + self.p(b.rhs)
        if t is UnaryExpr:
            u: UnaryExpr = node  # type: ignore[assignment]
            return u.op + self.p(u.expr)
        if t is ParenExpr:
            return "(" + self.sp("") + self.p(node.expr) + self.sp("") + ")"  # type: ignore[attr-defined]
        if t is DurationExpr:
            return self.dexpr(node)  # type: ignore[arg-type]
        if t is LabelMatcher:
            return node.printed()  # type: ignore[attr-defined]
        raise TypeError(f"cannot print {node!r}")

    # -- literals
    def number(self, n: NumberLiteral) -> str:
        v = n.value
        c = self.c
        if c is None:
            if n.duration:
                if v == 0 and math.copysign(1.0, v) < 0 and not self.compat:
                    return "-0s"  # keep the sign of -0s (Prometheus prints "0s")
                return self.seconds_duration(v)
            if v == math.inf and not self.compat:
                # Prometheus prints "+Inf", which does not round trip: "+Inf ^ x" parses as
                # +(Inf ^ x). "Inf" is the same number and parses back to the same tree.
                return "Inf"
            return format_float_f(v)
        return self.number_variant(v, c)

    def seconds_duration(self, v: float) -> str:
        if v < 0:
            return "-" + format_duration(int(-v * 1e9) // 1_000_000)
        return format_duration(int(v * 1e9) // 1_000_000)

    def number_variant(self, v: float, c: Choices) -> str:
        if math.isnan(v):
            return c.choice(("NaN", "nan", "NAN", "Nan"))
        if math.isinf(v):
            w = c.choice(("Inf", "inf", "INF"))  # not "+Inf": see number()
            if v < 0:
                return "-" + w.lstrip("+")
            return w
        neg = v < 0 or (v == 0 and math.copysign(1.0, v) < 0)
        a = -v if neg else v
        sign = "-" if neg else ""
        k = c.integer(0, 5)
        if a == int(a) and a < 2**53:
            iv = int(a)
            if k == 1 and not hex(iv).endswith("e"):
                # Prometheus v0.316.0 rejects hex literals ending in "e" after a digit
                # ("0x4e": "bad number or duration syntax"), a lexer bug: not spelled so.
                return sign + hex(iv).replace("0x", c.choice(("0x", "0X")))
            if k == 2 and iv % 60 == 0 and 0 < iv < 9_000_000_000:  # a duration must fit int64 ns
                return sign + format_duration(iv * 1000)
            if k == 3:
                return sign + f"{iv}.0"
        if k == 4:
            return sign + repr(a).replace("e+", c.choice(("e+", "e", "E+")))
        if k == 5 and a != 0:
            return sign + format_float_v(a)
        return sign + format_float_f(a)

    def string(self, s: str) -> str:
        c = self.c
        if c is None:
            return go_quote(s)
        k = c.integer(0, 3)
        if k == 1 and "`" not in s and not any(0xDC80 <= ord(ch) <= 0xDCFF for ch in s):
            return "`" + s + "`"
        if k == 2:
            q = go_quote(s)[1:-1].replace('\\"', '"').replace("'", "\\'")
            return "'" + q + "'"
        return go_quote(s)

    # -- durations
    def duration(self, d: Duration) -> str:
        if isinstance(d, DurationExpr):
            return self.dexpr(d)
        c = self.c
        if c is not None and d > 0:
            k = c.integer(0, 4)
            if k == 1:
                return _long_duration(d, c)
            if k == 2 and d % 1000 == 0:
                return str(d // 1000)
        return format_duration(d)

    def dexpr(self, d: DurationExpr) -> str:
        op = d.op
        if op == "step" or op == "range":
            s = op + "()"
        elif op == "min_of" or op == "max_of":
            s = op + "(" + self.dnode(d.lhs) + "," + self.sp(" ", False) + self.dnode(d.rhs) + ")"
        elif d.lhs is None:
            s = ("-" + self.dnode(d.rhs)) if op == "-" else self.dnode(d.rhs)
        else:
            s = self.dnode(d.lhs) + self.sp(" ", False) + op + self.sp(" ", False) + self.dnode(d.rhs)
        return "(" + s + ")" if d.wrapped else s

    def dnode(self, d: DurationNode | None) -> str:
        if d is None:
            return ""
        if type(d) is NumberLiteral:
            if self.c is None:
                return self.number(d)
            # Keep the literal kind stable: a duration stays a duration, a number a number.
            if d.duration:
                ms = int(abs(d.value) * 1e9) // 1_000_000
                return ("-" if d.value < 0 else "") + (_long_duration(ms, self.c) if ms else "0s")
            return format_float_f(d.value)
        return self.dexpr(d)  # type: ignore[arg-type]

    # -- selectors
    def matchers(self, vs: VectorSelector) -> list[str]:
        out = []
        for m in vs.matchers:
            if self.c is None:
                if self.utf8:
                    nm = go_quote(m.name) if _needs_quoting(m.name, True) else m.name
                    out.append(nm + m.op + go_quote(m.value))
                else:
                    out.append(m.printed())
                continue
            name = go_quote(m.name) if label_needs_quoting(m.name) else m.name
            if self.c.boolean(0.1) and not label_needs_quoting(m.name):
                name = go_quote(m.name)
            if m.name == "__name__" and m.op == "=" and self.c.boolean(0.3):
                out.append(self.string(m.value))
                continue
            out.append(name + self.sp("") + m.op + self.sp("") + self.string(m.value))
        return out

    def selector(self, vs: VectorSelector, in_matrix: Duration | None = None) -> str:
        name = vs.name or ""
        if name and not METRIC_NAME_RE.match(name) and not (self.utf8 and _UTF8_METRIC_RE.match(name)):
            raise ValueError(f"metric name {name!r} cannot be written unquoted; use a __name__ matcher")
        ms = self.matchers(vs)
        if self.utf8 and self.c is None:
            ms.sort()
        c = self.c
        if c is not None and len(ms) > 1 and c.boolean(0.5):
            ms = ms[::-1]
        s = name
        if ms:
            trailing = "," if c is not None and c.boolean(0.1) else ""
            s += "{" + ("," + self.sp("")).join(ms) + trailing + "}"
        elif c is not None and name and c.boolean(0.1):
            s += "{}"
        if in_matrix is not None:
            s += "[" + self.duration(in_matrix) + "]"
        at = self.at_str(vs.at)
        off = self.offset_str(vs.offset)
        if c is not None and at and off and c.boolean(0.5):
            s += off
            s += at
        else:
            s += at if in_matrix is None else ""
            if in_matrix is None:
                if vs.anchored:
                    s += " " + self.kw("anchored")
                elif vs.smoothed:
                    s += " " + self.kw("smoothed")
            else:
                if vs.anchored:
                    s += " " + self.kw("anchored")
                elif vs.smoothed:
                    s += " " + self.kw("smoothed")
                s += at
            s += off
            return s
        # offset-before-@ variant: anchored/smoothed go last
        if vs.anchored:
            s += " " + self.kw("anchored")
        elif vs.smoothed:
            s += " " + self.kw("smoothed")
        return s

    def matrix(self, m: MatrixSelector) -> str:
        return self.selector(m.selector, m.range)

    def at_str(self, at: At) -> str:
        if at is None:
            return ""
        if at == "start" or at == "end":
            return self.sp(" ") + "@" + self.sp(" ") + self.kw(str(at)) + "()"
        ms = int(at)
        if self.c is not None and ms % 1000 == 0 and self.c.boolean(0.5):
            return self.sp(" ") + "@" + self.sp(" ") + str(ms // 1000)
        sign = "-" if ms < 0 else ""
        a = abs(ms)
        return self.sp(" ") + "@" + self.sp(" ") + f"{sign}{a // 1000}.{a % 1000:03d}"

    def offset_str(self, off: Duration) -> str:
        if isinstance(off, DurationExpr):
            return self.sp(" ") + self.kw("offset") + " " + self.dexpr(off)
        if off == 0:
            return ""
        if off < 0:
            return self.sp(" ") + self.kw("offset") + " -" + self.duration(-off)
        return self.sp(" ") + self.kw("offset") + " " + self.duration(off)

    def at_offset(self, at: At, off: Duration) -> str:
        a = self.at_str(at)
        o = self.offset_str(off)
        if self.c is not None and self.c.boolean(0.3):
            return o + a
        return a + o

    # -- aggregation and binary modifiers
    def aggregate(self, a: AggregateExpr) -> str:
        head = self.kw(a.op)
        clause = ""
        if a.grouping is not None:
            if a.without:
                clause = self.kw("without") + self.sp(" ") + "(" + _labels(a.grouping, self.utf8) + ")"
            elif a.grouping or not self.compat:
                clause = self.kw("by") + self.sp(" ") + "(" + _labels(a.grouping, self.utf8) + ")"
        body = "("
        if a.param is not None:
            body += self.p(a.param) + "," + self.sp(" ")
        body += self.p(a.expr) + ")"
        if not clause:
            return head + self.sp("") + body
        if self.c is not None and self.c.boolean(0.5):
            return head + self.sp("") + body + self.sp(" ") + clause
        return head + " " + clause + self.sp(" ") + body

    def matching(self, vm: VectorMatching) -> str:
        s = ""
        grouped = vm.card == "many-to-one" or vm.card == "one-to-many"
        if vm.labels or vm.on or grouped:
            s += (
                " "
                + self.kw("on" if vm.on else "ignoring")
                + self.sp(" ")
                + "("
                + _labels(vm.labels, self.utf8)
                + ")"
            )
        if grouped:
            word = "group_left" if vm.card == "many-to-one" else "group_right"
            s += " " + self.kw(word) + self.sp(" ") + "(" + _labels(vm.include, self.utf8) + ")"
        fl, fr = vm.fill_lhs, vm.fill_rhs
        if fl is not None or fr is not None:
            if fl is not None and fr is not None and _same(fl, fr):
                s += " fill (" + format_float_v(fl) + ")"
            else:
                if fl is not None:
                    s += " fill_left (" + format_float_v(fl) + ")"
                if fr is not None:
                    s += " fill_right (" + format_float_v(fr) + ")"
        return s


def _same(a: float, b: float) -> bool:
    return a == b  # as Go: NaN fills print as fill_left (NaN) fill_right (NaN)


def _long_duration(ms: int, c: Choices) -> str:
    """A non-canonical but equal duration spelling (``90s`` for ``1m30s``, ``60m`` for ``1h``)."""
    units = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))
    usable = [(u, m) for u, m in units if ms % m == 0]
    u, m = c.choice(usable)
    return f"{ms // m}{u}"
