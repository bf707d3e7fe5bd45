"""The data aspect of a difference: what about the *data* a bug needs, beyond the query.

Two divergences of ``rate(x[5m])`` may be two bugs: one on float samples, one on native
histograms; one where the target answers nothing, one where it answers a wrong number.
A signature keyed on query features alone merges them, so a new bug with old features is
absorbed into an old finding. :func:`data_aspect` names the part of the data that tells
such bugs apart, in a few coarse words (so one bug does not split into hundreds):

``samples:float`` / ``samples:histogram`` / ``samples:float+histogram`` / ``samples:none``
    the kinds of samples in the dataset series the query's selectors match (the operands;
    matched on labels, whatever the time window); ``none``: the query has selectors and
    none of them matches a series. No word when the query has no selector.
``stale``
    a matched series carries a stale marker.
``empty:ref`` / ``empty:tgt``
    that side answered a vector or matrix with no series while the other side answered
    some.
``points:nan`` / ``points:inf``
    a differing point (either side) is NaN / +-Inf (histograms: their count or sum).

The shrinker demands an equal aspect (:meth:`Signature.preserved_by`), so a histogram bug
is never shrunk into a float one and an empty answer never into a wrong value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from promfuzz.model import Case, Dataset, Histogram, Result, is_stale

_NAN_RE = re.compile(r"(?<![\w.])NaN\b")
_INF_RE = re.compile(r"(?<![\w.])[-+]?Inf\b")


def data_aspect(case: Case, ref: Result, tgt: Result, differences: Sequence[Any] = ()) -> tuple[str, ...]:
    """The aspect words of one (reference, target) pair of answers to ``case`` (sorted)."""
    out = set(_operand_words(case.query, case.dataset))
    if ref.ok and tgt.ok and ref.value_type in ("vector", "matrix") and ref.value_type == tgt.value_type:
        if not ref.series and tgt.series:
            out.add("empty:ref")
        elif ref.series and not tgt.series:
            out.add("empty:tgt")
    out.update(_point_words(differences))
    return tuple(sorted(out))


def _point_words(differences: Iterable[Any]) -> set[str]:
    out: set[str] = set()
    for d in differences:
        if getattr(d, "category", "") in ("annotations", "order"):
            continue
        for text in (getattr(d, "ref", ""), getattr(d, "tgt", "")):
            if text and _NAN_RE.search(text):
                out.add("points:nan")
            if text and _INF_RE.search(text):
                out.add("points:inf")
    return out


# --------------------------------------------------------------------------- operands

_Info = tuple[tuple[tuple[tuple[str, str], ...], bool, bool, bool], ...]  # (labels, float, histogram, stale)


def _operand_words(query: str, dataset: Dataset) -> tuple[str, ...]:
    selectors = _selectors(query)
    if not selectors:
        return ()
    info = _dataset_info(dataset)
    has_float = has_hist = stale = False
    matched = False
    for matchers in selectors:
        for labels, f, h, s in info:
            if _matches(matchers, dict(labels)):
                matched = True
                has_float |= f
                has_hist |= h
                stale |= s
    if not matched:
        return ("samples:none",)
    kinds = "+".join(k for k, present in (("float", has_float), ("histogram", has_hist)) if present)
    words = [f"samples:{kinds or 'none'}"]
    if stale:
        words.append("stale")
    return tuple(words)


_INFO_CACHE: dict[str, _Info] = {}


def _dataset_info(ds: Dataset) -> _Info:
    """Per series: its labels and whether it holds floats, histograms, stale markers
    (cached per dataset fingerprint: a campaign judges a thousand queries per dataset)."""
    fp = ds.fingerprint()
    got = _INFO_CACHE.get(fp)
    if got is not None:
        return got
    rows = []
    for s in ds.series:
        f = h = st = False
        for smp in s.samples:
            v = smp.v
            if isinstance(v, Histogram):
                h = True
            elif is_stale(v):
                st = True
            else:
                f = True
        rows.append((s.labels, f, h, st))
    info = tuple(rows)
    if len(_INFO_CACHE) >= 8:
        _INFO_CACHE.pop(next(iter(_INFO_CACHE)))
    _INFO_CACHE[fp] = info
    return info


_Matcher = tuple[str, str, "re.Pattern[str] | str"]


@lru_cache(maxsize=4096)
def _selectors(query: str) -> tuple[tuple[_Matcher, ...], ...]:
    """The label matchers of every vector selector of the query (the metric name as a
    ``__name__`` matcher); () when our parser cannot read the query. A selector with a
    regex Python cannot compile is left out (it cannot be matched here)."""
    from promfuzz.oracles._query import _tree
    from promfuzz.promql.ast import VectorSelector, walk

    tree = _tree(query)
    if tree is None:
        return ()
    out = []
    for node, _path in walk(tree):
        if not isinstance(node, VectorSelector):
            continue
        ms: list[_Matcher] = []
        pairs = [("__name__", "=", node.name)] if node.name is not None else []
        pairs += [(m.name, m.op, m.value) for m in node.matchers]
        try:
            for name, op, value in pairs:
                ms.append((name, op, re.compile(f"(?s:{value})\\Z") if op in ("=~", "!~") else value))
        except re.error:
            continue
        out.append(tuple(ms))
    return tuple(out)


def _matches(matchers: Sequence[_Matcher], labels: dict[str, str]) -> bool:
    for name, op, want in matchers:
        have = labels.get(name, "")
        if op == "=":
            ok = have == want
        elif op == "!=":
            ok = have != want
        else:
            assert isinstance(want, re.Pattern)
            ok = want.match(have) is not None
            if op == "!~":
                ok = not ok
        if not ok:
            return False
    return True

