"""A hand-written PromQL parser for the language of Prometheus v0.316.0.

Recursive descent with precedence climbing, over a context-sensitive tokenizer that
follows Prometheus's lexer (statement, inside-braces and inside-brackets modes). It
accepts what Prometheus's parser accepts with experimental functions, duration
expressions and binop fill modifiers enabled, performs the same parse-time checks
(argument counts and types, selector and modifier rules, ``bool``, set operators...),
and builds :mod:`promfuzz.promql.ast` trees.

Every rejection raises :class:`promfuzz.errors.PromQLSyntaxError` carrying ``line`` and
``column`` (1-based, Prometheus's convention) plus ``position``/``end`` offsets into the
query. Messages follow Prometheus's wording; the first error Prometheus would report is
usually the one raised (see ``docs`` in tests for the known position differences).

Known limits: regular expressions are validated with Python's ``re`` module (RE2 and
Python differ at the edges: a pattern only Python rejects is accepted, and for it the
"matches the empty string" check assumes it does not).
"""

from __future__ import annotations

import math
import re

from promfuzz.errors import PromQLSyntaxError
from promfuzz.promql._text import DURATION_UNITS_MS, go_quote
from promfuzz.promql.ast import (
    AggregateExpr,
    At,
    BinaryExpr,
    Call,
    Duration,
    DurationExpr,
    DurationNode,
    Expr,
    LabelMatcher,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
)
from promfuzz.promql.functions import AGGREGATIONS, FUNCTIONS, PRECEDENCE, ValueType

__all__ = ["parse", "parse_duration", "unquote"]

# --------------------------------------------------------------------------- tokens
# A token is (kind, value, start). Kinds: "NUMBER", "DURATION", "STRING", "IDENT",
# "METRIC_IDENT", "ERROR", "EOF", a keyword (lower case) or a punctuation string.

Token = tuple[str, str, int]

_KEYWORDS = {
    "and",
    "or",
    "unless",
    "atan2",
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
    "limitk",
    "limit_ratio",
    "offset",
    "smoothed",
    "anchored",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "fill",
    "fill_left",
    "fill_right",
    "bool",
    "start",
    "end",
    "step",
    "range",
    "max_of",
    "min_of",
}
_FILL_KEYWORDS = {"fill", "fill_left", "fill_right"}
_DURATION_KEYWORDS = {"step", "range", "max_of", "min_of"}
_AGGREGATORS = set(AGGREGATIONS)
# Keywords that may also be a metric name (Prometheus's metric_identifier rule).
_METRIC_KEYWORDS = {
    "avg",
    "bottomk",
    "by",
    "count",
    "count_values",
    "fill",
    "fill_left",
    "fill_right",
    "group",
    "and",
    "or",
    "unless",
    "max",
    "min",
    "offset",
    "quantile",
    "stddev",
    "stdvar",
    "sum",
    "topk",
    "without",
    "start",
    "end",
    "limitk",
    "limit_ratio",
    "step",
    "range",
    "anchored",
    "smoothed",
    "max_of",
    "min_of",
}
# Keywords that may be a label name in grouping lists (maybe_label: all but ``without``).
_LABEL_KEYWORDS = _KEYWORDS - {"without"}
_PREPROCESSORS = {"start", "end", "step", "range", "max_of", "min_of"}
_COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
_SET_OPS = {"and", "or", "unless"}
_BINOPS = dict(PRECEDENCE)

_DEC = r"[0-9]+(?:_[0-9]+)*"
_NUM_RE = re.compile(
    r"(?:0[xX]_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*"
    rf"|(?:{_DEC}(?:\.(?:{_DEC})?)?|\.{_DEC})(?:[eE][+-]?{_DEC})?)"
    r"(?![a-zA-Z0-9_.])"
)
_FAST_STMT_RE = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r"|(?P<id>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"|(?P<p>==|!=|<=|>=|</|>/|[,*/%+\-^()@=<>])"
    rf"|(?P<num>(?:0[xX]_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*|(?:{_DEC}(?:\.(?:{_DEC})?)?|\.{_DEC})(?:[eE][+-]?{_DEC})?)"
    r"(?![a-zA-Z0-9_.]))"
    r"|(?P<dur>[0-9]+(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdw]))*(?![a-zA-Z0-9_]))"
    r'|(?P<str>"(?:[^"\\\n]|\\[^\n])*")'
)
_FAST_BRACE_RE = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r"|(?P<id>[a-zA-Z_][a-zA-Z0-9_]*)"
    r"|(?P<op>=~|!~|!=|=|,|\})"
    r'|(?P<str>"(?:[^"\\\n]|\\[^\n])*")'
)
_DUR_RE = re.compile(r"[0-9]+(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdw]))*(?![a-zA-Z0-9_])")
_BAD_NUM_RE = re.compile(r"[0-9a-zA-Z_.]*")
_DUR_PART_RE = re.compile(r"([0-9]+)(ms|[smhdwy])")
_IDENT_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_IDENT_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# With unquoted UTF-8 names: Unicode letters anywhere, dots after the first character.
_IDENT_UTF8_RE = re.compile(r"(?:[:_]|[^\W\d_])(?:[:_.]|\w)*")
_LABEL_IDENT_UTF8_RE = re.compile(r"(?:_|[^\W\d_])(?:[_.]|\w)*")
_UTF8_LABEL_NAME_RE = re.compile(r"(?:_|[^\W\d_])(?:[_.]|\w)*\Z")
_SPACE_RE = re.compile(r"[ \t\r\n]*")
_DQ_RE = re.compile(r'"(?:[^"\\\n]|\\[^\n])*"')
_SQ_RE = re.compile(r"'(?:[^'\\\n]|\\[^\n])*'")
_OCTAL_RE = re.compile(r"0[0-7_]+\Z")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

_PUNCT2 = {"==", "!=", "<=", ">=", "</", ">/"}
_PUNCT1 = set(",*/%+-^=<>()@:[]{}")


class _LexError(Exception):
    def __init__(self, msg: str, pos: int) -> None:
        self.msg = msg
        self.pos = pos


def _lex_string(text: str, i: int) -> int:
    """End offset of the quoted string starting at ``i`` (validating escapes lexically)."""
    q = text[i]
    if q == "`":
        j = text.find("`", i + 1)
        if j < 0:
            raise _LexError("unterminated raw string", i)
        return j + 1
    m = (_DQ_RE if q == '"' else _SQ_RE).match(text, i)
    if m is None:
        raise _LexError("unterminated quoted string", i)
    end = m.end()
    body = text[i + 1 : end - 1]
    if "\\" in body:
        _unquote_body(body, q, i)
    return end


def tokenize(text: str, unquoted_utf8_names: bool = False) -> list[Token]:
    """Split a query into tokens (comments and spaces dropped); a lexer error becomes an ERROR token."""
    ident_re = _IDENT_UTF8_RE if unquoted_utf8_names else _IDENT_RE
    label_re = _LABEL_IDENT_UTF8_RE if unquoted_utf8_names else _LABEL_IDENT_RE
    toks: list[Token] = []
    append = toks.append
    n = len(text)
    i = 0
    brace = False
    bracket = False
    got_colon = False
    got_duration = False
    dur_mode = False  # Prometheus's lexDurationExpr state (right after "[" until a number)
    paren = 0
    fast = not unquoted_utf8_names
    try:
        while True:
            if not brace and not bracket and fast:
                # Fast path for the common tokens of statement mode.
                m = _FAST_STMT_RE.match(text, i)
                if m is not None:
                    g = m.lastgroup
                    w = m.group()
                    if g == "id":
                        lw = w.lower()
                        if lw in _KEYWORDS:
                            if lw in _FILL_KEYWORDS:
                                j = _SPACE_RE.match(text, m.end()).end()  # type: ignore[union-attr]
                                if j >= n or text[j] != "(":
                                    append(("IDENT", w, i))
                                    i = m.end()
                                    continue
                            append((lw, w, i))
                        elif lw == "inf" or lw == "nan":
                            append(("NUMBER", w, i))
                        elif ":" in w:
                            append(("METRIC_IDENT", w, i))
                        else:
                            append(("IDENT", w, i))
                        i = m.end()
                        continue
                    if g == "p":
                        if w == "(":
                            paren += 1
                        elif w == ")":
                            paren -= 1
                            if paren < 0:
                                raise _LexError("unexpected right parenthesis ')'", i + 1)
                        elif w == "=" and text.startswith("=~", i):
                            raise _LexError("unexpected character after '=': '~'", i)
                        append((w, w, i))
                        i += len(w)
                        continue
                    if g == "ws":
                        i = m.end()
                        continue
                    if g == "num":
                        append(("NUMBER", w, i))
                    elif g == "dur":
                        append(("DURATION", w, i))
                    else:
                        if "\\" in w:
                            _unquote_body(w[1:-1], '"', i)
                        append(("STRING", w, i))
                    i = m.end()
                    continue
            elif brace and fast:
                m = _FAST_BRACE_RE.match(text, i)
                if m is not None:
                    g = m.lastgroup
                    w = m.group()
                    if g == "ws":
                        pass
                    elif g == "id":
                        append(("IDENT", w, i))
                    elif g == "str":
                        if "\\" in w:
                            _unquote_body(w[1:-1], '"', i)
                        append(("STRING", w, i))
                    else:
                        append((w, w, i))
                        if w == "}":
                            brace = False
                    i = m.end()
                    continue
            i = _SPACE_RE.match(text, i).end()  # type: ignore[union-attr]
            if i >= n:
                if brace:
                    raise _LexError("unexpected end of input inside braces", i)
                if paren != 0:
                    raise _LexError("unclosed left parenthesis", i)
                if bracket:
                    raise _LexError("unclosed left bracket", i)
                append(("EOF", "", i))
                return toks
            c = text[i]
            if c == "#":
                if dur_mode:
                    raise _LexError("unexpected character in duration expression: '#'", i)
                j = i
                while j < n and text[j] not in "\r\n":
                    j += 1
                i = j
                continue
            if brace:
                if c == "}":
                    append(("}", c, i))
                    brace = False
                    i += 1
                elif c == ",":
                    append((",", c, i))
                    i += 1
                elif c in "\"'`":
                    j = _lex_string(text, i)
                    append(("STRING", text[i:j], i))
                    i = j
                elif c == "=":
                    if text.startswith("=~", i):
                        append(("=~", "=~", i))
                        i += 2
                    else:
                        append(("=", "=", i))
                        i += 1
                elif c == "!":
                    nx = text[i + 1 : i + 2]
                    if nx == "~" or nx == "=":
                        append(("!" + nx, "!" + nx, i))
                        i += 2
                    else:
                        raise _LexError(f"unexpected character after '!' inside braces: {_goq(nx)}", i)
                elif c == "{":
                    raise _LexError("unexpected left brace '{'", i)
                else:
                    m = label_re.match(text, i)
                    if m is None:
                        raise _LexError(f"unexpected character inside braces: {_goq(c)}", i)
                    append(("IDENT", m.group(), i))
                    i = m.end()
                continue
            if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
                m = _NUM_RE.match(text, i)
                if m is not None:
                    append(("NUMBER", m.group(), i))
                    i = m.end()
                else:
                    m = _DUR_RE.match(text, i)
                    if m is not None:
                        append(("DURATION", m.group(), i))
                        i = m.end()
                    else:
                        raise _LexError(_bad_number(text, i), i)
                if bracket:
                    got_duration = True
                    dur_mode = False
                continue
            if c in "\"'`":
                if dur_mode:
                    raise _LexError(f"unexpected character in duration expression: {_goq(c)}", i)
                j = _lex_string(text, i)
                append(("STRING", text[i:j], i))
                i = j
                continue
            if c.isalpha() or c == "_" or c == ":":
                if not c.isascii() and not unquoted_utf8_names:
                    raise _LexError(f"unexpected character: {_goq(c)}", i)
                if bracket:
                    if c == ":":
                        if got_colon:
                            raise _LexError("unexpected colon ':'", i)
                        if not got_duration:
                            raise _LexError("unexpected colon before duration in duration expression", i)
                        append((":", ":", i))
                        got_colon = True
                        i += 1
                        continue
                    m = _LABEL_IDENT_RE.match(text, i)
                    w = m.group() if m else ""
                    lw = w.lower()
                    if lw in _DURATION_KEYWORDS:
                        append((lw, w, i))
                        got_duration = True
                        i += len(w)
                        continue
                    raise _LexError(f"unexpected character in duration expression: {_goq(c)}", i)
                m = ident_re.match(text, i)
                w = m.group()  # type: ignore[union-attr]
                lw = w.lower()
                if lw in _KEYWORDS and w.isascii():
                    if lw in _FILL_KEYWORDS:
                        j = _SPACE_RE.match(text, i + len(w)).end()  # type: ignore[union-attr]
                        if j >= n or text[j] != "(":
                            append(("IDENT", w, i))
                            i += len(w)
                            continue
                    append((lw, w, i))
                elif lw == "inf" or lw == "nan":
                    append(("NUMBER", w, i))
                elif ":" in w:
                    append(("METRIC_IDENT", w, i))
                else:
                    append(("IDENT", w, i))
                i += len(w)
                continue
            two = text[i : i + 2]
            if two in _PUNCT2:
                append((two, two, i))
                i += 2
                continue
            if c in _PUNCT1:
                if c == "=":
                    if two == "=~":
                        raise _LexError("unexpected character after '=': '~'", i)
                elif c == "(":
                    paren += 1
                elif c == ")":
                    paren -= 1
                    if paren < 0:
                        raise _LexError("unexpected right parenthesis ')'", i + 1)
                elif c == "{":
                    brace = True
                elif c == "}":
                    raise _LexError("unexpected character: '}'", i)
                elif c == "[":
                    if bracket:
                        raise _LexError("unexpected left bracket '['", i)
                    bracket = True
                    dur_mode = True
                    got_colon = False
                    got_duration = False
                elif c == "]":
                    if not bracket:
                        raise _LexError("unexpected right bracket ']'", i)
                    bracket = False
                    dur_mode = False
                    got_colon = False
                elif c == ":" and bracket:
                    if got_colon:
                        raise _LexError("unexpected colon ':'", i)
                    got_colon = True
                append((c, c, i))
                i += 1
                continue
            if c == "!":
                raise _LexError(f"unexpected character after '!': {_goq(text[i + 1 : i + 2])}", i)
            raise _LexError(f"unexpected character: {_goq(c)}", i)
    except _LexError as e:
        append(("ERROR", e.msg, e.pos))
        return toks


def _goq(c: str) -> str:
    """Go's %q of a rune (approximation for error messages)."""
    if c == "":
        return "U+FFFFFFFF"  # eof
    if c == "'":
        return "'\\''"
    if c == "\\":
        return "'\\\\'"
    return "'" + c + "'"


def _bad_number(text: str, i: int) -> str:
    """Prometheus's message for a malformed number, with the text its lexer had consumed."""
    n = len(text)
    j = i

    def at(k: int) -> str:
        return text[k] if k < n else ""

    digits = "0123456789"
    if at(j) == "0" and at(j + 1) in ("x", "X") and at(j + 1):
        j += 2
        if at(j) == "_":
            j += 1
        digits = "0123456789abcdefABCDEF"
    if at(j) == ".":
        j += 1
    if at(j) and at(j) in digits:
        j += 1
    dot = exp = False
    while at(j) and at(j) in digits + "._eE":
        ch = at(j)
        if ch == "." and dot:
            return f'bad number or duration syntax: "{text[i : j + 1]}"'
        if ch in "eE" and exp and digits == "0123456789":
            return f'bad number or duration syntax: "{text[i : j + 1]}"'
        if ch == "." and (len(digits) == 10 or True):
            dot = True
            j += 1
            if at(j) and at(j) in "_.":
                return f'bad number or duration syntax: "{text[i : j + 1]}"'
            if len(digits) > 10:
                return f'bad number or duration syntax: "{text[i:j]}"'
            continue
        if ch in "eE" and len(digits) == 10:
            exp = True
            j += 1
            if at(j) and at(j) in "+-":
                j += 1
            if not at(j) or at(j) in "._eE":
                return f'bad number or duration syntax: "{text[i : j + (1 if at(j) else 0)]}"'
            continue
        if ch == "_":
            j += 1
            if not at(j) or at(j) in "._eE":
                return f'bad number or duration syntax: "{text[i : j + (1 if at(j) else 0)]}"'
            continue
        while at(j) and at(j) in digits:
            j += 1
    # acceptRemainingDuration
    if at(j) and at(j) in "smhdwy":
        j += 1
        if at(j) == "s":
            j += 1
        while at(j) and at(j) in "0123456789":
            while at(j) and at(j) in "0123456789":
                j += 1
            if not (at(j) and at(j) in "smhdw"):
                return f'bad number or duration syntax: "{text[i : j + (1 if at(j) else 0)]}"'
            j += 1
            if at(j) == "s":
                j += 1
        j += 1 if at(j) else 0
    return f'bad number or duration syntax: "{text[i:j]}"'


# --------------------------------------------------------------------------- strings

_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_HEX = "0123456789abcdefABCDEF"


def _unquote_body(body: str, quote: str, base: int) -> str:
    out: list[str] = []
    pending: list[int] = []  # raw bytes from \x / octal escapes, decoded together

    def flush() -> None:
        if pending:
            out.append(bytes(pending).decode("utf-8", "surrogateescape"))
            pending.clear()

    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            flush()
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise _LexError("escape sequence not terminated", base)
        e = body[i + 1]
        if e in _ESC:
            flush()
            out.append(_ESC[e])
            i += 2
        elif e == quote:
            flush()
            out.append(quote)
            i += 2
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) < 3 or any(d not in "01234567" for d in digits):
                raise _LexError("illegal character in escape sequence", base)
            v = int(digits, 8)
            if v > 255:
                raise _LexError("escape sequence is an invalid Unicode code point", base)
            pending.append(v)
            i += 4
        elif e in "xuU":
            k = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + k]
            if len(digits) < k or any(d not in _HEX for d in digits):
                raise _LexError("illegal character in escape sequence", base)
            v = int(digits, 16)
            if e == "x":
                pending.append(v)
            else:
                if v > 0x10FFFF or 0xD800 <= v < 0xE000:
                    raise _LexError("escape sequence is an invalid Unicode code point", base)
                flush()
                out.append(chr(v))
            i += 2 + k
        else:
            raise _LexError(f"unknown escape sequence U+{ord(e):04X} '{e}'", base)
    flush()
    return "".join(out)


def unquote(s: str) -> str:
    """Unquote a PromQL string literal (``"..."``, ``'...'`` or backticks) with Go's rules.

    Bytes from ``\\x``/octal escapes that are not valid UTF-8 come back as
    ``surrogateescape`` code points. Raises ValueError on a malformed literal.
    """
    if len(s) < 2 or s[0] != s[-1] or s[0] not in "\"'`":
        raise ValueError(f"not a quoted string: {s!r}")
    body = s[1:-1]
    if s[0] == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body
    if "\\" not in body:
        if s[0] in body or "\n" in body:
            raise ValueError("invalid syntax")
        return body
    try:
        return _unquote_body(body, s[0], 0)
    except _LexError as e:
        raise ValueError(e.msg) from None


# --------------------------------------------------------------------------- numbers


def _go_round(x: float) -> int:
    """math.Round (half away from zero) to int."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x)) if abs(x) < 2**52 else int(x)


def _parse_number(s: str) -> float:
    """Prometheus's ``number()``: ParseInt(base 0) first, then ParseFloat."""
    if s.isdigit() and (s[0] != "0" or len(s) == 1) and len(s) < 19:
        return float(int(s))
    if _SIMPLE_FLOAT_RE.match(s):
        return float(s)
    low = s.lower()
    if low == "inf" or low == "+inf":
        return math.inf
    if low == "nan":
        return math.nan
    try:
        if _OCTAL_RE.match(s) and "__" not in s and not s.endswith("_"):
            v = int(s.replace("_", ""), 8)
        else:
            v = int(s, 0)
        if -(2**63) <= v < 2**63:
            return float(v)
    except ValueError:
        pass
    if low.startswith("0x"):
        raise ValueError(f'strconv.ParseFloat: parsing "{s}": invalid syntax')
    v2 = float(s)
    if math.isinf(v2):
        raise ValueError(f'strconv.ParseFloat: parsing "{s}": value out of range')
    return v2


_SIMPLE_FLOAT_RE = re.compile(r"[1-9][0-9]*\.[0-9]+\Z|0?\.[0-9]+\Z")
_SIMPLE_DUR_RE = re.compile(r"([0-9]{1,6})(ms|[smhdwy])\Z")
_UNIT_ORDER = {"y": 1, "w": 2, "d": 3, "h": 4, "m": 5, "s": 6, "ms": 7}


def parse_duration(s: str) -> int:
    """``model.ParseDuration``: a duration string (``1h30m``, ``5ms``, ``0``) to milliseconds.

    Raises ValueError with Prometheus's message for a bad string.
    """
    m1 = _SIMPLE_DUR_RE.match(s)
    if m1 is not None:
        v = int(m1.group(1))
        return v * DURATION_UNITS_MS[m1.group(2)] * 1_000_000
    if s == "0":
        return 0
    if s == "":
        raise ValueError("empty duration string")
    pos = 0
    last = 0
    total = 0
    for m in _DUR_PART_RE.finditer(s):
        if m.start() != pos:
            break
        unit = m.group(2)
        if _UNIT_ORDER[unit] <= last:
            raise ValueError(f'not a valid duration string: "{s}"')
        last = _UNIT_ORDER[unit]
        v = int(m.group(1))
        mult_ns = DURATION_UNITS_MS[unit] * 1_000_000
        if v >= 2**64 or v > (1 << 63) // mult_ns:
            if v >= 2**64:
                raise ValueError(f'not a valid duration string: "{s}"')
            raise ValueError("duration out of range")
        total += v * mult_ns
        if total > (1 << 63) - 1:
            raise ValueError("duration out of range")
        pos = m.end()
    if pos != len(s):
        raise ValueError(f'not a valid duration string: "{s}"')
    return total  # nanoseconds


def _ns_seconds(ns: int) -> float:
    """time.Duration.Seconds()."""
    sec, nsec = (
        divmod(ns, 1_000_000_000) if ns >= 0 else (-((-ns) // 1_000_000_000), -((-ns) % 1_000_000_000))
    )
    return float(sec) + float(nsec) / 1e9


_MIN_INT64 = -(2**63)


def _seconds_to_ms(v: float) -> int:
    """time.Duration(math.Round(v*1e9)) then truncation to milliseconds.

    As on amd64, a NaN or out-of-range value converts to the minimum int64 (Prometheus
    accepts ``offset NaN`` and ends up with that offset).
    """
    x = v * 1e9
    ns = _go_round(x) if not (math.isnan(x) or math.isinf(x) or abs(x) >= 2**63) else _MIN_INT64
    return ns // 1_000_000 if ns >= 0 else -((-ns) // 1_000_000)


_DUR_MAX = 2**63 / 1e9


def _out_of_range(v: float) -> bool:
    return v > _DUR_MAX or v < -_DUR_MAX


# --------------------------------------------------------------------------- regex


_INLINE_FLAGS_RE = re.compile(r"\(\?[imsU-]*\)")
_NESTED_REPEAT_RE = re.compile(
    r"(?<!\\)(?:[*+?]|\{[0-9]+(?:,[0-9]*)?\})[*+]|(?<!\\)\{[0-9]+(?:,[0-9]*)?\}\{[0-9]"
)
_REPEAT_COUNT_RE = re.compile(r"(?<!\\)\{([0-9]+)(?:,([0-9]*))?\}")
_RE2_ONLY_ESCAPES = set("pPzQE")


def _to_python_regex(pattern: str) -> str:
    """An approximation of an RE2 pattern in Python syntax (inline flag groups dropped, ``\\z``)."""
    if "(?" in pattern:
        pattern = _INLINE_FLAGS_RE.sub("", pattern)
    if "\\z" in pattern:
        pattern = pattern.replace("\\z", "\\Z")
    return pattern


def _regex_matches_empty(pattern: str) -> bool | None:
    """Whether the fully anchored regex matches "" (None: Python cannot compile it)."""
    try:
        return re.fullmatch(_to_python_regex(pattern), "", re.DOTALL) is not None
    except (re.error, RecursionError, OverflowError):
        return None


_RE2_UNSUPPORTED = re.compile(r"\(\?[=!]|\(\?<[=!]|\\[1-9]")


def _check_regex(pattern: str) -> str | None:
    """An RE2-like compile error message for ``pattern`` (None when it looks valid)."""
    if _RE2_UNSUPPORTED.search(pattern):
        return "error parsing regexp: invalid or unsupported Perl syntax"
    if _NESTED_REPEAT_RE.search(pattern) and "[" not in pattern:
        return "error parsing regexp: invalid nested repetition operator"
    for m in _REPEAT_COUNT_RE.finditer(pattern):
        if int(m.group(1)) > 1000 or (m.group(2) and int(m.group(2)) > 1000):
            return f"error parsing regexp: invalid repeat count: `{m.group()}`"
    try:
        re.compile(_to_python_regex(pattern))
    except re.error as e:
        msg = str(e)
        if "missing )" in msg or "unterminated subpattern" in msg:
            return f"error parsing regexp: missing closing ): `{pattern}`"
        if "unbalanced parenthesis" in msg:
            return f"error parsing regexp: unexpected ): `{pattern}`"
        if "nothing to repeat" in msg or "multiple repeat" in msg:
            return "error parsing regexp: missing argument to repetition operator"
        if "unterminated character set" in msg:
            return f"error parsing regexp: missing closing ]: `{pattern}`"
        if "bad escape" in msg:
            m2 = re.search(r"bad escape \\(.)", msg)
            if m2 is not None and m2.group(1) in _RE2_ONLY_ESCAPES:
                return None  # RE2 knows escapes Python does not (\pL, \z, \Q...\E): accept
            return f"error parsing regexp: invalid escape sequence: `{m2.group() if m2 else msg}`"
        return f"error parsing regexp: {msg}"
    return None


def _matcher_matches_empty(m: LabelMatcher) -> bool:
    if m.op == "=":
        return m.value == ""
    if m.op == "!=":
        return m.value != ""
    r = _regex_matches_empty(m.value)
    if r is None:
        return False
    return r if m.op == "=~" else not r


# --------------------------------------------------------------------------- parser


class _Fail(Exception):
    def __init__(self, msg: str, start: int, end: int | None = None) -> None:
        self.msg = msg
        self.start = start
        self.end = start if end is None else end


def _desc(tok: Token) -> str:
    kind, val, _ = tok
    if kind == "EOF":
        return "end of input"
    if kind in ("IDENT",):
        return f"identifier {_goquote_str(val)}"
    if kind == "METRIC_IDENT":
        return f"metric identifier {_goquote_str(val)}"
    if kind == "NUMBER":
        return f"number {_goquote_str(val)}"
    if kind == "DURATION":
        return f"duration {_goquote_str(val)}"
    if kind == "STRING":
        return f"string {_goquote_str(val) if len(val) <= 10 else _goquote_str(val[:10]) + '...'}"
    if kind in _AGGREGATORS:
        return f"<aggr:{val}>"
    if kind in _SET_OPS or kind == "atan2":
        return f"<op:{val}>"
    if kind in _PREPROCESSORS:
        return _goquote_str(val)
    if kind in _KEYWORDS:
        return f"<{val}>"
    if kind in _BINOPS or kind in ("=~", "!~", "@", "="):
        return f'"{kind}"' if kind in ("=",) else f"<op:{kind}>"
    return f'"{kind}"'


def _goquote_str(s: str) -> str:
    return go_quote(s)


class _Parser:
    __slots__ = ("toks", "i", "text", "pos", "fix", "utf8", "ctx")

    def __init__(self, text: str, toks: list[Token], utf8: bool = False) -> None:
        self.utf8 = utf8
        self.ctx = ""
        self.text = text
        self.toks = toks
        self.i = 0
        self.pos: dict[int, tuple[int, int]] = {}

    # -- helpers
    def _span(self, node: object, start: int, end: int) -> None:
        self.pos[id(node)] = (start, end)

    def span(self, node: object) -> tuple[int, int]:
        return self.pos.get(id(node), (0, 0))

    def peek(self) -> Token:
        return self.toks[self.i]

    def next(self) -> Token:
        t = self.toks[self.i]
        if t[0] == "ERROR":
            raise _Fail(t[1], t[2], len(self.text))
        self.i += 1
        return t

    def unexpected(self, context: str = "", expected: str = "") -> _Fail:
        t = self.toks[self.i]
        if t[0] == "ERROR":
            return _Fail(t[1], t[2], len(self.text))
        msg = "unexpected " + _desc(t)
        if not context:
            context = self.ctx
        if context:
            msg += " in " + context
        if expected:
            msg += ", expected " + expected
        return _Fail(msg, t[2], t[2] + len(t[1]))

    def expect(self, kind: str, context: str = "", expected: str = "") -> Token:
        t = self.toks[self.i]
        if t[0] != kind:
            raise self.unexpected(context, expected)
        self.i += 1
        return t

    # -- expressions
    def parse_top(self) -> Expr:
        t = self.peek()
        if t[0] == "EOF":
            raise _Fail("no expression found in input", 0)
        e = self.expr(0)
        t = self.peek()
        if t[0] != "EOF":
            raise self.unexpected()
        return e

    def expr(self, min_prec: int) -> Expr:
        lhs = self.unary()
        toks = self.toks
        while True:
            t = toks[self.i]
            kind = t[0]
            prec = _BINOPS.get(kind)
            if prec is None or prec < min_prec:
                if kind == "ERROR":
                    self.next()
                return lhs
            self.i += 1
            matching, ret_bool, fill = self.bin_modifiers()
            rhs = self.expr(prec if kind == "^" else prec + 1)
            node = BinaryExpr(kind, lhs, rhs, ret_bool, matching)
            s = self.span(lhs)[0]
            self._span(node, s, self.span(rhs)[1])
            self.pos[id(node) + 1] = (t[2], t[2] + len(t[1]))  # operator position
            lhs = node

    def bin_modifiers(self) -> tuple[VectorMatching, bool, bool]:
        toks = self.toks
        kind = toks[self.i][0]
        ret_bool = False
        if kind == "bool":
            ret_bool = True
            self.i += 1
            kind = toks[self.i][0]
        card = "one-to-one"
        labels: tuple[str, ...] = ()
        on = False
        include: tuple[str, ...] = ()
        if kind == "on" or kind == "ignoring":
            on = kind == "on"
            self.i += 1
            labels = self.grouping_labels()
            kind = toks[self.i][0]
            if kind == "group_left" or kind == "group_right":
                card = "many-to-one" if kind == "group_left" else "one-to-many"
                self.i += 1
                if toks[self.i][0] == "(":
                    include = self.grouping_labels()
                kind = toks[self.i][0]
        fill_l: float | None = None
        fill_r: float | None = None
        fill = False
        if kind == "fill":
            self.i += 1
            fill_l = fill_r = self.fill_value()
            fill = True
        elif kind == "fill_left":
            self.i += 1
            fill_l = self.fill_value()
            fill = True
            if toks[self.i][0] == "fill_right":
                self.i += 1
                fill_r = self.fill_value()
        elif kind == "fill_right":
            self.i += 1
            fill_r = self.fill_value()
            fill = True
            if toks[self.i][0] == "fill_left":
                self.i += 1
                fill_l = self.fill_value()
        vm = VectorMatching(card, labels, on, include, fill_l, fill_r)  # type: ignore[arg-type]
        return vm, ret_bool, fill

    def fill_value(self) -> float:
        self.expect("(", "", "")
        t = self.next()
        sign = 1.0
        if t[0] in ("+", "-"):
            sign = -1.0 if t[0] == "-" else 1.0
            t = self.next()
        if t[0] == "NUMBER":
            v = self.number(t)
        elif t[0] == "DURATION":
            v = self.duration_seconds(t)
        else:
            self.i -= 1
            raise self.unexpected()
        self.expect(")")
        return v * sign if sign < 0 else v

    def number(self, t: Token) -> float:
        try:
            return _parse_number(t[1])
        except ValueError as e:
            raise _Fail(f"error parsing number: {e}", t[2], t[2] + len(t[1])) from None

    def duration_seconds(self, t: Token) -> float:
        try:
            ns = parse_duration(t[1])
        except ValueError as e:
            raise _Fail(str(e), t[2], t[2] + len(t[1])) from None
        return _ns_seconds(ns)

    def unary(self) -> Expr:
        t = self.toks[self.i]
        if t[0] == "+" or t[0] == "-":
            self.i += 1
            operand = self.expr(6)
            end = self.span(operand)[1]
            if type(operand) is NumberLiteral:
                node: Expr = NumberLiteral(-operand.value if t[0] == "-" else operand.value, operand.duration)
            else:
                node = UnaryExpr(t[0], operand)  # type: ignore[arg-type]
            self._span(node, t[2], end)
            return node
        return self.postfix(self.primary())

    def primary(self) -> Expr:
        t = self.next()
        kind = t[0]
        start = t[2]
        node: Expr
        if kind == "NUMBER":
            node = NumberLiteral(self.number(t))
            self._span(node, start, start + len(t[1]))
            return node
        if kind == "DURATION":
            node = NumberLiteral(self.duration_seconds(t), True)
            self._span(node, start, start + len(t[1]))
            return node
        if kind == "STRING":
            node = StringLiteral(self.unquote(t))
            self._span(node, start, start + len(t[1]))
            return node
        if kind == "(":
            inner = self.expr(0)
            close = self.expect(")", "", "")
            node = ParenExpr(inner)
            self._span(node, start, close[2] + 1)
            return node
        if kind == "{":
            return self.selector(None, start)
        if kind == "IDENT":
            if self.toks[self.i][0] == "(":
                return self.call(t)
            return self.selector(t[1], start)
        if kind == "METRIC_IDENT":
            return self.selector(t[1], start)
        if kind in _AGGREGATORS:
            nk = self.toks[self.i][0]
            if nk == "(" or nk == "by" or nk == "without":
                return self.aggregate(t)
            return self.selector(t[1], start)
        if kind in _METRIC_KEYWORDS:
            if self.toks[self.i][0] == "(" and kind in FUNCTIONS:
                return self.call(t)
            return self.selector(t[1], start)
        self.i -= 1
        raise self.unexpected()

    def unquote(self, t: Token) -> str:
        s = t[1]
        if s[0] == "`":
            return s[1:-1]
        body = s[1:-1]
        if "\\" not in body:
            return body
        try:
            return _unquote_body(body, s[0], t[2])
        except _LexError as e:
            raise _Fail(e.msg, t[2]) from None

    def selector(self, name: str | None, start: int) -> Expr:
        matchers: tuple[LabelMatcher, ...] = ()
        end = start + (len(name) if name is not None else 0)
        if name is None or self.toks[self.i][0] == "{":
            if name is not None:
                self.i += 1
            matchers, end = self.label_matchers()
        node = VectorSelector(name, matchers)
        self._span(node, start, end)
        return node

    def label_matchers(self) -> tuple[tuple[LabelMatcher, ...], int]:
        out: list[LabelMatcher] = []
        toks = self.toks
        while True:
            t = self.next()
            kind = t[0]
            if kind == "}":
                return tuple(out), t[2] + 1
            if kind == "IDENT" or kind == "STRING":
                lname = t[1] if kind == "IDENT" else self.unquote(t)
                op = toks[self.i][0]
                if op in ("=", "!=", "=~", "!~"):
                    self.i += 1
                    v = toks[self.i]
                    if v[0] != "STRING":
                        raise self.unexpected("label matching", "string")
                    self.i += 1
                    value = self.unquote(v)
                    m = LabelMatcher(lname, op, value)  # type: ignore[arg-type]
                    if op == "=~" or op == "!~":
                        err = _check_regex(value)
                        if err is not None:
                            raise _Fail(err, t[2], v[2] + len(v[1]))
                    out.append(m)
                elif kind == "STRING":
                    out.append(LabelMatcher("__name__", "=", lname))
                else:
                    raise self.unexpected("label matching", "label matching operator")
            else:
                self.i -= 1
                raise self.unexpected("label matching", 'identifier or "}"')
            t = self.next()
            if t[0] == "}":
                return tuple(out), t[2] + 1
            if t[0] != ",":
                self.i -= 1
                raise self.unexpected("label matching", '"," or "}"')

    def grouping_labels(self) -> tuple[str, ...]:
        t = self.toks[self.i]
        if t[0] != "(":
            raise self.unexpected("grouping opts", '"("')
        self.i += 1
        out: list[str] = []
        while True:
            t = self.next()
            kind = t[0]
            if kind == ")":
                return tuple(out)
            if kind == "IDENT" or kind == "METRIC_IDENT" or kind in _LABEL_KEYWORDS:
                if self.utf8 and not _UTF8_LABEL_NAME_RE.match(t[1]):
                    raise _Fail(f"invalid label name for grouping: {go_quote(t[1])}", t[2], t[2] + len(t[1]))
                out.append(t[1])
            elif kind == "STRING":
                v = self.unquote(t)
                if v == "":
                    raise _Fail('invalid label name for grouping: ""', t[2] + 1, t[2] + len(t[1]))
                out.append(v)
            else:
                self.i -= 1
                raise self.unexpected("grouping opts", "label")
            t = self.next()
            if t[0] == ")":
                return tuple(out)
            if t[0] != ",":
                self.i -= 1
                raise self.unexpected("grouping opts", '"," or ")"')

    def call_args(self) -> tuple[list[Expr], int]:
        self.expect("(")
        args: list[Expr] = []
        toks = self.toks
        if toks[self.i][0] == ")":
            t = toks[self.i]
            self.i += 1
            return args, t[2] + 1
        while True:
            args.append(self.expr(0))
            t = self.next()
            if t[0] == ")":
                return args, t[2] + 1
            if t[0] != ",":
                self.i -= 1
                raise self.unexpected()
            if toks[self.i][0] == ")":
                raise _Fail("trailing commas not allowed in function call args", t[2], t[2] + 1)

    def call(self, t: Token) -> Expr:
        name = t[1]
        fn = FUNCTIONS.get(name)
        args, end = self.call_args()
        if fn is None:
            raise _Fail(f'unknown function with name "{name}"', t[2], t[2] + len(name))
        node = Call(name, tuple(args))
        self._span(node, t[2], end)
        return node

    def aggregate(self, t: Token) -> Expr:
        op = t[0]
        grouping: tuple[str, ...] | None = None
        without = False
        saved = self.ctx
        self.ctx = "aggregation"
        nk = self.toks[self.i][0]
        if nk == "by" or nk == "without":
            self.i += 1
            without = nk == "without"
            grouping = self.grouping_labels()
            args, end = self.call_args()
        else:
            if nk != "(":
                raise self.unexpected("aggregation")
            args, end = self.call_args()
            nk = self.toks[self.i][0]
            if nk == "by" or nk == "without":
                self.i += 1
                without = nk == "without"
                grouping = self.grouping_labels()
        self.ctx = saved
        if not args:
            raise _Fail("no arguments for aggregate expression provided", t[2], end)
        want = 2 if AGGREGATIONS[op].param_type is not None else 1
        if len(args) != want:
            raise _Fail(
                f"wrong number of arguments for aggregate expression provided, expected {want}, got {len(args)}",
                t[2],
                end,
            )
        node = AggregateExpr(op, args[-1], args[0] if want == 2 else None, grouping, without)
        self._span(node, t[2], end)
        return node

    # -- postfix modifiers
    def postfix(self, e: Expr) -> Expr:
        toks = self.toks
        while True:
            t = toks[self.i]
            kind = t[0]
            if kind == "[":
                e = self.brackets(e)
            elif kind == "offset":
                self.i += 1
                e = self.offset(e, t)
            elif kind == "@":
                self.i += 1
                e = self.at(e, t)
            elif kind == "anchored" or kind == "smoothed":
                self.i += 1
                e = self.anchored(e, kind, t)
            else:
                return e

    def _fail_range(self, msg: str, e: Expr) -> _Fail:
        s, en = self.span(e)
        return _Fail(msg, s, en)

    def brackets(self, e: Expr) -> Expr:
        lb = self.next()
        rng = self.positive_duration()
        t = self.next()
        start = self.span(e)[0]
        if t[0] == "]":
            err = ""
            if type(e) is not VectorSelector:
                err = "ranges only allowed for vector selectors"
            elif e.offset != 0:  # type: ignore[attr-defined]
                err = "no offset modifiers allowed before range"
            elif e.at is not None:  # type: ignore[attr-defined]
                err = "no @ modifiers allowed before range"
            if err:
                raise _Fail(err, lb[2], t[2] + 1)
            node: Expr = MatrixSelector(e, rng)  # type: ignore[arg-type]
            self._span(node, start, t[2] + 1)
            return node
        if t[0] != ":":
            self.i -= 1
            raise self.unexpected("subquery or range", '":" or "]"')
        step: Duration | None = None
        if self.toks[self.i][0] != "]":
            step = self.positive_duration("subquery selector")
        t = self.toks[self.i]
        if t[0] != "]":
            raise self.unexpected("subquery selector", '"]"')
        self.i += 1
        node = SubqueryExpr(e, rng, step)
        self._span(node, start, t[2] + 1)
        return node

    def positive_duration(self, context: str = "subquery or range selector") -> Duration:
        t = self.toks[self.i]
        if t[0] not in ("NUMBER", "DURATION", "(", "+", "-", "step", "range", "min_of", "max_of"):
            raise self.unexpected(context, "number, duration, step(), or range()")
        d = self.dexpr(0)
        if type(d) is NumberLiteral:
            if d.value <= 0:
                s, en = self.span(d)
                raise _Fail("duration must be greater than 0", s, en)
            return _seconds_to_ms(d.value)
        return d  # type: ignore[return-value]

    def dexpr(self, min_prec: int) -> DurationNode:
        lhs = self.dunary()
        toks = self.toks
        while True:
            t = toks[self.i]
            kind = t[0]
            if kind not in ("+", "-", "*", "/", "%", "^"):
                return lhs
            prec = _BINOPS[kind]
            if prec < min_prec:
                return lhs
            self.i += 1
            rhs = self.dexpr(prec if kind == "^" else prec + 1)
            if type(rhs) is NumberLiteral and rhs.value == 0:
                if kind == "/":
                    raise _Fail("division by zero", t[2], t[2] + 1)
                if kind == "%":
                    raise _Fail("modulo by zero", t[2], t[2] + 1)
            node = DurationExpr(kind, lhs, rhs)  # type: ignore[arg-type]
            self._span(node, self.span(lhs)[0], self.span(rhs)[1])
            lhs = node

    def dunary(self) -> DurationNode:
        t = self.toks[self.i]
        if t[0] == "+" or t[0] == "-":
            self.i += 1
            operand = self.dexpr(6)
            return self.apply_unary(t, operand, False)
        return self.dprimary()

    def apply_unary(self, t: Token, operand: DurationNode, wrapped: bool) -> DurationNode:
        end = self.span(operand)[1]
        if wrapped:
            operand = self.wrap(operand)
        if type(operand) is DurationExpr:
            if t[0] == "-":
                node = DurationExpr("-", None, operand)
                self._span(node, t[2], end)
                return node
            return operand
        nl: NumberLiteral = operand  # type: ignore[assignment]
        v = -nl.value if t[0] == "-" else nl.value
        if _out_of_range(v):
            raise _Fail("duration out of range", t[2], t[2] + 1)
        node2 = NumberLiteral(v, nl.duration)
        self._span(node2, t[2], end)
        return node2

    def wrap(self, d: DurationNode) -> DurationExpr:
        s, e = self.span(d)
        if type(d) is DurationExpr:
            node = DurationExpr(d.op, d.lhs, d.rhs, True)
        else:
            node = DurationExpr("+", None, d, True)
        self._span(node, s, e)
        return node

    def dprimary(self) -> DurationNode:
        t = self.next()
        kind = t[0]
        if kind == "NUMBER" or kind == "DURATION":
            v = self.number(t) if kind == "NUMBER" else self.duration_seconds(t)
            if _out_of_range(v):
                raise _Fail("duration out of range", t[2], t[2] + len(t[1]))
            nl = NumberLiteral(v, kind == "DURATION")
            self._span(nl, t[2], t[2] + len(t[1]))
            return nl
        if kind == "step" or kind == "range":
            self.expect("(")
            close = self.expect(")")
            node = DurationExpr(kind)  # type: ignore[arg-type]
            self._span(node, t[2], close[2] + 1)
            return node
        if kind == "min_of" or kind == "max_of":
            self.expect("(")
            a = self.dexpr(0)
            self.expect(",")
            b = self.dexpr(0)
            close = self.expect(")")
            node = DurationExpr(kind, a, b)  # type: ignore[arg-type]
            self._span(node, t[2], close[2] + 1)
            return node
        if kind == "(":
            inner = self.dexpr(0)
            close = self.expect(")")
            self._span(inner, t[2], close[2] + 1)
            return self.wrap(inner)
        self.i -= 1
        raise self.unexpected("duration expression", "number, duration, step(), or range()")

    def offset_duration(self) -> Duration:
        toks = self.toks
        t = toks[self.i]
        kind = t[0]
        sign: Token | None = None
        if kind == "+" or kind == "-":
            nk = toks[self.i + 1][0]
            if nk in ("NUMBER", "DURATION", "step", "range", "min_of", "max_of", "("):
                sign = t
                self.i += 1
                t = toks[self.i]
                kind = t[0]
            else:
                d = self.dexpr(0)
                return self._offset_value(d)
        if kind in ("NUMBER", "DURATION", "step", "range", "min_of", "max_of"):
            d = self.dprimary()
            if sign is not None:
                d = self.apply_unary(sign, d, False)
            return self._offset_value(d)
        if kind == "(":
            if sign is not None:
                self.i += 1
                inner = self.dexpr(0)
                close = self.expect(")")
                self._span(inner, t[2], close[2] + 1)
                return self._offset_value(self.apply_unary(sign, inner, True))
            return self._offset_value(self.dexpr(0))
        raise self.unexpected("offset", "number, duration, step(), or range()")

    def _offset_value(self, d: DurationNode) -> Duration:
        if type(d) is NumberLiteral:
            return _seconds_to_ms(d.value)
        return d  # type: ignore[return-value]

    def offset(self, e: Expr, kw: Token) -> Expr:
        off = self.offset_duration()
        end = self.toks[self.i - 1][2] + len(self.toks[self.i - 1][1])
        s = self.span(e)[0]
        t = type(e)
        if t is VectorSelector:
            vs: VectorSelector = e  # type: ignore[assignment]
            if vs.offset != 0:
                raise self._fail_range("offset may not be set multiple times", e)
            node: Expr = VectorSelector(vs.name, vs.matchers, off, vs.at, vs.anchored, vs.smoothed)
        elif t is MatrixSelector:
            ms: MatrixSelector = e  # type: ignore[assignment]
            if ms.selector.offset != 0:
                raise self._fail_range("offset may not be set multiple times", e)
            sel = ms.selector
            node = MatrixSelector(
                VectorSelector(sel.name, sel.matchers, off, sel.at, sel.anchored, sel.smoothed), ms.range
            )
        elif t is SubqueryExpr:
            sq: SubqueryExpr = e  # type: ignore[assignment]
            if sq.offset != 0:
                raise self._fail_range("offset may not be set multiple times", e)
            node = SubqueryExpr(sq.expr, sq.range, sq.step, off, sq.at)
        else:
            raise self._fail_range(
                "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                e,
            )
        self._span(node, s, end)
        return node

    def at(self, e: Expr, kw: Token) -> Expr:
        toks = self.toks
        t = toks[self.i]
        value: At
        if t[0] == "start" or t[0] == "end":
            self.i += 1
            self.expect("(")
            self.expect(")")
            value = t[0]  # type: ignore[assignment]
        else:
            sign = 1.0
            if t[0] == "+" or t[0] == "-":
                sign = -1.0 if t[0] == "-" else 1.0
                self.i += 1
                t = toks[self.i]
            if t[0] == "NUMBER":
                self.i += 1
                ts = self.number(t)
            elif t[0] == "DURATION":
                self.i += 1
                ts = self.duration_seconds(t)
            else:
                raise self.unexpected("@", "timestamp")
            if sign < 0:
                ts = -ts
            if math.isinf(ts) or math.isnan(ts) or ts >= 9.223372036854776e18 or ts <= -9.223372036854776e18:
                raise self._fail_range(f"timestamp out of bounds for @ modifier: {_fmt_f(ts)}", e)
            value = _go_round(ts * 1000.0)
        end = toks[self.i - 1][2] + len(toks[self.i - 1][1])
        s = self.span(e)[0]
        typ = type(e)
        if typ is VectorSelector:
            vs: VectorSelector = e  # type: ignore[assignment]
            if vs.at is not None:
                raise self._fail_range("@ <timestamp> may not be set multiple times", e)
            node: Expr = VectorSelector(vs.name, vs.matchers, vs.offset, value, vs.anchored, vs.smoothed)
        elif typ is MatrixSelector:
            ms: MatrixSelector = e  # type: ignore[assignment]
            sel = ms.selector
            if sel.at is not None:
                raise self._fail_range("@ <timestamp> may not be set multiple times", e)
            node = MatrixSelector(
                VectorSelector(sel.name, sel.matchers, sel.offset, value, sel.anchored, sel.smoothed),
                ms.range,
            )
        elif typ is SubqueryExpr:
            sq: SubqueryExpr = e  # type: ignore[assignment]
            if sq.at is not None:
                raise self._fail_range("@ <timestamp> may not be set multiple times", e)
            node = SubqueryExpr(sq.expr, sq.range, sq.step, sq.offset, value)
        else:
            raise self._fail_range(
                "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                e,
            )
        self._span(node, s, end)
        return node

    def anchored(self, e: Expr, kind: str, kw: Token) -> Expr:
        s = self.span(e)[0]
        end = kw[2] + len(kw[1])
        typ = type(e)
        anch = kind == "anchored"
        if typ is VectorSelector or typ is MatrixSelector:
            sel: VectorSelector = e if typ is VectorSelector else e.selector  # type: ignore[assignment,attr-defined]
            a = True if anch else sel.anchored
            sm = sel.smoothed if anch else True
            if a and sm:
                raise self._fail_range("anchored and smoothed modifiers cannot be used together", e)
            nsel = VectorSelector(sel.name, sel.matchers, sel.offset, sel.at, a, sm)
            node: Expr = nsel if typ is VectorSelector else MatrixSelector(nsel, e.range)  # type: ignore[attr-defined]
        elif typ is SubqueryExpr:
            raise self._fail_range(f"{kind} modifier is not supported for subqueries", e)
        else:
            raise self._fail_range(f"{kind} modifier not implemented", e)
        self._span(node, s, end)
        return node

    # -- type checks (Prometheus's checkAST, same order)
    def check(self, node: Expr, bypass_empty: bool = False) -> ValueType:
        t = type(node)
        if t is BinaryExpr:
            return self.check_binary(node)  # type: ignore[arg-type]
        if t is Call:
            return self.check_call(node)  # type: ignore[arg-type]
        if t is AggregateExpr:
            a: AggregateExpr = node  # type: ignore[assignment]
            self.expect_type(a.expr, "vector", "aggregation expression")
            pt = AGGREGATIONS[a.op].param_type
            if pt is not None and a.param is not None:
                self.expect_type(a.param, pt, "aggregation parameter")
            return "vector"
        if t is ParenExpr:
            return self.check(node.expr)  # type: ignore[attr-defined]
        if t is UnaryExpr:
            ty = self.check(node.expr)  # type: ignore[attr-defined]
            if ty != "scalar" and ty != "vector":
                s, e = self.span(node)
                raise _Fail(
                    "unary expression only allowed on expressions of type scalar or instant vector, "
                    f'got "{_doc_type(ty)}"',
                    s,
                    e,
                )
            return ty
        if t is SubqueryExpr:
            ty = self.check(node.expr)  # type: ignore[attr-defined]
            if ty != "vector":
                s, e = self.span(node)
                raise _Fail(f"subquery is only allowed on instant vector, got {ty} instead", s, e)
            return "matrix"
        if t is MatrixSelector:
            self.check(node.selector)  # type: ignore[attr-defined]
            return "matrix"
        if t is VectorSelector:
            vs: VectorSelector = node  # type: ignore[assignment]
            if vs.name is not None:
                for m in vs.matchers:
                    if m.name == "__name__":
                        s, e = self.span(node)
                        raise _Fail(f'metric name must not be set twice: "{vs.name}" or "{m.value}"', s, e)
            elif not bypass_empty:
                if all(_matcher_matches_empty(m) for m in vs.matchers):
                    s, e = self.span(node)
                    raise _Fail("vector selector must contain at least one non-empty matcher", s, e)
            return "vector"
        if t is NumberLiteral:
            return "scalar"
        if t is StringLiteral:
            return "string"
        raise _Fail(f"unknown node type: {t.__name__}", 0)

    def expect_type(self, node: Expr, want: ValueType, context: str) -> None:
        got = self.check(node)
        if got != want:
            s, e = self.span(node)
            raise _Fail(f"expected type {_doc_type(want)} in {context}, got {_doc_type(got)}", s, e)

    def check_call(self, c: Call) -> ValueType:
        fn = FUNCTIONS[c.func]
        nargs = len(fn.arg_types)
        s, e = self.span(c)
        if fn.variadic == 0:
            if nargs != len(c.args):
                raise _Fail(f'expected {nargs} argument(s) in call to "{fn.name}", got {len(c.args)}', s, e)
        else:
            na = nargs - 1
            if na > len(c.args):
                raise _Fail(
                    f'expected at least {na} argument(s) in call to "{fn.name}", got {len(c.args)}', s, e
                )
            if fn.variadic > 0 and na + fn.variadic < len(c.args):
                raise _Fail(
                    f'expected at most {na + fn.variadic} argument(s) in call to "{fn.name}", got {len(c.args)}',
                    s,
                    e,
                )
        bypass_idx = -1
        if fn.name == "info" and len(c.args) > 1:
            a1 = c.args[1]
            from promfuzz.promql.ast import value_type

            if value_type(a1) != "vector":
                raise _Fail(
                    f'expected type instant vector in call to function "info", got {_doc_type(value_type(a1))}',
                    s,
                    e,
                )
            if type(a1) is VectorSelector:
                if a1.name is not None:
                    s1, e1 = self.span(a1)
                    raise _Fail("expected label selectors only, got vector selector instead", s1, e1)
                bypass_idx = 1
            else:
                s1, e1 = self.span(a1)
                raise _Fail("expected label selectors only", s1, e1)
        for idx, arg in enumerate(c.args):
            i = idx
            if i >= nargs:
                if fn.variadic == 0:
                    break
                i = nargs - 1
            got = self.check(arg, bypass_empty=idx == bypass_idx)
            want = fn.arg_types[i]
            if got != want:
                s1, e1 = self.span(arg)
                raise _Fail(
                    f'expected type {_doc_type(want)} in call to function "{fn.name}", got {_doc_type(got)}',
                    s1,
                    e1,
                )
        return fn.return_type

    def check_binary(self, b: BinaryExpr) -> ValueType:
        lt = self.check(b.lhs)
        rt = self.check(b.rhs)
        op_s, op_e = self.pos.get(id(b) + 1, self.span(b))
        is_cmp = b.op in _COMPARISONS
        if b.return_bool and not is_cmp:
            raise _Fail("bool modifier can only be used on comparison operators", op_s, op_e)
        if is_cmp and not b.return_bool and lt == "scalar" and rt == "scalar":
            raise _Fail("comparisons between scalars must use BOOL modifier", op_s, op_e)
        vm = b.matching
        assert vm is not None
        s, e = self.span(b)
        if vm.on:
            for l1 in vm.labels:
                if l1 in vm.include:
                    raise _Fail(f'label "{l1}" must not occur in ON and GROUP clause at once', op_s, op_e)
        if lt != "scalar" and lt != "vector":
            ls, le = self.span(b.lhs)
            raise _Fail("binary expression must contain only scalar and instant vector types", ls, le)
        if rt != "scalar" and rt != "vector":
            rs, re_ = self.span(b.rhs)
            raise _Fail("binary expression must contain only scalar and instant vector types", rs, re_)
        is_set = b.op in _SET_OPS
        has_fill = vm.fill_lhs is not None or vm.fill_rhs is not None
        if lt != "vector" or rt != "vector":
            if vm.labels:
                raise _Fail("vector matching only allowed between instant vectors", s, e)
            if has_fill:
                raise _Fail("filling in missing series only allowed between instant vectors", s, e)
            if is_set:
                raise _Fail(f'set operator "{b.op}" not allowed in binary scalar expression', s, e)
            self.fix[id(b)] = None
        elif is_set:
            if vm.card == "one-to-many" or vm.card == "many-to-one":
                raise _Fail(f'no grouping allowed for "{b.op}" operation', s, e)
            if has_fill:
                raise _Fail("filling in missing series not allowed for set operators", s, e)
            self.fix[id(b)] = VectorMatching("many-to-many", vm.labels, vm.on, vm.include)
        return "scalar" if lt == "scalar" and rt == "scalar" else "vector"

    fix: dict[int, VectorMatching | None]


def _doc_type(t: str) -> str:
    if t == "vector":
        return "instant vector"
    if t == "matrix":
        return "range vector"
    return t


def _fmt_f(v: float) -> str:
    """Go's %f."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:.6f}"


def _apply_fixes(node: Expr, fix: dict[int, VectorMatching | None]) -> Expr:
    """Set the binary matchings decided by the checks (None for non-vector operands, many-to-many for sets)."""
    from promfuzz.promql.ast import children, replace_children

    cs = children(node)
    if not cs:
        return node
    new = [_apply_fixes(c, fix) if isinstance(c, Expr) else c for c in cs]
    out = node
    if any(a is not b for a, b in zip(new, cs, strict=True)):
        out = replace_children(node, new)  # type: ignore[assignment]
    if type(node) is BinaryExpr and id(node) in fix:
        b: BinaryExpr = out  # type: ignore[assignment]
        out = BinaryExpr(b.op, b.lhs, b.rhs, b.return_bool, fix[id(node)])
    return out


def parse(query: str, *, unquoted_utf8_names: bool = False) -> Expr:
    """Parse a PromQL expression; raises PromQLSyntaxError (with line/column) when Prometheus would.

    The parser options are those of the engine hosts (experimental functions, duration
    expressions and fill modifiers on). ``unquoted_utf8_names`` turns on Prometheus's
    ``EnableUnquotedUTF8Names`` (Unicode letters and dots in unquoted names), as
    promqltest's own parser does.
    """
    return parse_spans(query, unquoted_utf8_names=unquoted_utf8_names, spans=None)[0]


def parse_spans(
    query: str, *, unquoted_utf8_names: bool = False, spans: dict[tuple[int, ...], tuple[int, int]] | None = None
) -> tuple[Expr, dict[tuple[int, ...], tuple[int, int]]]:
    """:func:`parse`, and where each node is in the text: ``{position: (start, end)}``,
    positions as :func:`promfuzz.promql.ast.positions` gives them (child indices from the
    root), offsets in characters of ``query`` (end exclusive), as Prometheus's
    ``PositionRange`` spans them (an annotation's ``(line:col)`` is its node's start).
    Nodes the parser does not place are absent. Pass ``spans={}`` to get them filled."""
    toks = tokenize(query, unquoted_utf8_names)
    p = _Parser(query, toks, unquoted_utf8_names)
    p.fix = {}
    try:
        e = p.parse_top()
        p.check(e)
    except _Fail as f:
        raise _error(query, f.msg, f.start, f.end) from None
    except RecursionError:
        raise _error(query, "expression nested too deeply", 0, 0) from None
    if spans is not None:
        from promfuzz.promql.ast import positions

        # before the fixes rebuild nodes: they change matchings, never the tree's shape
        for at, node in positions(e):
            where = p.pos.get(id(node))
            if where is not None:
                spans[at] = where
    if p.fix:
        e = _apply_fixes(e, p.fix)
    return e, spans if spans is not None else {}


def _error(query: str, msg: str, start: int, end: int) -> PromQLSyntaxError:
    line = 1 + query.count("\n", 0, start)
    last_nl = query.rfind("\n", 0, start)
    col = start - last_nl
    err = PromQLSyntaxError(msg, "<query>", line, col)
    err.position = start  # type: ignore[attr-defined]
    err.end = end  # type: ignore[attr-defined]
    return err
