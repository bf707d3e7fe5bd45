"""A type-directed PromQL query generator over :mod:`promfuzz.promql.ast`.

Asked for a value type (scalar, instant vector, range vector, string), the generator picks
a production that returns it and recurses with a depth budget; at depth 0 only leaves
(selectors, literals, zero-argument calls) remain. Every decision goes through a
:class:`~promfuzz.generators.choices.Choices`, so the same generator serves seeded
campaigns, Hypothesis and atheris.

* Functions and aggregations come from :mod:`promfuzz.promql.functions` (the table that
  mirrors the pinned Prometheus parser): nothing is listed twice. Functions with awkward
  arguments (``label_replace``, ``histogram_quantile``, ``round``, ``info``...) get edge
  arguments from small per-function helpers.
* Selectors come from a :class:`~promfuzz.generators.schema.DatasetSchema`, so most
  queries hit data; a controlled share (``no_match_p``) matches nothing.
* :class:`QueryConfig` has two weight profiles: ``uniform`` (grammar-wide, every function
  alike) and ``realistic`` (weights from how people write PromQL, notes section 6), feature
  toggles and per-engine exclusions (function names or feature names as produced by
  :func:`promfuzz.promql.ast.features`).
* A small share of queries (``invalid_p``) is deliberately invalid (type errors the
  parser must reject); :class:`GeneratedQuery` says so and why.

The generated trees are *printable*: parentheses are inserted where operator precedence
or a modifier's binding would otherwise change the tree when the text is parsed back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple

from promfuzz.generators.choices import Choices
from promfuzz.generators.schema import DatasetSchema, MetricInfo
from promfuzz.generators.syntax import (
    ends_with_duration_expr,
    has_trailing_modifier,
    matcher_non_empty,
    needs_paren_as_operand,
    re_escape,
)
from promfuzz.promql.ast import (
    AggregateExpr,
    At,
    BinaryExpr,
    Call,
    Duration,
    DurationExpr,
    Expr,
    LabelMatcher,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
    value_type,
)
from promfuzz.promql.functions import (
    AGGREGATIONS,
    ARITHMETIC_OPERATORS,
    COMPARISON_OPERATORS,
    FUNCTIONS,
    SET_OPERATORS,
    TRIM_OPERATORS,
    Function,
    ValueType,
)
from promfuzz.promql.printer import to_text, to_text_variant

Profile = Literal["uniform", "realistic"]
Hint = Literal["any", "counter", "histogram", "bucket", "info", "gauge"]

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

HISTOGRAM_FUNCTIONS = frozenset(
    {"histogram_avg", "histogram_count", "histogram_sum", "histogram_stddev", "histogram_stdvar"}
)
"""Functions that only act on native histograms (a float input gives nothing)."""

# Share of expressions using each name in real dashboards and rules (notes, section 6).
_REALISTIC_FUNCTIONS: dict[str, float] = {
    "rate": 42.0,
    "histogram_quantile": 11.0,
    "increase": 7.5,
    "vector": 7.1,
    "label_replace": 3.2,
    "irate": 1.7,
    "histogram_count": 1.5,
    "clamp_min": 1.4,
    "round": 1.2,
    "max_over_time": 1.0,
    "histogram_sum": 0.9,
    "time": 0.8,
    "avg_over_time": 0.45,
    "sort_desc": 0.45,
    "changes": 0.4,
    "min_over_time": 0.4,
    "scalar": 0.4,
    "absent": 0.35,
    "ceil": 0.3,
    "predict_linear": 0.3,
    "delta": 0.3,
    "histogram_avg": 0.3,
}
_REALISTIC_AGGREGATIONS: dict[str, float] = {
    "sum": 54.0,
    "max": 6.4,
    "avg": 6.0,
    "count": 3.0,
    "topk": 3.0,
    "min": 2.0,
    "group": 0.45,
    "quantile": 0.4,
}
_REALISTIC_RARE = 0.03


@dataclass(frozen=True)
class QueryConfig:
    """How queries are generated. Frozen: derive variants with :func:`dataclasses.replace`."""

    max_depth: int = 4
    profile: Profile = "uniform"
    experimental: bool = True
    """Experimental functions and aggregations (``limitk``, ``sort_by_label``, ...)."""
    experimental_syntax: bool = True
    """Duration expressions, ``fill`` modifiers, ``anchored``/``smoothed``."""
    native_histograms: bool = True
    exclude: frozenset[str] = frozenset()
    """Function/aggregation/operator names (``rate``, ``topk``, ``atan2``) or feature names
    as :func:`promfuzz.promql.ast.features` spells them (``fn:rate``, ``mod:@``,
    ``mod:subquery``, ``match:fill``, ``mod:duration_expr``, ``sel:utf8_name``...)."""
    invalid_p: float = 0.02
    """Share of deliberately invalid queries (type errors)."""
    no_match_p: float = 0.05
    """Share of selectors that match no series."""
    variant_p: float = 0.3
    """Share of texts printed as a random surface variant instead of canonically."""
    top_types: tuple[tuple[ValueType, float], ...] = (
        ("vector", 82.0),
        ("scalar", 11.0),
        ("matrix", 5.0),
        ("string", 2.0),
    )
    max_subquery_points: int = 2_000
    """Upper bound on ``range / step`` of generated subqueries (keeps cases fast)."""

    @staticmethod
    def realistic(**kw: object) -> QueryConfig:
        return QueryConfig(profile="realistic", **kw)  # type: ignore[arg-type]


class GeneratedQuery(NamedTuple):
    """A generated query: the tree, its text, its value type and, when deliberately
    invalid, a short reason (``None`` for valid queries)."""

    node: Expr
    text: str
    value_type: ValueType
    invalid: str | None = None


@dataclass(frozen=True)
class _Knobs:
    """Production weights and modifier probabilities of one profile."""

    vector: tuple[tuple[str, float], ...]
    scalar: tuple[tuple[str, float], ...]
    matrix: tuple[tuple[str, float], ...]
    offset_p: float
    at_p: float
    regex_p: float
    neg_matcher_p: float
    grouping_p: float
    without_p: float
    bool_p: float
    matching_p: float
    group_p: float
    fill_p: float
    name_form: tuple[tuple[str, float], ...]
    binop: dict[str, float] = field(default_factory=dict)


_UNIFORM = _Knobs(
    vector=(
        ("selector", 3.0),
        ("call", 5.0),
        ("aggregate", 2.5),
        ("binary", 3.0),
        ("unary", 0.4),
        ("paren", 0.3),
        ("shape", 0.6),
    ),
    scalar=(("number", 4.0), ("call", 2.0), ("binary", 1.2), ("unary", 0.3), ("paren", 0.2)),
    matrix=(("selector", 4.0), ("subquery", 1.5), ("paren", 0.1)),
    offset_p=0.15,
    at_p=0.1,
    regex_p=0.35,
    neg_matcher_p=0.25,
    grouping_p=0.6,
    without_p=0.35,
    bool_p=0.35,
    matching_p=0.45,
    group_p=0.35,
    fill_p=0.12,
    name_form=(("plain", 8.0), ("name_matcher", 0.6), ("name_regex", 0.6), ("labels_only", 0.6)),
    binop={op: 1.0 for op in ARITHMETIC_OPERATORS + COMPARISON_OPERATORS + SET_OPERATORS + TRIM_OPERATORS},
)

_REALISTIC = _Knobs(
    vector=(
        ("selector", 2.0),
        ("call", 5.0),
        ("aggregate", 5.0),
        ("binary", 2.0),
        ("unary", 0.05),
        ("paren", 0.05),
        ("shape", 3.0),
    ),
    scalar=(("number", 8.0), ("call", 1.0), ("binary", 0.3), ("unary", 0.05), ("paren", 0.02)),
    matrix=(("selector", 10.0), ("subquery", 0.7), ("paren", 0.01)),
    offset_p=0.03,
    at_p=0.002,
    regex_p=0.6,
    neg_matcher_p=0.1,
    grouping_p=0.75,
    without_p=0.05,
    bool_p=0.02,
    matching_p=0.35,
    group_p=0.3,
    fill_p=0.01,
    name_form=(("plain", 20.0), ("name_matcher", 0.2), ("name_regex", 0.2), ("labels_only", 0.2)),
    binop={
        "/": 8.0,
        "*": 5.0,
        "+": 2.0,
        "-": 2.0,
        "%": 0.1,
        "^": 0.1,
        "atan2": 0.02,
        ">": 6.0,
        "<": 2.0,
        "==": 2.0,
        "!=": 0.5,
        ">=": 1.0,
        "<=": 0.5,
        "and": 3.0,
        "or": 2.0,
        "unless": 1.0,
        "</": 0.02,
        ">/": 0.02,
    },
)

_RANGES_MS = (MINUTE, 5 * MINUTE, 30 * SECOND, 2 * MINUTE, 10 * MINUTE, HOUR, 15 * SECOND, 90 * SECOND)
_EDGE_RANGES_MS = (1, SECOND, 61 * SECOND, 3 * HOUR, 2 * 86_400_000, 4 * MINUTE + 59 * SECOND + 999)
_OFFSETS_MS = (MINUTE, 5 * MINUTE, 30 * SECOND, 10 * MINUTE, HOUR, 1, 15 * SECOND + 1)
_STEPS_MS = (MINUTE, 15 * SECOND, 30 * SECOND, 5 * MINUTE, 7 * SECOND, 10 * SECOND, 1 * SECOND, 61 * SECOND)

_NO_MATCH_VALUE = "no_such_value"
_NO_MATCH_METRIC = "no_such_metric"


def _norm_exclusions(ex: frozenset[str]) -> frozenset[str]:
    out = set(ex)
    for e in ex:
        if ":" not in e or e in ("</", ">/"):
            if e in FUNCTIONS:
                out.add(f"fn:{e}")
            elif e in AGGREGATIONS:
                out.add(f"agg:{e}")
            else:
                out.add(f"op:{e}")
    return frozenset(out)


def _paren(e: Expr) -> Expr:
    return e if isinstance(e, ParenExpr) else ParenExpr(e)


class QueryGenerator:
    """Generates queries for one dataset schema and config (reuse it for many queries)."""

    def __init__(
        self, choices: Choices, schema: DatasetSchema | None = None, config: QueryConfig | None = None
    ):
        self.c = choices
        self.schema = schema or DatasetSchema.default()
        self.config = config or QueryConfig()
        cfg = self.config
        self.k = _REALISTIC if cfg.profile == "realistic" else _UNIFORM
        self.ex = _norm_exclusions(cfg.exclude)
        self._exp_syntax = cfg.experimental_syntax and "mod:duration_expr" not in self.ex

        def fn_ok(f: Function) -> bool:
            if f.experimental and not cfg.experimental:
                return False
            return f"fn:{f.name}" not in self.ex

        self.functions: dict[ValueType, list[tuple[Function, float]]] = {}
        for f in FUNCTIONS.values():
            if fn_ok(f):
                w = self._fn_weight(f.name)
                self.functions.setdefault(f.return_type, []).append((f, w))
        self.aggregations = [
            (a.name, self._agg_weight(a.name))
            for a in AGGREGATIONS.values()
            if (cfg.experimental or not a.experimental) and f"agg:{a.name}" not in self.ex
        ]
        binop = dict(self.k.binop)
        if not cfg.native_histograms:
            for op in TRIM_OPERATORS:
                binop[op] = 0.0
        self.binops = [(op, w) for op, w in binop.items() if w > 0 and f"op:{op}" not in self.ex]
        self.scalar_binops = [
            (op, w) for op, w in self.binops if op not in SET_OPERATORS and op not in TRIM_OPERATORS
        ]
        # Metrics by the role a selector plays.
        ms = [m for m in self.schema.metrics if cfg.native_histograms or m.kind == "float"]
        if "sel:utf8_name" in self.ex:
            ms = [m for m in ms if _legacy_name(m.name)]
        self.metrics: tuple[MetricInfo, ...] = tuple(ms) or DatasetSchema.default().metrics[:1]
        self._by_hint: dict[str, tuple[MetricInfo, ...]] = {
            "any": self.metrics,
            "counter": tuple(m for m in self.metrics if m.counter_like and m.kind == "float"),
            "gauge": tuple(m for m in self.metrics if not m.counter_like),
            "histogram": tuple(m for m in self.metrics if m.kind != "float"),
            "bucket": tuple(m for m in self.metrics if m.classic_bucket),
            "info": tuple(m for m in self.metrics if m.name.endswith("_info")),
        }
        self.invalid_reason: str | None = None

    # ------------------------------------------------------------------ weights
    def _fn_weight(self, name: str) -> float:
        if self.config.profile == "realistic":
            return _REALISTIC_FUNCTIONS.get(name, _REALISTIC_RARE)
        return 1.0

    def _agg_weight(self, name: str) -> float:
        if self.config.profile == "realistic":
            return _REALISTIC_AGGREGATIONS.get(name, _REALISTIC_RARE)
        return 1.0

    def allowed(self, feature: str) -> bool:
        return feature not in self.ex

    # ------------------------------------------------------------------ entry points
    def query(self, top: ValueType | None = None) -> tuple[Expr, ValueType, str | None]:
        """A whole query: (tree, value type, invalid reason or None)."""
        c = self.c
        if self.config.invalid_p > 0 and c.boolean(self.config.invalid_p):
            node, reason = self.invalid(self.config.max_depth)
            return node, "vector", reason
        t: ValueType = top if top is not None else c.weighted(self.config.top_types)
        return self.expr(t, self.config.max_depth), t, None

    def expr(self, t: ValueType, depth: int, hint: Hint = "any") -> Expr:
        if t == "vector":
            return self.vector(depth, hint)
        if t == "scalar":
            return self.scalar(depth)
        if t == "matrix":
            return self.matrix(depth, hint)
        return self.string()

    # ------------------------------------------------------------------ scalars
    def number(self, lo: float = -100.0, hi: float = 100.0, special: float = 0.08) -> NumberLiteral:
        c = self.c
        v = c.floating(lo, hi, special=special, extreme=0.02)
        return NumberLiteral(v)

    def scalar(self, depth: int) -> Expr:
        c = self.c
        if depth <= 0:
            zero_arg = [(f, w) for f, w in self.functions.get("scalar", []) if f.max_args == 0]
            if zero_arg and c.boolean(0.15):
                return Call(c.weighted(zero_arg).name)
            return self.number()
        kind = c.weighted(self.k.scalar)
        if kind == "call" and self.functions.get("scalar"):
            return self.call(c.weighted(self.functions["scalar"]), depth)
        if kind == "binary" and self.scalar_binops:
            op = c.weighted(self.scalar_binops)
            lhs = self.scalar(depth - 1)
            rhs = self.scalar(depth - 1)
            return self.binary(op, lhs, rhs, return_bool=op in COMPARISON_OPERATORS)
        if kind == "unary" and self.allowed("unary:-"):
            return self.unary(self.scalar(depth - 1))
        if kind == "paren":
            return ParenExpr(self.scalar(depth - 1))
        return self.number()

    def string(self) -> StringLiteral:
        return StringLiteral(self.c.choice(("a", "foo", "", "x y", "ünï", 'q"uote', "back\\slash")))

    # ------------------------------------------------------------------ vectors
    def vector(self, depth: int, hint: Hint = "any") -> Expr:
        c = self.c
        if depth <= 0:
            return self.selector(hint)
        kind = c.weighted(self.k.vector)
        if kind == "call":
            fns = self.functions.get("vector", [])
            if hint == "histogram":
                hf = [
                    (f, w) for f, w in fns if f.name in HISTOGRAM_FUNCTIONS or f.name == "histogram_fraction"
                ]
                fns = hf if hf and c.boolean(0.5) else fns
            if fns:
                return self.call(c.weighted(fns), depth, hint)
        if kind == "aggregate" and self.aggregations:
            return self.aggregate(depth, hint)
        if kind == "binary" and self.binops:
            return self.vector_binary(depth, hint)
        if kind == "unary" and self.allowed("unary:-"):
            return self.unary(self.vector(depth - 1, hint))
        if kind == "paren":
            return ParenExpr(self.vector(depth - 1, hint))
        if kind == "shape":
            return self.shape(depth)
        return self.selector(hint)

    def unary(self, e: Expr) -> UnaryExpr:
        op: Literal["+", "-"] = "-" if self.c.boolean(0.8) else "+"
        if isinstance(e, (BinaryExpr, UnaryExpr, NumberLiteral)):
            e = ParenExpr(e)
        return UnaryExpr(op, e)

    def binary(
        self,
        op: str,
        lhs: Expr,
        rhs: Expr,
        return_bool: bool = False,
        matching: VectorMatching | None = None,
    ) -> BinaryExpr:
        if (
            needs_paren_as_operand(lhs, op, "lhs")
            or isinstance(lhs, (SubqueryExpr, MatrixSelector))
            or ends_with_duration_expr(lhs)
        ):
            lhs = _paren(lhs)
        if needs_paren_as_operand(rhs, op, "rhs"):
            rhs = _paren(rhs)
        # As Prometheus's parser leaves it: matching only between two instant vectors,
        # and always there (one-to-one, or many-to-many for set operators).
        if value_type(lhs) == "vector" and value_type(rhs) == "vector":
            if matching is None:
                matching = VectorMatching(card="many-to-many" if op in SET_OPERATORS else "one-to-one")
        else:
            matching = None
        return BinaryExpr(op, lhs, rhs, return_bool, matching)

    def vector_binary(self, depth: int, hint: Hint = "any") -> Expr:
        c = self.c
        op = c.weighted(self.binops)
        k = self.k
        if op in TRIM_OPERATORS:
            lhs = self.vector(depth - 1, "histogram")
            if c.boolean(0.8):
                return self.binary(op, lhs, self.scalar(depth - 1))
            rhs = self.vector(depth - 1)
            return self.binary(op, lhs, rhs, matching=self._matching(op, lhs, rhs, allow_group=False))
        sides = "vv" if op in SET_OPERATORS else c.weighted((("vv", 3.0), ("vs", 1.5), ("sv", 1.0)))
        lhs = self.vector(depth - 1, hint) if sides[0] == "v" else self.scalar(depth - 1)
        rhs = self.vector(depth - 1, hint) if sides[1] == "v" else self.scalar(depth - 1)
        rb = op in COMPARISON_OPERATORS and self.allowed("mod:bool") and c.boolean(k.bool_p)
        matching = self._matching(op, lhs, rhs, allow_group=True) if sides == "vv" else None
        return self.binary(op, lhs, rhs, rb, matching)

    def _matching(self, op: str, lhs: Expr, rhs: Expr, allow_group: bool) -> VectorMatching | None:
        c, k = self.c, self.k
        is_set = op in SET_OPERATORS
        card: str = "many-to-many" if is_set else "one-to-one"
        if not c.boolean(k.matching_p):
            return VectorMatching(card=card) if is_set else None  # type: ignore[arg-type]
        on = self.allowed("match:on") and (not self.allowed("match:ignoring") or c.boolean(0.6))
        if not on and not self.allowed("match:ignoring"):
            return VectorMatching(card=card) if is_set else None  # type: ignore[arg-type]
        labels = tuple(self.label_list(max_size=3, min_size=0))
        include: tuple[str, ...] = ()
        if allow_group and not is_set and c.boolean(k.group_p):
            side = c.choice(("many-to-one", "one-to-many"))
            feat = "match:group_left" if side == "many-to-one" else "match:group_right"
            if self.allowed(feat):
                card = side
                include = tuple(
                    x for x in self.label_list(max_size=2, min_size=0) if not (on and x in labels)
                )
        fill_lhs = fill_rhs = None
        if not is_set and self._exp_syntax and c.boolean(k.fill_p):
            which = c.choice(("fill", "fill_left", "fill_right", "both"))
            v = c.choice((0.0, 1.0, -1.0, math.nan, 42.5))
            # "both" prints as fill_left(...) fill_right(...): each side needs its own keyword.
            if which in ("fill", "both", "fill_left") and self.allowed(f"match:{'fill_left' if which == 'both' else which}"):
                fill_lhs = v
            if which in ("fill", "both", "fill_right") and self.allowed(f"match:{'fill_right' if which == 'both' else which}"):
                fill_rhs = v if which != "both" else c.choice((0.0, 2.0))
        return VectorMatching(
            card=card,  # type: ignore[arg-type]
            labels=labels,
            on=on,
            include=include,
            fill_lhs=fill_lhs,
            fill_rhs=fill_rhs,
        )

    # ------------------------------------------------------------------ labels & selectors
    def label_name(self, metric: MetricInfo | None = None) -> str:
        c = self.c
        if metric is not None and metric.label_names and c.boolean(0.75):
            return c.choice(metric.label_names)
        names = self.schema.label_names
        r = c.weighted((("schema", 6.0), ("le", 0.5), ("name", 0.4), ("missing", 0.6)))
        if r == "schema" and names:
            return c.choice(names)
        if r == "le":
            return "le"
        if r == "name":
            return "__name__"
        return c.choice(("missing_label", "dst", "job"))

    def label_list(self, max_size: int = 3, min_size: int = 0) -> list[str]:
        pool = list(dict.fromkeys((*self.schema.label_names, "le", "missing_label", "__name__")))
        out = self.c.subset(pool[:12], max_size=max_size, min_size=min_size)
        return out

    def _metric(self, hint: Hint) -> MetricInfo:
        c = self.c
        pool = self._by_hint.get(hint) or self.metrics
        if pool is not self.metrics and c.boolean(0.1):
            pool = self.metrics
        return c.choice(pool)

    def matcher(self, metric: MetricInfo | None) -> LabelMatcher:
        c, k = self.c, self.k
        name = self.label_name(metric)
        values = self.schema.values_of(name)
        no_match = c.boolean(self.config.no_match_p)
        if c.boolean(k.regex_p):
            op = "!~" if c.boolean(k.neg_matcher_p) else "=~"
            value = self.regex(values, no_match)
        else:
            op = "!=" if c.boolean(k.neg_matcher_p) else "="
            if no_match or not values:
                value = c.choice((_NO_MATCH_VALUE, "")) if not no_match else _NO_MATCH_VALUE
            else:
                value = c.choice(values) if c.boolean(0.95) else ""
        return LabelMatcher(name, op, value)  # type: ignore[arg-type]

    def regex(self, values: Sequence[str], no_match: bool) -> str:
        c = self.c
        if no_match:
            return c.choice(("no_such_.*", "^$x", "zz+"))
        vals = [re_escape(v) for v in values] or ["a"]
        kind = c.weighted(
            (
                ("value", 2.0),
                ("alternation", 3.0),
                ("prefix", 2.0),
                ("dotstar", 1.0),
                ("dotplus", 1.0),
                ("empty", 0.5),
                ("anchored", 0.5),
                ("class", 0.5),
                ("case", 0.3),
                ("optional_empty", 0.4),
            )
        )
        if kind == "value":
            return c.choice(vals)
        if kind == "alternation":
            return "|".join(c.subset(vals, max_size=3, min_size=1))
        if kind == "prefix":
            v = c.choice(vals)
            return (v[:1] or "a") + ".*"
        if kind == "dotstar":
            return ".*"
        if kind == "dotplus":
            return ".+"
        if kind == "empty":
            return ""
        if kind == "anchored":
            return "^" + c.choice(vals) + "$"
        if kind == "class":
            return "[a-c0-9:]+"
        if kind == "case":
            return "(?i)" + c.choice(vals).upper()
        return "(" + c.choice(vals) + ")?"  # matches the empty value too

    def selector(self, hint: Hint = "any", modifiers: bool = True) -> VectorSelector:
        c, k = self.c, self.k
        metric = self._metric(hint)
        name: str | None = metric.name
        if c.boolean(self.config.no_match_p * 0.5):
            name = _NO_MATCH_METRIC
        matchers: list[LabelMatcher] = []
        legacy = _legacy_name(name)
        form = "plain" if legacy else "name_matcher"
        if legacy:
            form = c.weighted(k.name_form)
        if form == "name_matcher":
            matchers.append(LabelMatcher("__name__", "=", name or metric.name))
            name = None
        elif form == "name_regex":
            other = c.choice(self.metrics).name
            alts = sorted({re_escape(metric.name), re_escape(other)})
            matchers.append(LabelMatcher("__name__", "=~", "|".join(alts)))
            name = None
        elif form == "labels_only":
            name = None
        n = c.weighted(((0, 4.0), (1, 4.0), (2, 2.0), (3, 0.5)))
        seen: set[tuple[str, str]] = set()
        for _ in range(n):
            m = self.matcher(metric)
            if m.name == "__name__" and (name is not None or form in ("name_matcher", "name_regex")):
                continue  # the name is set once
            key = (m.name, m.op)
            if key in seen:
                continue
            seen.add(key)
            matchers.append(m)
        if name is None and not any(matcher_non_empty(m) for m in matchers):
            lbl = metric.label_names[0] if metric.label_names else "__name__"
            val = self.schema.values_of(lbl)
            matchers.append(
                LabelMatcher(lbl, "=", c.choice(val))
                if val and lbl != "__name__"
                else LabelMatcher("__name__", "=", metric.name)
            )
        offset: Duration = 0
        at: At = None
        if modifiers:
            offset, at = self.modifiers()
        anchored = smoothed = False
        return VectorSelector(name, tuple(matchers), offset, at, anchored, smoothed)

    def modifiers(self) -> tuple[Duration, At]:
        c, k = self.c, self.k
        offset: Duration = 0
        at: At = None
        if self.allowed("mod:offset") and c.boolean(k.offset_p):
            offset = self.offset()
        if self.allowed("mod:@") and c.boolean(k.at_p):
            at = self.at()
        return offset, at

    def offset(self) -> Duration:
        c = self.c
        if self._exp_syntax and c.boolean(0.08):
            # Parenthesised: "x offset 1m + 1" would be "(x offset 1m) + 1".
            return replace(self.duration_expr(allow_negative=True), wrapped=True)
        ms = c.choice(_OFFSETS_MS)
        if self.allowed("mod:negative_offset") and c.boolean(0.25):
            ms = -ms
        return ms

    def at(self) -> At:
        c = self.c
        sc = self.schema
        kind = c.weighted(
            (("start", 1.0), ("end", 1.0), ("boundary", 2.0), ("off", 1.0), ("zero", 0.5), ("beyond", 0.5))
        )
        if kind in ("start", "end"):
            feat = f"mod:@{kind}()"
            if self.allowed(feat):
                return kind  # type: ignore[return-value]
        iv = max(1, sc.interval_ms)
        if kind == "boundary":
            return sc.start_ms + iv * c.integer(0, max(0, (sc.end_ms - sc.start_ms) // iv))
        if kind == "off":
            return max(0, sc.start_ms + iv * c.integer(0, max(0, (sc.end_ms - sc.start_ms) // iv)) + 1)
        if kind == "zero":
            return 0
        return sc.end_ms + c.choice((MINUTE, 5 * MINUTE + 1, HOUR, -1))

    def duration_expr(self, allow_negative: bool = False, in_subquery: bool = False) -> DurationExpr:
        """An experimental duration expression whose value is positive (unless allowed)."""
        c = self.c
        a = NumberLiteral(float(c.choice((60, 300, 30, 120))), duration=True)
        b = NumberLiteral(float(c.choice((60, 30, 15))), duration=True)
        kind = c.weighted(
            (
                ("add", 3.0),
                ("sub", 1.0),
                ("mul", 1.0),
                ("pow", 0.5),
                ("paren", 0.5),
                ("step", (1.0 if in_subquery else 0.3) if self.allowed("fn:step") else 0.0),
                ("neg", 0.5 if allow_negative else 0.0),
            )
        )
        if kind == "add":
            return DurationExpr("+", a, b)
        if kind == "sub":
            return DurationExpr(
                "-", a, b
            )  # a >= 60 > ... may be 0 when a == b: fine (offset) / error (range)
        if kind == "mul":
            return DurationExpr("*", NumberLiteral(float(c.choice((2, 3)))), b)
        if kind == "pow":
            return DurationExpr(
                "^", NumberLiteral(2.0), NumberLiteral(float(c.choice((2, 3, 5)))), wrapped=True
            )
        if kind == "paren":
            return DurationExpr("+", None, a, wrapped=True)
        if kind == "step":
            st = DurationExpr("step")
            return DurationExpr("*", st, NumberLiteral(float(c.choice((2, 5))))) if c.boolean() else st
        return DurationExpr("-", NumberLiteral(60.0, duration=True), a, wrapped=True)  # negative

    def range_ms(self) -> Duration:
        c = self.c
        if self._exp_syntax and c.boolean(0.05):
            return self.duration_expr()
        if c.boolean(0.15):
            return c.choice(_EDGE_RANGES_MS)
        return c.choice(_RANGES_MS)

    # ------------------------------------------------------------------ range vectors
    def matrix(self, depth: int, hint: Hint = "any") -> Expr:
        c = self.c
        kind = c.weighted(self.k.matrix) if depth > 0 else "selector"
        if kind == "subquery" and self.allowed("mod:subquery"):
            return self.subquery(depth, hint)
        if kind == "paren":
            return ParenExpr(self.matrix_selector(hint))
        return self.matrix_selector(hint)

    def matrix_selector(self, hint: Hint = "any") -> MatrixSelector:
        c = self.c
        vs = self.selector(hint)
        if self._exp_syntax and c.boolean(0.06):
            which = c.choice(("anchored", "smoothed"))
            if self.allowed(f"mod:{which}"):
                vs = replace(vs, anchored=which == "anchored", smoothed=which == "smoothed")
        return MatrixSelector(vs, self.range_ms())

    def subquery(self, depth: int, hint: Hint = "any") -> SubqueryExpr:
        c = self.c
        inner = self.vector(depth - 1, hint)
        if not isinstance(inner, (VectorSelector, Call, AggregateExpr, ParenExpr)) or has_trailing_modifier(
            inner
        ):
            inner = ParenExpr(inner)
        rng = self.range_ms()
        step: Duration | None
        if c.boolean(0.2) and self.allowed("mod:subquery_default_step"):
            step = None
        elif self._exp_syntax and c.boolean(0.05):
            step = self.duration_expr(in_subquery=True)
        else:
            step = c.choice(_STEPS_MS)
        if isinstance(rng, int) and isinstance(step, int) and rng // step > self.config.max_subquery_points:
            step = max(1, rng // self.config.max_subquery_points + 1)
        if isinstance(rng, int) and step is None and rng // MINUTE > self.config.max_subquery_points:
            rng = c.choice(_RANGES_MS)
        offset, at = self.modifiers()
        return SubqueryExpr(inner, rng, step, offset, at)

    # ------------------------------------------------------------------ calls
    def call(self, f: Function, depth: int, hint: Hint = "any") -> Expr:
        special = _SPECIAL_ARGS.get(f.name)
        if special is not None:
            return Call(f.name, tuple(special(self, depth - 1)))
        n = f.min_args
        mx = f.max_args
        if mx is None:
            n += self.c.integer(0, 2)
        elif mx > n:
            n += self.c.integer(0, mx - n)
        args: list[Expr] = []
        for i in range(n):
            t = f.arg_type(i)
            arg_hint = _arg_hint(f.name, t, hint)
            if t == "scalar":
                args.append(self.scalar(min(depth - 1, 1)) if self.c.boolean(0.8) else self.scalar(depth - 1))
            else:
                args.append(self.expr(t, depth - 1, arg_hint))
        return Call(f.name, tuple(args))

    # ------------------------------------------------------------------ aggregations
    def aggregate(self, depth: int, hint: Hint = "any", op: str | None = None) -> AggregateExpr:
        c, k = self.c, self.k
        op = op or c.weighted(self.aggregations)
        param: Expr | None = None
        if op in ("topk", "bottomk", "limitk"):
            param = self.k_param()
        elif op == "quantile":
            param = self.quantile_param(depth)
        elif op == "limit_ratio":
            param = NumberLiteral(c.choice((0.5, 0.1, 1.0, -0.5, 0.0, 1.5, -1.0)))
        elif op == "count_values":
            param = StringLiteral(c.choice(("value", "job", "le", "__name__", "", "v")))
        inner_hint: Hint = "histogram" if hint == "histogram" else "any"
        expr = self.vector(depth - 1, inner_hint)
        grouping: tuple[str, ...] | None = None
        without = False
        if c.boolean(k.grouping_p):
            without = c.boolean(k.without_p)
            if without and not self.allowed("mod:without"):
                without = False
            if without or self.allowed("mod:by"):
                grouping = tuple(self.label_list(max_size=3, min_size=0))
            else:
                without = False
        return AggregateExpr(op, expr, param, grouping, without)

    def k_param(self) -> Expr:
        c = self.c
        if c.boolean(0.85):
            return NumberLiteral(float(c.choice((1, 2, 3, 5, 0, -1, 1.5, 100))))
        return c.choice(
            (
                NumberLiteral(math.nan),
                NumberLiteral(math.inf),
                NumberLiteral(1e300),
                Call("scalar", (self.selector(),)),
            )
        )

    def quantile_param(self, depth: int) -> Expr:
        c = self.c
        if c.boolean(0.85):
            return NumberLiteral(c.choice((0.5, 0.9, 0.99, 0.0, 1.0, -0.5, 1.5, math.nan, 0.25, 0.999)))
        return self.scalar(min(depth, 1))

    # ------------------------------------------------------------------ realistic shapes
    def shape(self, depth: int) -> Expr:
        c = self.c
        kinds: list[tuple[str, float]] = [
            ("hq_classic", 2.0 if self._by_hint["bucket"] else 0.0),
            ("hq_native", 1.5 if self._by_hint["histogram"] else 0.0),
            ("ratio", 2.0),
            ("info_join", 1.0),
            ("threshold", 2.0),
            ("toggle", 0.7),
            ("count_label_replace", 0.7),
        ]
        kind = c.weighted(kinds)
        d = max(1, depth - 1)
        if kind == "hq_classic" and self._fn("histogram_quantile") and self._agg("sum") and self._fn("rate"):
            grouping = ("le", *self.label_list(max_size=1))
            inner = Call("rate", (MatrixSelector(self.selector("bucket", modifiers=False), self.range_ms()),))
            agg = AggregateExpr("sum", inner, None, tuple(dict.fromkeys(grouping)), False)
            return Call("histogram_quantile", (self.quantile_param(0), agg))
        if kind == "hq_native" and self._fn("histogram_quantile") and self._agg("sum") and self._fn("rate"):
            inner = Call(
                "rate", (MatrixSelector(self.selector("histogram", modifiers=False), self.range_ms()),)
            )
            agg = AggregateExpr("sum", inner, None, tuple(self.label_list(max_size=1)), False)
            return Call("histogram_quantile", (self.quantile_param(0), agg))
        if kind == "ratio" and self._agg("sum") and self._fn("rate") and self._op("/"):
            by = tuple(self.label_list(max_size=2))
            num = AggregateExpr("sum", Call("rate", (self.matrix_selector("counter"),)), None, by, False)
            den = AggregateExpr("sum", Call("rate", (self.matrix_selector("counter"),)), None, by, False)
            return self.binary("/", num, den, matching=self._matching("/", num, den, allow_group=False))
        if kind == "info_join" and self._agg("topk") and self._agg("max") and self._op("*"):
            lbls = tuple(self.label_list(max_size=2, min_size=1))
            info = AggregateExpr(
                "topk",
                AggregateExpr("max", self.selector("info", modifiers=False), None, lbls, False),
                NumberLiteral(1.0),
                lbls,
                False,
            )
            lhs = self.vector(d - 1)
            include = tuple(x for x in self.label_list(max_size=1) if x not in lbls)
            vm = VectorMatching(card="many-to-one", labels=lbls, on=True, include=include)
            return self.binary("*", lhs, info, matching=vm)
        if kind == "threshold" and self._op(">") and self._op("and"):
            lhs = self.binary(">", self.vector(d - 1), self.number(0, 100, special=0.0))
            rhs = self.binary("<", self.vector(d - 1), self.number(0, 1000, special=0.0))
            return self.binary("and", lhs, rhs, matching=VectorMatching(card="many-to-many"))
        if kind == "toggle" and self._fn("vector") and self._op("and"):
            toggle = self.binary(
                "==", Call("vector", (NumberLiteral(1.0),)), NumberLiteral(c.choice((1.0, -1.0)))
            )
            vm = VectorMatching(card="many-to-many", labels=(), on=True)
            return self.binary("and", self.vector(d - 1), ParenExpr(toggle), matching=vm)
        if kind == "count_label_replace" and self._fn("label_replace") and self._agg("count"):
            lr = Call("label_replace", tuple(_label_replace_args(self, d - 1)))
            return AggregateExpr("count", lr, None, tuple(self.label_list(max_size=2)), False)
        return self.selector()

    def _fn(self, name: str) -> bool:
        return (
            f"fn:{name}" not in self.ex
            and name in FUNCTIONS
            and (self.config.experimental or not FUNCTIONS[name].experimental)
        )

    def _agg(self, name: str) -> bool:
        return f"agg:{name}" not in self.ex

    def _op(self, op: str) -> bool:
        return f"op:{op}" not in self.ex

    # ------------------------------------------------------------------ invalid queries
    def invalid(self, depth: int) -> tuple[Expr, str]:
        """A query the parser must reject, and why."""
        c = self.c
        d = max(1, depth - 1)
        kind = c.choice(
            (
                "range_fn_on_instant",
                "aggregate_matrix",
                "set_op_scalar",
                "scalar_comparison_without_bool",
                "bool_on_arithmetic",
                "group_on_set_op",
                "wrong_arg_count",
                "unary_on_matrix",
                "subquery_of_matrix",
                "string_param",
                "label_in_on_and_group",
                "binary_with_matrix",
                "empty_matcher_selector",
                "invalid_regex_matcher",
                "fill_on_set_op",
            )
        )
        if kind == "range_fn_on_instant":
            return Call(c.choice(("rate", "increase", "avg_over_time", "deriv")), (self.vector(d),)), kind
        if kind == "aggregate_matrix":
            return AggregateExpr(c.choice(("sum", "max", "count")), self.matrix(d)), kind
        if kind == "set_op_scalar":
            return BinaryExpr(c.choice(SET_OPERATORS), self.vector(d), self.number()), kind
        if kind == "scalar_comparison_without_bool":
            return BinaryExpr(c.choice(COMPARISON_OPERATORS), self.number(), self.number()), kind
        if kind == "bool_on_arithmetic":
            return BinaryExpr(c.choice(("+", "*", "and")), self.vector(d), self.vector(d), True), kind
        if kind == "group_on_set_op":
            vm = VectorMatching(card="many-to-one", labels=("job",), on=True)
            return BinaryExpr(c.choice(SET_OPERATORS), self.vector(d), self.vector(d), False, vm), kind
        if kind == "wrong_arg_count":
            f = c.choice(("abs", "rate", "clamp", "label_replace", "vector"))
            return Call(f, ()), kind
        if kind == "unary_on_matrix":
            return UnaryExpr("-", self.matrix_selector()), kind
        if kind == "subquery_of_matrix":
            return SubqueryExpr(ParenExpr(self.matrix_selector()), 5 * MINUTE, MINUTE), kind
        if kind == "string_param":
            return AggregateExpr("topk", self.vector(d), StringLiteral("a")), kind
        if kind == "label_in_on_and_group":
            vm = VectorMatching(card="many-to-one", labels=("job",), on=True, include=("job",))
            return BinaryExpr("+", self.vector(d), self.vector(d), False, vm), kind
        if kind == "binary_with_matrix":
            return BinaryExpr("+", ParenExpr(self.matrix_selector()), self.number()), kind
        if kind == "empty_matcher_selector":
            return VectorSelector(None, (LabelMatcher("job", "=", ""),)), kind
        if kind == "invalid_regex_matcher":
            name = self.c.choice(self.metrics).name
            return VectorSelector(
                None, (LabelMatcher("__name__", "=", name), LabelMatcher("job", "=~", "("))
            ), kind
        vm = VectorMatching(card="many-to-many", fill_lhs=0.0, fill_rhs=0.0)
        return BinaryExpr(
            c.choice(SET_OPERATORS), self.vector(d), self.vector(d), False, vm
        ), "fill_on_set_op"


# --------------------------------------------------------------------------- helpers


def _legacy_name(name: str | None) -> bool:
    if name is None:
        return True
    from promfuzz.model import is_legacy_metric_name

    return is_legacy_metric_name(name)


def _arg_hint(fn: str, t: ValueType, hint: Hint) -> Hint:
    if fn in HISTOGRAM_FUNCTIONS or fn in ("histogram_fraction", "histogram_quantiles"):
        return "histogram"
    if fn == "histogram_quantile":
        return "bucket"
    if t == "matrix" and fn in ("rate", "increase", "irate", "resets"):
        return "counter"
    if fn in ("deriv", "predict_linear", "delta", "idelta", "double_exponential_smoothing"):
        return "gauge"
    return hint


def _label_replace_args(g: QueryGenerator, depth: int) -> list[Expr]:
    c = g.c
    v = g.vector(depth)
    dst = c.choice(("dst", "job", "instance", "__name__", "le", "", "1bad"))
    repl = c.choice(("$1", "${1}", "$1-$2", "x", "", "$name", "${2}y", "$0"))
    src = g.label_name()
    regex = c.weighted(
        (
            ("(.*)", 3.0),
            ("(.*):(.*)", 2.0),
            ("(?P<name>[a-z]+).*", 0.7),
            ("a(.*)", 1.0),
            ("", 0.5),
            (".+", 0.5),
            ("(", 0.3),  # invalid regular expression
            ("[", 0.1),
        )
    )
    return [v, StringLiteral(dst), StringLiteral(repl), StringLiteral(src), StringLiteral(regex)]


def _label_join_args(g: QueryGenerator, depth: int) -> list[Expr]:
    c = g.c
    args: list[Expr] = [
        g.vector(depth),
        StringLiteral(c.choice(("dst", "job", "__name__", "joined"))),
        StringLiteral(c.choice((",", "", "-", "::"))),
    ]
    for lbl in g.label_list(max_size=3, min_size=0):
        args.append(StringLiteral(lbl))
    return args


def _histogram_quantile_args(g: QueryGenerator, depth: int) -> list[Expr]:
    c = g.c
    q = g.quantile_param(depth)
    if c.boolean(0.6) and g._fn("rate") and g._agg("sum"):
        hint: Hint = "bucket" if c.boolean(0.6) or not g._by_hint["histogram"] else "histogram"
        grouping: tuple[str, ...] = ("le",) if hint == "bucket" else ()
        grouping = tuple(dict.fromkeys((*grouping, *g.label_list(max_size=1))))
        rate = Call(
            c.choice(("rate", "increase")) if g._fn("increase") else "rate", (g.matrix_selector(hint),)
        )
        inner: Expr = AggregateExpr("sum", rate, None, grouping, False)
    else:
        inner = g.vector(depth, "bucket" if c.boolean() else "histogram")
    return [q, inner]


def _histogram_fraction_args(g: QueryGenerator, depth: int) -> list[Expr]:
    c = g.c
    lo, hi = c.choice(((0.0, 1.0), (-math.inf, 0.5), (0.1, math.inf), (1.0, 0.5), (-1.0, 1.0), (0.0, 0.0)))
    return [NumberLiteral(lo), NumberLiteral(hi), g.vector(depth, "histogram")]


def _round_args(g: QueryGenerator, depth: int) -> list[Expr]:
    c = g.c
    args: list[Expr] = [g.vector(depth)]
    if c.boolean(0.7):
        args.append(NumberLiteral(c.choice((0.3, 3.0, 0.5, -1.0, 0.0, 10.0, 0.1, 7.0))))
    return args


def _predict_linear_args(g: QueryGenerator, depth: int) -> list[Expr]:
    c = g.c
    return [g.matrix(depth, "gauge"), NumberLiteral(float(c.choice((3600, -600, 0, 60, 86400, 0.5))))]


def _clamp_args(g: QueryGenerator, depth: int) -> list[Expr]:
    c = g.c
    lo, hi = c.choice(((0.0, 100.0), (10.0, 1.0), (-math.inf, math.inf), (math.nan, 1.0), (0.0, 0.0)))
    return [g.vector(depth), NumberLiteral(lo), NumberLiteral(hi)]


def _quantile_over_time_args(g: QueryGenerator, depth: int) -> list[Expr]:
    return [g.quantile_param(depth), g.matrix(depth)]


def _des_args(g: QueryGenerator, depth: int) -> list[Expr]:
    c = g.c
    sf = c.choice((0.5, 0.1, 0.9, 0.0, 1.0, 1.5))
    tf = c.choice((0.5, 0.1, 0.9, 0.0, 1.0, -0.1))
    return [g.matrix(depth, "gauge"), NumberLiteral(sf), NumberLiteral(tf)]


def _info_args(g: QueryGenerator, depth: int) -> list[Expr]:
    c = g.c
    args: list[Expr] = [g.vector(depth)]
    if c.boolean(0.6):
        info = g._by_hint["info"]
        if info and c.boolean(0.7):
            m = LabelMatcher("__name__", "=", c.choice(info).name)
        else:
            m = LabelMatcher("__name__", "=~", ".+_info")
        extra = [m]
        if c.boolean(0.4):
            extra.append(LabelMatcher("version", c.choice(("=", "!=")), c.choice(("1.0", "2.0"))))
        args.append(VectorSelector(None, tuple(extra)))
    return args


def _sort_by_label_args(g: QueryGenerator, depth: int) -> list[Expr]:
    args: list[Expr] = [g.vector(depth)]
    for lbl in g.label_list(max_size=3, min_size=1):
        args.append(StringLiteral(lbl))
    return args


def _histogram_quantiles_args(g: QueryGenerator, depth: int) -> list[Expr]:
    c = g.c
    args: list[Expr] = [
        g.vector(depth, "histogram"),
        StringLiteral(c.choice(("quantile", "q", "le", "job"))),
    ]
    for _ in range(c.integer(1, 4)):
        args.append(NumberLiteral(c.choice((0.5, 0.9, 0.99, 0.0, 1.0, -1.0, 2.0))))
    return args


def _vector_args(g: QueryGenerator, depth: int) -> list[Expr]:
    return [g.scalar(depth)]


def _timestamp_args(g: QueryGenerator, depth: int) -> list[Expr]:
    # timestamp(selector) reads the sample timestamps: make it common.
    return [g.selector() if g.c.boolean(0.6) else g.vector(depth)]


def _integral_args(g: QueryGenerator, depth: int) -> list[Expr]:
    args: list[Expr] = [g.matrix(depth)]
    if g.c.boolean(0.5):
        args.append(NumberLiteral(g.c.choice((1.0, 60.0, 0.0, -1.0))))
    return args


_SPECIAL_ARGS: dict[str, Callable[[QueryGenerator, int], list[Expr]]] = {
    "label_replace": _label_replace_args,
    "label_join": _label_join_args,
    "histogram_quantile": _histogram_quantile_args,
    "histogram_fraction": _histogram_fraction_args,
    "histogram_quantiles": _histogram_quantiles_args,
    "round": _round_args,
    "predict_linear": _predict_linear_args,
    "clamp": _clamp_args,
    "quantile_over_time": _quantile_over_time_args,
    "double_exponential_smoothing": _des_args,
    "info": _info_args,
    "sort_by_label": _sort_by_label_args,
    "sort_by_label_desc": _sort_by_label_args,
    "vector": _vector_args,
    "timestamp": _timestamp_args,
    "integral": _integral_args,
}


# --------------------------------------------------------------------------- printing


def render(node: Expr, choices: Choices | None = None, variant_p: float = 0.0) -> str:
    """Text of ``node``: canonical, or (with probability ``variant_p``) a surface variant."""
    if choices is not None and variant_p > 0 and choices.boolean(variant_p):
        return to_text_variant(node, choices)
    return to_text(node)


# --------------------------------------------------------------------------- public API


def generate_query(
    choices: Choices,
    schema: DatasetSchema | None = None,
    config: QueryConfig | None = None,
    top: ValueType | None = None,
) -> GeneratedQuery:
    """One query for ``schema`` (default: :meth:`DatasetSchema.default`).

    Returns a :class:`GeneratedQuery` ``(node, text, value_type, invalid)``; ``text`` comes
    from :mod:`promfuzz.promql.printer` (canonical, or a random surface variant with
    probability ``config.variant_p``). ``top`` forces the value type of the whole query.
    """
    cfg = config or QueryConfig()
    gen = QueryGenerator(choices, schema, cfg)
    node, t, invalid = gen.query(top)
    return GeneratedQuery(node, render(node, choices, cfg.variant_p), t, invalid)


def generate_queries(
    choices: Choices, schema: DatasetSchema | None, n: int, config: QueryConfig | None = None
) -> list[GeneratedQuery]:
    """``n`` queries for one schema, sharing one generator (faster than calling
    :func:`generate_query` ``n`` times)."""
    cfg = config or QueryConfig()
    gen = QueryGenerator(choices, schema, cfg)
    out = []
    for _ in range(n):
        node, t, invalid = gen.query()
        out.append(GeneratedQuery(node, render(node, choices, cfg.variant_p), t, invalid))
    return out
