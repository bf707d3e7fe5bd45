"""Root-cause grouping: which bug a divergence belongs to, from what survives shrinking.

A signature (:mod:`promfuzz.oracles.verdict`) separates hits finely: the query's
functions, the error messages, the annotation texts. One bug shows many signatures (the
`k = 0` bug of MQE drops whichever warning its operand raises), so a run with hundreds of
signatures has tens of bugs. :func:`group_key` maps a shrunk case to a coarser key, made
of what a maintainer would fix with one change:

* **build**: the engine code that answers wrongly. For an engine difference the target's
  family (``mqe``); for a difference its own build's Prometheus engine shares (fork lag)
  the vendored Prometheus (``mimir-prometheus``, also for ``mqe``'s cases).
* **layer** (the attribution, from ``promfuzz explain`` when known): ``pass:NAME``
  when toggling one optimization pass makes the difference appear or go (then the pass
  is the bug, whatever the query), ``version`` when the build vendors an unforked, older
  upstream Prometheus (the fix is a version bump: one bug), ``fork`` for a fork that
  lags upstream (explain's ``fork-lag`` or ``both``: each upstream change is its own
  fix), ``engine`` otherwise. A target that *is* a Prometheus engine
  (``mimir-prometheus``, ``thanos-prometheus``) compared with upstream Prometheus can
  only lag: no replay needed to know that.
* **kind**: the difference category in coarse classes: ``answer`` (values, missing,
  extra and duplicate series: a wrong value under ``count_values`` is a missing series),
  ``order``, ``panic``, and for diagnostics ``diagnostics:fewer`` (the target leaves out
  a warning or info the reference reports), ``diagnostics:fewer-error`` (it answers
  where the reference fails; under ``k = 0``, a static short circuit that loses both
  alike, this is ``diagnostics:fewer`` too), ``diagnostics:more`` (it adds one, or
  fails where the reference answers), ``diagnostics:other``. For a fork lag the kind is
  left out: the upstream change behind it touched a function, and its answers and
  annotations differ alike;
* **focus**: the skeleton of the node the difference is about, one level deep:
  selectors, label lists and children abstracted (``_``), number literals reduced to
  their class (``0``, ``NaN``, ``Inf``, ``n``), operators that share code in one class
  (``k-select``: topk, bottomk, limitk, limit_ratio; ``quantile``: quantile,
  quantile_over_time, histogram_quantile; ``rad|deg``), after peeling the outer
  *wrappers* that only carry a difference upward: element-wise math and date functions,
  ``scalar``, ``vector``, ``absent``, ``sort``, subqueries, the common range functions
  (rate, increase, delta, deriv, changes, the ``*_over_time`` but quantile and mad), a plain
  ``count_values``, ``k = 1`` selections, an operation with a side that reads no series
  (``x >= 0``), ``or`` with an always-empty side (``topk(0, ...)``), an ``on ()`` join
  with one series, and sum/avg/min/max of one series. The node whose answer differs is
  in the peeled part; a static analysis cannot always tell which one it is, so the focus
  is the outermost node that is not a wrapper.
* **aspect**: the data aspect words (:mod:`promfuzz.oracles.aspects`) are facts of the
  hit (:class:`HitFacts`) but none is in the key today (:data:`KEY_ASPECT`): measured
  on the labelled set (366 cases), ``points:nan``/``points:inf`` in the key give
  precision 0.937 / recall 0.900 (one bug's variants split: a quantile at φ = 0 is NaN on
  one dataset, -Inf on another), the sample kinds 0.937 / 0.894, none 0.937 / 0.901: they
  separated no two labelled bugs.

:func:`assign` looks a key up among the ledger's bugs (:func:`ledger_index`: each member
case gives its key, with and without its entry's attribution) before a new id
``new-<hash>`` is made from the key; :class:`RunBugs` is the campaign parent's side.
:func:`pairwise_scores` and :func:`measure` measure a grouping against hand labels
(``promfuzz bugs grouping``; the labelled set is frozen in
``tests/fixtures/bug_grouping/labelled.json``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class HitFacts:
    """What a key is computed from: all of it survives in a stored corpus case (its .json)
    and in a campaign's shrunk finding. ``label``/``attributed`` are ``promfuzz explain``'s
    conclusion when it ran (``""`` when unknown)."""

    target: str
    reference: str
    query: str
    category: str
    qualifier: str = ""
    error_classes: tuple[str, ...] = ()
    aspect: tuple[str, ...] = ()
    label: str = ""  # engine | fork-lag | both | none | "" (not explained)
    attributed: tuple[str, ...] = ()  # e.g. ("+narrow_binary_selectors",)
    vendored: str = ""  # the target's github.com/prometheus/prometheus module version text

    def to_json_obj(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json_obj(d: Mapping[str, Any]) -> HitFacts:
        return HitFacts(
            target=str(d["target"]), reference=str(d.get("reference", "prometheus")), query=str(d["query"]),
            category=str(d["category"]), qualifier=str(d.get("qualifier", "")),
            error_classes=tuple(d.get("error_classes", ())), aspect=tuple(d.get("aspect", ())),
            label=str(d.get("label", "")), attributed=tuple(d.get("attributed", ())),
            vendored=str(d.get("vendored", "")),
        )


_NAN_RE = re.compile(r"(?<![\w.])NaN\b")
_INF_RE = re.compile(r"(?<![\w.])[-+]?Inf\b")


def _point_words(differences: Iterable[Mapping[str, Any]]) -> set[str]:
    out: set[str] = set()
    for d in differences:
        if d.get("category") in ("annotations", "order"):
            continue
        msg = str(d.get("message", ""))
        if _NAN_RE.search(msg):
            out.add("points:nan")
        if _INF_RE.search(msg):
            out.add("points:inf")
    return out


def facts_from_verdict(*, target: str, reference: str, query: str, verdict: Mapping[str, Any],
                       dataset: Any = None, explain: Mapping[str, Any] | None = None,
                       versions: Mapping[str, str] | None = None) -> HitFacts:
    """The facts of one shrunk case: ``verdict`` is :meth:`Verdict.to_json_obj` (as a
    corpus case's .json stores it), ``dataset`` a :class:`promfuzz.model.Dataset` (for the
    operand sample kinds), ``explain`` :meth:`Explanation.to_json_obj` when it ran,
    ``versions`` the target's module versions."""
    sig = verdict.get("signature") or {}
    aspect = set(sig.get("aspect", ()))
    if dataset is not None and not any(a.startswith("samples:") for a in aspect):
        from promfuzz.oracles.aspects import _operand_words

        aspect.update(_operand_words(query, dataset))
    aspect.update(_point_words(verdict.get("differences", ())))
    vendored = ""
    for mod, ver in (versions or {}).items():
        if mod.rstrip("/").endswith("prometheus/prometheus"):
            vendored = str(ver)
    ex = explain or {}
    return HitFacts(
        target=str(sig.get("target") or target), reference=reference, query=query,
        category=str(sig.get("category", "")), qualifier=str(sig.get("qualifier", "")),
        error_classes=tuple(sig.get("error_classes", ())), aspect=tuple(sorted(aspect)),
        label=str(ex.get("label", "")), attributed=tuple(ex.get("attributed", ())), vendored=vendored,
    )


def facts_from_case_file(json_path: str | Path, explain: Mapping[str, Any] | None = None, *,
                         samples: bool = True) -> HitFacts:
    """The facts of a stored corpus case (its ``.json`` next to the ``.test``);
    ``samples=False`` skips reading the dataset (the operand sample kinds)."""
    from promfuzz.model import Dataset

    p = Path(json_path).with_suffix(".json")
    d = json.loads(p.read_text(encoding="utf-8"))
    verdict = d.get("verdict") or {}
    sig = verdict.get("signature") or {}
    target = str(sig.get("target", ""))
    engines = d.get("engines", {})
    reference = next((e for e in engines if e != target), "prometheus")
    ds = Dataset.from_json_obj(d["case"]["dataset"], str(p)) if samples else None
    return facts_from_verdict(target=target, reference=reference, query=d["case"]["query"], verdict=verdict,
                              dataset=ds, explain=explain, versions=engines.get(target, {}))


# ----------------------------------------------------------------------------- the key


def _family(engine: str) -> str:
    name = engine.split("=", 1)[0] if "=http:" in engine else engine
    return re.split(r"[\[@]", name, maxsplit=1)[0]


def _same_build_reference(family: str) -> str:
    try:
        from promfuzz.engines.spec import FAMILIES

        fam = FAMILIES.get(family)
        return fam.same_build_reference if fam is not None else family
    except Exception:  # noqa: BLE001 - an unknown family is its own build
        return family


def _unforked_version(vendored: str) -> bool:
    """A plain upstream tag (``v0.308.0``), not a fork's module (``github.com/grafana/...``)."""
    return bool(re.fullmatch(r"v\d+\.\d+\.\d+", vendored.strip()))


def attribution(f: HitFacts) -> tuple[str, str]:
    """(build, layer) of the key (see the module doc)."""
    fam = _family(f.target)
    own = _same_build_reference(fam)
    # The pass's name without explain's sign (which way the toggle goes is the same bug).
    passes = sorted({a.lstrip("+-") for a in f.attributed if a[:1] in "+-" or a in ("passes", "optimizers")})
    if passes:
        return fam, "pass:" + ",".join(passes)
    target_is_prometheus = own == fam and fam not in ("prometheus", "prometheus-promqltest") and \
        _family(f.reference) in ("prometheus", "prometheus-promqltest")
    fork = f.label in ("fork-lag", "both") or (not f.label or f.label == "none") and target_is_prometheus
    if fork:
        if _unforked_version(f.vendored):
            return own, "version"
        return own, "fork"
    return fam, "engine"


def kind_of(f: HitFacts) -> str:
    c = f.category
    if c in ("value", "missing_series", "extra_series", "duplicate_series", "histogram", "timestamp", "value_type"):
        return "answer"
    # Diagnostics: a warning, info or error the target leaves out is one kind whether it is
    # an annotation or an error (a skipped operand loses both); one it adds is another.
    if c == "annotations":
        dirs = {m.group(1) for m in re.finditer(r"(?:info|warning)_(missing|extra)", f.qualifier)}
        return {frozenset({"missing"}): "diagnostics:fewer", frozenset({"extra"}): "diagnostics:more"}.get(
            frozenset(dirs), "diagnostics:other")
    if c in ("error_vs_result", "error_class", "engine_failure"):
        if f.qualifier.startswith("panic: "):
            return "panic"
        ref, tgt = (f.error_classes + ("ok", "ok"))[:2]
        if ref != "ok" and tgt != "ok":
            return "diagnostics:other"
        return "diagnostics:fewer-error" if ref != "ok" else "diagnostics:more"
    return c


# Nodes that only carry a difference upward (peeled off the top of the query).
_ELEMENTWISE = frozenset({
    "abs", "ceil", "floor", "round", "exp", "ln", "log2", "log10", "sqrt", "sgn", "sin", "cos", "tan", "asin",
    "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "day_of_month", "day_of_week",
    "day_of_year", "days_in_month", "hour", "minute", "month", "year", "sort", "sort_desc", "scalar", "vector",
    "absent", "absent_over_time", "present_over_time", "changes", "resets", "count_over_time", "last_over_time",
    "sum_over_time", "avg_over_time", "min_over_time", "max_over_time", "stddev_over_time", "stdvar_over_time",
    "ts_of_first_over_time", "ts_of_last_over_time", "ts_of_max_over_time", "ts_of_min_over_time",
    "first_over_time", "idelta", "deriv", "delta", "increase", "rate", "irate",
})


def _num_class(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    return "0" if v == 0 else "n"


def _skel(node: Any, depth: int) -> str:
    """The skeleton of ``node`` down to ``depth`` levels (selectors, label lists and
    literals abstracted)."""
    from promfuzz.promql import ast as A

    if isinstance(node, A.ParenExpr):
        return _skel(node.expr, depth)
    if isinstance(node, A.NumberLiteral):
        return _num_class(node.value)
    if isinstance(node, A.StringLiteral):
        return "str"
    if isinstance(node, A.VectorSelector):
        mods = [m for m, on in (("@", node.at is not None), ("offset", node.offset != 0),
                                ("anchored", node.anchored), ("smoothed", node.smoothed)) if on]
        return "sel{" + ",".join(mods) + "}" if mods and depth > 0 else "_"
    if isinstance(node, A.MatrixSelector):
        return _skel(node.selector, depth)
    if depth <= 0:
        return "_"
    if isinstance(node, A.SubqueryExpr):
        mods = [m for m, on in (("@", node.at is not None), ("offset", node.offset != 0)) if on]
        return _skel(node.expr, depth - 1) + "[sq" + ("," + ",".join(mods) if mods else "") + "]"
    if isinstance(node, A.Call):
        return f"{_func_class(node.func)}(" + ",".join(_skel(a, depth - 1) for a in node.args) + ")"
    if isinstance(node, A.AggregateExpr):
        grp = " without" if node.without else ""
        param = (_skel(node.param, depth - 1) + ",") if node.param is not None else ""
        return f"{_agg_class(node.op)}{grp}(" + param + _skel(node.expr, depth - 1) + ")"
    if isinstance(node, A.BinaryExpr):
        m = node.matching
        fill = "fill" if m is not None and (m.fill_lhs is not None or m.fill_rhs is not None) else ""
        extra = ",".join(x for x in (fill, "bool" if node.return_bool else "") if x)
        return "binop" + (f"[{extra}]" if extra else "")
    if isinstance(node, A.UnaryExpr):
        return _skel(node.expr, depth)
    return type(node).__name__


def _agg_class(op: str) -> str:
    # topk, bottomk, limitk and limit_ratio share their k handling; quantile and
    # quantile_over_time share Prometheus's quantile().
    return {"topk": "k-select", "bottomk": "k-select", "limitk": "k-select", "limit_ratio": "k-select",
            "quantile": "quantile"}.get(op, op)


def _func_class(func: str) -> str:
    # The φ-quantiles: quantile_over_time (Prometheus's quantile(), as the aggregation) and
    # histogram_quantile share the φ edge cases (φ < 0, 0, 1, > 1, NaN).
    # rad and deg: the one unit conversion (a product with pi/180 or 180/pi).
    return {"quantile_over_time": "quantile", "histogram_quantile": "quantile", "deg": "rad|deg",
            "rad": "rad|deg"}.get(func, func)


def _peel(node: Any) -> Any:
    from promfuzz.promql import ast as A

    while True:
        if isinstance(node, (A.ParenExpr, A.UnaryExpr)):
            node = node.expr
        elif isinstance(node, A.SubqueryExpr):
            node = node.expr
        elif isinstance(node, A.MatrixSelector):
            return node
        elif isinstance(node, A.Call) and node.func in _ELEMENTWISE and node.args:
            inner = [a for a in node.args if not isinstance(a, (A.NumberLiteral, A.StringLiteral))]
            if len(inner) != 1:
                return node
            node = inner[0]
        elif isinstance(node, A.BinaryExpr) and node.op not in ("and", "or", "unless") and (
                _is_number(node.lhs) or _is_number(node.rhs)):
            node = node.rhs if _is_number(node.lhs) else node.lhs  # element-wise with a literal
        elif isinstance(node, A.BinaryExpr) and node.op == "or" and (_is_empty(node.lhs) or _is_empty(node.rhs)):
            node = node.rhs if _is_empty(node.lhs) else node.lhs  # nothing or B is B
        elif isinstance(node, A.BinaryExpr) and node.op not in ("and", "or", "unless") and node.matching is not None \
                and node.matching.on and not node.matching.labels and (_one_series(node.lhs) or _one_series(node.rhs)):
            node = node.rhs if _one_series(node.lhs) else node.lhs  # on () with one series: like a scalar
        elif isinstance(node, A.AggregateExpr) and node.op in ("sum", "avg", "min", "max") and not node.grouping \
                and not node.without and _one_series(node.expr):
            node = node.expr  # the sum of one series is that series
        elif isinstance(node, A.AggregateExpr) and node.op == "count_values" and node.grouping is None:
            node = node.expr
        elif isinstance(node, A.AggregateExpr) and node.op in ("topk", "bottomk", "limitk", "limit_ratio") \
                and isinstance(node.param, A.NumberLiteral) and node.param.value == 1:
            node = node.expr  # k = 1: a tie-breaking wrapper the generator adds
        else:
            return node


def _k_literal(node: Any) -> float | None:
    """k of a topk/bottomk/limitk/limit_ratio without grouping whose k is a literal."""
    from promfuzz.promql import ast as A

    while isinstance(node, A.ParenExpr):
        node = node.expr
    if isinstance(node, A.AggregateExpr) and node.op in ("topk", "bottomk", "limitk", "limit_ratio") \
            and not node.grouping and not node.without and isinstance(node.param, A.NumberLiteral):
        return node.param.value
    return None


def _is_empty(node: Any) -> bool:
    return _k_literal(node) == 0


def _one_series(node: Any) -> bool:
    return _k_literal(node) == 1


def _is_number(node: Any) -> bool:
    """A side that reads no series (a literal, ``step()``, ``time()``, arithmetic of them):
    an operation with it is element-wise."""
    from promfuzz.promql import ast as A

    return not any(isinstance(n, A.VectorSelector) for n, _path in A.walk(node))


def focus(query: str) -> str:
    from promfuzz.oracles._query import _tree

    tree = _tree(query)
    if tree is None:
        return "unparsed"
    return _skel(_peel(tree), FOCUS_DEPTH)


FOCUS_DEPTH = 1


@dataclass(frozen=True)
class GroupKey:
    build: str
    layer: str
    kind: str = ""
    focus: str = ""
    aspect: tuple[str, ...] = ()

    def text(self) -> str:
        return " | ".join(x for x in (self.build, self.layer, self.kind, self.focus, ",".join(self.aspect)) if x)

    def digest(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()[:10]

    def new_id(self) -> str:
        return f"new-{self.digest()}"


KEY_ASPECT: tuple[str, ...] = ()
"""The aspect words a key keeps (answer differences only); see the module doc."""


def group_key(f: HitFacts) -> GroupKey:
    build, layer = attribution(f)
    if layer.startswith("pass:") or layer == "version":
        # The toggled pass, or the vendored version, is the bug whatever the query.
        return GroupKey(build, layer)
    kind = kind_of(f) if layer != "fork" else ""
    fx = focus(f.query)
    if fx.startswith("k-select(0,") and kind == "diagnostics:fewer-error":
        # k = 0 answers without evaluating its operand: whatever the operand would report, a
        # warning, an info or an error, is lost alike (a static short circuit).
        kind = "diagnostics:fewer"
    aspect = tuple(a for a in f.aspect if a in KEY_ASPECT) if kind == "answer" else ()
    return GroupKey(build, layer, kind, fx, aspect)


# ----------------------------------------------------------------------------- ledger matching


@dataclass
class LedgerIndex:
    """Key text -> ledger bug ids (with how many members give that key)."""

    by_key: dict[str, Counter[str]] = field(default_factory=dict)
    bugs: dict[str, Any] = field(default_factory=dict)

    def match(self, key: GroupKey) -> Any:
        got = self.by_key.get(key.text())
        if not got:
            return None
        return self.bugs[got.most_common(1)[0][0]]


def ledger_attribution(bug: Any) -> dict[str, Any]:
    """What a ledger entry's ``[attribution]`` says, as explain would: its pass, or a fork lag."""
    a = bug.attribution
    if a.pass_:
        return {"label": "engine", "attributed": ["+" + a.pass_]}
    if a.layer == "fork":
        return {"label": "fork-lag", "attributed": []}
    return {}


def ledger_index(corpus: str | Path, bugs: Sequence[Any] | None = None,
                 facts: Mapping[str, HitFacts] | None = None) -> LedgerIndex:
    """The keys of every ledger bug's member cases (their stored .json; ``facts`` may give
    them instead, by member path). Each member is indexed under two keys: with the
    attribution its entry records (a pass, a fork lag) and with none (what a hit that
    was not explained has). Not-a-bug entries are indexed too: a new hit like them is
    theirs."""
    from promfuzz.bugs.ledger import load_ledger

    if bugs is None:
        bugs = load_ledger(corpus, check_members=False)
    idx = LedgerIndex()
    for b in bugs:
        idx.bugs[b.id] = b
        attr = ledger_attribution(b)
        for m in b.members:
            try:
                hf = facts[m] if facts is not None and m in facts else facts_from_case_file(
                    Path(corpus) / m, samples=any(a.startswith("samples:") for a in KEY_ASPECT))
            except (OSError, ValueError, KeyError):
                continue
            static = HitFacts(**{**hf.to_json_obj(), "label": "", "attributed": ()})
            keys = {group_key(static).text()}
            if attr:
                keys.add(group_key(HitFacts(**{**static.to_json_obj(), "label": attr["label"],
                                               "attributed": tuple(attr["attributed"])})).text())
            for k in keys:
                idx.by_key.setdefault(k, Counter())[b.id] += 1
    return idx


@dataclass(frozen=True)
class Assignment:
    """The bug a finding belongs to (:func:`assign`)."""

    bug_id: str
    title: str
    status: str  # new | open | reported | fixed-regression | wontfix | documented
    key: GroupKey
    ledger: Any = None  # the matched promfuzz.bugs.Bug, or None for a new bug


def assign(hf: HitFacts, index: LedgerIndex | None) -> Assignment:
    """Match a hit against the ledger first (the key with its attribution, then without);
    else a new bug ``new-<hash of the key>``."""
    key = group_key(hf)
    if index is not None:
        bug = index.match(key)
        if bug is None and (hf.label or hf.attributed):
            bug = index.match(group_key(HitFacts(**{**hf.to_json_obj(), "label": "", "attributed": ()})))
        if bug is not None:
            return Assignment(bug.id, bug.title, bug_status(bug), key, bug)
    return Assignment(key.new_id(), new_bug_title(hf, key), "new", key)


def bug_status(bug: Any) -> str:
    """A finding's ``bug_status`` for a ledger bug it matched."""
    if bug.status == "fixed":
        return "fixed-regression"
    if bug.status == "not-a-bug":
        return "documented"
    return str(bug.status)


class RunBugs:
    """A campaign parent's side of the grouping: gives every failing finding its bug
    (ledger first) and updates the ledger of the campaign's corpus (``last_seen``; a
    ``fixed`` bug found again is flagged as a regression, on the console too)."""

    GROUPED = ("divergence", "engine_failure")

    def __init__(self, corpus: str | Path | None) -> None:
        self.corpus = Path(corpus) if corpus is not None else None
        self._index: LedgerIndex | None = None
        self._loaded = False
        self.regressions: list[str] = []

    def index(self) -> LedgerIndex | None:
        if not self._loaded:
            self._loaded = True
            if self.corpus is not None and (self.corpus / "bugs").is_dir():
                from promfuzz.errors import InputError

                try:
                    self._index = ledger_index(self.corpus)
                except InputError as e:  # a broken ledger must not stop the run: say so, group without it
                    import sys

                    print(f"promfuzz: bug ledger not used: {e}", file=sys.stderr)
        return self._index

    def assign(self, f: Any, stored: Any = None, versions: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """Set ``f.bug_id``/``bug_title``/``bug_status`` (a :class:`Finding`; ``stored`` its
        :class:`promfuzz.pipeline.StoredCase`, when the worker sent one)."""
        if f.verdict not in self.GROUPED:
            return
        ex = getattr(f, "explain", None) or {}
        tv = (versions or {}).get(f.target, {})
        if stored is not None:
            hf = facts_from_verdict(target=f.target, reference=f.reference, query=stored.case.query,
                                    verdict=stored.verdict, dataset=stored.case.dataset, explain=ex, versions=tv)
        else:
            hf = HitFacts(target=f.target, reference=f.reference, query=f.query, category=f.category,
                          qualifier=f"panic: {f.panic}" if getattr(f, "panic", None) else "",
                          label=str(ex.get("label", "")), attributed=tuple(ex.get("attributed", ())))
        a = assign(hf, self.index())
        f.bug_id, f.bug_title, f.bug_status = a.bug_id, a.title, a.status
        if a.ledger is not None and self.corpus is not None:
            from promfuzz.bugs.ledger import record_bug_seen

            up = record_bug_seen(self.corpus, a.bug_id, f.case_file or f.query, f.target)
            for line in up.lines():
                import sys

                self.regressions.append(line)
                print(f"promfuzz: {line}", file=sys.stderr)
            if not up.regressions and a.status == "fixed-regression":
                f.bug_status = "open"  # fixed on other engines than this target: not a regression here


def format_bugs(bugs: Sequence[Mapping[str, Any]], limit: int = 60) -> list[str]:
    """The console lines of summary.json's ``bugs``: new ones first, with counts."""
    if not bugs:
        return []
    by_status = Counter(b["status"] for b in bugs)
    head = f"{len(bugs)} bug(s): " + ", ".join(f"{n} {s}" for s, n in by_status.items())
    lines = [head]
    for b in bugs[:limit]:
        nf = len(b["findings"])
        lines.append(f"  [{b['status']}] {b['id']} ({nf} finding{'s' if nf != 1 else ''}, {b['hits']} hit"
                     f"{'s' if b['hits'] != 1 else ''}, {', '.join(b['engines'])}): {b['title']}")
    if len(bugs) > limit:
        lines.append(f"  ... and {len(bugs) - limit} more (summary.json's bugs)")
    return lines


def new_bug_title(f: HitFacts, key: GroupKey) -> str:
    """An English title for a bug not in the ledger (no placeholders, no dict reprs)."""
    k = key.kind or kind_of(f)
    what = {"answer": "answers differently", "order": "orders series differently"}.get(k)
    what = what or {
        "diagnostics:fewer": "leaves out a warning, info or error the reference reports",
        "diagnostics:fewer-error": "answers where the reference fails",
        "diagnostics:more": "reports a warning, info or error the reference does not",
        "diagnostics:other": "reports other warnings, infos or errors than the reference",
        "panic": "panics",
    }.get(k) or "differs from the reference"
    if key.layer.startswith("pass:"):
        return f"{_family(f.target)} with the {key.layer[5:]} pass: it {what} (e.g. {_short(f.query)})"
    if key.layer == "version":
        return f"{key.build} vendors an older Prometheus: it {what} (e.g. {_short(f.query)})"
    who = f"{key.build} (fork lag)" if key.layer == "fork" else _family(f.target)
    return f"{who} {what}: {_short(f.query)}"


def _short(q: str, n: int = 80) -> str:
    q = " ".join(q.split())
    return q if len(q) <= n else q[: n - 1] + "…"


# ----------------------------------------------------------------------------- measuring


def pairwise_scores(auto: Mapping[str, str], truth: Mapping[str, str]) -> dict[str, float | int]:
    """Pairwise precision and recall of grouping ``auto`` (case -> group) against
    ``truth`` (case -> true bug), over the cases both name: precision = same-auto-group
    pairs that are in one true bug / same-auto-group pairs; recall = same-true-bug pairs
    put in one auto group / same-true-bug pairs."""
    cases = sorted(set(auto) & set(truth))

    def pairs(groups: Counter[Any]) -> int:
        return sum(n * (n - 1) // 2 for n in groups.values())

    both = pairs(Counter((auto[c], truth[c]) for c in cases))
    same_auto = pairs(Counter(auto[c] for c in cases))
    same_true = pairs(Counter(truth[c] for c in cases))
    return {
        "cases": len(cases), "auto_groups": len(set(auto[c] for c in cases)),
        "true_groups": len(set(truth[c] for c in cases)),
        "pairs_same_auto": same_auto, "pairs_same_true": same_true, "pairs_both": both,
        "precision": both / same_auto if same_auto else 1.0,
        "recall": both / same_true if same_true else 1.0,
    }


# ----------------------------------------------------------------------------- the labelled set

LABELLED_FORMAT = "promfuzz-labelled-grouping/1"


def labelled_set(corpus: str | Path, attribution: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The hand labels (the ledger's case -> bug) with each case's :class:`HitFacts`, as
    the fixture freezes them. ``attribution``: member path -> ``promfuzz explain``'s JSON
    (its ``label`` and ``attributed``), when the cases were explained."""
    from promfuzz.bugs.ledger import load_ledger

    rows: list[dict[str, Any]] = []
    for b in load_ledger(corpus, check_members=False):
        for m in b.members:
            hf = facts_from_case_file(Path(corpus) / m, (attribution or {}).get(m))
            rows.append({"case": m, "bug": b.id, "facts": hf.to_json_obj()})
    rows.sort(key=lambda r: r["case"])
    return {"format": LABELLED_FORMAT, "cases": rows}


def load_labelled(path: str | Path) -> dict[str, Any]:
    from promfuzz.errors import InputError

    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read the labelled set: {e}", str(path)) from e
    if not isinstance(d, dict) or d.get("format") != LABELLED_FORMAT or not isinstance(d.get("cases"), list):
        raise InputError(f"not a labelled grouping set (expected format {LABELLED_FORMAT!r})", str(path))
    return d


def measure(labelled: Mapping[str, Any], *, use_attribution: bool = True) -> dict[str, Any]:
    """Pairwise precision/recall of :func:`group_key` on a labelled set, and the groups.
    ``use_attribution=False`` drops ``promfuzz explain``'s conclusions (what a campaign
    knows when it does not explain its findings)."""
    truth: dict[str, str] = {}
    auto: dict[str, str] = {}
    for row in labelled["cases"]:
        hf = HitFacts.from_json_obj(row["facts"])
        if not use_attribution:
            hf = HitFacts(**{**hf.to_json_obj(), "label": "", "attributed": ()})
        truth[row["case"]] = row["bug"]
        auto[row["case"]] = group_key(hf).text()
    scores = pairwise_scores(auto, truth)
    groups: dict[str, Counter[str]] = {}
    for c, k in auto.items():
        groups.setdefault(k, Counter())[truth[c]] += 1
    return {**scores, "groups": {k: dict(v) for k, v in sorted(groups.items(), key=lambda kv: -sum(kv[1].values()))}}


def explain_members(corpus: str | Path, seconds: float = 20.0) -> dict[str, dict[str, Any]]:
    """``promfuzz explain`` (options toggled, no other revisions) of every ledger case: the
    attribution :func:`labelled_set` takes (needs the engine hosts; about 40 s for 320 cases)."""
    from promfuzz.bugs.ledger import load_ledger
    from promfuzz.explain import Explainer
    from promfuzz.model import Case

    out: dict[str, dict[str, Any]] = {}
    with Explainer() as ex:
        for b in load_ledger(corpus, check_members=False):
            for m in b.members:
                d = json.loads((Path(corpus) / m).with_suffix(".json").read_text(encoding="utf-8"))
                target = str((d.get("verdict", {}).get("signature") or {}).get("target", ""))
                try:
                    e = ex.explain(Case.from_json_obj(d["case"]), target, name=m, seconds=seconds, revisions=False)
                    out[m] = {"label": e.label, "attributed": list(e.attributed), "conclusion": e.conclusion}
                except Exception as err:  # noqa: BLE001 - a case that cannot be explained stays unattributed
                    out[m] = {"label": "", "attributed": [], "conclusion": f"not explained: {err}"}
    return out


def format_measure(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The figures of :func:`measure` (one block per mode) and the groups that mix bugs."""
    lines = []
    for mode, m in results.items():
        lines.append(f"{mode}: {m['cases']} cases, {m['true_groups']} bugs (hand labels), {m['auto_groups']} automatic "
                     f"groups; pairwise precision {m['precision']:.3f} ({m['pairs_both']}/{m['pairs_same_auto']}), "
                     f"recall {m['recall']:.3f} ({m['pairs_both']}/{m['pairs_same_true']})")
    first = next(iter(results.values()), None)
    if first:
        mixed = [(k, v) for k, v in first["groups"].items() if len(v) > 1]
        if mixed:
            lines.append(f"groups that mix bugs ({next(iter(results))}):")
            lines += [f"  {k}: " + ", ".join(f"{b} x{n}" for b, n in sorted(v.items(), key=lambda kv: -kv[1]))
                      for k, v in mixed]
    return "\n".join(lines) + "\n"
