"""AST values: equality, traversal, rewriting and feature names."""

from __future__ import annotations

import math

from promfuzz.promql import (
    Call,
    LabelMatcher,
    NumberLiteral,
    ParenExpr,
    VectorSelector,
    children,
    features,
    parse,
    replace_children,
    to_text,
    transform,
    walk,
)


def test_number_equality_treats_all_nans_alike_and_keeps_signed_zero() -> None:
    assert NumberLiteral(math.nan) == NumberLiteral(-math.nan)
    assert hash(NumberLiteral(math.nan)) == hash(NumberLiteral(float("nan")))
    assert NumberLiteral(0.0) != NumberLiteral(-0.0)
    assert NumberLiteral(60.0, duration=True) == NumberLiteral(60.0)


def test_selector_matchers_are_kept_sorted() -> None:
    a = VectorSelector("x", (LabelMatcher("b", "=", "1"), LabelMatcher("a", "=~", "2")))
    assert [m.name for m in a.matchers] == ["a", "b"]


def test_walk_children_and_replace_children() -> None:
    t = parse("topk(3, rate(a[5m])) + on (x) b")
    kinds = [type(n).__name__ for n, _ in walk(t)]
    assert kinds == [
        "BinaryExpr",
        "AggregateExpr",
        "NumberLiteral",
        "Call",
        "MatrixSelector",
        "VectorSelector",
        "VectorSelector",
    ]
    agg = children(t)[0]
    swapped = replace_children(t, [VectorSelector("c"), children(t)[1]])
    assert to_text(swapped) == "c + on (x) b"
    assert to_text(replace_children(agg, [NumberLiteral(5), children(agg)[1]])) == "topk(5, rate(a[5m]))"
    path = [p for n, p in walk(t) if isinstance(n, VectorSelector) and n.name == "a"][0]
    assert [type(p).__name__ for p in path] == ["BinaryExpr", "AggregateExpr", "Call", "MatrixSelector"]


def test_transform_rewrites_bottom_up() -> None:
    t = parse("sum(rate(a[5m])) / 2")

    def wrap_calls(n: object) -> object:
        return ParenExpr(n) if isinstance(n, Call) else n  # type: ignore[arg-type]

    assert to_text(transform(t, wrap_calls)) == "sum((rate(a[5m]))) / 2"  # type: ignore[arg-type]


def test_features_name_functions_aggregations_operators_and_modifiers() -> None:
    f = features(
        parse('sum by (x) (rate(a{b=~"c"}[5m] offset 1m)) > bool on (x) group_left topk(1, b @ end())')
    )
    for want in (
        "agg:sum",
        "agg:topk",
        "fn:rate",
        "op:>",
        "mod:bool",
        "mod:by",
        "mod:offset",
        "mod:@",
        "mod:@end()",
        "match:on",
        "match:group_left",
        "sel:range",
        "sel:matcher=~",
    ):
        assert want in f
    assert "mod:subquery" in features(parse("a[5m:]"))
    assert "mod:subquery" not in f
    assert "mod:duration_expr" in features(parse("a[5m+step()]"))
