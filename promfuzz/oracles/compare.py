"""The core comparator: do two engines' answers to one query truly differ?

Every oracle ends here. :func:`compare_results` takes the query (text, or an already
analysed :class:`~promfuzz.oracles._query.QueryShape`), the evaluation parameters and two
:class:`~promfuzz.model.Result` objects (reference first) and returns a
:class:`Comparison` listing each :class:`Difference` with a category.

Rules (PROMQL-NOTES section 2):

* **Series** are matched by label set. An empty label value is the label's absence; a
  nil and an empty label set are the same. A label created by ``count_values`` holds a
  float rendered as text, so its values compare as numbers (``"1"`` == ``"1.0"``), with the
  float tolerance below (``"19.88342502737898"`` == ``"19.883425027378983"``).
* **Points** are matched by timestamp (a point on one side only is a ``timestamp``
  difference).
* **Floats** are equal when ``|a-b| <= rel_tol * max(|a|,|b|)`` or when both lie in the
  band ``|a|, |b| <= abs_tol`` around zero; defaults ``rel_tol=1e-10`` and
  ``abs_tol=1e-13``. NaN equals NaN, but the stale marker equals only itself; infinities
  must match in sign; ``-0`` equals ``0``.

  Why these: a different summation order changes the last bits of a sum, a relative
  error of a few ulps (2.2e-16 each), so 1e-10 absorbs it with a wide margin and nothing
  a user could see; it is the fraction Mimir's own MQE-vs-Prometheus fuzz test allows
  (``require.InEpsilon(expected, actual, 1e-10)``, pkg/streamingpromql/testutils) and the
  fraction in Thanos promql-engine's tests (``cmpopts.EquateApprox(1e-10, 1e-6)``). A
  relative rule cannot judge values near zero that come from cancelling terms (``0.1 +
  0.2 - 0.3`` is ``5.55e-17``, ``0.3 - 0.2 - 0.1`` is ``-2.78e-17``): such a residue is a few
  ulps *of the cancelling terms*, of either sign. The floor is therefore a band, not a
  distance: inside it the sign and size of a value are noise, outside it the relative rule
  alone applies, so an opposite sign is always a difference there (``3e-13`` vs
  ``-5e-13``, and ``1e-13`` vs ``1.1e-12``, which an absolute distance of 1e-12 called
  equal). ``1e-13`` is the residue of terms up to about 500 in magnitude (ulp(512) =
  1.1e-13); larger terms leave larger residues that cannot be told from a real difference
  without knowing the terms, and are reported. The other tools are looser or stricter
  at zero: Mimir's fuzz test demands exact equality when the expected value is 0 (no
  band); Thanos adds an absolute margin of 1e-6 (any two values below 1e-6 are equal,
  whatever their signs); Mimir's query-tee compares with an absolute tolerance of 1e-6 by
  default (``-proxy.value-comparison-tolerance``; relative only with
  ``-proxy.compare-use-relative-error``), which is meant for live clusters, not for
  engines that should agree to the last digits.
* **Native histograms** compare count, sum and the API bucket list (boundary rule,
  bounds, count; zero-length spans never show in that form). The counter-reset hint is
  compared only when both sides carry the ``full`` form and both set a hint other than
  ``unknown``.
* **Order** matters only for an instant query whose top node (through parentheses) is
  ``sort``/``sort_desc`` (the sequence of values must agree; series with equal values may
  come in any order: Prometheus sorts by value only), ``sort_by_label``/
  ``sort_by_label_desc`` (the sequence of label sets must agree: Prometheus orders by the
  sort labels and breaks ties by the full label set, ``labels.Compare``, reversed for
  ``_desc``, so there is one right order), or ``topk``/``bottomk`` (the values within each
  group must come in the same order; groups are unordered).
* **topk / bottomk / limitk picks** (at the top of the query, or under element-wise
  wrappers: functions such as ``abs``/``floor``/``clamp``, ``sort*``, unary minus,
  arithmetic or comparison with a number literal): a pick that differs from the
  reference's is checked against the operator's actual input, which ``operand`` (a
  resolver asking the reference engine) supplies; see :mod:`promfuzz.oracles._selectk`.
  Every series the target kept must be a series of the input with its exact labels and
  value (after the wrappers, as the reference computes them), the count per step and
  group must be ``min(k, group size)``, and for ``topk``/``bottomk`` no left-out series
  may rank strictly better than a kept one (NaN ranks last). Wrappers never make a tie:
  ``floor``, ``abs``, ``sgn``, ``clamp``, ``* 0`` are not injective, so the check is made
  below them. Without a resolver a differing pick is a difference (detail
  ``unverified_pick``). ``limit_ratio``'s pick is defined (a hash of the label set against
  the ratio), so it is compared exactly. When a ``topk`` & co sits deeper
  (``sum(topk(...))``, ``topk(...) + on() x``) no local check is sound: differences are
  reported as usual and :attr:`Comparison.tie_sensitive` is set (the differential oracle
  puts it into the signature); so it is when a pick under another topk & co cannot be
  verified.
* **Errors** compare by class (``parse``, ``bad_data``, ``execution``, ``timeout``,
  ``engine_failure``, ``unsupported``; see :func:`error_class`). A message that reports a
  crash (``unexpected error``, ``runtime error``, ``panic``, ``nil pointer dereference``,
  ...: :func:`is_panic_message`) is class ``engine_failure`` whatever the API called it,
  and a crash on the target never equals anything, not even the same crash on the
  reference. Messages are compared only when asked, after normalisation: positions
  stripped, and messages whose example series come in map order (many-to-many matching,
  duplicate label sets) reduced to their kind.
* **Annotations** (warnings and infos) compare as complete multisets, however many. In
  the default mode ``positions_if_both`` a position such as ``(1:25)`` is compared when
  both texts carry one and ignored when only one does (an engine that reports none);
  ``ignore_positions`` always strips them, ``exact`` never, ``ignore`` skips annotations.
  The in-process hosts return every annotation; Prometheus's HTTP API keeps 10 per kind,
  picked from a map, and says so ("N more warning annotations omitted"): a side with that
  line must list a subset of the other side's annotations and the same total.
  ``ComparisonConfig.annotation_cap`` declares a target that caps silently (none known).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from promfuzz.errors import ConfigError
from promfuzz.model import (
    EvalParams,
    Labels,
    Point,
    PointValue,
    Result,
    ResultHistogram,
    ResultSeries,
    encode_float,
    is_stale,
    labels_str,
)
from promfuzz.oracles._query import QueryShape, SelectK, analyze, analyze_tree

AnnotationMode = Literal["positions_if_both", "exact", "ignore_positions", "ignore"]
ANNOTATION_MODES = ("positions_if_both", "exact", "ignore_positions", "ignore")
Operand = Callable[[str], "Result | None"]
"""The operand resolver: the reference engine's answer to a subexpression's text (with the
case's evaluation parameters and data), or None when it cannot be had."""

REL_TOL = 1e-10
ABS_TOL = 1e-13

CATEGORIES = (
    "unsupported",
    "error_vs_result",
    "error_class",
    "error_message",
    "type",
    "duplicate_series",
    "missing_series",
    "extra_series",
    "timestamp",
    "value",
    "histogram",
    "string",
    "order",
    "annotations",
)
"""Difference categories, most significant first (the first one present is the primary)."""

ERROR_CLASSES = ("parse", "bad_data", "execution", "timeout", "engine_failure", "unsupported")


@dataclass(frozen=True)
class ComparisonConfig:
    """How strict the comparison is. Defaults suit engines that should agree exactly.

    ``rel_tol``/``abs_tol``: float tolerance (see the module doc). ``annotations``:
    ``positions_if_both`` (default: positions compared where both texts carry one) |
    ``exact`` | ``ignore_positions`` (always stripped) | ``ignore``.
    ``compare_error_messages``: compare normalised messages when both sides fail with the
    same class. ``check_order``: apply the order rules. ``annotation_cap``: for a target
    whose API caps annotations per kind *silently* (Prometheus's API does not: it appends
    "N more warning annotations omitted", which is recognised by itself); None (default):
    no silent cap. ``max_differences``: stop listing after this many (the comparison is
    still unequal).
    """

    rel_tol: float = REL_TOL
    abs_tol: float = ABS_TOL
    annotations: AnnotationMode = "positions_if_both"
    compare_error_messages: bool = False
    check_order: bool = True
    annotation_cap: int | None = None
    max_differences: int = 100

    def __post_init__(self) -> None:
        if not (self.rel_tol >= 0 and self.abs_tol >= 0):
            raise ConfigError(f"tolerances must be >= 0 (rel_tol={self.rel_tol}, abs_tol={self.abs_tol})")
        if self.annotations not in ANNOTATION_MODES:
            raise ConfigError(f"annotations must be one of {', '.join(ANNOTATION_MODES)}, not {self.annotations!r}")
        if self.annotation_cap is not None and self.annotation_cap < 1:
            raise ConfigError(f"annotation_cap must be None or >= 1, not {self.annotation_cap}")
        if self.max_differences < 1:
            raise ConfigError("max_differences must be >= 1")


@dataclass(frozen=True)
class Difference:
    """One way the target's answer differs from the reference's.

    ``detail`` refines the category (e.g. ``warning_missing`` for annotations, the error
    classes ``execution->ok`` for ``error_vs_result``); ``ref``/``tgt`` are short printable
    forms of the two sides; ``rel_diff`` is the relative float difference when it applies.
    """

    category: str
    message: str
    labels: Labels | None = None
    t: int | None = None
    ref: str = ""
    tgt: str = ""
    detail: str = ""
    rel_diff: float | None = None


@dataclass(frozen=True)
class Comparison:
    query: str
    differences: tuple[Difference, ...]
    notes: tuple[str, ...] = ()
    ref_error_class: str | None = None
    tgt_error_class: str | None = None
    tie_sensitive: bool = False  # a nested topk & co might explain the differences
    truncated: bool = False
    ref: Result | None = field(default=None, repr=False, compare=False)
    tgt: Result | None = field(default=None, repr=False, compare=False)

    @property
    def equal(self) -> bool:
        return not self.differences

    @property
    def categories(self) -> tuple[str, ...]:
        present = {d.category for d in self.differences}
        return tuple(c for c in CATEGORIES if c in present) + tuple(sorted(present - set(CATEGORIES)))

    @property
    def primary_category(self) -> str | None:
        cats = self.categories
        return cats[0] if cats else None

    def summary(self, limit: int = 10) -> str:
        lines = [d.message for d in self.differences[:limit]]
        if len(self.differences) > limit:
            lines.append(f"... and {len(self.differences) - limit} more")
        return "\n".join(lines)

    def diff_text(self, max_series: int = 20) -> str:
        """Human-readable diff (deepdiff of the parts that differ), for reports."""
        return diff_text(self, max_series)


# --------------------------------------------------------------------------- floats


def floats_equal(a: float, b: float, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    """``a`` and ``b`` are the same answer: within ``rel_tol`` of the larger magnitude, or
    both within ``abs_tol`` of zero (cancellation noise, of either sign). The floor is a band
    around zero, not a distance: ``3e-13`` vs ``-5e-13`` or ``1e-13`` vs ``1.1e-12`` differ."""
    if a == b:
        return True
    if a != a or b != b:
        return a != a and b != b and is_stale(a) == is_stale(b)
    if math.isinf(a) or math.isinf(b):
        return False
    m = max(abs(a), abs(b))
    return m <= abs_tol or abs(a - b) <= rel_tol * m


def _rel_diff(a: float, b: float) -> float | None:
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return None
    m = max(abs(a), abs(b))
    return abs(a - b) / m if m else 0.0


def fmt_value(v: PointValue | None) -> str:
    if v is None:
        return "<none>"
    if isinstance(v, ResultHistogram):
        b = " ".join(f"{x.boundary}:[{encode_float(x.lower)},{encode_float(x.upper)}]={encode_float(x.count)}"
                     for x in v.buckets)
        return f"{{count:{encode_float(v.count)} sum:{encode_float(v.sum)} buckets:{b}}}"
    return encode_float(float(v))


# --------------------------------------------------------------------------- errors

_POSITION_RE = re.compile(r"\s*\(\d+:\d+\)")
_LEADING_POS_RE = re.compile(r"^\d+:\d+:\s*")
_ERROR_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("many_to_many", re.compile(r"many-to-many matching not allowed|found duplicate series for the match group")),
    ("duplicate_labelset", re.compile(r"vector cannot contain metrics with the same labelset|same labelset")),
    ("too_many_samples", re.compile(r"query processing would load too many samples")),
)


# What a recovered Go panic looks like once an engine reports it as an error: Prometheus
# wraps runtime errors as "unexpected error: runtime error: ..." (engine.go, ev.recover),
# others pass the panic value or a stack on; a few invariant panics of Prometheus's own
# ("promql.Engine.exec: ...", "unhandled expression of type ...") come back as plain
# errors. Never an ordinary execution error.
_PANIC_RE = re.compile(
    r"unexpected error|runtime error|nil pointer dereference|invalid memory address|index out of range"
    r"|slice bounds out of range|\bpanic(?:ked)?\b|goroutine \d+ \[|concurrent map (?:read|write|iteration)"
    r"|integer divide by zero|promql\.Engine\.exec:|unhandled expression of type|unexpected nil implementation",
    re.IGNORECASE,
)
_QUOTED_OR_LABELS_RE = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\{[^{}]*\}')


def is_panic_message(message: str) -> bool:
    """Whether an error text reports a crash (panic, Go runtime error, "unexpected error")
    rather than an ordinary error; quoted strings and label sets are not looked at, so a
    label value "panic" is not one."""
    return bool(_PANIC_RE.search(_QUOTED_OR_LABELS_RE.sub("", message)))


def error_class(r: Result) -> str | None:
    """The error class of a result (None when it is an answer). An error whose text reports
    a crash (:func:`is_panic_message`) is ``engine_failure`` whatever the API called it."""
    if r.outcome == "ok":
        return None
    if r.outcome in ("unsupported", "timeout", "engine_failure"):
        return r.outcome
    et = r.error.error_type if r.error else ""
    msg = r.error.message if r.error else ""
    if et == "unsupported":
        return "unsupported"
    if et in ("timeout", "canceled"):
        return "timeout"
    if et in ("engine_panic", "engine_failure", "internal", "unavailable") or is_panic_message(msg):
        return "engine_failure"
    if et == "bad_data":
        return "parse" if "parse error" in msg else "bad_data"
    return "execution"


def error_kind(message: str) -> str:
    """A message normalised for comparison: messages that list example series in map
    order reduce to their kind; others lose positions."""
    for kind, pattern in _ERROR_KINDS:
        if pattern.search(message):
            return kind
    return _LEADING_POS_RE.sub("", _POSITION_RE.sub("", message)).strip()


# --------------------------------------------------------------------------- annotations


def normalize_annotation(text: str, mode: AnnotationMode) -> str:
    """The text compared in ``mode``: positions stripped for ``ignore_positions`` only
    (``positions_if_both`` strips them pair by pair, see :func:`_compare_annotation_kind`)."""
    return _POSITION_RE.sub("", text).strip() if mode == "ignore_positions" else text


_OMITTED_RE = re.compile(r"^(\d+) more (?:warning|info) annotations omitted$")


def _split_omitted(texts: Sequence[str]) -> tuple[list[str], int | None]:
    """The listed annotations and the count Prometheus's API says it left out (None when
    the list is complete): ``AsStrings(query, 10, 10)`` in web/api/v1 keeps 10 per kind,
    picked from a map, and appends "N more warning annotations omitted"."""
    listed, omitted = [], None
    for a in texts:
        m = _OMITTED_RE.match(a)
        if m:
            omitted = (omitted or 0) + int(m.group(1))
        else:
            listed.append(a)
    return listed, omitted


def _pair_positions(r: Counter[str], t: Counter[str]) -> None:
    """Match leftover annotations of which exactly one carries a position, by their text
    without it (one engine reports no positions); removes the pairs from both counters."""
    def strip(x: str) -> str:
        return _POSITION_RE.sub("", x).strip()

    for a, b in ((r, t), (t, r)):
        bare: dict[str, list[str]] = {}
        for y in b:
            if not _POSITION_RE.search(y):
                bare.setdefault(y, []).append(y)
        for x in list(a):
            if not _POSITION_RE.search(x):
                continue
            for y in bare.get(strip(x), ()):
                n = min(a[x], b[y])
                a[x] -= n
                b[y] -= n
    for c in (r, t):
        for x in [x for x, n in c.items() if n <= 0]:
            del c[x]


def _compare_annotation_kind(
    kind: str, ref: Sequence[str], tgt: Sequence[str], config: ComparisonConfig, out: list[Difference]
) -> None:
    mode = config.annotations
    r_list, r_omitted = _split_omitted(ref)
    t_list, t_omitted = _split_omitted(tgt)
    r = Counter(normalize_annotation(a, mode) for a in r_list)
    t = Counter(normalize_annotation(a, mode) for a in t_list)
    if r == t and r_omitted == t_omitted:
        return
    common = r & t
    r -= common
    t -= common
    if mode == "positions_if_both" and r and t:
        _pair_positions(r, t)
    if r_omitted is not None or t_omitted is not None:
        # A capped side lists an arbitrary subset of its annotations: the totals must agree
        # and what it lists must be among the other side's (unless both are capped).
        total_r, total_t = len(r_list) + (r_omitted or 0), len(t_list) + (t_omitted or 0)
        if total_r != total_t:
            out.append(Difference("annotations", f"{kind} count differs: {total_r} in reference, {total_t} in target"
                                  " (counting those the API says it omitted)", ref=str(total_r), tgt=str(total_t),
                                  detail=f"{kind}_count"))
        if r_omitted is not None and t_omitted is not None:
            return
        if r_omitted is not None:
            t = Counter()
        else:
            r = Counter()
    cap = config.annotation_cap
    if cap is not None and (len(ref) >= cap or len(tgt) >= cap) and (r or t):
        # A target that caps silently shows an arbitrary subset: only check it is one.
        if len(ref) >= cap and len(tgt) >= cap:
            return
        if len(ref) >= cap:
            t = Counter()
        else:
            r = Counter()
    for text, n in sorted(r.items()):
        out.append(Difference("annotations", f"{kind} only in reference (x{n}): {text}", ref=text,
                              detail=f"{kind}_missing"))
    for text, n in sorted(t.items()):
        out.append(Difference("annotations", f"{kind} only in target (x{n}): {text}", tgt=text,
                              detail=f"{kind}_extra"))


# --------------------------------------------------------------------------- values


class _Collector:
    """Gathers differences up to the configured limit."""

    def __init__(self, config: ComparisonConfig) -> None:
        self.config = config
        self.items: list[Difference] = []
        self.notes: list[str] = []
        self.truncated = False

    def add(self, d: Difference) -> None:
        if len(self.items) < self.config.max_differences:
            self.items.append(d)
        else:
            self.truncated = True

    def extend(self, ds: Iterable[Difference]) -> None:
        for d in ds:
            self.add(d)


def _hist_diff(a: ResultHistogram, b: ResultHistogram, cfg: ComparisonConfig) -> str | None:
    rt, at = cfg.rel_tol, cfg.abs_tol
    if not floats_equal(a.count, b.count, rt, at):
        return "count"
    if not floats_equal(a.sum, b.sum, rt, at):
        return "sum"
    if len(a.buckets) != len(b.buckets):
        return "bucket list length"
    for x, y in zip(a.buckets, b.buckets, strict=True):
        if x.boundary != y.boundary:
            return "bucket boundary rule"
        if not (floats_equal(x.lower, y.lower, rt, at) and floats_equal(x.upper, y.upper, rt, at)):
            return "bucket bounds"
        if not floats_equal(x.count, y.count, rt, at):
            return "bucket count"
    if a.full is not None and b.full is not None:
        ha, hb = a.full.counter_reset_hint, b.full.counter_reset_hint
        if ha != "unknown" and hb != "unknown" and ha != hb:
            return "counter reset hint"
    return None


def _value_diff(
    labels: Labels, t: int, a: PointValue, b: PointValue, cfg: ComparisonConfig
) -> Difference | None:
    if isinstance(a, ResultHistogram) or isinstance(b, ResultHistogram):
        if not (isinstance(a, ResultHistogram) and isinstance(b, ResultHistogram)):
            return Difference("histogram", f"{labels_str(labels)} @{t}: float vs histogram: {fmt_value(a)} vs "
                              f"{fmt_value(b)}", labels, t, fmt_value(a), fmt_value(b), detail="float_vs_histogram")
        what = _hist_diff(a, b, cfg)
        if what is None:
            return None
        return Difference("histogram", f"{labels_str(labels)} @{t}: histogram {what} differs: {fmt_value(a)} vs "
                          f"{fmt_value(b)}", labels, t, fmt_value(a), fmt_value(b), detail=what.replace(" ", "_"))
    fa, fb = float(a), float(b)
    if floats_equal(fa, fb, cfg.rel_tol, cfg.abs_tol):
        return None
    ra, rb = encode_float(fa), encode_float(fb)
    return Difference("value", f"{labels_str(labels)} @{t}: {ra} vs {rb}", labels, t, ra, rb,
                      rel_diff=_rel_diff(fa, fb))


def _has_hints(points: tuple[Point, ...]) -> bool:
    # Histogram series are (nearly always) histogram throughout: look at the ends only.
    return bool(points) and (isinstance(points[0].v, ResultHistogram) or isinstance(points[-1].v, ResultHistogram))


def _exactly_equal(rp: tuple[Point, ...], tp: tuple[Point, ...]) -> bool:
    """Bit-for-bit equal (bar -0/0) points; False is not conclusive (NaNs compare unequal)."""
    if len(rp) != len(tp):
        return False
    try:
        # Comparing the instance dicts skips one Python-level __eq__ call per point.
        return [p.__dict__ for p in rp] == [p.__dict__ for p in tp]
    except AttributeError:  # a slotted Point
        return rp == tp


def _compare_points(labels: Labels, rp: tuple[Point, ...], tp: tuple[Point, ...], col: _Collector) -> None:
    cfg = col.config
    if _exactly_equal(rp, tp) and not _has_hints(rp):
        return  # exactly equal (NaN-free): the common case, fast
    if len(rp) == len(tp) and all(p.t == q.t for p, q in zip(rp, tp, strict=True)):
        # Same timestamps (nearly always): pair the points in order, skip equal floats.
        for p, q in zip(rp, tp, strict=True):
            a, b = p.v, q.v
            if type(a) is float and a == b:
                continue
            d = _value_diff(labels, p.t, a, b, cfg)
            if d is not None:
                col.add(d)
        return
    rd = {p.t: p.v for p in rp}
    td = {p.t: p.v for p in tp}
    for t in sorted(rd.keys() | td.keys()):
        if t not in td:
            col.add(Difference("timestamp", f"{labels_str(labels)}: point @{t} only in reference ({fmt_value(rd[t])})",
                               labels, t, fmt_value(rd[t]), "", detail="missing_point"))
        elif t not in rd:
            col.add(Difference("timestamp", f"{labels_str(labels)}: point @{t} only in target ({fmt_value(td[t])})",
                               labels, t, "", fmt_value(td[t]), detail="extra_point"))
        else:
            d = _value_diff(labels, t, rd[t], td[t], cfg)
            if d is not None:
                col.add(d)


def _normalize_labels(labels: Labels, cv_labels: frozenset[str]) -> Labels:
    """A label set as compared: sorted by name (a label set has no order), empty values
    dropped (an empty value is the label's absence), count_values labels as numbers."""
    out = labels
    prev = ""
    for k, v in labels:
        if not v or k < prev:
            out = tuple(sorted((k, v) for k, v in labels if v != ""))
            break
        prev = k
    if cv_labels and any(k in cv_labels for k, _ in out):
        fixed = []
        for k, v in out:
            if k in cv_labels:
                try:
                    v = encode_float(float(v))
                except ValueError:
                    pass
            fixed.append((k, v))
        out = tuple(fixed)
    return out


def _pair_count_values(ri: dict[Labels, ResultSeries], ti: dict[Labels, ResultSeries],
                       cv_labels: frozenset[str], cfg: ComparisonConfig) -> dict[Labels, ResultSeries]:
    """Re-key target series whose count_values labels hold, as numbers, the reference's
    values within the float tolerance (a value that differs in its last bits becomes a
    label that differs in its last digits: the same answer, as for any other float)."""
    extra = [k for k in ti if k not in ri]
    if not extra:
        return ti
    missing = [k for k in ri if k not in ti]

    def split(k: Labels) -> tuple[Labels, tuple[tuple[str, str], ...]]:
        return (tuple(x for x in k if x[0] not in cv_labels), tuple(x for x in k if x[0] in cv_labels))

    def close(a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]) -> bool:
        if [k for k, _ in a] != [k for k, _ in b]:
            return False
        try:
            return all(floats_equal(float(x), float(y), cfg.rel_tol, cfg.abs_tol) for (_, x), (_, y) in zip(a, b, strict=True))
        except ValueError:
            return False

    out = dict(ti)
    free = {k: split(k) for k in missing}
    for k in extra:
        rest, vals = split(k)
        match = next((m for m, (mrest, mvals) in free.items() if mrest == rest and close(mvals, vals)), None)
        if match is not None:
            del free[match]
            out[match] = ResultSeries(match, out.pop(k).points)
    return out


def _index(series: Sequence[ResultSeries], cv_labels: frozenset[str], side: str,
           col: _Collector) -> dict[Labels, ResultSeries]:
    out: dict[Labels, ResultSeries] = {}
    for s in series:
        key = _normalize_labels(s.labels, cv_labels)
        if key in out:
            col.add(Difference("duplicate_series", f"{side} returned {labels_str(key)} twice", key, detail=side))
            continue
        out[key] = s if key == s.labels else ResultSeries(key, s.points)
    return out


def _group_key(labels: Labels, sk: SelectK) -> Labels:
    if sk.grouping == "by":
        wanted = set(sk.labels)
        return tuple((k, v) for k, v in labels if k in wanted)
    if sk.grouping == "without":
        drop = set(sk.labels) | {"__name__"}
        return tuple((k, v) for k, v in labels if k not in drop)
    return ()


def _values_in_order(series: Sequence[ResultSeries], cv: frozenset[str], sk: SelectK | None
                     ) -> dict[Labels, list[PointValue | None]]:
    out: dict[Labels, list[PointValue | None]] = {}
    for s in series:
        g = _group_key(_normalize_labels(s.labels, cv), sk) if sk else ()
        out.setdefault(g, []).append(s.points[0].v if s.points else None)
    return out


def _compare_order(shape: QueryShape, ref: Result, tgt: Result, col: _Collector) -> None:
    cfg = col.config
    cv = shape.count_values_labels
    if shape.ordering in ("sort_by_label", "sort_by_label_desc"):
        # Fully defined: by the sort labels (natural order), ties by the whole label set
        # (labels.Compare, reversed for _desc; promql/functions.go). The sequence of label
        # sets must be the same.
        rp = [_normalize_labels(s.labels, cv) for s in ref.series]
        tp = [_normalize_labels(s.labels, cv) for s in tgt.series]
        if set(rp) != set(tp):
            # An accepted other tie pick below (sort_by_label(topk(...), ...)): the series
            # both sides hold must come in the same order.
            common = set(rp) & set(tp)
            rp, tp = [x for x in rp if x in common], [x for x in tp if x in common]
        if rp != tp:
            i = next((j for j, (a, b) in enumerate(zip(rp, tp, strict=False)) if a != b), min(len(rp), len(tp)))
            col.add(Difference(
                "order", f"series order differs from position {i} (sort labels {list(shape.sort_labels)}, ties "
                f"by the full label set): reference {[labels_str(x) for x in rp[i:i + 5]]} vs target "
                f"{[labels_str(x) for x in tp[i:i + 5]]}", detail=shape.ordering))
        return
    sk = shape.select_k if shape.ordering is None else None
    rv, tv = _values_in_order(ref.series, cv, sk), _values_in_order(tgt.series, cv, sk)
    for g in sorted(rv.keys() & tv.keys()):
        a, b = rv[g], tv[g]
        same = len(a) == len(b) and all(
            (x is None and y is None)
            or (x is not None and y is not None and (
                (isinstance(x, ResultHistogram) and isinstance(y, ResultHistogram) and _hist_diff(x, y, cfg) is None)
                or (not isinstance(x, ResultHistogram) and not isinstance(y, ResultHistogram)
                    and floats_equal(float(x), float(y), cfg.rel_tol, cfg.abs_tol))))
            for x, y in zip(a, b, strict=False)
        )
        if not same:
            where = f" in group {labels_str(g)}" if g else ""
            col.add(Difference(
                "order",
                f"values come in a different order{where}: reference "
                f"{[fmt_value(v) for v in a[:10]]} vs target {[fmt_value(v) for v in b[:10]]}",
                g or None, detail=shape.ordering or (sk.op if sk else ""),
            ))


# --------------------------------------------------------------------------- entry point


def _describe(r: Result) -> str:
    if r.ok:
        return f"{r.value_type} result"
    cls = error_class(r)
    msg = r.error.message if r.error else ""
    return f"{cls} error: {msg}"


def compare_results(
    query: Any,
    params: EvalParams,
    ref: Result,
    tgt: Result,
    config: ComparisonConfig | None = None,
    operand: Operand | None = None,
) -> Comparison:
    """Compare the target's answer with the reference's (see the module doc for the rules).

    ``query`` is the query text, a :class:`promfuzz.promql.Expr` tree, or a
    :class:`~promfuzz.oracles._query.QueryShape` already computed. ``operand`` is the
    resolver that gives the reference engine's answer to a subexpression (text printed by
    :func:`promfuzz.promql.to_text`, evaluated with ``params`` on the same data; None when
    unavailable); it is called only when a topk/bottomk/limitk pick differs. Without it a
    differing pick is a difference (detail ``unverified_pick``).
    """
    cfg = config or ComparisonConfig()
    shape = _shape_of(query)
    col = _Collector(cfg)
    rc, tc = error_class(ref), error_class(tgt)

    def done(tie_sensitive: bool = False) -> Comparison:
        return Comparison(
            query=shape.text, differences=tuple(col.items), notes=tuple(col.notes),
            ref_error_class=rc, tgt_error_class=tc, tie_sensitive=tie_sensitive and bool(col.items),
            truncated=col.truncated, ref=ref, tgt=tgt,
        )

    # Outcomes ------------------------------------------------------------------
    if rc is not None or tc is not None:
        if tc == "unsupported" and rc != "unsupported":
            col.add(Difference("unsupported", f"target does not support the query: {_describe(tgt)}",
                               ref=_describe(ref), tgt=_describe(tgt), detail=f"{rc or 'ok'}->unsupported"))
        elif rc is None or tc is None:
            col.add(Difference("error_vs_result", f"reference gave {_describe(ref)}; target gave {_describe(tgt)}",
                               ref=_describe(ref), tgt=_describe(tgt), detail=f"{rc or 'ok'}->{tc or 'ok'}"))
        elif rc != tc:
            col.add(Difference("error_class", f"reference failed with {_describe(ref)}; target with {_describe(tgt)}",
                               ref=_describe(ref), tgt=_describe(tgt), detail=f"{rc}->{tc}"))
        elif tc == "engine_failure":
            # A crash on the target equals nothing, not even a crash of the reference.
            col.add(Difference("error_class", f"both engines failed, the target by crashing: {_describe(tgt)} "
                               f"(reference: {_describe(ref)})", ref=_describe(ref), tgt=_describe(tgt),
                               detail="engine_failure->engine_failure"))
        else:
            if cfg.compare_error_messages and ref.error and tgt.error:
                ka, kb = error_kind(ref.error.message), error_kind(tgt.error.message)
                if ka != kb:
                    col.add(Difference("error_message", f"{rc} messages differ: {ref.error.message!r} vs "
                                       f"{tgt.error.message!r}", ref=ka, tgt=kb, detail=rc))
            if cfg.annotations != "ignore":
                _annotations(ref, tgt, col)
        return done()

    if ref.value_type != tgt.value_type:
        col.add(Difference("type", f"reference returned a {ref.value_type}, target a {tgt.value_type}",
                           ref=str(ref.value_type), tgt=str(tgt.value_type),
                           detail=f"{ref.value_type}->{tgt.value_type}"))
        if cfg.annotations != "ignore":
            _annotations(ref, tgt, col)
        return done()

    # Values --------------------------------------------------------------------
    if ref.value_type == "scalar":
        a, b = ref.scalar, tgt.scalar
        if a is None or b is None:
            if a is not b:
                col.add(Difference("value", f"scalar missing: {a} vs {b}", ref=str(a), tgt=str(b)))
        elif a.t != b.t:
            col.add(Difference("timestamp", f"scalar @{a.t} vs @{b.t}", t=a.t, ref=str(a.t), tgt=str(b.t)))
        else:
            d = _value_diff((), a.t, a.v, b.v, cfg)
            if d is not None:
                col.add(Difference("value", f"scalar @{a.t}: {d.ref} vs {d.tgt}", None, a.t, d.ref, d.tgt,
                                   rel_diff=d.rel_diff))
    elif ref.value_type == "string":
        if ref.string != tgt.string:
            col.add(Difference("string", f"string {ref.string!r} vs {tgt.string!r}", ref=str(ref.string),
                               tgt=str(tgt.string)))
    else:
        cv = shape.count_values_labels
        ri = _index(ref.series, cv, "reference", col)
        ti = _index(tgt.series, cv, "target", col)
        if cv:
            ti = _pair_count_values(ri, ti, cv, cfg)
        if shape.select_k is not None:
            from promfuzz.oracles._selectk import compare_select_k

            compare_select_k(shape.select_k, ri, ti, col, operand, cv)
        else:
            missing = [k for k in ri if k not in ti]
            extra = [k for k in ti if k not in ri]
            for k in sorted(missing):
                col.add(Difference("missing_series", f"{labels_str(k)} only in reference "
                                   f"({_points_brief(ri[k].points)})", k, ref=_points_brief(ri[k].points)))
            for k in sorted(extra):
                col.add(Difference("extra_series", f"{labels_str(k)} only in target "
                                   f"({_points_brief(ti[k].points)})", k, tgt=_points_brief(ti[k].points)))
            for k, s in ri.items():
                o = ti.get(k)
                if o is not None:
                    _compare_points(k, s.points, o.points, col)
        ordered = shape.ordering is not None or (shape.select_k is not None and shape.select_k.direct
                                                 and shape.select_k.op in ("topk", "bottomk"))
        if cfg.check_order and ordered and not params.is_range and ref.value_type == "vector" and not col.items:
            _compare_order(shape, ref, tgt, col)
    if cfg.annotations != "ignore":
        _annotations(ref, tgt, col)
    return done(tie_sensitive=shape.nested_select_k)


def _shape_of(query: Any) -> QueryShape:
    if isinstance(query, QueryShape):
        return query
    if isinstance(query, str):
        return analyze(query)
    from promfuzz.promql import Node, to_text

    if isinstance(query, Node):
        return analyze_tree(to_text(query), query)
    raise TypeError(f"compare_results: query must be text, a promql tree or a QueryShape, not {type(query).__name__}")


def _annotations(ref: Result, tgt: Result, col: _Collector) -> None:
    if ref.warnings == tgt.warnings and ref.infos == tgt.infos:
        return
    out: list[Difference] = []
    _compare_annotation_kind("warning", ref.warnings, tgt.warnings, col.config, out)
    _compare_annotation_kind("info", ref.infos, tgt.infos, col.config, out)
    col.extend(out)


def _points_brief(points: Sequence[Point], limit: int = 3) -> str:
    parts = [f"{fmt_value(p.v)}@{p.t}" for p in points[:limit]]
    if len(points) > limit:
        parts.append(f"... {len(points)} points")
    return ", ".join(parts)


# --------------------------------------------------------------------------- diff text


def _plain(r: Result | None, wanted: set[Labels] | None, max_series: int) -> dict[str, Any]:
    if r is None:
        return {}
    out: dict[str, Any] = {"outcome": r.outcome, "type": r.value_type}
    if r.error:
        out["error"] = f"{error_class(r)}: {r.error.message}"
    if r.series:
        series: dict[str, Any] = {}
        for s in r.series:
            if wanted is not None and s.labels not in wanted:
                continue
            if len(series) >= max_series:
                break
            series[labels_str(s.labels)] = {str(p.t): fmt_value(p.v) for p in s.points}
        out["series"] = series
    if r.scalar is not None:
        out["scalar"] = {str(r.scalar.t): fmt_value(r.scalar.v)}
    if r.string is not None:
        out["string"] = r.string
    out["warnings"] = sorted(r.warnings)
    out["infos"] = sorted(r.infos)
    return out


def diff_text(c: Comparison, max_series: int = 20) -> str:
    """Header of differences, then deepdiff's account of the differing parts only."""
    if c.equal:
        return "no differences"
    from deepdiff import DeepDiff

    wanted = {d.labels for d in c.differences if d.labels is not None}
    order_only = all(d.category == "order" for d in c.differences)
    sel = None if (order_only or not wanted) else wanted
    a, b = _plain(c.ref, sel, max_series), _plain(c.tgt, sel, max_series)
    lines = [f"query: {c.query}", f"differences ({len(c.differences)}{'+' if c.truncated else ''}):"]
    lines += [f"  [{d.category}] {d.message}" for d in c.differences[:20]]
    if len(c.differences) > 20:
        lines.append(f"  ... {len(c.differences) - 20} more")
    dd = DeepDiff(a, b, verbose_level=2)
    pretty = dd.pretty() if dd else ""
    if pretty:
        lines.append("deepdiff (reference -> target):")
        lines += ["  " + ln for ln in pretty.splitlines()[:60]]
    if c.notes:
        lines.append("notes:")
        lines += ["  " + n for n in c.notes[:10]]
    return "\n".join(lines)
