"""Grammar coverage: which parts of the PromQL language a set of generated queries reaches.

:func:`language_table` lists every feature of the language (notes section 1): all
functions and aggregations of :mod:`promfuzz.promql.functions`, all binary operators,
matching modifiers, modifiers and selector forms (the feature names of
:func:`promfuzz.promql.ast.features`) and literal kinds (NaN, ±Inf, -0, huge, tiny, ...).
:func:`grammar_coverage` counts them over queries; :func:`coverage_report` generates
cases and reports coverage plus how many valid queries our parser (and, optionally, the
Prometheus host) accepts, and how many invalid ones they reject.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from promfuzz.model import Case
from promfuzz.promql.ast import Expr, NumberLiteral, StringLiteral, features, walk
from promfuzz.promql.functions import AGGREGATIONS, BINARY_OPERATORS, FUNCTIONS

MODIFIER_FEATURES: tuple[str, ...] = (
    "mod:offset",
    "mod:negative_offset",
    "mod:@",
    "mod:@start()",
    "mod:@end()",
    "mod:subquery",
    "mod:subquery_default_step",
    "mod:bool",
    "mod:by",
    "mod:without",
    "mod:anchored",
    "mod:smoothed",
    "mod:duration_expr",
    "unary:-",
    "unary:+",
    "paren",
)
MATCHING_FEATURES: tuple[str, ...] = (
    "match:on",
    "match:ignoring",
    "match:group_left",
    "match:group_right",
    "match:fill",
    "match:fill_left",
    "match:fill_right",
)
SELECTOR_FEATURES: tuple[str, ...] = (
    "sel:range",
    "sel:matcher=",
    "sel:matcher!=",
    "sel:matcher=~",
    "sel:matcher!~",
    "sel:utf8_name",
)
LITERAL_KINDS: tuple[str, ...] = (
    "lit:integer",
    "lit:decimal",
    "lit:negative",
    "lit:zero",
    "lit:negative_zero",
    "lit:nan",
    "lit:+inf",
    "lit:-inf",
    "lit:huge",
    "lit:tiny",
    "lit:string",
    "lit:empty_string",
)

CATEGORIES = ("functions", "aggregations", "operators", "matching", "modifiers", "selectors", "literals")


def language_table(experimental: bool = True) -> dict[str, tuple[str, ...]]:
    """Every feature name of the language, by category."""
    return {
        "functions": tuple(f"fn:{n}" for n, f in FUNCTIONS.items() if experimental or not f.experimental),
        "aggregations": tuple(
            f"agg:{n}" for n, a in AGGREGATIONS.items() if experimental or not a.experimental
        ),
        "operators": tuple(f"op:{o}" for o in BINARY_OPERATORS),
        "matching": MATCHING_FEATURES,
        "modifiers": MODIFIER_FEATURES
        if experimental
        else tuple(
            m for m in MODIFIER_FEATURES if m not in ("mod:anchored", "mod:smoothed", "mod:duration_expr")
        ),
        "selectors": SELECTOR_FEATURES,
        "literals": LITERAL_KINDS,
    }


def literal_kinds(node: Expr) -> set[str]:
    """The kinds of literals in a tree (``lit:nan``, ``lit:huge``, ...)."""
    out: set[str] = set()
    for n, _ in walk(node):
        if isinstance(n, NumberLiteral):
            v = n.value
            if math.isnan(v):
                out.add("lit:nan")
            elif math.isinf(v):
                out.add("lit:+inf" if v > 0 else "lit:-inf")
            elif v == 0:
                out.add("lit:negative_zero" if math.copysign(1.0, v) < 0 else "lit:zero")
            else:
                if abs(v) >= 1e100:
                    out.add("lit:huge")
                elif abs(v) <= 1e-100:
                    out.add("lit:tiny")
                out.add("lit:integer" if v == int(v) else "lit:decimal")
                if v < 0:
                    out.add("lit:negative")
        elif isinstance(n, StringLiteral):
            out.add("lit:string" if n.value else "lit:empty_string")
    return out


def query_features(node: Expr) -> frozenset[str]:
    """AST features plus literal kinds of one query."""
    return features(node) | literal_kinds(node)


def _node_of(item: Any) -> Expr | None:
    if isinstance(item, Expr):
        return item
    node = getattr(item, "node", None)
    if isinstance(node, Expr):
        return node
    text = item.query if isinstance(item, Case) else item if isinstance(item, str) else None
    if text is None:
        return None
    try:
        from promfuzz.promql.parser import parse  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        parsed = parse(text)
    except Exception:  # a deliberately invalid query
        return None
    return parsed if isinstance(parsed, Expr) else None


def grammar_coverage(items: Iterable[Any], experimental: bool = True) -> dict[str, Any]:
    """Count the language features used by ``items`` (cases, generated queries, trees or texts).

    Returns ``{"queries": N, "unparsed": N, "counts": {feature: n}, "categories":
    {category: {"reached": n, "total": n, "share": x, "missing": [...]}}, "reached": n,
    "total": n, "share": x}`` where ``share`` is the fraction of the language table reached.
    """
    counts: Counter[str] = Counter()
    queries = unparsed = 0
    for item in items:
        queries += 1
        node = _node_of(item)
        if node is None:
            unparsed += 1
            continue
        counts.update(query_features(node))
    table = language_table(experimental)
    cats: dict[str, Any] = {}
    reached = total = 0
    for cat, names in table.items():
        hit = [n for n in names if counts.get(n)]
        cats[cat] = {
            "reached": len(hit),
            "total": len(names),
            "share": len(hit) / len(names) if names else 1.0,
            "missing": [n for n in names if not counts.get(n)],
        }
        reached += len(hit)
        total += len(names)
    return {
        "queries": queries,
        "unparsed": unparsed,
        "counts": dict(sorted(counts.items())),
        "categories": cats,
        "reached": reached,
        "total": total,
        "share": reached / total if total else 1.0,
    }
