"""Shape conditions of the known-difference rules, decided on the case itself (query tree
+ dataset), not on the features the query has: which sides of a binary operation MQE
skips, where an annotation was raised, which error a skipped side holds, whether a
duplicate match group has a partner, which operands read native histograms, what a parse
error or an "unsupported function" message points at. :mod:`promfuzz.oracles.known`
applies them; the keys are documented in ``known/README.md``."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from promfuzz.oracles.compare import Comparison

_PARSE_POS_RE = re.compile(r"(\d+):(\d+): parse error")


_UNSUPPORTED_FUNCTION_RE = re.compile(r'unsupported function "([A-Za-z_][A-Za-z0-9_]*)"')


def unsupported_function_called(f: _Facts, message: str) -> bool:
    """Does the target's error say ``unsupported function "F"`` (VictoriaMetrics's words)
    for an F that is a PromQL function the query calls? Any other error, or a function the
    query does not call, does not hold."""
    m = _UNSUPPORTED_FUNCTION_RE.search(message)
    if m is None or f.tree is None:
        return False
    from promfuzz.promql import ast as A
    from promfuzz.promql.functions import FUNCTIONS

    name = m.group(1)
    return name in FUNCTIONS and any(isinstance(n, A.Call) and n.func == name for n in _subtree(f.tree))


def parse_error_context(query: str, message: str) -> str | None:
    """The query text from its start up to and including the character a parse error
    message points at (``L:C: parse error``, 1-based line and column as Prometheus counts
    them); None when the message has no position or it is outside the query."""
    m = _PARSE_POS_RE.search(message)
    if m is None:
        return None
    line, col = int(m.group(1)), int(m.group(2))
    lines = query.split("\n")
    if not 1 <= line <= len(lines) or not 1 <= col <= len(lines[line - 1].encode()) + 1:
        return None
    head = "\n".join(lines[: line - 1] + [lines[line - 1].encode()[:col].decode(errors="ignore")])
    return head



# --------------------------------------------------------------------------- shapes
#
# Conditions decided on the case itself (query tree + dataset), not on the features the
# query has. Every helper answers conservatively: when it cannot decide (an unparsable
# query, a regex Python cannot read, a construct whose output labels it does not model),
# the condition does not hold, so the difference stays a divergence.

# Functions whose output series carry their vector/matrix argument's labels (__name__
# aside): element-wise maths and the *_over_time family. Given literal other arguments
# they cannot fail, and on an empty input they produce nothing (no series, no annotation).
_LABEL_PRESERVING = frozenset("""
abs acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max clamp_min cos cosh
count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp first_over_time
floor histogram_avg histogram_count histogram_stddev histogram_stdvar histogram_sum hour idelta increase
irate last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute month predict_linear
present_over_time quantile_over_time rad rate resets round sgn sin sinh sort sort_by_label
sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh timestamp
ts_of_first_over_time ts_of_last_over_time ts_of_max_over_time ts_of_min_over_time year
""".split())
# Aggregations without a parameter: output labels are the grouping labels.
_GROUPING_AGGS = frozenset(("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"))
# Aggregations that pick input series (labels unchanged).
_PICKING_AGGS = frozenset(("topk", "bottomk", "limitk", "limit_ratio"))
_SET_OPS = frozenset(("and", "or", "unless"))



class _Facts:
    """The parsed query and the dataset's label sets, computed once per case."""

    __slots__ = ("case", "tree", "spans", "series", "hist_series", "_cache")

    def __init__(self, case: Any) -> None:
        from promfuzz.model import Histogram
        from promfuzz.promql.parser import parse_spans

        self.case = case
        self.spans: dict[tuple[int, ...], tuple[int, int]] = {}
        try:
            self.tree: Any = parse_spans(case.query, spans=self.spans)[0]
        except Exception:  # noqa: BLE001 - an unparsable query decides nothing
            self.tree = None
        self.series = [dict(s.labels) for s in case.dataset.series]
        self.hist_series = [dict(s.labels) for s in case.dataset.series
                            if any(isinstance(x.v, Histogram) for x in s.samples)]
        self._cache: dict[tuple[str, int], Any] = {}


def _matcher_ok(op: str, value: str, have: str) -> bool | None:
    if op == "=":
        return have == value
    if op == "!=":
        return have != value
    try:
        hit = re.fullmatch(value, have, re.DOTALL) is not None
    except re.error:
        return None
    return hit if op == "=~" else not hit


def _selected(sel: Any, pool: Sequence[dict[str, str]]) -> list[dict[str, str]] | None:
    """The label sets of ``pool`` a vector selector matches; None when undecidable."""
    matchers = [(m.name, m.op, m.value) for m in sel.matchers]
    if sel.name is not None:
        matchers.append(("__name__", "=", sel.name))
    out = []
    for labels in pool:
        ok = True
        for name, op, value in matchers:
            hit = _matcher_ok(op, value, labels.get(name, ""))
            if hit is None:
                return None
            if not hit:
                ok = False
                break
        if ok:
            out.append(labels)
    return out


def _vtype(node: Any) -> str | None:
    from promfuzz.promql.ast import value_type

    try:
        return value_type(node)
    except (KeyError, TypeError):
        return None


def _strip(node: Any) -> Any:
    from promfuzz.promql.ast import ParenExpr

    while isinstance(node, ParenExpr):
        node = node.expr
    return node


def _series_arg(call: Any) -> tuple[Any, bool] | None:
    """The one vector/matrix argument of a call and whether every other one is a number literal."""
    from promfuzz.promql.ast import NumberLiteral, StringLiteral

    series = [a for a in call.args if _vtype(a) in ("vector", "matrix")]
    if len(series) != 1:
        return None
    rest = [a for a in call.args if a is not series[0]]
    literal = all(isinstance(_strip(a), (NumberLiteral, StringLiteral)) for a in rest)
    return series[0], literal


def _out_labels(node: Any, f: _Facts) -> list[dict[str, str]] | None:
    """A superset of the label sets (without __name__) a vector expression can output at any
    time, from the dataset; None when the construct is not modelled."""
    from promfuzz.promql import ast as A

    node = _strip(node)
    t = type(node)
    if t is A.VectorSelector:
        sel = _selected(node, f.series)
        return None if sel is None else [{k: v for k, v in lb.items() if k != "__name__"} for lb in sel]
    if t is A.MatrixSelector:
        return _out_labels(node.selector, f)
    if t is A.SubqueryExpr or t is A.UnaryExpr:
        return _out_labels(node.expr, f)
    if t is A.Call and node.func in _LABEL_PRESERVING:
        arg = _series_arg(node)
        return None if arg is None else _out_labels(arg[0], f)
    if t is A.AggregateExpr:
        inner = _out_labels(node.expr, f)
        if inner is None:
            return None
        if node.op in _PICKING_AGGS:
            return inner
        if node.op in _GROUPING_AGGS or node.op == "quantile":
            g = set(node.grouping or ())
            if node.without:
                return [{k: v for k, v in lb.items() if k not in g} for lb in inner]
            return [{k: v for k, v in lb.items() if k in g} for lb in inner]
        return None
    if t is A.BinaryExpr:
        lt, rt = _vtype(node.lhs), _vtype(node.rhs)
        if lt == "vector" and rt == "scalar":
            return _out_labels(node.lhs, f)
        if lt == "scalar" and rt == "vector":
            return _out_labels(node.rhs, f)
        if lt == rt == "vector" and node.op in ("and", "unless") and not _has_fill(node):
            return _out_labels(node.lhs, f)
    return None


def _has_fill(b: Any) -> bool:
    m = b.matching
    return m is not None and (m.fill_lhs is not None or m.fill_rhs is not None)


def _is_empty(node: Any, f: _Facts) -> bool:
    """True when the expression outputs no series on the case's data and cannot fail or
    annotate: selectors that match no series of the dataset, and only constructs that map
    an empty input to an empty output with literal parameters."""
    return _outputs_nothing(node, f, labels_only=False)


def _no_series(node: Any, f: _Facts) -> bool:
    """True when the expression outputs no series on the case's data, decided from series
    labels alone (as MQE decides what to skip), whatever it may raise on the way: what
    :func:`_is_empty` says, and vector/vector operations that produce nothing from their
    sides' labels (an empty side, for ``or`` both, for ``unless`` the left; or no match
    group in common). Only for annotations: an operation MQE skips this way reads none of
    its sides' samples, so none of their annotations are raised."""
    return _outputs_nothing(node, f, labels_only=True)


def _outputs_nothing(node: Any, f: _Facts, labels_only: bool) -> bool:
    """:func:`_is_empty` (``labels_only`` False) and :func:`_no_series` (True): the two
    differ only in what a vector/vector operation needs to output nothing."""
    from promfuzz.promql import ast as A

    node = _strip(node)
    t = type(node)
    if t is A.VectorSelector:
        sel = _selected(node, f.series)
        return sel is not None and not sel
    if t is A.MatrixSelector:
        return _outputs_nothing(node.selector, f, labels_only)
    if t is A.SubqueryExpr or t is A.UnaryExpr:
        return _outputs_nothing(node.expr, f, labels_only)
    if t is A.Call and node.func in _LABEL_PRESERVING:
        arg = _series_arg(node)
        return arg is not None and arg[1] and _outputs_nothing(arg[0], f, labels_only)
    if t is A.AggregateExpr:
        return node.param is None and node.op in _GROUPING_AGGS and _outputs_nothing(node.expr, f, labels_only)
    if t is A.BinaryExpr and not _has_fill(node):
        lt, rt = _vtype(node.lhs), _vtype(node.rhs)
        if lt == "vector" and isinstance(_strip(node.rhs), A.NumberLiteral):
            return _outputs_nothing(node.lhs, f, labels_only)
        if rt == "vector" and isinstance(_strip(node.lhs), A.NumberLiteral):
            return _outputs_nothing(node.rhs, f, labels_only)
        if lt == rt == "vector":
            left = _outputs_nothing(node.lhs, f, labels_only)
            if not labels_only or node.op == "or":  # cannot fail: both sides empty
                return left and _outputs_nothing(node.rhs, f, labels_only)
            if node.op == "unless":
                return left
            return left or _outputs_nothing(node.rhs, f, labels_only) or _groups_disjoint(node, f)
    return False


def _root_chain(tree: Any) -> list[Any]:
    """The nodes whose answer is the query's answer when it is empty: from the root down
    through wrappers that map an empty input to an empty answer without failing or
    annotating (parentheses, unary minus, aggregations without parameter, label-preserving
    functions with literal arguments, subqueries, arithmetic or comparison with a number)."""
    from promfuzz.promql import ast as A

    out = []
    node = tree
    while node is not None:
        node = _strip(node)
        out.append(node)
        t = type(node)
        nxt = None
        if t is A.UnaryExpr or t is A.SubqueryExpr:
            nxt = node.expr
        elif t is A.MatrixSelector:
            nxt = None
        elif t is A.AggregateExpr and node.param is None and node.op in _GROUPING_AGGS:
            nxt = node.expr
        elif t is A.Call and node.func in _LABEL_PRESERVING:
            arg = _series_arg(node)
            nxt = arg[0] if arg is not None and arg[1] else None
        elif t is A.BinaryExpr and node.op not in _SET_OPS and not _has_fill(node):
            if _vtype(node.lhs) == "vector" and isinstance(_strip(node.rhs), A.NumberLiteral):
                nxt = node.lhs
            elif _vtype(node.rhs) == "vector" and isinstance(_strip(node.lhs), A.NumberLiteral):
                nxt = node.rhs
        node = nxt
    return out


def _vv_binop(node: Any) -> bool:
    from promfuzz.promql.ast import BinaryExpr

    return (isinstance(node, BinaryExpr) and node.op != "or" and not _has_fill(node)
            and _vtype(node.lhs) == "vector" and _vtype(node.rhs) == "vector")


def _evaluation_order(b: Any) -> tuple[Any, Any]:
    """MQE's order for a vector/vector operation: the side whose series it asks for first,
    then the other (binops/*.go: the left side for one-to-one, and, unless; the "one"
    side for group_left/group_right)."""
    card = b.matching.card if b.matching is not None else "one-to-one"
    if card == "many-to-one":
        return b.rhs, b.lhs
    return b.lhs, b.rhs


def _group_key(labels: dict[str, str], b: Any) -> Any:
    m = b.matching
    if m is not None and m.on:
        return tuple(labels.get(k, "") for k in m.labels)
    drop = set(m.labels) if m is not None else set()
    return frozenset((k, v) for k, v in labels.items() if k not in drop)


def _groups_disjoint(b: Any, f: _Facts) -> bool:
    """No match group of one side has a partner on the other, from the dataset's labels."""
    m = b.matching
    if b.op == "unless" or (m is not None and "__name__" in m.labels):
        return False
    left, right = _out_labels(b.lhs, f), _out_labels(b.rhs, f)
    if left is None or right is None:
        return False
    return not ({_group_key(lb, b) for lb in left} & {_group_key(lb, b) for lb in right})


def skipped_operands(f: _Facts, mode: str) -> list[Any]:
    """Operands of the query's empty binary operation that MQE never evaluates.

    mode "whole": the operation's first-evaluated side matches nothing in the dataset, so
    the other side is not evaluated at all (not even its series labels): returns it.
    mode "data": the operation provably produces no series from the series labels alone
    (one side empty, or no match group in common), so neither side's samples are read:
    returns both sides."""
    if f.tree is None:
        return []
    key = ("skipped:" + mode, 0)
    if key in f._cache:
        return f._cache[key]  # type: ignore[no-any-return]
    out: list[Any] = []
    for node in _root_chain(f.tree):
        if not _vv_binop(node):
            continue
        first, second = _evaluation_order(node)
        if mode == "whole":
            if _is_empty(first, f):
                out.append(second)
        elif (_no_series(node.lhs, f) or (node.op != "unless" and _no_series(node.rhs, f))
              or _groups_disjoint(node, f)):
            out.extend((node.lhs, node.rhs))
    f._cache[key] = out
    return out


_ANNOTATION_POS_RE = re.compile(r"\((\d+):(\d+)\)\s*$")
_QUOTED_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_NUMBER_RE = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|Inf|NaN)(?![\w.])")


def annotation_template(text: str) -> str:
    """What an annotation says with its particulars taken out (position, quoted metric
    names and label values, numbers): the kind of annotation one operator raises."""
    return _NUMBER_RE.sub("#", _QUOTED_RE.sub('"…"', _ANNOTATION_POS_RE.sub("", text))).strip()


def skipped_annotations_emitted(comparison: Comparison) -> bool:
    """Did the target raise a kind of annotation that it is said to have skipped?

    When MQE skips a binary operation's sides it reads none of their samples, so it
    raises none of the annotations those samples raise: a kind of annotation (see
    :func:`annotation_template`) that the target reports while missing another of the
    same kind means the sides were evaluated, and the missing one is a real loss (issue
    #12: dropping one annotation of several was absorbed)."""
    ref, tgt = comparison.ref, comparison.tgt
    if ref is None or tgt is None:
        return False
    for kind in ("warnings", "infos"):
        have = Counter(getattr(tgt, kind))
        missing = Counter(getattr(ref, kind)) - have
        if not missing:
            continue
        kinds = {annotation_template(a) for a in have}
        if any(annotation_template(a) in kinds for a in missing):
            return True
    return False


def _offset_of(query: str, line: int, col: int) -> int | None:
    """The character offset of Prometheus's ``line:col`` (col counts bytes from 1)."""
    lines = query.split("\n")
    if not 1 <= line <= len(lines):
        return None
    raw = lines[line - 1].encode()
    if not 1 <= col <= len(raw) + 1:
        return None
    before = sum(len(x) + 1 for x in lines[: line - 1])
    return before + len(raw[: col - 1].decode(errors="ignore"))


def annotation_from_skipped_operand(f: _Facts, text: str) -> bool:
    """Is ``text`` (the reference's annotation) raised inside a side of the binary
    operation MQE skips? Decided by its position, the start of the node that raised it
    (Prometheus's ``PositionRange``): it must fall within a skipped side's text. An
    annotation without a position cannot be placed, so it is not."""
    m = _ANNOTATION_POS_RE.search(text)
    if m is None or f.tree is None:
        return False
    at = _offset_of(f.case.query, int(m.group(1)), int(m.group(2)))
    if at is None:
        return False
    from promfuzz.promql.ast import positions

    ids = {id(n) for n in skipped_operands(f, "data")}
    for pos, node in positions(f.tree):
        if id(node) in ids:
            span = f.spans.get(pos)
            if span is not None and span[0] <= at < max(span[1], span[0] + 1):
                return True
    return False


def _subtree(node: Any) -> list[Any]:
    from promfuzz.promql.ast import walk

    return [n for n, _ in walk(node)]


def _error_source(message: str) -> Any:
    from promfuzz.promql import ast as A

    def agg(*ops: str) -> Any:
        return lambda n: isinstance(n, A.AggregateExpr) and n.op in ops

    def fn(*names: str) -> Any:
        return lambda n: isinstance(n, A.Call) and n.func in names

    def relabels(n: Any) -> bool:
        # what can leave two series with one label set: dropping __name__ (functions,
        # arithmetic, unary minus), or rewriting labels
        return isinstance(n, (A.Call, A.BinaryExpr, A.UnaryExpr)) or (
            isinstance(n, A.AggregateExpr) and n.op in ("count_values",))

    table = (
        (r"Parameter value is NaN|Scalar value .* (overflows|underflows) int64", agg("topk", "bottomk", "limitk")),
        (r"invalid smoothing factor|invalid trend factor", fn("double_exponential_smoothing", "holt_winters")),
        (r"in label_replace\(\)", fn("label_replace")),
        (r"in label_join\(\)", fn("label_join")),
        (r"^invalid label name", agg("count_values")),
        (r"vector cannot contain metrics with the same labelset", relabels),
    )
    for pattern, pred in table:
        if re.search(pattern, message):
            return pred
    return None


def error_from_skipped_operand(f: _Facts, message: str) -> bool:
    """The reference's error is one an operand MQE never evaluates can raise: the message
    names a construct family (a topk/bottomk/limitk parameter, a smoothing factor,
    label_replace/label_join arguments, count_values' label, a label set made ambiguous)
    and that construct occurs inside a skipped operand (mode "whole")."""
    pred = _error_source(message)
    if pred is None:
        return False
    return any(pred(n) for side in skipped_operands(f, "whole") for n in _subtree(side))


_DUP_RE = re.compile(r"found duplicate series for the match group \{.*\} on the (right|left) hand-side "
                     r"of the operation: .*many-to-many matching not allowed")


def unmatched_duplicate_group(f: _Facts, message: str) -> bool:
    """Prometheus's many-to-many error (a duplicate match group on the "one" side) for an
    operation whose match groups have no partner on the other side at all: the operation
    gives no series whatever the duplicates hold, which is what MQE answers (Mimir's
    documented difference). The operation must be where the query's empty answer comes
    from (its root chain), and the side named must be its "one" side."""
    m = _DUP_RE.search(message)
    if m is None or f.tree is None:
        return False
    for node in _root_chain(f.tree):
        if not _vv_binop(node) or node.op in _SET_OPS:
            continue
        card = node.matching.card if node.matching is not None else "one-to-one"
        one_side = "left" if card == "one-to-many" else "right"
        if m.group(1) == one_side and _groups_disjoint(node, f):
            return True
    return False


def histogram_operands(f: _Facts, kinds: Sequence[str]) -> list[dict[str, str]]:
    """The dataset's native-histogram series (label sets without __name__) selected by the
    operand of a node of one of ``kinds`` ("fn:<name>" calls, "op:<op>" binary operators)."""
    from promfuzz.promql import ast as A

    if f.tree is None or not f.hist_series:
        return []
    out: list[dict[str, str]] = []
    for node in _subtree(f.tree):
        if isinstance(node, A.Call) and f"fn:{node.func}" in kinds:
            operands = list(node.args)
        elif isinstance(node, A.BinaryExpr) and f"op:{node.op}" in kinds:
            operands = [node.lhs, node.rhs]
        else:
            continue
        for op in operands:
            for n in _subtree(op):
                if isinstance(n, A.VectorSelector):
                    sel = _selected(n, f.hist_series) or []
                    out.extend({k: v for k, v in lb.items() if k != "__name__"} for lb in sel)
    return out
