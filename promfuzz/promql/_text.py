"""Text helpers shared by the AST, the parser and the printer (Go-compatible spellings).

These reproduce the Go functions Prometheus's printer uses: ``strconv.Quote``,
``strconv.FormatFloat(v, 'f', -1, 64)``, ``fmt.Sprintf("%v", float64)`` and
``model.Duration.String()``.
"""

from __future__ import annotations

import math
import re

LEGACY_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")

_SIMPLE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}
_PLAIN_RE = re.compile(r"[ !#-\[\]-~]*\Z")


def go_quote(s: str) -> str:
    """``strconv.Quote``: double-quoted, Go escapes, printable Unicode kept.

    Lone surrogates ``\\udc80``-``\\udcff`` stand for invalid UTF-8 bytes (Python's
    ``surrogateescape``) and are written back as ``\\xNN``.
    """
    if _PLAIN_RE.match(s):
        return '"' + s + '"'
    out = ['"']
    for ch in s:
        esc = _SIMPLE_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
            continue
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:
            out.append(f"\\x{cp - 0xDC00:02x}")
        elif ch == " " or (cp >= 0x20 and ch.isprintable() and not 0xD800 <= cp < 0xE000):
            out.append(ch)
        elif cp < 0x20 or cp == 0x7F:
            out.append(f"\\x{cp:02x}")
        elif cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


def label_needs_quoting(name: str) -> bool:
    """Whether a label name must be written as a quoted string (legacy validation)."""
    return LEGACY_LABEL_RE.match(name) is None


def format_float_f(v: float) -> str:
    """``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, never an exponent."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    r = repr(v)
    if "e" not in r and "E" not in r:
        if r.endswith(".0"):
            r = r[:-2]
        return r
    neg = r.startswith("-")
    if neg:
        r = r[1:]
    mant, _, exp_s = r.partition("e")
    exp = int(exp_s)
    int_part, _, frac_part = mant.partition(".")
    # position of the decimal point relative to the start of `int_part + frac_part`
    point = len(int_part) + exp
    all_digits = int_part + frac_part
    if point <= 0:
        s = "0." + "0" * (-point) + all_digits.rstrip("0")
    elif point >= len(all_digits):
        s = all_digits + "0" * (point - len(all_digits))
    else:
        s = all_digits[:point] + "." + all_digits[point:]
        s = s.rstrip("0").rstrip(".")
    s = s.lstrip("0") or "0"
    if s.startswith("."):
        s = "0" + s
    return ("-" if neg else "") + s


def format_float_v(v: float) -> str:
    """``fmt.Sprintf("%v", v)`` for a float64 (shortest ``%g``: exponent form when the decimal exponent is < -4 or >= 6)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    r = repr(v)
    neg = r.startswith("-")
    if neg:
        r = r[1:]
    mant, _, exp_s = r.partition("e")
    int_part, _, frac_part = mant.partition(".")
    exp10 = int(exp_s) if exp_s else 0
    digits = (int_part + frac_part).lstrip("0")
    # decimal exponent of the first significant digit
    lead_zeros = len(int_part + frac_part) - len((int_part + frac_part).lstrip("0"))
    x = len(int_part) + exp10 - 1 - lead_zeros
    digits = digits.rstrip("0") or "0"
    if x < -4 or x >= 6:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = f"e{'+' if x >= 0 else '-'}{abs(x):02d}"
        return ("-" if neg else "") + m + e
    return ("-" if neg else "") + format_float_f(abs(v) if neg else v)


_DUR_UNITS: tuple[tuple[str, int, bool], ...] = (
    ("y", 1000 * 60 * 60 * 24 * 365, True),
    ("w", 1000 * 60 * 60 * 24 * 7, True),
    ("d", 1000 * 60 * 60 * 24, False),
    ("h", 1000 * 60 * 60, False),
    ("m", 1000 * 60, False),
    ("s", 1000, False),
    ("ms", 1, False),
)

DURATION_UNITS_MS: dict[str, int] = {u: m for u, m, _ in _DUR_UNITS}


def format_duration(ms: int) -> str:
    """``model.Duration.String()`` for a duration in milliseconds (``0s`` for zero)."""
    if ms == 0:
        return "0s"
    sign = ""
    if ms < 0:
        sign, ms = "-", -ms
    out = []
    for unit, mult, exact in _DUR_UNITS:
        if exact and ms % mult != 0:
            continue
        v = ms // mult
        if v > 0:
            out.append(f"{v}{unit}")
            ms -= v * mult
    return sign + "".join(out)
