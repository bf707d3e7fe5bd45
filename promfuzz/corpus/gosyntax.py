"""Small ports of the Go parsing rules promqltest relies on.

* :func:`parse_duration` / :func:`format_duration` -- ``prometheus/common/model``'s
  ``ParseDuration`` and ``Duration.String`` (units ``y w d h m s ms``, biggest first,
  plain ``0`` allowed, no sign, no fractions), in milliseconds.
* :func:`parse_go_number` -- the parser's ``number()``: ``strconv.ParseInt(s, 0, 64)``
  first (so ``010`` is octal 8 and ``1_000`` is 1000), then ``strconv.ParseFloat``.
* :func:`go_unquote` -- ``strconv.Unquote`` for the three PromQL quote styles.
"""

from __future__ import annotations

import math
import re

_UNITS: dict[str, tuple[int, int]] = {
    # unit: (position, milliseconds); positions enforce biggest-first order.
    "y": (1, 365 * 24 * 3600 * 1000),
    "w": (2, 7 * 24 * 3600 * 1000),
    "d": (3, 24 * 3600 * 1000),
    "h": (4, 3600 * 1000),
    "m": (5, 60 * 1000),
    "s": (6, 1000),
    "ms": (7, 1),
}
_MAX_NS = (1 << 63) - 1


def parse_duration(s: str) -> int:
    """``model.ParseDuration`` in milliseconds; raises ``ValueError`` with Go's message."""
    if s == "0":
        return 0
    if s == "":
        raise ValueError("empty duration string")
    orig = s
    total_ns = 0
    last_pos = 0
    while s:
        if not s[0].isdigit() or not s[0].isascii():
            raise ValueError(f"not a valid duration string: {orig!r}")
        i = 0
        while i < len(s) and s[i].isascii() and s[i].isdigit():
            i += 1
        v = int(s[:i])
        s = s[i:]
        j = 0
        while j < len(s) and not (s[j].isascii() and s[j].isdigit()):
            j += 1
        if j == 0:
            raise ValueError(f"not a valid duration string: {orig!r}")
        unit = s[:j]
        s = s[j:]
        if unit not in _UNITS:
            raise ValueError(f"unknown unit {unit!r} in duration {orig!r}")
        pos, mult_ms = _UNITS[unit]
        if pos <= last_pos:
            raise ValueError(f"not a valid duration string: {orig!r}")
        last_pos = pos
        mult_ns = mult_ms * 1_000_000
        if v > (1 << 63) // mult_ns:
            raise ValueError("duration out of range")
        total_ns += v * mult_ns
        if total_ns > _MAX_NS:
            raise ValueError("duration out of range")
    return total_ns // 1_000_000


def format_duration(ms: int) -> str:
    """``model.Duration.String``: ``0s``, ``1m30s``, ``10ms``, ``2w``, ``1y``; negative gets ``-``.

    The result always parses back with :func:`parse_duration` (for ``ms >= 0``).
    """
    if ms == 0:
        return "0s"
    sign = ""
    if ms < 0:
        sign, ms = "-", -ms
    out = []
    for unit, mult, exact in (
        ("y", 365 * 24 * 3600 * 1000, True),
        ("w", 7 * 24 * 3600 * 1000, True),
        ("d", 24 * 3600 * 1000, False),
        ("h", 3600 * 1000, False),
        ("m", 60 * 1000, False),
        ("s", 1000, False),
        ("ms", 1, False),
    ):
        if exact and ms % mult != 0:
            continue
        v = ms // mult
        if v > 0:
            out.append(f"{v}{unit}")
            ms -= v * mult
    return sign + "".join(out)


# ----------------------------------------------------------------------------- numbers


def _underscore_ok(s: str) -> bool:
    """``strconv.underscoreOK``: underscores only between digits (or after a base prefix)."""
    saw = "^"
    i = 0
    if s and s[0] in "+-":
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = s[1].lower() == "x"
    while i < len(s):
        c = s[i]
        if c.isdigit() or (hexa and c.lower() in "abcdef"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


_INT_RE = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|0[0-7_]*|[1-9][0-9_]*)\Z")
_DEC_FLOAT_RE = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?\Z")
_HEX_FLOAT_RE = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+\Z")


def _go_parse_int(s: str) -> int | None:
    if not _INT_RE.match(s) or ("_" in s and not _underscore_ok(s)):
        return None
    body = s.replace("_", "")
    sign = -1 if body.startswith("-") else 1
    body = body.lstrip("+-")
    if len(body) > 1 and body[0] == "0" and body[1].lower() in "xbo":
        v = int(body[2:], {"x": 16, "b": 2, "o": 8}[body[1].lower()])
    elif len(body) > 1 and body[0] == "0":
        v = int(body, 8)
    else:
        v = int(body)
    v *= sign
    if v < -(1 << 63) or v > (1 << 63) - 1:
        return None
    return v


def go_parse_float(s: str) -> float:
    """``strconv.ParseFloat(s, 64)`` for the spellings that matter; raises ``ValueError``."""
    low = s.lower()
    core = low.lstrip("+-")
    if len(low) - len(core) <= 1:
        neg = low.startswith("-")
        if core in ("inf", "infinity"):
            return -math.inf if neg else math.inf
        if core == "nan":
            return math.nan
    if "_" in s and not _underscore_ok(s):
        raise ValueError(f"invalid syntax: {s!r}")
    if _DEC_FLOAT_RE.match(s) and any(c.isdigit() for c in s):
        body = s.replace("_", "")
        try:
            v = float(body)
        except ValueError as e:
            raise ValueError(f"invalid syntax: {s!r}") from e
        if math.isinf(v):
            raise ValueError(f"value out of range: {s!r}")
        return v
    if _HEX_FLOAT_RE.match(s):
        body = s.replace("_", "")
        neg = body.startswith("-")
        v = float.fromhex(body.lstrip("+-"))
        return -v if neg else v
    raise ValueError(f"invalid syntax: {s!r}")


def parse_go_number(s: str) -> float:
    """The PromQL parser's ``number()`` / promqltest's ``parseNumber``: int first, then float."""
    n = _go_parse_int(s)
    if n is not None:
        return float(n)
    return go_parse_float(s)


# ----------------------------------------------------------------------------- strings

_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def go_unquote(s: str) -> str:
    """``strconv.Unquote`` for ``"..."``, ``'...'`` (PromQL allows multi-rune) and raw backquotes."""
    if len(s) < 2 or s[0] != s[-1] or s[0] not in "\"'`":
        raise ValueError(f"invalid quoted string {s!r}")
    q = s[0]
    body = s[1:-1]
    if q == "`":
        if "`" in body:
            raise ValueError(f"invalid quoted string {s!r}")
        return body.replace("\r", "")
    out: list[str] = []
    raw = bytearray()

    def flush() -> None:
        if raw:
            out.append(raw.decode("utf-8", errors="replace"))
            raw.clear()

    i = 0
    while i < len(body):
        c = body[i]
        if c == q or c == "\n":
            raise ValueError(f"invalid quoted string {s!r}")
        if c != "\\":
            flush()
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise ValueError(f"unterminated escape in {s!r}")
        e = body[i]
        if e in _SIMPLE_ESCAPES:
            flush()
            out.append(_SIMPLE_ESCAPES[e])
            i += 1
        elif e == q:
            flush()
            out.append(q)
            i += 1
        elif e in "01234567":
            digits = body[i : i + 3]
            if len(digits) != 3 or any(d not in "01234567" for d in digits):
                raise ValueError(f"invalid octal escape in {s!r}")
            v = int(digits, 8)
            if v > 255:
                raise ValueError(f"invalid octal escape in {s!r}")
            raw.append(v)
            i += 3
        elif e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 1 : i + 1 + n]
            if len(digits) != n or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(f"invalid \\{e} escape in {s!r}")
            v = int(digits, 16)
            if e == "x":
                raw.append(v)
            else:
                if v > 0x10FFFF or 0xD800 <= v < 0xE000:
                    raise ValueError(f"escape sequence is an invalid Unicode code point in {s!r}")
                flush()
                out.append(chr(v))
            i += 1 + n
        else:
            raise ValueError(f"unknown escape sequence \\{e} in {s!r}")
    flush()
    return "".join(out)
