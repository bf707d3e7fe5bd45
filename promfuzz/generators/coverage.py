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
from pathlib import Path
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


# --------------------------------------------------------------------------- report


def _host_binary() -> Path:
    return Path(__file__).resolve().parents[2] / ".build" / "prometheus-host"


def _parser_check(queries: list[Any]) -> dict[str, Any]:
    """Our parser on generated queries: valid ones must parse (back to the very tree that
    was printed: ``roundtrip_same``), deliberately invalid ones must be rejected."""
    from promfuzz.errors import PromQLSyntaxError
    from promfuzz.promql.parser import parse
    from promfuzz.promql.printer import to_text

    valid_rejected = invalid_accepted = roundtrip_same = valid = 0
    examples: list[str] = []
    for q in queries:
        try:
            tree = parse(q.text)
        except PromQLSyntaxError as e:
            if q.invalid is None:
                valid_rejected += 1
                if len(examples) < 5:
                    examples.append(f"rejected: {q.text!r}: {e}")
            continue
        if q.invalid is not None:
            invalid_accepted += 1
            if len(examples) < 5:
                examples.append(f"accepted invalid ({q.invalid}): {q.text!r}")
            continue
        valid += 1
        if tree == q.node:
            roundtrip_same += 1
        elif len(examples) < 5:
            examples.append(f"round trip: {to_text(q.node)!r} -> {to_text(tree)!r}")
    n_valid = sum(1 for q in queries if q.invalid is None)
    return {
        "valid_parsed": valid,
        "valid_rejected": valid_rejected,
        "invalid_accepted": invalid_accepted,
        "roundtrip_same": roundtrip_same,
        "parse_share": valid / n_valid if n_valid else 1.0,
        "examples": examples,
    }


def _host_check(queries: list[Any]) -> dict[str, Any]:
    """Prometheus's own parser (the upstream host's /api/v1/parse) on generated queries."""
    binary = _host_binary()
    if not binary.exists():
        return {"skipped": f"{binary} is not built (make hosts)"}
    from promfuzz.engines.host import HostProcess
    from promfuzz.errors import PromQLSyntaxError
    from promfuzz.promql.parser import parse
    from promfuzz.promql.printer import to_text

    valid_rejected = invalid_accepted = type_mismatch = canonical_differs = valid = 0
    examples: list[str] = []
    with HostProcess(binary) as h:
        for q in queries:
            r = h.request("GET", "/api/v1/parse", 30.0, params={"query": q.text}).json()
            ok = r.get("status") == "success"
            if not ok:
                if q.invalid is None:
                    valid_rejected += 1
                    if len(examples) < 5:
                        examples.append(f"rejected: {q.text!r}: {r.get('error')}")
                continue
            if q.invalid is not None:
                invalid_accepted += 1
                if len(examples) < 5:
                    examples.append(f"accepted invalid ({q.invalid}): {q.text!r}")
                continue
            valid += 1
            data = r["data"]
            if data.get("type") != q.value_type:
                type_mismatch += 1
            # The text may spell a number as a duration (a surface variant): compare with
            # the canonical form of what the text says, as our parser reads it.
            try:
                ours = to_text(parse(q.text), prometheus=True)
            except PromQLSyntaxError:
                ours = to_text(q.node, prometheus=True)
            if data.get("canonical") != ours:
                canonical_differs += 1
                if len(examples) < 5:
                    examples.append(
                        f"canonical: ours {to_text(q.node, prometheus=True)!r} vs {data.get('canonical')!r}"
                    )
    n_valid = sum(1 for q in queries if q.invalid is None)
    return {
        "valid_parsed": valid,
        "valid_rejected": valid_rejected,
        "invalid_accepted": invalid_accepted,
        "type_mismatch": type_mismatch,
        "canonical_differs": canonical_differs,
        "parse_share": valid / n_valid if n_valid else 1.0,
        "examples": examples,
    }


def coverage_report(
    n: int = 1000, seed: int = 0, config: Any = None, check_host: bool = False
) -> dict[str, Any]:
    """Generate ``n`` cases from ``seed`` and report grammar coverage, the share of
    deliberately invalid queries, and what our parser (and, with ``check_host``, the
    Prometheus host's parser) makes of them. ``config`` is a
    :class:`~promfuzz.generators.cases.CaseConfig`."""
    from promfuzz.generators.cases import iter_generated_cases

    queries = [g.query for g in iter_generated_cases(seed, n, config)]
    report = grammar_coverage(queries)
    report["seed"] = seed
    report["invalid"] = sum(1 for q in queries if q.invalid is not None)
    report["invalid_reasons"] = dict(Counter(q.invalid for q in queries if q.invalid is not None))
    report["value_types"] = dict(Counter(q.value_type for q in queries if q.invalid is None))
    report["parser"] = _parser_check(queries)
    if check_host:
        report["host"] = _host_check(queries)
    return report


def format_coverage(report: dict[str, Any]) -> str:
    """A short human-readable summary of :func:`coverage_report`."""
    lines = [
        f"{report['queries']} queries (seed {report.get('seed', '?')}), "
        f"{report.get('invalid', 0)} deliberately invalid; "
        f"language reached {report['reached']}/{report['total']} ({report['share']:.1%})",
    ]
    for cat, d in report["categories"].items():
        line = f"  {cat:<13} {d['reached']:>3}/{d['total']:<3} {d['share']:6.1%}"
        if d["missing"]:
            line += "  missing: " + ", ".join(d["missing"][:12]) + (" ..." if len(d["missing"]) > 12 else "")
        lines.append(line)
    for key in ("parser", "host"):
        chk = report.get(key)
        if not chk:
            continue
        if "skipped" in chk:
            lines.append(f"  {key}: skipped ({chk['skipped']})")
            continue
        extra = "".join(
            f", {k.replace('_', ' ')} {chk[k]}"
            for k in ("valid_rejected", "invalid_accepted", "type_mismatch", "canonical_differs")
            if k in chk
        )
        lines.append(f"  {key}: {chk['parse_share']:.2%} of valid queries parse{extra}")
        for ex in chk.get("examples", []):
            lines.append(f"    {ex[:200]}")
    return "\n".join(lines)
