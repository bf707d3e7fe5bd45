"""Structural mutation of upstream seed queries (see :mod:`promfuzz.generators.seeds`).

A mutant is made from one seed (or two, combined by a binary operator):

1. the seed's selectors are mapped onto the target dataset's schema (:func:`map_to_schema`:
   metric names, label names and label values are renamed consistently, so the mutant
   hits generated data),
2. one to three small, named mutators (:data:`MUTATORS`) each rewrite one random node of
   the tree, keeping its value type,
3. parentheses are added where precedence would change the tree, and the mutant is
   printed with :func:`~promfuzz.promql.to_text` and parsed back: it is kept only if it
   re-parses to the same tree, has the seed's value type and differs from the seed.

A configurable small share (``MutationConfig.invalid_p``) is deliberately invalid (a type
error our parser rejects). Every decision goes through a
:class:`~promfuzz.generators.choices.Choices`: same seed, same mutants byte for byte.

:func:`generate_dataset_with_mutated_queries` has the shape of
:func:`promfuzz.generators.cases.generate_dataset_with_queries` (same dataset for the
same seed), so a campaign switches its query source with one flag;
:func:`generate_dataset_with_mixed_queries` mixes both sources.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from promfuzz.errors import PromfuzzError
from promfuzz.generators.cases import CaseConfig, DatasetBatch, generate_dataset_with_queries, params_for
from promfuzz.generators.choices import Choices, RandomChoices
from promfuzz.generators.datasets import generate_dataset
from promfuzz.generators.queries import (
    GeneratedQuery,
    QueryConfig,
    QueryGenerator,
    render,
)
from promfuzz.generators.schema import DatasetSchema, MetricInfo
from promfuzz.generators.seeds import SeedQuery, upstream_seed_queries
from promfuzz.generators.syntax import (
    ends_with_duration_expr,
    has_trailing_modifier,
    matcher_non_empty,
    needs_paren_as_operand,
    re_escape,
)
from promfuzz.model import EvalParams
from promfuzz.promql import (
    AGGREGATIONS,
    FUNCTIONS,
    AggregateExpr,
    BinaryExpr,
    Call,
    Expr,
    LabelMatcher,
    MatrixSelector,
    Node,
    NumberLiteral,
    ParenExpr,
    Position,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
    children,
    parse,
    positions,
    replace_at,
    to_text,
    value_type,
)
from promfuzz.promql.ast import At, Card, Duration
from promfuzz.promql.functions import (
    ARITHMETIC_OPERATORS,
    COMPARISON_OPERATORS,
    SET_OPERATORS,
    ValueType,
)

__all__ = [
    "MUTATORS",
    "Mutant",
    "MutationConfig",
    "MutationContext",
    "Mutator",
    "generate_dataset_with_mixed_queries",
    "generate_dataset_with_mutated_queries",
    "map_to_schema",
    "mutants",
    "printable",
    "subquery_points",
]

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

EDGE_NUMBERS: tuple[float, ...] = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    2.0,
    0.5,
    -0.5,
    1.5,
    0.999999,
    1.0000001,
    100.0,
    -100.0,
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    5e-324,
    1e-300,
    9007199254740993.0,
    1e18,
)
"""Edge values for numbers: zero and its sign, ±1, quantiles outside [0, 1], NaN, ±Inf,
huge, tiny (denormal), beyond float64's integer precision."""

RANGES_MS: tuple[int, ...] = (
    1,
    SECOND,
    14 * SECOND,
    15 * SECOND,
    16 * SECOND,
    30 * SECOND,
    MINUTE,
    MINUTE - 1,
    MINUTE + 1,
    5 * MINUTE,
    10 * MINUTE,
    HOUR,
    3 * HOUR,
    24 * HOUR,
)
STEPS_MS: tuple[int, ...] = (
    1 * SECOND,
    7 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    90 * SECOND,
    5 * MINUTE,
)
OFFSETS_MS: tuple[int, ...] = (
    -5 * MINUTE,
    -MINUTE,
    -1,
    1,
    15 * SECOND,
    MINUTE,
    5 * MINUTE,
    5 * MINUTE + 1,
    HOUR,
    24 * HOUR,
)


class MutationError(PromfuzzError):
    """No mutant could be made (e.g. an empty seed list)."""


@dataclass(frozen=True)
class MutationConfig:
    """How mutants are made."""

    min_mutations: int = 1
    max_mutations: int = 3
    invalid_p: float = 0.02
    """Share of deliberately invalid mutants (type errors the parser must reject)."""
    combine_p: float = 0.1
    """Share of mutants that combine two seeds with a binary operator."""
    map_to_schema: bool = True
    """Map the seed's metric and label names onto the dataset's (so mutants hit data)."""
    keep_regex_p: float = 0.2
    """Share of regex matchers whose pattern is kept as written when mapping."""
    max_subquery_points: int = 20_000
    """Upper bound on the product of ``range/step`` over nested subqueries (cost bound)."""
    max_attempts: int = 12
    weights: tuple[tuple[str, float], ...] = ()
    """Mutator weights by name (default: every mutator alike); weight 0 disables one."""


@dataclass(frozen=True)
class Mutant:
    """A mutant: tree, canonical text, value type, its seed(s) and the mutators applied."""

    node: Expr
    text: str
    value_type: ValueType
    seeds: tuple[SeedQuery, ...]
    mutators: tuple[str, ...]
    invalid: str | None = None


@dataclass
class MutationContext:
    """What a mutator may use: the decisions, the target schema and a query generator for it.

    ``names``/``labels``/``values`` hold the consistent renaming of one mutant (fresh per mutant).
    """

    c: Choices
    schema: DatasetSchema
    gen: QueryGenerator
    config: MutationConfig
    names: dict[str, MetricInfo] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    values: dict[tuple[str, str], str] = field(default_factory=dict)


# --------------------------------------------------------------------------- tree sites

@dataclass(frozen=True, slots=True)
class _Site:
    node: Node
    address: Position
    parent: Node | None


def _sites(root: Node) -> list[_Site]:
    out: list[_Site] = []
    by_pos: dict[Position, Node] = {}
    for pos, node in positions(root):
        out.append(_Site(node, pos, by_pos[pos[:-1]] if pos else None))
        by_pos[pos] = node
    return out


def _pick(c: Choices, root: Expr, pred: Callable[[_Site], bool]) -> _Site | None:
    cands = [s for s in _sites(root) if pred(s)]
    return c.choice(cands) if cands else None


def _expr_site(s: _Site) -> bool:
    """A site that may be replaced by any expression of its type (not a range selector's inner
    selector, nor ``info``'s label-selector argument)."""
    return isinstance(s.node, Expr) and not isinstance(s.parent, MatrixSelector) and not _info_selector(s)


def _info_selector(s: _Site) -> bool:
    """``info(v, {data=~".+"})``: the second argument must stay a selector of labels only."""
    p = s.parent
    return isinstance(p, Call) and p.func == "info" and s.address[-1] == 1


def _vt(n: Node) -> ValueType | None:
    try:
        return value_type(n)
    except (KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- printing


def printable(node: Expr) -> Expr:
    """``node`` with parentheses added wherever printing and parsing back would change the tree."""

    def fix(n: Node) -> Node:
        if isinstance(n, BinaryExpr):
            lhs, rhs = n.lhs, n.rhs
            if (
                needs_paren_as_operand(lhs, n.op, "lhs")
                or isinstance(lhs, (SubqueryExpr, MatrixSelector))
                or ends_with_duration_expr(lhs)
            ):
                lhs = ParenExpr(lhs)
            if needs_paren_as_operand(rhs, n.op, "rhs"):
                rhs = ParenExpr(rhs)
            if lhs is not n.lhs or rhs is not n.rhs:
                return replace(n, lhs=lhs, rhs=rhs)
        elif isinstance(n, UnaryExpr):
            if isinstance(n.expr, (BinaryExpr, UnaryExpr, NumberLiteral)):
                return replace(n, expr=ParenExpr(n.expr))
        elif isinstance(n, SubqueryExpr):
            inner = n.expr
            if not isinstance(
                inner, (VectorSelector, Call, AggregateExpr, ParenExpr)
            ) or has_trailing_modifier(inner):
                return replace(n, expr=ParenExpr(inner))
        return n

    from promfuzz.promql import transform

    out = transform(node, fix)
    assert isinstance(out, Expr)
    return out


def subquery_points(node: Node, default_step_ms: int = MINUTE) -> int:
    """The largest product of ``range/step`` along nested subqueries (1 without subqueries)."""
    best = 1

    def go(n: Node, acc: int) -> None:
        nonlocal best
        if isinstance(n, SubqueryExpr):
            r = n.range if isinstance(n.range, int) else HOUR
            st = n.step if isinstance(n.step, int) and n.step > 0 else default_step_ms
            acc *= max(1, r // st)
            best = max(best, acc)
        for ch in children(n):
            go(ch, acc)

    go(node, 1)
    return best


# --------------------------------------------------------------------------- schema mapping


def _metric_for(ctx: MutationContext, name: str) -> MetricInfo:
    got = ctx.names.get(name)
    if got is not None:
        return got
    ms = ctx.gen.metrics
    pool: Sequence[MetricInfo] = ms
    low = name.lower()
    if low.endswith("_bucket"):
        pool = [m for m in ms if m.classic_bucket] or ms
    elif "histogram" in low or "native" in low or low.startswith("nh"):
        pool = [m for m in ms if m.kind != "float"] or ms
    elif low.endswith(("_total", "_count", "_sum")) or "counter" in low:
        pool = [m for m in ms if m.counter_like and m.kind == "float"] or ms
    m = ctx.c.choice(pool)
    ctx.names[name] = m
    return m


def _label_for(ctx: MutationContext, label: str, metric: MetricInfo | None) -> str:
    if label == "__name__" or label == "le":
        return label
    known = ctx.schema.label_names
    if label in known:
        return label
    got = ctx.labels.get(label)
    if got is not None:
        return got
    pool = [x for x in (metric.label_names if metric else ()) if x != "le"] or [x for x in known if x != "le"]
    new = ctx.c.choice(pool) if pool else label
    ctx.labels[label] = new
    return new


def _value_for(ctx: MutationContext, label: str, value: str) -> str:
    if value == "":
        return ""  # "the label is absent": meaningful as written
    values = ctx.schema.values_of(label)
    if not values or value in values:
        return value
    key = (label, value)
    got = ctx.values.get(key)
    if got is None:
        got = ctx.c.choice(values)
        ctx.values[key] = got
    return got


def _regex_for(ctx: MutationContext, label: str, pattern: str) -> str:
    c = ctx.c
    values = ctx.schema.values_of(label)
    if not values or c.boolean(ctx.config.keep_regex_p):
        return pattern
    kind = c.weighted((("alt", 4.0), ("prefix", 2.0), ("any", 1.0), ("some", 1.0)))
    vals = [re_escape(v) for v in values]
    if kind == "alt":
        return "|".join(c.subset(vals, max_size=3, min_size=1))
    if kind == "prefix":
        return (c.choice(vals)[:1] or "a") + ".*"
    return ".*" if kind == "any" else ".+"


def _map_selector(ctx: MutationContext, vs: VectorSelector) -> VectorSelector:
    c = ctx.c
    name_matchers = [m for m in vs.matchers if m.name == "__name__"]
    metric_name = vs.name
    if metric_name is None:
        for m in name_matchers:
            if m.op == "=":
                metric_name = m.value
    metric = _metric_for(ctx, metric_name) if metric_name else None
    new: list[LabelMatcher] = []
    seen: set[tuple[str, str]] = set()
    for m in vs.matchers:
        if m.name == "__name__":
            if m.op == "=" and metric is not None:
                nm = LabelMatcher("__name__", "=", metric.name)
            elif m.op in ("=~", "!~") and not c.boolean(ctx.config.keep_regex_p):
                alts = sorted(
                    {re_escape(_metric_for(ctx, m.value).name), re_escape(c.choice(ctx.gen.metrics).name)}
                )
                nm = LabelMatcher("__name__", m.op, "|".join(alts))
            elif m.op == "!=":
                nm = m
            else:
                nm = m
        else:
            label = _label_for(ctx, m.name, metric)
            if m.op in ("=", "!="):
                nm = LabelMatcher(label, m.op, _value_for(ctx, label, m.value))
            else:
                nm = LabelMatcher(label, m.op, _regex_for(ctx, label, m.value))
        key = (nm.name, nm.op)
        if key in seen and nm.name != "__name__":
            continue  # two seed labels mapped to one: keep the first
        seen.add(key)
        new.append(nm)
    name = metric.name if (vs.name is not None and metric is not None) else vs.name
    if name is None and not any(matcher_non_empty(m) for m in new):
        target = metric or c.choice(ctx.gen.metrics)
        new.append(LabelMatcher("__name__", "=", target.name))
    return replace(vs, name=name, matchers=tuple(new))


def _map_labels(ctx: MutationContext, labels: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for x in labels:
        y = _label_for(ctx, x, None)
        if y not in out:
            out.append(y)
    return tuple(out)


def map_to_schema(node: Expr, ctx: MutationContext) -> Expr:
    """``node`` with metric names, label names and label values renamed onto ``ctx.schema``
    (consistently: the same seed name always maps to the same dataset name in one mutant)."""

    def fn(n: Node) -> Node:
        if isinstance(n, VectorSelector):
            return _map_selector(ctx, n)
        if isinstance(n, AggregateExpr) and n.grouping:
            return replace(n, grouping=_map_labels(ctx, n.grouping))
        if isinstance(n, BinaryExpr) and n.matching is not None and (n.matching.labels or n.matching.include):
            vm = n.matching
            labels = _map_labels(ctx, vm.labels)
            include = tuple(x for x in _map_labels(ctx, vm.include) if not (vm.on and x in labels))
            return replace(n, matching=replace(vm, labels=labels, include=include))
        if isinstance(n, Call) and n.func in (
            "label_replace",
            "label_join",
            "sort_by_label",
            "sort_by_label_desc",
        ):
            idx = {"label_replace": (3,), "label_join": tuple(range(3, len(n.args)))}.get(
                n.func, tuple(range(1, len(n.args)))
            )
            args = list(n.args)
            for i in idx:
                a = args[i] if i < len(args) else None
                if isinstance(a, StringLiteral) and a.value:
                    args[i] = StringLiteral(_label_for(ctx, a.value, None))
            return replace(n, args=tuple(args))
        return n

    from promfuzz.promql import transform

    out = transform(node, fn)
    assert isinstance(out, Expr)
    return out


# --------------------------------------------------------------------------- mutators

MutatorFn = Callable[[Expr, MutationContext], Expr | None]


def swap_function(node: Expr, ctx: MutationContext) -> Expr | None:
    """A call to another function with the same signature (argument and return types)."""
    s = _pick(ctx.c, node, lambda s: isinstance(s.node, Call))
    if s is None:
        return None
    call = s.node
    assert isinstance(call, Call)
    f = FUNCTIONS[call.func]
    types = [_vt(a) for a in call.args]
    n = len(call.args)
    cands = []
    for g in FUNCTIONS.values():
        if g.name == f.name or g.return_type != f.return_type:
            continue
        if n < g.min_args or (g.max_args is not None and n > g.max_args):
            continue
        if all(types[i] == g.arg_type(i) for i in range(n)):
            cands.append(g.name)
    if not cands:
        return None
    return _sub(node, s, replace(call, func=ctx.c.choice(cands)))


def _sub(root: Expr, s: _Site, new: Node) -> Expr:
    out = replace_at(root, s.address, new)
    assert isinstance(out, Expr)
    return out


def _agg_param(ctx: MutationContext, op: str) -> Expr:
    c = ctx.c
    if op in ("topk", "bottomk", "limitk"):
        return NumberLiteral(c.choice((1.0, 2.0, 0.0, -1.0, 3.5, 1e9, math.nan)))
    if op == "quantile":
        return NumberLiteral(c.choice((0.5, 0.0, 1.0, 0.99, -0.1, 1.5, math.nan)))
    if op == "limit_ratio":
        return NumberLiteral(c.choice((0.5, -0.5, 1.0, 1.1, 0.0)))
    return StringLiteral(c.choice(("value", "job", "le", "")))  # count_values


def swap_aggregation(node: Expr, ctx: MutationContext) -> Expr | None:
    """Another aggregation: one with the same parameter type, sometimes adding or dropping the parameter."""
    s = _pick(ctx.c, node, lambda s: isinstance(s.node, AggregateExpr))
    if s is None:
        return None
    a = s.node
    assert isinstance(a, AggregateExpr)
    pt = AGGREGATIONS[a.op].param_type
    same = [x.name for x in AGGREGATIONS.values() if x.name != a.op and x.param_type == pt]
    if ctx.c.boolean(0.25) or not same:
        other = [x.name for x in AGGREGATIONS.values() if x.param_type != pt]
        op = ctx.c.choice(other)
        param = None if AGGREGATIONS[op].param_type is None else _agg_param(ctx, op)
        return _sub(node, s, replace(a, op=op, param=param))
    return _sub(node, s, replace(a, op=ctx.c.choice(same)))


def swap_binary_operator(node: Expr, ctx: MutationContext) -> Expr | None:
    """Another binary operator valid for the operand types (set operators only between vectors)."""
    s = _pick(ctx.c, node, lambda s: isinstance(s.node, BinaryExpr) and s.node.op not in ("</", ">/"))
    if s is None:
        return None
    b = s.node
    assert isinstance(b, BinaryExpr)
    vv = _vt(b.lhs) == "vector" and _vt(b.rhs) == "vector"
    pool = list(ARITHMETIC_OPERATORS + COMPARISON_OPERATORS + (SET_OPERATORS if vv else ()))
    pool.remove(b.op)
    op = ctx.c.choice(pool)
    matching = b.matching
    rb = False
    if op in COMPARISON_OPERATORS:
        rb = True if not vv and _vt(b.lhs) == "scalar" and _vt(b.rhs) == "scalar" else b.return_bool
    if vv:
        vm = matching or VectorMatching()
        if op in SET_OPERATORS:
            matching = VectorMatching("many-to-many", vm.labels, vm.on)
        elif vm.card == "many-to-many":
            matching = VectorMatching("one-to-one", vm.labels, vm.on)
    return _sub(node, s, BinaryExpr(op, b.lhs, b.rhs, rb, matching))


def change_number(node: Expr, ctx: MutationContext) -> Expr | None:
    """A number literal becomes an edge value (0, -0, ±1, NaN, ±Inf, huge, tiny, quantiles outside [0, 1])."""
    s = _pick(ctx.c, node, lambda s: isinstance(s.node, NumberLiteral))
    if s is None:
        return None
    old = s.node
    assert isinstance(old, NumberLiteral)
    cands = [v for v in EDGE_NUMBERS if NumberLiteral(v) != old]
    return _sub(node, s, NumberLiteral(ctx.c.choice(cands)))


def change_range(node: Expr, ctx: MutationContext) -> Expr | None:
    """Another range for a range selector, or another range/step for a subquery."""
    s = _pick(ctx.c, node, lambda s: isinstance(s.node, (MatrixSelector, SubqueryExpr)))
    if s is None:
        return None
    c = ctx.c
    n = s.node
    if isinstance(n, MatrixSelector):
        return _sub(node, s, replace(n, range=c.choice([r for r in RANGES_MS if r != n.range])))
    assert isinstance(n, SubqueryExpr)
    if c.boolean(0.5):
        rng: Duration = c.choice([r for r in RANGES_MS if r != n.range])
        return _sub(node, s, replace(n, range=rng))
    step: Duration | None = c.choice((None, *STEPS_MS))
    if step == n.step:
        return None
    return _sub(node, s, replace(n, step=step))


def _modifier_site(s: _Site) -> bool:
    return isinstance(s.node, (VectorSelector, SubqueryExpr))


def change_offset(node: Expr, ctx: MutationContext) -> Expr | None:
    """Add, change or drop an ``offset`` (negative offsets included)."""
    s = _pick(ctx.c, node, _modifier_site)
    if s is None:
        return None
    n = s.node
    assert isinstance(n, (VectorSelector, SubqueryExpr))
    if n.offset != 0 and ctx.c.boolean(0.4):
        return _sub(node, s, replace(n, offset=0))
    cands = [o for o in OFFSETS_MS if o != n.offset]
    return _sub(node, s, replace(n, offset=ctx.c.choice(cands)))


def change_at(node: Expr, ctx: MutationContext) -> Expr | None:
    """Add, change or drop an ``@`` modifier (``start()``, ``end()``, times in and around the data)."""
    s = _pick(ctx.c, node, _modifier_site)
    if s is None:
        return None
    n = s.node
    assert isinstance(n, (VectorSelector, SubqueryExpr))
    sc = ctx.schema
    if n.at is not None and ctx.c.boolean(0.4):
        return _sub(node, s, replace(n, at=None))
    mid = (sc.start_ms + sc.end_ms) // 2 // 1000 * 1000
    cands: list[At] = ["start", "end", sc.start_ms, sc.end_ms, mid, mid + 1, sc.end_ms + 10 * MINUTE, 0]
    cands = [x for x in cands if x != n.at]
    return _sub(node, s, replace(n, at=ctx.c.choice(cands)))


def toggle_bool(node: Expr, ctx: MutationContext) -> Expr | None:
    """Add or drop ``bool`` on a comparison with a vector operand."""

    def ok(s: _Site) -> bool:
        n = s.node
        return (
            isinstance(n, BinaryExpr)
            and n.op in COMPARISON_OPERATORS
            and "vector" in (_vt(n.lhs), _vt(n.rhs))
        )

    s = _pick(ctx.c, node, ok)
    if s is None:
        return None
    b = s.node
    assert isinstance(b, BinaryExpr)
    return _sub(node, s, replace(b, return_bool=not b.return_bool))


def change_grouping(node: Expr, ctx: MutationContext) -> Expr | None:
    """Add, drop or change an aggregation's ``by``/``without`` labels."""
    s = _pick(ctx.c, node, lambda s: isinstance(s.node, AggregateExpr))
    if s is None:
        return None
    a = s.node
    assert isinstance(a, AggregateExpr)
    c = ctx.c
    kind = c.choice(("drop", "by", "without", "flip", "empty"))
    if kind == "drop" and a.grouping is not None:
        new = replace(a, grouping=None, without=False)
    elif kind == "flip" and a.grouping is not None:
        new = replace(a, without=not a.without)
    elif kind == "empty":
        new = replace(a, grouping=(), without=c.boolean())
    else:
        new = replace(
            a, grouping=tuple(ctx.gen.label_list(max_size=3, min_size=1)), without=kind == "without"
        )
    return None if new == a else _sub(node, s, new)


def change_matching(node: Expr, ctx: MutationContext) -> Expr | None:
    """Add, drop or change vector matching: ``on``/``ignoring`` labels, ``group_left``/``group_right``."""
    s = _pick(ctx.c, node, lambda s: isinstance(s.node, BinaryExpr) and s.node.matching is not None)
    if s is None:
        return None
    b = s.node
    assert isinstance(b, BinaryExpr) and b.matching is not None
    vm = b.matching
    c = ctx.c
    is_set = b.op in SET_OPERATORS
    kind = c.choice(("drop", "on", "ignoring", "group") if not is_set else ("drop", "on", "ignoring"))
    if kind == "drop":
        new = VectorMatching(vm.card if is_set else "one-to-one")
    elif kind in ("on", "ignoring"):
        labels = tuple(ctx.gen.label_list(max_size=3, min_size=0))
        on = kind == "on"
        include = tuple(x for x in vm.include if not (on and x in labels))
        new = replace(vm, labels=labels, on=on, include=include)
    else:
        cards: tuple[Card, ...] = ("many-to-one", "one-to-many")
        card = c.choice(cards)
        include = tuple(x for x in ctx.gen.label_list(max_size=2) if not (vm.on and x in vm.labels))
        new = replace(vm, card=card, include=include)
    return None if new == vm else _sub(node, s, replace(b, matching=new))


_VECTOR_WRAPPERS_1 = ("abs", "sort", "sort_desc", "timestamp", "ceil", "floor", "sgn", "exp", "ln", "absent")
_MATRIX_FUNCTIONS = (
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "deriv",
    "changes",
    "resets",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "max_over_time",
    "last_over_time",
    "stddev_over_time",
    "present_over_time",
)


def wrap(node: Expr, ctx: MutationContext) -> Expr | None:
    """Wrap a subexpression in an aggregation or function that returns the same type."""
    c = ctx.c
    s = _pick(ctx.c, node, lambda s: _expr_site(s) and _vt(s.node) in ("vector", "scalar", "matrix"))
    if s is None:
        return None
    n = s.node
    assert isinstance(n, Expr)
    t = _vt(n)
    new: Expr
    if t == "vector":
        kind = c.weighted(
            (("agg", 3.0), ("fn", 2.0), ("clamp", 0.5), ("round", 0.5), ("neg", 0.5), ("hq", 0.3))
        )
        if kind == "agg":
            op = c.choice([a.name for a in AGGREGATIONS.values() if a.param_type is None])
            grouping = tuple(ctx.gen.label_list(max_size=2)) if c.boolean(0.6) else None
            new = AggregateExpr(op, n, None, grouping, bool(grouping) and c.boolean(0.3))
        elif kind == "fn":
            new = Call(c.choice(_VECTOR_WRAPPERS_1), (n,))
        elif kind == "clamp":
            new = Call(
                c.choice(("clamp_min", "clamp_max")), (n, NumberLiteral(c.choice((0.0, 1.0, -1.0, math.nan))))
            )
        elif kind == "round":
            new = Call("round", (n, NumberLiteral(c.choice((1.0, 0.1, 0.0, -1.0, 3.0)))))
        elif kind == "hq":
            new = Call("histogram_quantile", (NumberLiteral(c.choice((0.5, 0.9, 1.5, -0.5))), n))
        else:
            new = UnaryExpr("-", n)
    elif t == "scalar":
        new = (
            Call("scalar", (Call(c.choice(("vector", "vector")), (n,)),))
            if c.boolean(0.5)
            else UnaryExpr("-", n)
        )
    else:
        if not isinstance(n, (MatrixSelector, SubqueryExpr)):
            return None
        new = SubqueryExpr(
            Call(c.choice(_MATRIX_FUNCTIONS), (n,)), c.choice(RANGES_MS[4:]), c.choice(STEPS_MS)
        )
    return _sub(node, s, new)


def replace_selector(node: Expr, ctx: MutationContext) -> Expr | None:
    """Replace one selector by a fresh selector of the dataset's schema (modifiers kept)."""
    s = _pick(ctx.c, node, lambda s: isinstance(s.node, VectorSelector) and not _info_selector(s))
    if s is None:
        return None
    old = s.node
    assert isinstance(old, VectorSelector)
    fresh = ctx.gen.selector(modifiers=False)
    return _sub(
        node, s, replace(fresh, offset=old.offset, at=old.at, anchored=old.anchored, smoothed=old.smoothed)
    )


MUTATORS: dict[str, MutatorFn] = {
    "swap_function": swap_function,
    "swap_aggregation": swap_aggregation,
    "swap_binary_operator": swap_binary_operator,
    "change_number": change_number,
    "change_range": change_range,
    "change_offset": change_offset,
    "change_at": change_at,
    "toggle_bool": toggle_bool,
    "change_grouping": change_grouping,
    "change_matching": change_matching,
    "wrap": wrap,
    "replace_selector": replace_selector,
}
"""Every type-preserving mutator by name. Each rewrites one random node or returns None
when the tree has no node it applies to."""


def combine(lhs: Expr, rhs: Expr, ctx: MutationContext) -> Expr | None:
    """Two seeds joined by a binary operator valid for their types (scalar or vector each)."""
    lt, rt = _vt(lhs), _vt(rhs)
    if lt not in ("vector", "scalar") or rt not in ("vector", "scalar"):
        return None
    c = ctx.c
    vv = lt == "vector" and rt == "vector"
    op = c.choice(ARITHMETIC_OPERATORS + COMPARISON_OPERATORS + (SET_OPERATORS if vv else ()))
    rb = op in COMPARISON_OPERATORS and (lt == rt == "scalar" or c.boolean(0.3))
    matching = None
    if vv:
        matching = VectorMatching("many-to-many" if op in SET_OPERATORS else "one-to-one")
        if c.boolean(0.4):
            matching = replace(matching, labels=tuple(ctx.gen.label_list(max_size=2)), on=c.boolean(0.6))
    return BinaryExpr(op, lhs, rhs, rb, matching)


# --------------------------------------------------------------------------- invalid mutants


def _break_types(node: Expr, ctx: MutationContext) -> tuple[Expr, str] | None:
    c = ctx.c
    kind = c.choice(("range_fn_on_instant", "range_in_vector_context", "wrong_arg_count"))
    if kind == "range_fn_on_instant":
        s = _pick(c, node, lambda s: _expr_site(s) and _vt(s.node) == "vector")
        if s is None:
            return None
        return _sub(node, s, Call(c.choice(("rate", "avg_over_time")), (s.node,))), kind  # type: ignore[arg-type]
    if kind == "range_in_vector_context":
        s = _pick(c, node, lambda s: _expr_site(s) and s.parent is not None and _vt(s.node) == "vector")
        if s is None:
            return None
        return _sub(node, s, MatrixSelector(ctx.gen.selector(modifiers=False), 5 * MINUTE)), kind
    s = _pick(c, node, lambda s: isinstance(s.node, Call))
    if s is None:
        return None
    call = s.node
    assert isinstance(call, Call)
    f = FUNCTIONS[call.func]
    if f.min_args > 0 and c.boolean(0.5):
        return _sub(node, s, replace(call, args=call.args[: f.min_args - 1])), kind
    if f.max_args is None:
        return None
    return _sub(
        node, s, replace(call, args=call.args + (NumberLiteral(1.0),) * (f.max_args + 1 - len(call.args)))
    ), kind


# --------------------------------------------------------------------------- driver


def _parses_to(node: Expr) -> tuple[str, Expr] | None:
    try:
        text = to_text(node)
        back = parse(text)
    except (PromfuzzError, ValueError, KeyError, TypeError, RecursionError):
        return None
    return (text, back) if back == node else None


class Mutator:
    """Makes mutants of ``seeds`` for one schema (reuse it for many mutants)."""

    def __init__(
        self,
        choices: Choices,
        schema: DatasetSchema | None,
        seeds: Sequence[SeedQuery],
        config: MutationConfig | None = None,
        query_config: QueryConfig | None = None,
    ) -> None:
        self.c = choices
        self.schema = schema or DatasetSchema.default()
        self.config = config or MutationConfig()
        qc = query_config or QueryConfig()
        self.gen = QueryGenerator(choices, self.schema, replace(qc, no_match_p=min(qc.no_match_p, 0.02)))
        limit = self.config.max_subquery_points
        self.seeds = [s for s in seeds if subquery_points(s.node) <= limit]
        if not self.seeds:
            raise MutationError("no seed queries to mutate")
        self.combinable = [s for s in self.seeds if s.value_type in ("vector", "scalar")]
        w = dict(self.config.weights)
        self.weights = [(name, w.get(name, 1.0)) for name in MUTATORS if w.get(name, 1.0) > 0]

    def _ctx(self) -> MutationContext:
        return MutationContext(self.c, self.schema, self.gen, self.config)

    def _mapped(self, seed: SeedQuery, ctx: MutationContext) -> Expr:
        return map_to_schema(seed.node, ctx) if self.config.map_to_schema else seed.node

    def mutant(self) -> Mutant:
        """One mutant (valid, or deliberately invalid with probability ``invalid_p``)."""
        c, cfg = self.c, self.config
        if cfg.invalid_p > 0 and c.boolean(cfg.invalid_p):
            for _ in range(cfg.max_attempts):
                seed = c.choice(self.seeds)
                ctx = self._ctx()
                broken = _break_types(self._mapped(seed, ctx), ctx)
                if broken is None:
                    continue
                bad, reason = broken
                bad = printable(bad)
                try:
                    text = to_text(bad)
                except (ValueError, KeyError, TypeError):
                    continue
                try:
                    parse(text)
                except PromfuzzError:
                    return Mutant(bad, text, "vector", (seed,), ("invalid:" + reason,), reason)
        last: Mutant | None = None
        for _ in range(cfg.max_attempts):
            ctx = self._ctx()
            seed = c.choice(self.seeds)
            seeds: tuple[SeedQuery, ...] = (seed,)
            node = self._mapped(seed, ctx)
            applied: list[str] = []
            if self.combinable and c.boolean(cfg.combine_p):
                other = c.choice(self.combinable)
                joined = combine(node, self._mapped(other, ctx), ctx)
                if joined is not None:
                    node, seeds = joined, (seed, other)
                    applied.append("combine")
            expected = _vt(node)
            for _ in range(c.integer(cfg.min_mutations, cfg.max_mutations)):
                name = c.weighted(self.weights)
                out = MUTATORS[name](node, ctx)
                if out is not None:
                    node = out
                    applied.append(name)
            node = printable(node)
            if subquery_points(node) > cfg.max_subquery_points:
                continue
            got = _parses_to(node)
            if got is None or _vt(got[1]) != expected or expected is None:
                continue
            text, back = got
            m = Mutant(back, text, expected, seeds, tuple(applied))
            if text != seed.text and applied:
                return m
            last = m
        if last is not None and last.text != last.seeds[0].text:
            return last
        # Fallback: a type-preserving wrapper around the seed always differs from it.
        seed = c.choice(self.seeds)
        node = self._mapped(seed, self._ctx())
        t = _vt(node) or "vector"
        if t == "vector":
            node = AggregateExpr("count", node)
        elif t == "scalar":
            node = UnaryExpr("-", node)
        got = _parses_to(printable(node))
        if got is None:
            return Mutant(seed.node, seed.text, seed.value_type, (seed,), ())
        return Mutant(got[1], got[0], t, (seed,), ("fallback",))


def mutants(
    seed: int | str,
    n: int,
    schema: DatasetSchema | None = None,
    seeds: Sequence[SeedQuery] | None = None,
    config: MutationConfig | None = None,
) -> list[Mutant]:
    """``n`` mutants of the upstream seeds (or ``seeds``) for ``schema``, from a seed."""
    m = Mutator(
        RandomChoices(f"{seed}:mutate"),
        schema,
        seeds if seeds is not None else upstream_seed_queries(),
        config,
    )
    return [m.mutant() for _ in range(n)]


def generate_dataset_with_mutated_queries(
    seed: int | str,
    n_queries: int,
    config: CaseConfig | None = None,
    mutation: MutationConfig | None = None,
    seeds: Sequence[SeedQuery] | None = None,
) -> DatasetBatch:
    """Like :func:`~promfuzz.generators.cases.generate_dataset_with_queries` (the same dataset
    for the same seed and config), with mutated upstream queries mapped onto the dataset's
    schema instead of grammar-generated ones. Parameters come from ``params_for``."""
    config = config or CaseConfig()
    ds = generate_dataset(RandomChoices(f"{seed}:dataset"), config.dataset)
    schema = DatasetSchema.from_dataset(ds)
    choices = RandomChoices(f"{seed}:mutate")
    mut = Mutator(
        choices, schema, seeds if seeds is not None else upstream_seed_queries(), mutation, config.query
    )
    qs: list[GeneratedQuery] = []
    ps: list[EvalParams] = []
    for _ in range(n_queries):
        m = mut.mutant()
        text = m.text if m.invalid else render(m.node, choices, config.query.variant_p)
        qs.append(GeneratedQuery(m.node, text, m.value_type, m.invalid))
        ps.append(params_for(choices, schema, m.value_type, config.params))
    return DatasetBatch(ds, schema, tuple(qs), tuple(ps))


def generate_dataset_with_mixed_queries(
    seed: int | str,
    n_queries: int,
    config: CaseConfig | None = None,
    upstream_share: float = 0.5,
    mutation: MutationConfig | None = None,
) -> DatasetBatch:
    """The same dataset, each query drawn from the grammar or from mutated upstream seeds
    (with probability ``upstream_share``), deterministically per seed."""
    grammar = generate_dataset_with_queries(seed, n_queries, config)
    upstream = generate_dataset_with_mutated_queries(seed, n_queries, config, mutation)
    pick = RandomChoices(f"{seed}:mix")
    qs: list[GeneratedQuery] = []
    ps: list[EvalParams] = []
    for i in range(n_queries):
        src = upstream if pick.boolean(upstream_share) else grammar
        qs.append(src.queries[i])
        ps.append(src.params[i])
    return DatasetBatch(grammar.dataset, grammar.schema, tuple(qs), tuple(ps))


def mutants_per_second(n: int = 500, seed: int = 0) -> float:
    """Throughput of :class:`Mutator` on the default schema (for reports and benchmarks)."""
    seeds = upstream_seed_queries()
    m = Mutator(RandomChoices(f"{seed}:bench"), None, seeds)
    t = time.perf_counter()
    for _ in range(n):
        m.mutant()
    return n / max(1e-9, time.perf_counter() - t)
