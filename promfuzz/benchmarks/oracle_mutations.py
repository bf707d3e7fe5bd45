"""The mutation catalogue of ``promfuzz bench oracle``.

Each :class:`Operator` takes a :class:`Pair` (a case and two answers the oracle judged
equal) and returns a :class:`Mutant` -- the pair with the target's answer changed -- or
``None`` when it does not apply (no histogram to corrupt, no tie to swap, ...). Only
applied mutations are counted.

* ``forbidden`` operators make a change PromQL does not allow: the oracle must flag it
  (a verdict other than ``match`` and ``expected``).
* ``allowed`` operators make a change PromQL leaves open (another valid tie pick, the
  order of annotations, -0 for 0, ...): the oracle must not flag it.

Operators that need to know the operator's input (``topk_non_top``, ``topk_tie_pick``,
``limitk_other_pick``) ask ``Pair.operand`` for the reference engine's answer to the
select-k operand, with the case's parameters; a pair without a resolver is not applicable.
Annotation operators first pad *both* answers with the same annotations, so every count
from 1 to 20 is reached (real answers rarely carry more than two), then change the target.

Every random choice comes from the ``random.Random`` the caller passes (the runner seeds it
from the run seed, the case and the operator's name), so a seed gives the same mutants.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Literal

from promfuzz.benchmarks.oracle_pairs import (
    ANNOTATION_BUCKETS,
    MIN_ABS_CHANGE,
    PANIC_TEXT,
    Kind,
    Mutant,
    OperandResolver,
    Operator,
    Pair,
    SelectK,
    Shape,
    _brief,
    _fmt,
    _is_float,
    _is_plain_nan,
    _label_set,
    _mutant,
    _pick_point,
    _points,
    _series_result,
    _set_point,
    _value_op,
    _with_series,
    order_defined,
    shape_of,
)
from promfuzz.model import (
    Bucket,
    Labels,
    Point,
    PointValue,
    Result,
    ResultError,
    ResultHistogram,
    ResultSeries,
    is_stale,
    stale_nan,
)

__all__ = [
    "ANNOTATION_BUCKETS", "MIN_ABS_CHANGE", "OPERATORS", "OPERATORS_BY_NAME", "PANIC_TEXT", "Kind", "Mutant",
    "OperandResolver", "Operator", "Pair", "SelectK", "Shape", "order_defined", "shape_of",
]


# --------------------------------------------------------------------------- series and labels


def drop_series(pair: Pair, rng: random.Random) -> Mutant | None:
    t = pair.tgt
    if not _series_result(t) or not t.series:
        return None
    i = rng.randrange(len(t.series))
    return _mutant(pair, _with_series(t, t.series[:i] + t.series[i + 1:]), f"dropped {_brief(t.series[i].labels)}")


def _step_times(pair: Pair) -> list[int]:
    p = pair.case.params
    if not p.is_range:
        return [p.time_ms]
    return [p.start_ms + k * p.step_ms for k in range(min(p.steps(), 5))]


def add_series(pair: Pair, rng: random.Random) -> Mutant | None:
    t = pair.tgt
    if not _series_result(t):
        return None
    if t.series:
        src = rng.choice(t.series)
        new = ResultSeries(_label_set(src.labels + (("promfuzz_added", "1"),)), src.points)
    else:
        pts = tuple(Point(ts, 1.0) for ts in _step_times(pair))
        new = ResultSeries((("__name__", "promfuzz_added"),), pts)
    if any(s.labels == new.labels for s in t.series):
        return None
    return _mutant(pair, _with_series(t, t.series + (new,)), f"added {_brief(new.labels)}")


def duplicate_series(pair: Pair, rng: random.Random) -> Mutant | None:
    t = pair.tgt
    if not _series_result(t) or not t.series:
        return None
    i = rng.randrange(len(t.series))
    return _mutant(pair, _with_series(t, t.series[: i + 1] + t.series[i:]), f"{_brief(t.series[i].labels)} twice")


def _relabel(pair: Pair, rng: random.Random, new_labels: Callable[[Labels], Labels | None], what: str) -> Mutant | None:
    t = pair.tgt
    if not _series_result(t):
        return None
    existing = {s.labels for s in t.series}
    order = list(range(len(t.series)))
    rng.shuffle(order)
    for i in order:
        s = t.series[i]
        nl = new_labels(s.labels)
        if nl is None or nl in existing:
            continue
        series = list(t.series)
        series[i] = ResultSeries(nl, s.points)
        return _mutant(pair, _with_series(t, series), f"{what}: {_brief(s.labels)} -> {_brief(nl)}")
    return None


def change_label_value(pair: Pair, rng: random.Random) -> Mutant | None:
    def f(labels: Labels) -> Labels | None:
        if not labels:
            return None
        k, v = rng.choice(labels)
        return _label_set([(a, b + "_mutated" if a == k else b) for a, b in labels])

    return _relabel(pair, rng, f, "label value changed")


def add_label(pair: Pair, rng: random.Random) -> Mutant | None:
    return _relabel(pair, rng, lambda labels: _label_set(labels + (("promfuzz_mutant", "x"),)), "label added")


def drop_label(pair: Pair, rng: random.Random) -> Mutant | None:
    def f(labels: Labels) -> Labels | None:
        if not labels:
            return None
        i = rng.randrange(len(labels))
        return labels[:i] + labels[i + 1:]

    return _relabel(pair, rng, f, "label dropped")


def label_order(pair: Pair, rng: random.Random) -> Mutant | None:
    """Allowed: a label set is a set; the same pairs in another order are the same series."""
    t = pair.tgt
    if not _series_result(t):
        return None
    cands = [i for i, s in enumerate(t.series) if len(s.labels) >= 2]
    if not cands:
        return None
    i = rng.choice(cands)
    s = t.series[i]
    series = list(t.series)
    series[i] = ResultSeries(tuple(reversed(s.labels)), s.points)
    return _mutant(pair, _with_series(t, series), f"labels of {_brief(s.labels)} in reverse order")


def empty_label_value(pair: Pair, rng: random.Random) -> Mutant | None:
    """Allowed: a label with an empty value is the label's absence."""
    t = pair.tgt
    if not _series_result(t) or not t.series:
        return None
    i = rng.randrange(len(t.series))
    s = t.series[i]
    labels = tuple(sorted(s.labels + (("promfuzz_empty", ""),)))
    series = list(t.series)
    series[i] = ResultSeries(labels, s.points)
    return _mutant(pair, _with_series(t, series), f"{_brief(s.labels)} with promfuzz_empty=\"\"")


def series_order_undefined(pair: Pair, rng: random.Random) -> Mutant | None:
    """Allowed: series in reverse order where the order is not defined."""
    t = pair.tgt
    if not _series_result(t) or len(t.series) < 2 or order_defined(pair):
        return None
    return _mutant(pair, _with_series(t, tuple(reversed(t.series))), f"{len(t.series)} series in reverse order")


# --------------------------------------------------------------------------- values


def _finite(v: PointValue) -> bool:
    return _is_float(v) and math.isfinite(float(v))  # type: ignore[arg-type]


def _scaled(factor: float, label: str) -> Operator:
    def fn(pair: Pair, rng: random.Random) -> Mutant | None:
        def want(v: PointValue) -> bool:
            if not _finite(v):
                return False
            x = float(v)  # type: ignore[arg-type]
            return abs(x * factor) >= MIN_ABS_CHANGE and math.isfinite(x * (1 + factor))

        hit = _value_op(pair.tgt, rng, want, lambda v: float(v) * (1 + factor))  # type: ignore[arg-type]
        return None if hit is None else _mutant(pair, hit[0], f"@{hit[1].t}: {_fmt(hit[1].v)} -> {_fmt(hit[2])}")

    return Operator(f"value_rel_{label}", "forbidden", f"one value times (1 + {label})", fn)


def value_plus_one(pair: Pair, rng: random.Random) -> Mutant | None:
    # |v| <= 1e6: plus one is then at least a relative 1e-6 change (beyond any tolerance).
    hit = _value_op(pair.tgt, rng, lambda v: _finite(v) and abs(float(v)) <= 1e6,  # type: ignore[arg-type]
                    lambda v: float(v) + 1)  # type: ignore[arg-type]
    return None if hit is None else _mutant(pair, hit[0], f"@{hit[1].t}: {_fmt(hit[1].v)} -> {_fmt(hit[2])}")


def _sign_flip(tiny: bool) -> Callable[[Pair, random.Random], Mutant | None]:
    def want(v: PointValue) -> bool:
        if not _is_float(v):
            return False
        x = float(v)  # type: ignore[arg-type]
        if x != x or x == 0:
            return False
        return abs(x) < MIN_ABS_CHANGE if tiny else abs(x) >= MIN_ABS_CHANGE

    def fn(pair: Pair, rng: random.Random) -> Mutant | None:
        hit = _value_op(pair.tgt, rng, want, lambda v: -float(v))  # type: ignore[arg-type]
        return None if hit is None else _mutant(pair, hit[0], f"@{hit[1].t}: {_fmt(hit[1].v)} -> {_fmt(hit[2])}")

    return fn


def _replace_value(want: Callable[[PointValue], bool], new: Callable[[PointValue], PointValue]
                   ) -> Callable[[Pair, random.Random], Mutant | None]:
    def fn(pair: Pair, rng: random.Random) -> Mutant | None:
        hit = _value_op(pair.tgt, rng, want, new)
        return None if hit is None else _mutant(pair, hit[0], f"@{hit[1].t}: {_fmt(hit[1].v)} -> {_fmt(hit[2])}")

    return fn


def _is_zero(v: PointValue) -> bool:
    return _is_float(v) and float(v) == 0  # type: ignore[arg-type]


def _nonzero_finite(v: PointValue) -> bool:
    return _finite(v) and float(v) != 0  # type: ignore[arg-type]


negative_zero = _replace_value(_is_zero, lambda v: -0.0 if math.copysign(1, float(v)) > 0 else 0.0)  # type: ignore[arg-type]
last_bit = _replace_value(_nonzero_finite, lambda v: math.nextafter(float(v), math.inf))  # type: ignore[arg-type]
nan_to_number = _replace_value(_is_plain_nan, lambda v: 0.0)
number_to_nan = _replace_value(_finite, lambda v: math.nan)
nan_to_stale = _replace_value(_is_plain_nan, lambda v: stale_nan())
stale_to_nan = _replace_value(lambda v: _is_float(v) and is_stale(float(v)), lambda v: math.nan)  # type: ignore[arg-type]


def string_change(pair: Pair, rng: random.Random) -> Mutant | None:
    t = pair.tgt
    if not t.ok or t.value_type != "string" or t.string is None:
        return None
    return _mutant(pair, replace(t, string=t.string + "_mutated"), f"string {t.string!r} -> {t.string + '_mutated'!r}")


# --------------------------------------------------------------------------- timestamps


def point_time_shift(pair: Pair, rng: random.Random) -> Mutant | None:
    t = pair.tgt
    cands = []
    times: dict[int, set[int]] = {}
    for at, p in _points(t):
        if at[0] >= 0 and at[0] not in times:
            times[at[0]] = {q.t for q in t.series[at[0]].points}
        if p.t + 1 not in times.get(at[0], ()):
            cands.append((at, p))
    if not cands:
        return None
    at, p = rng.choice(cands)
    return _mutant(pair, _set_point(t, at, Point(p.t + 1, p.v)), f"point @{p.t} moved to @{p.t + 1}")


def drop_point(pair: Pair, rng: random.Random) -> Mutant | None:
    t = pair.tgt
    if not t.ok or t.value_type != "matrix":
        return None
    cands = [(si, pi) for si, s in enumerate(t.series) if len(s.points) >= 2 for pi in range(len(s.points))]
    if not cands:
        return None
    si, pi = rng.choice(cands)
    p = t.series[si].points[pi]
    return _mutant(pair, _set_point(t, (si, pi), None), f"{_brief(t.series[si].labels)}: point @{p.t} dropped")


def add_point(pair: Pair, rng: random.Random) -> Mutant | None:
    t = pair.tgt
    if not t.ok or t.value_type != "matrix" or not t.series:
        return None
    si = rng.randrange(len(t.series))
    s = t.series[si]
    last = s.points[-1]
    new = Point(last.t + max(1, pair.case.params.step_ms if pair.case.params.is_range else 1), last.v)
    series = list(t.series)
    series[si] = ResultSeries(s.labels, s.points + (new,))
    return _mutant(pair, _with_series(t, series), f"{_brief(s.labels)}: extra point @{new.t}")


# --------------------------------------------------------------------------- histograms


def _is_hist(v: PointValue) -> bool:
    return isinstance(v, ResultHistogram)


def _hist_op(what: str, change: Callable[[ResultHistogram, random.Random], ResultHistogram | None]
             ) -> Callable[[Pair, random.Random], Mutant | None]:
    def fn(pair: Pair, rng: random.Random) -> Mutant | None:
        hit = _pick_point(pair.tgt, rng, lambda v: _is_hist(v) and change(v, random.Random(0)) is not None)  # type: ignore[arg-type]
        if hit is None:
            return None
        at, p = hit
        new = change(p.v, rng)  # type: ignore[arg-type]
        assert new is not None
        return _mutant(pair, _set_point(pair.tgt, at, Point(p.t, new)), f"histogram {what} @{p.t}: "
                       f"{_fmt(p.v)} -> {_fmt(new)}")

    return fn


def _bucket_count(h: ResultHistogram, rng: random.Random) -> ResultHistogram | None:
    if not h.buckets:
        return None
    i = rng.randrange(len(h.buckets))
    b = h.buckets[i]
    nb = replace(b, count=b.count * 2 if b.count != 0 and math.isfinite(b.count) else 1.0)
    return replace(h, buckets=h.buckets[:i] + (nb,) + h.buckets[i + 1:])


def _hist_sum(h: ResultHistogram, rng: random.Random) -> ResultHistogram | None:
    s = h.sum
    return replace(h, sum=s + max(1.0, abs(s) * 1e-3) if math.isfinite(s) else 1.0)


def _hist_count(h: ResultHistogram, rng: random.Random) -> ResultHistogram | None:
    c = h.count
    return replace(h, count=c + max(1.0, abs(c) * 1e-3) if math.isfinite(c) else 1.0)


hist_bucket_count = _hist_op("bucket count", _bucket_count)
hist_sum = _hist_op("sum", _hist_sum)
hist_count = _hist_op("count", _hist_count)
float_to_histogram = _replace_value(
    _is_float, lambda v: ResultHistogram(count=1.0, sum=float(v), buckets=(Bucket(0, 0.0, 1.0, 1.0),))  # type: ignore[arg-type]
)
histogram_to_float = _replace_value(_is_hist, lambda v: float(v.count))  # type: ignore[union-attr]


# --------------------------------------------------------------------------- errors


def _both_errors(pair: Pair) -> bool:
    return pair.ref.error is not None and pair.tgt.error is not None and not pair.ref.ok and not pair.tgt.ok


def error_to_panic(pair: Pair, rng: random.Random) -> Mutant | None:
    if not _both_errors(pair):
        return None
    assert pair.tgt.error is not None
    tgt = replace(pair.tgt, outcome="error", error=ResultError("execution", PANIC_TEXT))
    return _mutant(pair, tgt, f"error {pair.tgt.error.message[:60]!r} -> {PANIC_TEXT!r}")


def error_class_change(pair: Pair, rng: random.Random) -> Mutant | None:
    if not _both_errors(pair):
        return None
    from promfuzz.oracles.compare import error_class

    assert pair.tgt.error is not None
    cls = error_class(pair.tgt)
    if cls == "execution":
        new = ResultError("bad_data", pair.tgt.error.message)
    elif cls in ("parse", "bad_data"):
        new = ResultError("execution", pair.tgt.error.message)
    else:
        return None
    tgt = replace(pair.tgt, error=new)
    return _mutant(pair, tgt, f"error class {cls} -> {error_class(tgt)}")


def answer_instead_of_error(pair: Pair, rng: random.Random) -> Mutant | None:
    if pair.ref.ok or pair.tgt.ok:
        return None
    vt: Literal["matrix", "vector"] = "matrix" if pair.case.params.is_range else "vector"
    tgt = Result(engine=pair.tgt.engine, outcome="ok", value_type=vt, stats=pair.tgt.stats)
    return _mutant(pair, tgt, f"an empty {vt} instead of the error")


ORDINARY_ERROR = "vector cannot contain metrics with the same labelset"


def error_instead_of_answer(pair: Pair, rng: random.Random) -> Mutant | None:
    if not pair.ref.ok or not pair.tgt.ok:
        return None
    tgt = Result.failure(pair.tgt.engine, "error", "execution", ORDINARY_ERROR)
    return _mutant(pair, tgt, f"execution error instead of a {pair.tgt.value_type}")


# --------------------------------------------------------------------------- annotations

_PAD = {
    "warnings": 'PromQL warning: this native histogram metric is not a gauge: "promfuzz_pad_{i}" (1:1)',
    "infos": 'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: '
             '"promfuzz_pad_{i}" (1:1)',
}
_NEW = {
    "warnings": 'PromQL warning: encountered a mix of histograms and floats for metric name "promfuzz_mutant_{i}" (1:1)',
    "infos": 'PromQL info: ignored histograms in a range containing both floats and histograms for metric name '
             '"promfuzz_mutant_{i}" (1:1)',
}


def _annotated(r: Result, kind: str, values: Sequence[str]) -> Result:
    return replace(r, warnings=tuple(values)) if kind == "warnings" else replace(r, infos=tuple(values))


def _padded(pair: Pair, kind: str, n: int) -> tuple[Result, Result] | None:
    """Both answers with the same annotations of ``kind`` appended until the reference has
    ``n`` of them (None when it already has more)."""
    have = getattr(pair.ref, kind)
    if len(have) > n or len(getattr(pair.tgt, kind)) != len(have):
        return None
    pad = tuple(_PAD[kind].format(i=i) for i in range(n - len(have)))
    return _annotated(pair.ref, kind, have + pad), _annotated(pair.tgt, kind, getattr(pair.tgt, kind) + pad)


def _annotation_op(action: str, lo: int, hi: int) -> Operator:
    def fn(pair: Pair, rng: random.Random) -> Mutant | None:
        if not pair.ref.ok or not pair.tgt.ok:
            return None
        kind = rng.choice(("warnings", "infos"))
        m = len(getattr(pair.ref, kind))
        # n: the count on the side with more annotations once mutated.
        least = max(lo, m + 1 if action == "add" else m, 1)
        if least > hi:
            return None
        n = rng.randint(least, hi)
        padded = _padded(pair, kind, n - 1 if action == "add" else n)
        if padded is None:
            return None
        ref, tgt = padded
        cur = list(getattr(tgt, kind))
        if action == "add":
            cur.insert(rng.randint(0, len(cur)), _NEW[kind].format(i=0))
            note = f"one {kind[:-1]} added: {len(cur) - 1} -> {len(cur)}"
        elif action == "drop":
            del cur[rng.randrange(len(cur))]
            note = f"one {kind[:-1]} dropped: {n} -> {n - 1}"
        elif action == "replace":
            cur[rng.randrange(len(cur))] = _NEW[kind].format(i=0)
            note = f"one of {n} {kind} replaced"
        else:
            cur = [_NEW[kind].format(i=i) for i in range(n)]
            note = f"all {n} {kind} replaced"
        return Mutant(ref, _annotated(tgt, kind, cur), note)

    verb = {"add": "one more", "drop": "one fewer", "replace": "one different", "replace_all": "all different"}[action]
    return Operator(f"annotations_{action}@{lo}-{hi}", "forbidden",
                    f"{verb} annotation(s) in the target, at {lo} to {hi} annotations", fn)


def annotation_order(pair: Pair, rng: random.Random) -> Mutant | None:
    """Allowed: annotations are a multiset; the target lists them in reverse order."""
    if not pair.ref.ok or not pair.tgt.ok:
        return None
    kind = rng.choice(("warnings", "infos"))
    m = len(getattr(pair.ref, kind))
    if max(m, 2) > 20:
        return None
    padded = _padded(pair, kind, rng.randint(max(m, 2), 20))
    if padded is None:
        return None
    ref, tgt = padded
    cur = getattr(tgt, kind)
    if tuple(reversed(cur)) == cur:
        return None
    return Mutant(ref, _annotated(tgt, kind, tuple(reversed(cur))), f"{len(cur)} {kind} in reverse order")


# --------------------------------------------------------------------------- order


def _swap(r: Result, i: int, j: int) -> Result:
    s = list(r.series)
    s[i], s[j] = s[j], s[i]
    return _with_series(r, s)


def _vector_value(s: ResultSeries) -> PointValue | None:
    return s.points[0].v if len(s.points) == 1 else None


def _clearly_different(a: PointValue | None, b: PointValue | None) -> bool:
    if a is None or b is None or not _is_float(a) or not _is_float(b):
        return False
    x, y = float(a), float(b)  # type: ignore[arg-type]
    if x != x or y != y:
        return (x != x) != (y != y)
    return not math.isclose(x, y, rel_tol=1e-6, abs_tol=MIN_ABS_CHANGE)


def _exact_tie(a: PointValue | None, b: PointValue | None) -> bool:
    return a is not None and b is not None and _is_float(a) and _is_float(b) and float(a) == float(b)  # type: ignore[arg-type]


def _adjacent(pair: Pair, rng: random.Random, orderings: tuple[str, ...],
              ok: Callable[[ResultSeries, ResultSeries], bool]) -> tuple[int, int] | None:
    if not order_defined(pair) or shape_of(pair.case.query).ordering not in orderings:
        return None
    s = pair.tgt.series
    cands = [(i, i + 1) for i in range(len(s) - 1) if ok(s[i], s[i + 1])]
    return rng.choice(cands) if cands else None


def reorder_sort(pair: Pair, rng: random.Random) -> Mutant | None:
    ij = _adjacent(pair, rng, ("sort", "sort_desc"),
                   lambda a, b: _clearly_different(_vector_value(a), _vector_value(b)))
    return None if ij is None else _mutant(pair, _swap(pair.tgt, *ij), f"series {ij[0]} and {ij[1]} swapped")


def _sort_key(pair: Pair) -> Callable[[ResultSeries], tuple[str, ...]]:
    names = shape_of(pair.case.query).sort_labels
    return lambda s: tuple(dict(s.labels).get(n, "") for n in names)


def reorder_sort_by_label(pair: Pair, rng: random.Random) -> Mutant | None:
    key = _sort_key(pair)
    ij = _adjacent(pair, rng, ("sort_by_label", "sort_by_label_desc"), lambda a, b: key(a) != key(b))
    return None if ij is None else _mutant(pair, _swap(pair.tgt, *ij), f"series {ij[0]} and {ij[1]} swapped")


def reorder_sort_by_label_tiebreak(pair: Pair, rng: random.Random) -> Mutant | None:
    """Forbidden: sort_by_label breaks ties of the sort labels by the full label set."""
    key = _sort_key(pair)
    ij = _adjacent(pair, rng, ("sort_by_label", "sort_by_label_desc"), lambda a, b: key(a) == key(b))
    return None if ij is None else _mutant(pair, _swap(pair.tgt, *ij), f"tied series {ij[0]} and {ij[1]} swapped")


def _group_of(labels: Labels, sk: SelectK) -> Labels:
    if sk.grouping == "by":
        keep = set(sk.labels)
        return tuple((k, v) for k, v in labels if k in keep)
    if sk.grouping == "without":
        drop = set(sk.labels) | {"__name__"}
        return tuple((k, v) for k, v in labels if k not in drop)
    return ()


def _group_neighbours(pair: Pair, ok: Callable[[PointValue | None, PointValue | None], bool]) -> list[tuple[int, int]]:
    sk = shape_of(pair.case.query).select_k
    if sk is None or sk.op not in ("topk", "bottomk") or not order_defined(pair):
        return []
    last: dict[Labels, int] = {}
    out = []
    s = pair.tgt.series
    for i, x in enumerate(s):
        g = _group_of(x.labels, sk)
        if g in last and ok(_vector_value(s[last[g]]), _vector_value(x)):
            out.append((last[g], i))
        last[g] = i
    return out


def reorder_topk(pair: Pair, rng: random.Random) -> Mutant | None:
    cands = _group_neighbours(pair, _clearly_different)
    if not cands:
        return None
    i, j = rng.choice(cands)
    return _mutant(pair, _swap(pair.tgt, i, j), f"{pair.case.query.split('(')[0]} series {i} and {j} swapped")


def order_of_ties(pair: Pair, rng: random.Random) -> Mutant | None:
    """Allowed: series with equal values may come in either order under sort/sort_desc
    and within a topk/bottomk group."""
    s = pair.tgt.series
    cands = _group_neighbours(pair, _exact_tie)
    sh = shape_of(pair.case.query)
    if order_defined(pair) and sh.ordering in ("sort", "sort_desc"):
        cands += [(i, i + 1) for i in range(len(s) - 1) if _exact_tie(_vector_value(s[i]), _vector_value(s[i + 1]))]
    if not cands:
        return None
    i, j = rng.choice(cands)
    return _mutant(pair, _swap(pair.tgt, i, j), f"tied series {i} and {j} swapped")


# --------------------------------------------------------------------------- select-k picks


StepGroups = dict[tuple[int, Labels], dict[Labels, PointValue]]


def _by_step(series: Sequence[ResultSeries], sk: SelectK) -> StepGroups:
    out: StepGroups = {}
    for s in series:
        g = _group_of(s.labels, sk)
        for p in s.points:
            out.setdefault((p.t, g), {})[s.labels] = p.v
    return out


def _same_value(a: PointValue, b: PointValue) -> bool:
    if isinstance(a, ResultHistogram) or isinstance(b, ResultHistogram):
        return a == b
    x, y = float(a), float(b)
    return x == y or (x != x and y != y)


def _picks(pair: Pair) -> tuple[SelectK, StepGroups, StepGroups] | None:
    """(select-k, chosen per step and group, operand per step and group), when the query is
    a select-k at the top, the reference's operand answer is at hand and every chosen series
    is in it with the same value (otherwise the operators cannot reason about the pick)."""
    sk = shape_of(pair.case.query).select_k
    if sk is None or pair.operand is None or not _series_result(pair.tgt) or not pair.tgt.series:
        return None
    op = pair.operand(sk.operand)
    if op is None or not _series_result(op):
        return None
    chosen, operand = _by_step(pair.tgt.series, sk), _by_step(op.series, sk)
    for key, picks in chosen.items():
        avail = operand.get(key, {})
        if any(lb not in avail or not _same_value(v, avail[lb]) for lb, v in picks.items()):
            return None
    return sk, chosen, operand


def _move_pick(pair: Pair, t: int, old: Labels, new: Labels, v: PointValue) -> Result:
    """The target with series ``old``'s point at ``t`` given to series ``new`` (value ``v``);
    in a vector, in ``old``'s place."""
    r = pair.tgt
    series = list(r.series)
    if r.value_type == "vector":
        i = next(k for k, s in enumerate(series) if s.labels == old)
        series[i] = ResultSeries(new, (Point(t, v),))
        return _with_series(r, series)
    i = next(k for k, s in enumerate(series) if s.labels == old)
    pts = tuple(p for p in series[i].points if p.t != t)
    if pts:
        series[i] = ResultSeries(old, pts)
    else:
        del series[i]
    j = next((k for k, s in enumerate(series) if s.labels == new), None)
    if j is None:
        series.append(ResultSeries(new, (Point(t, v),)))
    else:
        series[j] = ResultSeries(new, tuple(sorted(series[j].points + (Point(t, v),), key=lambda p: p.t)))
    return _with_series(r, series)


def _worse(v: float, than: float, op: str) -> bool:
    """Would ``v`` rank strictly behind ``than`` in ``op``, beyond any float tolerance (NaN
    ranks last in both topk and bottomk)?"""
    if than != than:
        return False
    if v != v:
        return True
    if math.isclose(v, than, rel_tol=1e-6, abs_tol=MIN_ABS_CHANGE):
        return False
    return v < than if op == "topk" else v > than


def _boundary(picks: dict[Labels, PointValue], op: str) -> tuple[Labels, float] | None:
    """The chosen float series that ranks last (the one a tie or a worse pick replaces)."""
    floats = [(lb, float(v)) for lb, v in picks.items() if _is_float(v)]  # type: ignore[arg-type]
    if not floats or len(floats) != len(picks):
        return None
    worst = floats[0]
    for lb, v in floats[1:]:
        if v != v or (worst[1] == worst[1] and (v < worst[1] if op == "topk" else v > worst[1])):
            worst = (lb, v)
    return worst


def topk_non_top(pair: Pair, rng: random.Random) -> Mutant | None:
    """Forbidden: at one step, the last-ranked pick of a topk/bottomk replaced by an operand
    series of the same group that ranks strictly behind it."""
    got = _picks(pair)
    if got is None or got[0].op not in ("topk", "bottomk"):
        return None
    sk, chosen, operand = got
    cands = []
    for key in sorted(chosen):
        b = _boundary(chosen[key], sk.op)
        if b is None:
            continue
        for lb, v in sorted(operand.get(key, {}).items()):
            if lb not in chosen[key] and _is_float(v) and _worse(float(v), b[1], sk.op):  # type: ignore[arg-type]
                cands.append((key, b[0], lb, v))
    if not cands:
        return None
    (t, _), old, new, v = rng.choice(cands)
    return _mutant(pair, _move_pick(pair, t, old, new, v),
                   f"@{t}: {_brief(old)} ({_fmt(chosen[(t, _)][old])}) replaced by the lower-ranked {_brief(new)} "
                   f"({_fmt(v)})")


def topk_tie_pick(pair: Pair, rng: random.Random) -> Mutant | None:
    """Allowed: at one step, a pick tied at the group's boundary replaced by an unchosen
    operand series with exactly the same value."""
    got = _picks(pair)
    if got is None or got[0].op not in ("topk", "bottomk"):
        return None
    sk, chosen, operand = got
    cands = []
    for key in sorted(chosen):
        b = _boundary(chosen[key], sk.op)
        if b is None or b[1] != b[1]:
            continue
        for lb, v in sorted(operand.get(key, {}).items()):
            if lb not in chosen[key] and _is_float(v) and float(v) == b[1]:  # type: ignore[arg-type]
                cands.append((key, b[0], lb, v))
    if not cands:
        return None
    (t, _), old, new, v = rng.choice(cands)
    return _mutant(pair, _move_pick(pair, t, old, new, v), f"@{t}: tie {_fmt(v)}: {_brief(old)} -> {_brief(new)}")


def limitk_other_pick(pair: Pair, rng: random.Random) -> Mutant | None:
    """Allowed: at one step, a limitk pick replaced by another series of the operand's group."""
    got = _picks(pair)
    if got is None or got[0].op != "limitk":
        return None
    _, chosen, operand = got
    cands = [(key, old, lb, v) for key in sorted(chosen) for old in sorted(chosen[key])
             for lb, v in sorted(operand.get(key, {}).items()) if lb not in chosen[key]]
    if not cands:
        return None
    (t, _), old, new, v = rng.choice(cands)
    return _mutant(pair, _move_pick(pair, t, old, new, v), f"@{t}: {_brief(old)} -> {_brief(new)}")


def limitk_invent(pair: Pair, rng: random.Random) -> Mutant | None:
    """Forbidden: a limitk/limit_ratio pick renamed to a series the operand does not have
    (same values, same count)."""
    sh = shape_of(pair.case.query)
    if sh.select_k is None or sh.select_k.op not in ("limitk", "limit_ratio"):
        return None
    t = pair.tgt
    if not _series_result(t) or not t.series:
        return None
    i = rng.randrange(len(t.series))
    s = t.series[i]
    names = [k for k, _ in s.labels if k != "__name__"]
    if names:
        k = rng.choice(names)
        new = _label_set([(a, b + "_invented" if a == k else b) for a, b in s.labels])
    else:
        new = _label_set(s.labels + (("promfuzz_invented", "1"),))
    if any(x.labels == new for x in t.series):
        return None
    series = list(t.series)
    series[i] = ResultSeries(new, s.points)
    return _mutant(pair, _with_series(t, series), f"{_brief(s.labels)} renamed {_brief(new)}")


# --------------------------------------------------------------------------- count_values


def _format_cv(x: float) -> str:
    """A float as count_values writes it into a label (Go's FormatFloat(f, 'f', -1, 64))."""
    text = repr(x)
    return format(Decimal(text), "f") if "e" in text or "E" in text else text.removesuffix(".0")


def count_values_label(pair: Pair, rng: random.Random) -> Mutant | None:
    """Forbidden: a count_values label holding a number changed beyond the float tolerance."""
    cv = shape_of(pair.case.query).cv_labels
    if not cv:
        return None

    def f(labels: Labels) -> Labels | None:
        names = [k for k, v in labels if k in cv and _parses_finite(v)]
        if not names:
            return None
        k = rng.choice(names)
        x = float(dict(labels)[k])
        y = x * (1 + 1e-6) if abs(x) >= 1e-3 else x + 1
        return _label_set([(a, _format_cv(y) if a == k else b) for a, b in labels])

    return _relabel(pair, rng, f, "count_values label changed")


def _parses_finite(v: str) -> bool:
    try:
        return math.isfinite(float(v))
    except ValueError:
        return False


# --------------------------------------------------------------------------- the catalogue


def _op(name: str, kind: Kind, fn: Callable[[Pair, random.Random], Mutant | None], doc: str = "") -> Operator:
    return Operator(name, kind, doc or (fn.__doc__ or name).strip().splitlines()[0], fn)


OPERATORS: tuple[Operator, ...] = (
    # PromQL forbids these: the oracle must flag every one.
    _op("drop_series", "forbidden", drop_series, "one series missing"),
    _op("add_series", "forbidden", add_series, "one extra series"),
    _op("duplicate_series", "forbidden", duplicate_series, "one series twice"),
    _op("change_label_value", "forbidden", change_label_value, "one label value changed"),
    _op("add_label", "forbidden", add_label, "one label added to a series"),
    _op("drop_label", "forbidden", drop_label, "one label dropped from a series"),
    _scaled(1e-6, "1e-6"),
    _scaled(1e-3, "1e-3"),
    _op("value_plus_1", "forbidden", value_plus_one, "one value plus 1"),
    _op("sign_flip", "forbidden", _sign_flip(False), "one value's sign flipped (|v| >= 1e-9, infinities too)"),
    _op("sign_flip_tiny", "forbidden", _sign_flip(True), "one tiny value's sign flipped (0 < |v| < 1e-9)"),
    _op("nan_to_number", "forbidden", nan_to_number, "a NaN answered as 0"),
    _op("number_to_nan", "forbidden", number_to_nan, "a number answered as NaN"),
    _op("nan_to_stale", "forbidden", nan_to_stale, "a NaN answered as the stale marker"),
    _op("stale_to_nan", "forbidden", stale_to_nan, "a stale marker answered as NaN"),
    _op("string_change", "forbidden", string_change, "a string result changed"),
    _op("point_time_shift", "forbidden", point_time_shift, "one point's timestamp moved by 1 ms"),
    _op("drop_point", "forbidden", drop_point, "one point of a range series missing"),
    _op("add_point", "forbidden", add_point, "one extra point in a range series"),
    _op("hist_bucket_count", "forbidden", hist_bucket_count, "one histogram bucket count changed"),
    _op("hist_sum", "forbidden", hist_sum, "one histogram sum changed"),
    _op("hist_count", "forbidden", hist_count, "one histogram count changed"),
    _op("float_to_histogram", "forbidden", float_to_histogram, "a float answered as a histogram"),
    _op("histogram_to_float", "forbidden", histogram_to_float, "a histogram answered as a float"),
    _op("error_to_panic", "forbidden", error_to_panic, "an error replaced by an engine panic's text"),
    _op("error_class_change", "forbidden", error_class_change, "an error of another class"),
    _op("answer_instead_of_error", "forbidden", answer_instead_of_error, "an empty answer where the reference failed"),
    _op("error_instead_of_answer", "forbidden", error_instead_of_answer, "an error where the reference answered"),
    *(_annotation_op(a, lo, hi) for a in ("add", "drop", "replace", "replace_all") for lo, hi in ANNOTATION_BUCKETS),
    _op("reorder_sort", "forbidden", reorder_sort, "sort/sort_desc: two series of different values swapped"),
    _op("reorder_sort_by_label", "forbidden", reorder_sort_by_label,
        "sort_by_label: two series of different sort-label values swapped"),
    _op("reorder_sort_by_label_tiebreak", "forbidden", reorder_sort_by_label_tiebreak),
    _op("reorder_topk", "forbidden", reorder_topk, "topk/bottomk: two series of one group and different values swapped"),
    _op("topk_non_top", "forbidden", topk_non_top),
    _op("limitk_invent", "forbidden", limitk_invent),
    _op("count_values_label", "forbidden", count_values_label),
    # PromQL allows these: the oracle must flag none.
    _op("topk_tie_pick", "allowed", topk_tie_pick),
    _op("limitk_other_pick", "allowed", limitk_other_pick),
    _op("annotation_order", "allowed", annotation_order),
    _op("series_order_undefined", "allowed", series_order_undefined),
    _op("order_of_ties", "allowed", order_of_ties),
    _op("negative_zero", "allowed", negative_zero, "0 answered as -0 (or -0 as 0)"),
    _op("last_bit", "allowed", last_bit, "one value 1 ulp off"),
    _op("label_order", "allowed", label_order),
    _op("empty_label_value", "allowed", empty_label_value),
)
"""Every operator, forbidden ones first; names are unique."""

OPERATORS_BY_NAME = {o.name: o for o in OPERATORS}
assert len(OPERATORS_BY_NAME) == len(OPERATORS), "operator names must be unique"
