"""topk / bottomk / limitk: is the target's pick one that PromQL allows?

PromQL leaves two things open: which of several tied series ``topk``/``bottomk`` keep at the
boundary, and which series ``limitk`` keeps. Everything else is defined (Prometheus v0.316.0,
``aggregationK`` in promql/engine.go): per step and group the operator keeps
``min(k, n)`` of the group's ``n`` input samples, ``k`` truncated to an integer (``k < 1``
keeps nothing); ``topk``/``bottomk`` skip native histograms and rank NaN below every
number (a NaN is kept only when too few numbers remain); the kept series carry their input
label sets and values unchanged.

So a pick that differs from the reference's is judged against the operator's actual input:
the comparator asks the reference engine (the ``operand`` resolver) for the operand ``X``
evaluated on its own with the same parameters, and accepts the target's pick when, for each
step and group, every series it kept is a series of ``X`` with the same value, it kept
``min(k, n)`` of them, and (``topk``/``bottomk``) no series it left out ranks strictly
better (beyond the float tolerance) than one it kept. Under wrappers (``abs(topk(...))``,
``topk(...) * 0``, ``topk(...) > 5``) the check is made below the wrapper, never on the
wrapped values (``floor``, ``abs``, ``sgn``, ``clamp``, ``* 0`` or ``> bool 0`` map different
values to one, so a tie seen above them proves nothing): the reference is also asked for
the wrappers applied to ``X`` (the query with the operator replaced by ``X``), which gives
each input series' wrapped label set and value, so the target's series must be exactly such
images, and a series the wrapper drops (a filter, a histogram under a float function) is a
pick the target may have made invisibly. When ``k`` is not a number literal the counts come
from the reference's own pick (the operator's text, asked of the reference).

Without a resolver, or when the reference cannot answer the operand, a differing pick is a
difference with detail ``unverified_pick``: never silently accepted. When the operand itself
holds another topk & co, the reference's answer to it is one valid evaluation among several:
a pick that is valid against it is accepted (it is the answer of that evaluation), one that
is not stays a difference and the comparison is marked tie-sensitive by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from promfuzz.model import Labels, PointValue, Result, ResultHistogram, ResultSeries, labels_str
from promfuzz.oracles._query import SelectK
from promfuzz.oracles.compare import (
    ComparisonConfig,
    Difference,
    _Collector,
    _group_key,
    _normalize_labels,
    _value_diff,
    floats_equal,
    fmt_value,
)

Steps = dict[int, dict[Labels, PointValue]]


def _by_step(idx: Mapping[Labels, ResultSeries]) -> Steps:
    out: Steps = {}
    for labels, s in idx.items():
        for p in s.points:
            out.setdefault(p.t, {})[labels] = p.v
    return out


def _drop_name(labels: Labels) -> Labels:
    return tuple(x for x in labels if x[0] != "__name__")


def _is_nan(v: PointValue) -> bool:
    return not isinstance(v, ResultHistogram) and v != v


def _rank(v: PointValue, op: str) -> tuple[int, float]:
    """Sort key, larger is better for ``op`` (NaN last)."""
    f = float(v)  # type: ignore[arg-type]
    if f != f:
        return (0, 0.0)
    return (1, f if op == "topk" else -f)


def _better(u: PointValue, s: PointValue, op: str, cfg: ComparisonConfig) -> bool:
    """Would ``u`` be kept before ``s`` (strictly, beyond the tolerance)?"""
    fu, fs = float(u), float(s)  # type: ignore[arg-type]
    if fu != fu:
        return False
    if fs != fs:
        return True
    if floats_equal(fu, fs, cfg.rel_tol, cfg.abs_tol):
        return False
    return fu > fs if op == "topk" else fu < fs


class PickVerifier:
    """Checks differing picks of one comparison against the reference's operand answers
    (each text asked at most once)."""

    def __init__(self, sk: SelectK, operand: Callable[[str], Result | None] | None, cfg: ComparisonConfig,
                 cv_labels: frozenset[str]) -> None:
        self.sk = sk
        self.operand = operand
        self.cfg = cfg
        self.cv = cv_labels
        self._answers: dict[str, Steps | None] = {}

    def answer(self, text: str | None) -> Steps | None:
        if text is None or self.operand is None:
            return None
        if text not in self._answers:
            try:
                res = self.operand(text)
            except Exception:  # noqa: BLE001 -- an engine that cannot answer: the pick stays unverified
                res = None
            self._answers[text] = self._steps(res)
        return self._answers[text]

    def _steps(self, res: Result | None) -> Steps | None:
        if res is None or not res.ok or res.value_type not in ("vector", "matrix"):
            return None
        out: Steps = {}
        for s in res.series:
            labels = _normalize_labels(s.labels, self.cv)
            for p in s.points:
                step = out.setdefault(p.t, {})
                if labels in step:
                    return None  # an answer with a duplicate series cannot be matched
                step[labels] = p.v
        return out

    # ------------------------------------------------------------------ one step
    def check(self, t: int, r: Mapping[Labels, PointValue], x: Mapping[Labels, PointValue],
              only_r: Sequence[Labels], only_t: Sequence[Labels], col: _Collector) -> None:
        sk, cfg = self.sk, self.cfg
        why = self._unavailable()
        if why is not None:
            self._unverified(t, r, x, only_r, only_t, why, col)
            return
        a_all = self.answer(sk.operand_text)
        assert a_all is not None
        a_t = a_all.get(t, {})
        if sk.direct:
            w_t = a_t
        else:
            wx = self.answer(sk.lifted_text)
            if wx is None:
                self._unverified(t, r, x, only_r, only_t, "the reference gave no answer to the wrappers applied to "
                                 f"the operand ({sk.lifted_text})", col)
                return
            w_t = wx.get(t, {})
        # The image of each input series under the wrappers (None: the wrappers drop it).
        image: dict[Labels, Labels | None] = {}
        inverse: dict[Labels, Labels] = {}
        ambiguous: set[Labels] = set()
        for a in a_t:
            img = a if a in w_t else (p if (p := _drop_name(a)) in w_t else None)
            image[a] = img
            if img is not None:
                if img in inverse:
                    ambiguous.add(img)
                inverse[img] = a
        for img in ambiguous:
            del inverse[img]

        def groups_of(side: Mapping[Labels, PointValue]) -> dict[Labels, set[Labels]] | None:
            out: dict[Labels, set[Labels]] = {}
            for o in side:
                a = inverse.get(o)
                if a is None:
                    return None
                out.setdefault(_group_key(a, sk), set()).add(a)
            return out

        ref_groups = groups_of(r)
        if ref_groups is None:
            self._unverified(t, r, x, only_r, only_t, "the reference's own pick is not found in its answer to the "
                             "operand", col)
            return
        # The target's series: each must be the (wrapped) image of an input series, same value.
        bad: dict[Labels, str] = {}
        tgt_groups: dict[Labels, set[Labels]] = {}
        for o, v in x.items():
            src = inverse.get(o)
            if src is None:
                bad[o] = ("not a series of the operator's input (the reference's answer to "
                          f"{sk.operand_text if sk.direct else sk.lifted_text})")
                continue
            tgt_groups.setdefault(_group_key(src, sk), set()).add(src)
            if o in only_t:
                d = _value_diff(o, t, w_t[o], v, cfg)
                if d is not None:
                    col.add(Difference("value", f"{labels_str(o)} @{t}: {d.ref} (the reference's value of this "
                                       f"input series) vs {d.tgt}; a {sk.op} pick keeps its input value", o, t,
                                       d.ref, d.tgt, detail=f"{sk.op}_pick_value", rel_diff=d.rel_diff))
        for o in only_t:
            if o in bad:
                col.add(Difference("extra_series", f"{labels_str(o)} @{t} only in target ({fmt_value(x[o])}); "
                                   f"not a valid {sk.op} pick: {bad[o]}", o, t, "", fmt_value(x[o]),
                                   detail=f"{sk.op}_pick"))
        counts = self._counts(t, a_t)
        if counts is None:
            self._unverified(t, r, x, [lb for lb in only_r], [lb for lb in only_t if lb not in bad],
                             f"the reference gave no answer to {sk.node_text} (needed for the count)", col)
            return
        groups: dict[Labels, dict[Labels, PointValue]] = {}
        for a, v in a_t.items():
            groups.setdefault(_group_key(a, sk), {})[a] = v
        for g in sorted(ref_groups.keys() | tgt_groups.keys() | set(counts)):
            chosen = tgt_groups.get(g, set())
            if chosen == ref_groups.get(g, set()):
                continue
            reason = self._invalid(groups.get(g, {}), chosen, counts.get(g, 0), image)
            r_out = [o for o in only_r if _group_key(inverse[o], sk) == g]
            t_out = [o for o in only_t if o not in bad and _group_key(inverse[o], sk) == g]
            if reason is None:
                if r_out or t_out:
                    col.notes.append(f"accepted {sk.op} pick @{t} group {labels_str(g)} (checked against the operand): "
                                     f"{', '.join(labels_str(o) for o in t_out)} for "
                                     f"{', '.join(labels_str(o) for o in r_out)}")
                continue
            self._report(t, r, x, r_out, t_out, f"not a valid {sk.op} pick: {reason}", f"{sk.op}_pick", col)

    def _unavailable(self) -> str | None:
        sk = self.sk
        if self.operand is None:
            return "no operand resolver: the pick cannot be checked against the operator's input"
        if sk.operand_text is None:
            return "the query could not be parsed and printed, so its operand cannot be asked for"
        if self.answer(sk.operand_text) is None:
            return f"the reference gave no answer to the operand {sk.operand_text}"
        return None

    def _counts(self, t: int, a_t: Mapping[Labels, PointValue]) -> dict[Labels, int] | None:
        """How many series each group keeps at ``t``: from a literal k, else the reference's pick."""
        sk = self.sk
        if sk.k is not None:
            if not sk.k >= 1:  # NaN fails in the engine; k < 1 keeps nothing
                return {}
            k = int(sk.k) if math.isfinite(sk.k) else 1 << 62
            sizes: dict[Labels, int] = {}
            for a, v in a_t.items():
                if sk.op != "limitk" and isinstance(v, ResultHistogram):
                    continue
                g = _group_key(a, sk)
                sizes[g] = sizes.get(g, 0) + 1
            return {g: min(k, n) for g, n in sizes.items()}
        picks = self.answer(sk.node_text)
        if picks is None:
            return None
        out: dict[Labels, int] = {}
        for a in picks.get(t, {}):
            g = _group_key(a, sk)
            out[g] = out.get(g, 0) + 1
        return out

    def _invalid(self, group: Mapping[Labels, PointValue], chosen: set[Labels], n: int,
                 image: Mapping[Labels, Labels | None]) -> str | None:
        """Why ``chosen`` (input series the target shows) is no valid pick of ``n`` from
        ``group`` (None: it is one). Series the wrappers drop may be hidden picks."""
        op, cfg = self.sk.op, self.cfg
        cand = {a: v for a, v in group.items() if op == "limitk" or not isinstance(v, ResultHistogram)}
        hist = [a for a in chosen if a not in cand]
        if hist:
            return f"{labels_str(hist[0])} holds a native histogram, which {op} never keeps"
        hidden = n - len(chosen)
        if hidden < 0:
            return f"the group keeps {n} series (k and the group's {len(cand)} inputs), the target shows {len(chosen)}"
        fillers = [a for a in cand if a not in chosen and image.get(a) is None]
        if len(fillers) < hidden:
            return f"the group keeps {n} series, the target shows {len(chosen)}"
        if op == "limitk":
            return None
        fillers.sort(key=lambda a: _rank(cand[a], op), reverse=True)
        kept = set(chosen) | set(fillers[:hidden])
        left = [a for a in cand if a not in kept]
        if not kept or not left:
            return None
        worst = min(kept, key=lambda a: _rank(cand[a], op))
        best = max(left, key=lambda a: _rank(cand[a], op))
        if _better(cand[best], cand[worst], op, cfg):
            return (f"{labels_str(best)} ({fmt_value(cand[best])}) was left out but ranks above the kept "
                    f"{labels_str(worst)} ({fmt_value(cand[worst])})")
        return None

    # ------------------------------------------------------------------ reporting
    def _unverified(self, t: int, r: Mapping[Labels, PointValue], x: Mapping[Labels, PointValue],
                    only_r: Sequence[Labels], only_t: Sequence[Labels], why: str, col: _Collector) -> None:
        self._report(t, r, x, only_r, only_t, f"the pick differs and cannot be verified: {why}", "unverified_pick", col)

    def _report(self, t: int, r: Mapping[Labels, PointValue], x: Mapping[Labels, PointValue],
                only_r: Sequence[Labels], only_t: Sequence[Labels], why: str, detail: str, col: _Collector) -> None:
        for lb in only_r:
            col.add(Difference("missing_series", f"{labels_str(lb)} @{t} only in reference ({fmt_value(r[lb])}); "
                               f"{why}", lb, t, fmt_value(r[lb]), "", detail=detail))
        for lb in only_t:
            col.add(Difference("extra_series", f"{labels_str(lb)} @{t} only in target ({fmt_value(x[lb])}); {why}",
                               lb, t, "", fmt_value(x[lb]), detail=detail))


def compare_select_k(sk: SelectK, ref: Mapping[Labels, ResultSeries], tgt: Mapping[Labels, ResultSeries],
                     col: _Collector, operand: Callable[[str], Result | None] | None,
                     cv_labels: frozenset[str]) -> None:
    """Compare the answers of a query topped (through element-wise wrappers) by ``sk``:
    common series by value, differing picks per step against the operator's input."""
    cfg = col.config
    rs, ts = _by_step(ref), _by_step(tgt)
    verifier: PickVerifier | None = None
    for t in sorted(rs.keys() | ts.keys()):
        r, x = rs.get(t, {}), ts.get(t, {})
        for labels in sorted(r.keys() & x.keys()):
            d = _value_diff(labels, t, r[labels], x[labels], cfg)
            if d is not None:
                col.add(d)
        only_r = sorted(r.keys() - x.keys())
        only_t = sorted(x.keys() - r.keys())
        if not only_r and not only_t:
            continue
        if verifier is None:
            verifier = PickVerifier(sk, operand, cfg, cv_labels)
        verifier.check(t, r, x, only_r, only_t, col)


__all__ = ["PickVerifier", "compare_select_k"]
