"""The series-description language of promqltest and promtool (``metric{l="v"} 1+2x3 _ stale``).

A hand-written port of the Prometheus parser's series-description mode (lexer in
``promql/parser/lex.go``, grammar ``series_description`` in ``generated_parser.y``,
histogram building in ``parse.go``), as promqltest configures it (unquoted UTF-8 names
on). :func:`parse_series_desc` returns the label set and one :class:`SeqValue` per
position; :func:`format_series_values` writes values back in a form this parser (and
Prometheus's) reads to the same bits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from promfuzz.corpus import histmath
from promfuzz.corpus.gosyntax import go_unquote, parse_go_number
from promfuzz.model import (
    CounterResetHint,
    Histogram,
    Labels,
    Span,
    is_legacy_label_name,
    is_legacy_metric_name,
    is_stale,
    quote_string,
    stale_nan,
)


class SeriesDescError(ValueError):
    """A series description could not be parsed; ``column`` is 1-based within the line."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


@dataclass(frozen=True)
class SeqValue:
    """One position of a series description: omitted (``value is None``), a float, or a
    histogram; ``hint_set`` is true when the histogram spelled out ``counter_reset_hint``."""

    value: float | Histogram | None
    hint_set: bool = False

    @property
    def omitted(self) -> bool:
        return self.value is None


# Lexer keywords (lower case) that the grammar's metric_identifier does not accept.
_NOT_METRIC_NAMES = frozenset({"atan2", "on", "ignoring", "group_left", "group_right", "bool", "inf", "nan"})
_HIST_KEYS = (
    "schema",
    "sum",
    "count",
    "z_bucket",
    "z_bucket_w",
    "custom_values",
    "buckets",
    "offset",
    "n_buckets",
    "n_offset",
    "counter_reset_hint",
)
_HINTS: dict[str, CounterResetHint] = {
    "unknown": "unknown",
    "reset": "reset",
    "not_reset": "not_reset",
    "gauge": "gauge",
}
_SPACE = " \t\r\n"
_NUM_TOKEN = re.compile(r"\.?[0-9](?:[0-9._]|[eE][+-]?)*")
# Decimal spellings where Go's ParseInt-then-ParseFloat and Python's float() agree (no
# octal-looking integers, no underscores).
_PLAIN_DECIMAL = re.compile(
    r"(?:[1-9][0-9]*|0)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?"
)
_PLAIN_SIGNED_DECIMAL = re.compile(r"-?(?:(?:[1-9][0-9]*|0)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# A bucket list body of plain decimals separated by single spaces, checked with one match
# (sparse high-schema histograms are written with thousands of buckets).
_PLAIN_DECIMAL_LIST = re.compile(rf"(?:{_PLAIN_SIGNED_DECIMAL.pattern})(?: (?:{_PLAIN_SIGNED_DECIMAL.pattern}))* ?")


def _is_alpha(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _name_start(c: str) -> bool:
    return _is_alpha(c) or (ord(c) >= 0x80 and c.isalpha())


def _name_continue(c: str) -> bool:
    return _name_start(c) or c.isascii() and c.isdigit() or c == "."


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    # helpers ----------------------------------------------------------------
    def err(self, msg: str, at: int | None = None) -> SeriesDescError:
        return SeriesDescError(msg, (self.i if at is None else at) + 1)

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def eof(self) -> bool:
        return self.i >= len(self.s)

    def skip_space(self) -> bool:
        j = self.i
        while self.i < len(self.s) and self.s[self.i] in _SPACE:
            self.i += 1
        return self.i > j

    def expect(self, ch: str, what: str) -> None:
        if self.peek() != ch:
            found = repr(self.peek()) if self.peek() else "end of line"
            raise self.err(f"expected {what}, found {found}")
        self.i += 1

    # metric -------------------------------------------------------------------
    def quoted(self) -> str:
        q = self.peek()
        start = self.i
        self.i += 1
        while True:
            if self.eof():
                raise self.err("unterminated quoted string", start)
            c = self.s[self.i]
            if c == "\\" and q != "`":
                self.i += 2
                continue
            self.i += 1
            if c == q:
                break
            if c == "\n" and q != "`":
                raise self.err("unterminated quoted string", start)
        try:
            return go_unquote(self.s[start : self.i])
        except ValueError as e:
            raise self.err(str(e), start) from e

    def identifier(self, allow_colon: bool) -> str:
        start = self.i
        while not self.eof() and (_name_continue(self.s[self.i]) or (allow_colon and self.s[self.i] == ":")):
            self.i += 1
        return self.s[start : self.i]

    def label_set(self) -> list[tuple[str, str]]:
        self.expect("{", '"{"')
        out: list[tuple[str, str]] = []
        self.skip_space()
        if self.peek() == "}":
            self.i += 1
            return out
        while True:
            self.skip_space()
            c = self.peek()
            if c and c in "\"'`":
                name = self.quoted()
                self.skip_space()
                if self.peek() == "=":
                    self.i += 1
                    self.skip_space()
                    if not (self.peek() and self.peek() in "\"'`"):
                        raise self.err("unexpected token in label set, expected string")
                    out.append((name, self.quoted()))
                else:
                    out.append(("__name__", name))
            elif c and _name_start(c):
                name = self.identifier(allow_colon=False)
                self.skip_space()
                if self.peek() != "=" or self.peek(1) in "~":
                    raise self.err('unexpected token in label set, expected "="')
                self.i += 1
                self.skip_space()
                if not (self.peek() and self.peek() in "\"'`"):
                    raise self.err("unexpected token in label set, expected string")
                out.append((name, self.quoted()))
            else:
                raise self.err('unexpected token in label set, expected identifier or "}"')
            self.skip_space()
            if self.peek() == ",":
                self.i += 1
                self.skip_space()
                if self.peek() == "}":
                    self.i += 1
                    return out
                continue
            if self.peek() == "}":
                self.i += 1
                return out
            raise self.err('unexpected token in label set, expected "," or "}"')

    def metric(self) -> Labels:
        pairs: list[tuple[str, str]] = []
        c = self.peek()
        if c == "{":
            pairs = self.label_set()
        elif c and (_name_start(c) or c == ":"):
            start = self.i
            name = self.identifier(allow_colon=True)
            if name.lower() in _NOT_METRIC_NAMES and name.isascii():
                raise self.err(f"unexpected keyword {name!r} as a metric name", start)
            if self.peek() == "{":
                pairs = self.label_set()
            pairs = [(k, v) for k, v in pairs if k != "__name__"] + [("__name__", name)]
        else:
            raise self.err("expected a metric name or a label set")
        names = [k for k, _ in pairs]
        dup = sorted({k for k in names if names.count(k) > 1})
        if dup:
            raise self.err(f"duplicate label name {dup[0]!r} in series")
        return tuple(sorted((k, v) for k, v in pairs if v != ""))

    # values -------------------------------------------------------------------
    def number_token(self) -> str:
        """A NUMBER token in series mode (no hex, no durations), or Inf/NaN."""
        start = self.i
        c = self.peek()
        if c and _is_alpha(c):
            word = self.identifier(allow_colon=False)
            if word.lower() in ("inf", "nan"):
                return word
            self.i = start
            raise self.err(f"expected a number, found {word!r}")
        m = _NUM_TOKEN.match(self.s, start)
        j = m.end() if m else start
        tok = self.s[start:j]
        nxt = self.s[j] if j < len(self.s) else ""
        if not tok or (nxt and (nxt.isalnum() or nxt == "_") and nxt != "x"):
            raise self.err(f"bad number syntax: {self.s[start : j + 1]!r}")
        self.i = j
        return tok

    def number(self) -> float:
        at = self.i
        tok = self.number_token()
        if _PLAIN_DECIMAL.fullmatch(tok):
            v = float(tok)
            if math.isinf(v):
                raise self.err(f"error parsing number: value out of range: {tok!r}", at)
            return v
        if tok.lower() == "inf":
            return math.inf
        if tok.lower() == "nan":
            return math.nan
        try:
            return parse_go_number(tok)
        except ValueError as e:
            raise self.err(f"error parsing number: {e}", at) from e

    def signed_number(self, allow_plus: bool = True) -> float:
        c = self.peek()
        if c == "-":
            self.i += 1
            return -self.number()
        if c == "+" and allow_plus:
            self.i += 1
            return self.number()
        return self.number()

    def uint(self) -> int:
        start = self.i
        while not self.eof() and self.s[self.i].isascii() and self.s[self.i].isdigit():
            self.i += 1
        tok = self.s[start : self.i]
        if not tok or (not self.eof() and (self.peek().isalnum() or self.peek() in "._")):
            raise self.err("invalid repetition in series values: expected an unsigned integer", start)
        return int(tok)

    def times(self) -> int:
        self.expect("x", '"x"')
        return self.uint()

    def bucket_list(self) -> list[float]:
        self.expect("[", '"["')
        end = self.s.find("]", self.i)
        if end > self.i and self.s[self.i] not in _SPACE:
            body = self.s[self.i : end]
            if _PLAIN_DECIMAL_LIST.fullmatch(body):
                self.i = end + 1
                return [float(w) for w in body.split()]
        out: list[float] = []
        while True:
            if self.peek() == "]" and out:
                self.i += 1
                return out
            out.append(self.signed_number(allow_plus=False))
            if self.peek() == "]":
                self.i += 1
                return out
            if not self.skip_space():
                raise self.err('expected a space or "]" in bucket list')

    def histogram(self) -> tuple[Histogram, bool]:
        start = self.i
        self.i += 2  # {{
        fields: dict[str, object] = {}
        if self.skip_space() and self.s.startswith("}}", self.i):
            self.i += 2
            return Histogram(), False
        if self.s.startswith("}}", self.i):
            self.i += 2
            return Histogram(), False
        while True:
            kstart = self.i
            while not self.eof() and _is_alpha(self.s[self.i]):
                self.i += 1
            key = self.s[kstart : self.i].lower()
            if key not in _HIST_KEYS:
                raise self.err(f"bad histogram descriptor found: {self.s[kstart : self.i]!r}", kstart)
            self.expect(":", "missing `:` for histogram descriptor")
            if key in fields:
                raise self.err(f'duplicate key "{key}" in histogram', kstart)
            if key in ("schema", "offset", "n_offset"):
                neg = self.peek() == "-"
                if neg:
                    self.i += 1
                v = self.uint()
                fields[key] = -v if neg else v
            elif key in ("sum", "count", "z_bucket"):
                fields[key] = self.signed_number(allow_plus=False)
            elif key == "z_bucket_w":
                fields[key] = self.number()
            elif key in ("custom_values", "buckets", "n_buckets"):
                fields[key] = self.bucket_list()
            else:
                wstart = self.i
                while not self.eof() and _is_alpha(self.s[self.i]):
                    self.i += 1
                word = self.s[wstart : self.i].lower()
                if word not in _HINTS:
                    raise self.err(f"error parsing counter_reset_hint: unknown value {word!r}", wstart)
                fields[key] = _HINTS[word]
            spaced = self.skip_space()
            if self.s.startswith("}}", self.i):
                self.i += 2
                break
            if not spaced:
                raise self.err("histogram description incomplete, expected a space or }}", self.i)
            if self.eof():
                raise self.err("histogram description not terminated with }}", start)
        return _build_histogram(fields), "counter_reset_hint" in fields

    def item(self) -> list[SeqValue] | int:
        """Values, or the number of omitted positions for ``_`` / ``_xN``."""
        c = self.peek()
        if c == "_":
            self.i += 1
            if self.peek() == "x":
                return self.times()
            return 1
        if c == "{" and self.peek(1) == "{":
            at = self.i
            base, base_hint = self.histogram()
            nxt = self.peek()
            if nxt == "x":
                n = self.times()
                return [SeqValue(base, base_hint)] * (n + 1)
            if nxt in ("+", "-") and self.s.startswith("{{", self.i + 1):
                self.i += 1
                inc, inc_hint = self.histogram()
                n = self.times()
                out = [SeqValue(base, inc_hint)]
                cur = base
                for _ in range(n):
                    if cur.schema > inc.schema:
                        raise self.err(
                            f"error combining histograms: cannot merge from schema {inc.schema} to {cur.schema}",
                            at,
                        )
                    try:
                        cur = histmath.add(cur, inc) if nxt == "+" else histmath.sub(cur, inc)
                    except histmath.HistogramError as e:
                        raise self.err(str(e), at) from e
                    out.append(SeqValue(cur, inc_hint))
                return out
            return [SeqValue(base, base_hint)]
        if c and _is_alpha(c) and c != "x":
            start = self.i
            word = self.identifier(allow_colon=True)
            if word == "stale":
                return [SeqValue(stale_nan())]
            if word.lower() not in ("inf", "nan"):
                raise self.err(f'unexpected {word!r} in series values, expected number or "stale"', start)
            self.i = start
        v = self.signed_number()
        if self.peek() == "x":
            n = self.times()
            return [SeqValue(v)] * (n + 1)
        if self.peek() in ("+", "-"):
            d = self.signed_number()
            n = self.times()
            out = []
            for _ in range(n + 1):
                out.append(SeqValue(v))
                v += d
            return out
        return [SeqValue(v)]

    def values(self) -> tuple[int, list[tuple[int, SeqValue]]]:
        out: list[tuple[int, SeqValue]] = []
        n = 0
        while not self.eof():
            if not self.skip_space():
                raise self.err("unexpected character in series values, expected a space")
            if self.eof():
                break
            start = self.i
            item = self.item()
            if isinstance(item, int):
                n += item
            else:
                for v in item:
                    out.append((n, v))
                    n += 1
            if not self.eof() and self.peek() not in _SPACE:
                raise self.err(
                    f"unexpected character in series values: {self.peek()!r}",
                    self.i if self.i > start else start,
                )
        return n, out


def _build_histogram(fields: dict[str, object]) -> Histogram:
    def spans(bkey: str, okey: str) -> tuple[tuple[tuple[int, int], ...], tuple[float, ...]]:
        b = fields.get(bkey)
        if not b:
            return (), ()
        assert isinstance(b, list)
        off = fields.get(okey, 0)
        assert isinstance(off, int)
        return ((off, len(b)),), tuple(map(float, b))

    ps, pb = spans("buckets", "offset")
    ns, nb = spans("n_buckets", "n_offset")
    cv = fields.get("custom_values") or []
    assert isinstance(cv, list)

    def num(key: str) -> float:
        v = fields.get(key, 0.0)
        assert isinstance(v, (int, float))
        return float(v)

    schema = fields.get("schema", 0)
    assert isinstance(schema, int)
    hint = fields.get("counter_reset_hint", "unknown")
    return Histogram(
        schema=schema,
        count=num("count"),
        sum=num("sum"),
        zero_threshold=num("z_bucket_w"),
        zero_count=num("z_bucket"),
        positive_spans=ps,
        positive_buckets=pb,
        negative_spans=ns,
        negative_buckets=nb,
        custom_values=tuple(float(x) for x in cv),
        counter_reset_hint=hint,  # type: ignore[arg-type]
    )


def parse_series_desc_sparse(text: str) -> tuple[Labels, int, list[tuple[int, SeqValue]]]:
    """Parse ``metric{labels} values...`` into the label set, the number of positions and
    the (position, value) pairs of the positions that are not omitted (``_xN`` is not
    expanded). Raises :class:`SeriesDescError`."""
    p = _Parser(text.strip())
    labels = p.metric()
    if not p.eof() and p.peek() not in _SPACE:
        raise p.err(f"unexpected character after the series name: {p.peek()!r}")
    n, vals = p.values()
    return labels, n, vals


def parse_series_desc(text: str) -> tuple[Labels, list[SeqValue]]:
    """Parse ``metric{labels} values...``, one :class:`SeqValue` per position."""
    labels, n, vals = parse_series_desc_sparse(text)
    out = [SeqValue(None)] * n
    for k, v in vals:
        out[k] = v
    return labels, out


def parse_metric(text: str) -> Labels:
    """Parse a series name alone (``metric{l="v"}``)."""
    p = _Parser(text.strip())
    labels = p.metric()
    if not p.eof():
        raise p.err(f"unexpected text after the series name: {p.s[p.i :]!r}")
    return labels


# ----------------------------------------------------------------------------- writing


def format_float(x: float) -> str:
    """A float as a series value that reads back to the same bits."""
    if math.isnan(x):
        return "stale" if is_stale(x) else "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    r = repr(float(x))
    return r


def _plain(x: float) -> bool:
    return not (math.isnan(x) or math.isinf(x))


def format_series_name(labels: Labels) -> str:
    """``name{a="b"}`` as promqltest reads it: quoted UTF-8 names, keyword names quoted."""
    d = dict(labels)
    name = d.pop("__name__", "")
    parts: list[str] = []
    if name and (not is_legacy_metric_name(name) or name.lower() in _NOT_METRIC_NAMES):
        parts.append(quote_string(name))
        name = ""
    for k, v in sorted(d.items()):
        key = k if is_legacy_label_name(k) else quote_string(k)
        parts.append(f"{key}={quote_string(v)}")
    if not parts:
        return name or "{}"
    return f"{name}{{{', '.join(parts)}}}"


def format_histogram(h: Histogram, with_hint: bool | None = None) -> str:
    """``{{schema:0 count:4 sum:5 buckets:[1 2 1]}}``. Gaps between spans are written as
    empty buckets (promqltest has one span per sign), zero-length spans vanish.
    ``with_hint``: write ``counter_reset_hint`` (default: only when not ``unknown``)."""
    parts = [f"schema:{h.schema}", f"count:{format_float(h.count)}", f"sum:{format_float(h.sum)}"]
    if h.zero_threshold:
        parts.append(f"z_bucket_w:{format_float(h.zero_threshold)}")
    if h.zero_count:
        parts.append(f"z_bucket:{format_float(h.zero_count)}")
    for okey, bkey, spans, buckets in (
        ("offset", "buckets", h.positive_spans, h.positive_buckets),
        ("n_offset", "n_buckets", h.negative_spans, h.negative_buckets),
    ):
        items = histmath.indexed(spans, buckets)
        if not items:
            continue
        first = items[0][0]
        dense = [0.0] * (items[-1][0] - first + 1)
        for i, v in items:
            dense[i - first] = v
        if first:
            parts.append(f"{okey}:{first}")
        parts.append(f"{bkey}:[{' '.join(format_float(v) for v in dense)}]")
    if h.custom_values:
        parts.append(f"custom_values:[{' '.join(format_float(v) for v in h.custom_values)}]")
    if with_hint or (with_hint is None and h.counter_reset_hint != "unknown"):
        parts.append(f"counter_reset_hint:{h.counter_reset_hint}")
    return "{{" + " ".join(parts) + "}}"


def _dense(spans: Sequence[Span], buckets: Sequence[float]) -> tuple[tuple[Span, ...], tuple[float, ...]]:
    items = histmath.indexed(spans, buckets)
    if not items:
        return (), ()
    first = items[0][0]
    dense = [0.0] * (items[-1][0] - first + 1)
    for i, v in items:
        dense[i - first] = v
    return ((first, len(dense)),), tuple(dense)


def promqltest_form(h: Histogram) -> Histogram:
    """The histogram promqltest reads back from :func:`format_histogram`: one span per sign
    with gaps as empty buckets."""
    ps, pb = _dense(h.positive_spans, h.positive_buckets)
    ns, nb = _dense(h.negative_spans, h.negative_buckets)
    return replace(h, positive_spans=ps, positive_buckets=pb, negative_spans=ns, negative_buckets=nb)


def _bits_equal(a: float, b: float) -> bool:
    import struct

    return struct.pack("<d", a) == struct.pack("<d", b)


def format_series_values(values: Sequence[SeqValue]) -> str:
    """Compress positions into ``_xN``, ``VxN``, ``V+DxN`` runs where that reads back exactly."""
    out: list[str] = []
    i = 0
    n = len(values)
    while i < n:
        v = values[i].value
        if v is None:
            j = i
            while j < n and values[j].value is None:
                j += 1
            run = j - i
            out.append("_" if run == 1 else f"_x{run}")
            i = j
            continue
        if isinstance(v, Histogram):
            hint = True if values[i].hint_set else None
            j = i + 1
            while j < n and values[j].value == v and values[j].hint_set == values[i].hint_set:
                j += 1
            text = format_histogram(v, hint)
            out.append(text if j - i == 1 else f"{text}x{j - i - 1}")
            i = j
            continue
        if not _plain(v):
            out.append(format_float(v))
            i += 1
            continue
        # Repeats of the same bits.
        j = i + 1
        while j < n and isinstance(values[j].value, float) and _bits_equal(values[j].value, v):  # type: ignore[arg-type]
            j += 1
        if j - i >= 3:
            out.append(f"{format_float(v)}x{j - i - 1}")
            i = j
            continue
        # Arithmetic progressions that Go's repeated addition reproduces bit for bit.
        if i + 2 < n and isinstance(values[i + 1].value, float) and _plain(values[i + 1].value):  # type: ignore[arg-type]
            nxt = values[i + 1].value
            assert isinstance(nxt, float)
            d = nxt - v
            if _plain(d) and d != 0 and _bits_equal(v + d, nxt):
                cur = v
                j = i
                while j < n:
                    w = values[j].value
                    if not (isinstance(w, float) and _bits_equal(w, cur)):
                        break
                    cur = cur + d
                    j += 1
                if j - i >= 3:
                    ds = format_float(d)
                    sign = "" if ds.startswith("-") else "+"
                    out.append(f"{format_float(v)}{sign}{ds}x{j - i - 1}")
                    i = j
                    continue
        out.append(format_float(v))
        i += 1
    return " ".join(out)


def format_sparse_values(points: Sequence[tuple[int, SeqValue]]) -> str:
    """Like :func:`format_series_values` for (position, value) pairs with ascending
    positions starting anywhere >= 0: gaps become ``_xN`` without materializing them."""
    parts: list[str] = []
    run: list[SeqValue] = []
    nxt = 0
    for pos, v in points:
        if pos < nxt:
            raise ValueError(f"positions must ascend (got {pos} after {nxt - 1})")
        if pos > nxt:
            if run:
                parts.append(format_series_values(run))
                run = []
            gap = pos - nxt
            parts.append("_" if gap == 1 else f"_x{gap}")
        run.append(v)
        nxt = pos + 1
    if run:
        parts.append(format_series_values(run))
    return " ".join(parts)
