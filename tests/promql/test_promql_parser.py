"""The parser builds the trees Prometheus builds and rejects what Prometheus rejects."""

from __future__ import annotations

import math

import pytest

from promfuzz.errors import PromQLSyntaxError
from promfuzz.promql import (
    AggregateExpr,
    BinaryExpr,
    Call,
    DurationExpr,
    LabelMatcher,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
    parse,
    to_text,
    value_type,
)

A = VectorSelector("a")
B = VectorSelector("b")
C = VectorSelector("c")
N = NumberLiteral


def test_precedence_of_binary_operators() -> None:
    assert parse("a + b * c") == BinaryExpr(
        "+", A, BinaryExpr("*", B, C, matching=VectorMatching()), matching=VectorMatching()
    )
    assert parse("a - b - c") == BinaryExpr(
        "-", BinaryExpr("-", A, B, matching=VectorMatching()), C, matching=VectorMatching()
    )
    assert parse("2 ^ 3 ^ 4") == BinaryExpr("^", N(2), BinaryExpr("^", N(3), N(4)))
    assert parse("a or b and c") == BinaryExpr(
        "or",
        A,
        BinaryExpr("and", B, C, matching=VectorMatching("many-to-many")),
        matching=VectorMatching("many-to-many"),
    )
    t = parse("a == b + c atan2 a")
    assert isinstance(t, BinaryExpr) and t.op == "==" and isinstance(t.rhs, BinaryExpr) and t.rhs.op == "+"
    assert isinstance(t.rhs.rhs, BinaryExpr) and t.rhs.rhs.op == "atan2"


def test_unary_minus_binds_looser_than_power_and_folds_into_numbers() -> None:
    assert parse("-2 ^ 2") == UnaryExpr("-", BinaryExpr("^", N(2), N(2)))
    assert parse("-1") == N(-1)
    assert parse("- -1") == N(1)
    assert parse("-(1)") == UnaryExpr("-", ParenExpr(N(1)))
    assert parse("-a * b") == BinaryExpr("*", UnaryExpr("-", A), B, matching=VectorMatching())
    assert parse("2 ^ -1 ^ 2") == BinaryExpr("^", N(2), UnaryExpr("-", BinaryExpr("^", N(1), N(2))))
    assert parse("-a offset 1m") == UnaryExpr("-", VectorSelector("a", offset=60_000))


def test_number_spellings() -> None:
    assert parse("0x1F") == N(31)
    assert parse("010") == N(8)  # Go's ParseInt base 0: octal
    assert parse("1_000") == N(1000)
    assert parse("1e3") == N(1000)
    assert parse(".5") == N(0.5)
    assert parse("1m") == N(60)
    assert parse("1h30m") == N(5400)
    inf = parse("InF")
    assert isinstance(inf, NumberLiteral) and inf.value == math.inf
    nan = parse("-nAn")
    assert isinstance(nan, NumberLiteral) and math.isnan(nan.value)
    assert to_text(parse("1m")) == "1m" and to_text(parse("-Inf")) == "-Inf"


def test_strings_follow_go_quoting_rules() -> None:
    assert parse(r'"a\nb\x41\u00e9\101"') == StringLiteral("a\nbAéA")
    assert parse("'a\"b'") == StringLiteral('a"b')
    assert parse(r"`raw\n`") == StringLiteral("raw\\n")
    assert to_text(parse(r"'it\'s'")) == '"it\'s"'


def test_selectors_with_utf8_names_keywords_and_sorted_matchers() -> None:
    assert parse('{"foo.bar"="x", a="b"}') == VectorSelector(
        None, (LabelMatcher("foo.bar", "=", "x"), LabelMatcher("a", "=", "b"))
    )
    assert parse('{"foo.bar"}') == VectorSelector(None, (LabelMatcher("__name__", "=", "foo.bar"),))
    assert parse('foo{b="1",a="2"}') == parse('foo{a="2", b="1",}')
    assert to_text(parse('foo{b="1",a="2",a!="3"}')) == 'foo{a!="3",a="2",b="1"}'
    for kw in ("sum", "by", "offset", "and", "start", "step", "anchored"):
        assert parse(kw) == VectorSelector(kw)
    assert parse("foo and and") == BinaryExpr(
        "and", VectorSelector("foo"), VectorSelector("and"), matching=VectorMatching("many-to-many")
    )
    assert parse("start()") == Call("start") and parse("step()") == Call("step")


def test_aggregation_grouping_before_after_and_empty() -> None:
    want = AggregateExpr("sum", A, grouping=("x",))
    assert parse("sum by (x) (a)") == want == parse("SUM(a) BY (x,)")
    assert parse("sum by () (a)") == AggregateExpr("sum", A, grouping=())
    assert parse("sum(a)") == AggregateExpr("sum", A)
    assert parse("topk without (x) (3, a)") == AggregateExpr("topk", A, N(3), ("x",), True)
    assert parse('count_values("v", a)').param == StringLiteral("v")  # type: ignore[attr-defined]
    assert parse("sum by (on, bool, group_left) (a)") == AggregateExpr(
        "sum", A, grouping=("on", "bool", "group_left")
    )


def test_binary_modifiers() -> None:
    t = parse("a > bool on (x) group_left (y) b")
    assert t == BinaryExpr(">", A, B, True, VectorMatching("many-to-one", ("x",), True, ("y",)))
    t = parse("a + ignoring (x) group_right b")
    assert t == BinaryExpr("+", A, B, False, VectorMatching("one-to-many", ("x",), False, ()))
    assert parse("a + fill(1) b") == BinaryExpr(
        "+", A, B, matching=VectorMatching(fill_lhs=1.0, fill_rhs=1.0)
    )
    assert parse("a + fill_right(-2) fill_left(1m) b") == BinaryExpr(
        "+", A, B, matching=VectorMatching(fill_lhs=60.0, fill_rhs=-2.0)
    )
    assert parse("1 + on() 2") == BinaryExpr("+", N(1), N(2))  # matching dropped for scalars
    assert parse("1 < bool 2").matching is None  # type: ignore[attr-defined]


def test_modifiers_offset_at_and_subqueries() -> None:
    want = VectorSelector("foo", offset=300_000, at="start")
    assert parse("foo offset 5m @ start()") == want == parse("foo @ start() offset 5m")
    assert parse("foo offset -1h").offset == -3_600_000  # type: ignore[attr-defined]
    assert parse("foo @ 1.2345").at == 1235  # type: ignore[attr-defined]
    m = parse("foo[5m] @ 100 offset 1m")
    assert m == MatrixSelector(VectorSelector("foo", offset=60_000, at=100_000), 300_000)
    assert parse("foo[5m:]") == SubqueryExpr(VectorSelector("foo"), 300_000, None)
    assert parse("rate(foo[5m])[30m:1m] offset 1m") == SubqueryExpr(
        Call("rate", (MatrixSelector(VectorSelector("foo"), 300_000),)), 1_800_000, 60_000, 60_000
    )
    assert parse("foo[5m] anchored") == MatrixSelector(VectorSelector("foo", anchored=True), 300_000)


def test_duration_expressions() -> None:
    m = parse("foo[5m+1m]")
    assert m == MatrixSelector(VectorSelector("foo"), DurationExpr("+", N(300), N(60)))
    assert to_text(m) == "foo[5m + 1m]"
    assert parse("foo offset (2^2)").offset == DurationExpr("^", N(2), N(2), True)  # type: ignore[attr-defined]
    assert to_text(parse("foo offset 2^2")) == "foo offset 2s ^ 2"  # offset takes one atom
    assert to_text(parse("foo[5m:step()]")) == "foo[5m:step()]"
    assert to_text(parse("foo offset -(1m)")) == "foo offset -(1m)"
    assert to_text(parse("foo[min_of(5m, 1m)]")) == "foo[min_of(5m, 1m)]"


def test_value_types() -> None:
    assert value_type(parse("1 + 2")) == "scalar"
    assert value_type(parse("a + 2")) == "vector"
    assert value_type(parse("a[5m]")) == "matrix"
    assert value_type(parse('"x"')) == "string"
    assert value_type(parse("scalar(a)")) == "scalar"
    assert value_type(parse("(rate(a[1m]))[5m:]")) == "matrix"


@pytest.mark.parametrize(
    ("query", "line", "column", "message"),
    [
        ("foo bar", 1, 5, 'unexpected identifier "bar"'),
        ("sum(foo", 1, 8, "unclosed left parenthesis"),
        ('foo{a="b"', 1, 10, "unexpected end of input inside braces"),
        ("rate(foo)", 1, 6, 'expected type range vector in call to function "rate", got instant vector'),
        ("1 == 1", 1, 3, "comparisons between scalars must use BOOL modifier"),
        ("a and 1", 1, 1, 'set operator "and" not allowed in binary scalar expression'),
        ("a + bool b", 1, 3, "bool modifier can only be used on comparison operators"),
        ("a and on(x) group_left b", 1, 1, 'no grouping allowed for "and" operation'),
        ("{}", 1, 1, "vector selector must contain at least one non-empty matcher"),
        ('{a=~".*"}', 1, 1, "vector selector must contain at least one non-empty matcher"),
        ("foo offset 1m[5m]", 1, 14, "no offset modifiers allowed before range"),
        ("sum(foo) offset 1m", 1, 1, "offset modifier must be preceded by an instant vector selector"),
        ("foo @ 1 @ 2", 1, 1, "@ <timestamp> may not be set multiple times"),
        ("topk(foo)", 1, 1, "wrong number of arguments for aggregate expression provided, expected 2, got 1"),
        ("round(foo, 1, 2)", 1, 1, 'expected at most 2 argument(s) in call to "round", got 3'),
        ("rate(foo[5m],)", 1, 13, "trailing commas not allowed in function call args"),
        ("foo[5m/0]", 1, 7, "division by zero"),
        ("foo[0s]", 1, 5, "duration must be greater than 0"),
        ("foo[1m:1m] anchored", 1, 1, "anchored modifier is not supported for subqueries"),
        ('foo{a=~"("}', 1, 5, "error parsing regexp: missing closing )"),
        ("info(foo, bar)", 1, 11, "expected label selectors only, got vector selector instead"),
        ("a +\n  b bar", 2, 5, 'unexpected identifier "bar"'),
        ("1.5m", 1, 1, "bad number or duration syntax"),
        ("", 1, 1, "no expression found in input"),
        ("nosuchfn(a)", 1, 1, 'unknown function with name "nosuchfn"'),
        ("-foo[5m]", 1, 1, "unary expression only allowed on expressions of type scalar or instant vector"),
    ],
)
def test_errors_carry_prometheus_positions(query: str, line: int, column: int, message: str) -> None:
    with pytest.raises(PromQLSyntaxError) as info:
        parse(query)
    assert (info.value.line, info.value.column) == (line, column)
    assert message in info.value.message


def test_unquoted_utf8_names_only_with_the_option() -> None:
    with pytest.raises(PromQLSyntaxError):
        parse("http.server.requests")
    t = parse('http.server.requests{service.name="a"}', unquoted_utf8_names=True)
    assert t == VectorSelector("http.server.requests", (LabelMatcher("service.name", "=", "a"),))
    assert to_text(t, unquoted_utf8_names=True) == 'http.server.requests{service.name="a"}'


def test_parse_spans_place_every_node_where_prometheus_does() -> None:
    """An annotation's (line:col) is the start of the node that raised it: the known
    rules place annotations by these spans, so each must cover exactly its node's text."""
    from promfuzz.promql import ast as A
    from promfuzz.promql.parser import parse_spans

    q = 'sum(rate(foo[1m])) / on (a) histogram_quantile(0.9, bar{x="é"} offset 1m)\n  or -baz'
    tree, spans = parse_spans(q, spans={})
    texts = {type(n).__name__ + str(at): q[spans[at][0]:spans[at][1]] for at, n in A.positions(tree) if at in spans}
    assert texts["BinaryExpr()"] == q
    assert texts["AggregateExpr(0, 0)"] == "sum(rate(foo[1m]))"
    assert texts["MatrixSelector(0, 0, 0, 0)"] == "foo[1m]"
    assert texts["Call(0, 1)"] == 'histogram_quantile(0.9, bar{x="é"} offset 1m)'
    assert texts["VectorSelector(0, 1, 1)"] == 'bar{x="é"} offset 1m'
    assert texts["UnaryExpr(1,)"] == "-baz"
    # the same tree as parse() gives, and parse() stays the same function
    assert tree == parse(q)
    assert parse_spans(q)[1] == {}
