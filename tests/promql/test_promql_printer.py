"""Printer variants parse back to the same tree; canonical text equals the host's String()."""

from __future__ import annotations

import pytest

from promfuzz.generators.choices import RandomChoices
from promfuzz.promql import AggregateExpr, NumberLiteral, VectorSelector, parse, to_text, to_text_variant
from promfuzz.promql.testdata import EvalQuery

EXAMPLES = [
    'sum by (job, "a.b") (rate(http_requests_total{job=~"api|web", code!="500"}[5m] offset 1m))',
    "topk without (x) (3, a) > bool on (x) group_left (y) b",
    "histogram_quantile(0.9, sum by (le) (rate(x_bucket[1h30m:1m] @ start())))",
    'label_replace(up, "dst", "$1", "src", "(.*)") or vector(0x1F) unless -a ^ 2',
    "a + fill_left (1) fill_right (-Inf) b",
    "foo[5m + 1m] anchored @ 10.5 offset -(1m)",
    'count_values("v", a) and ignoring (x) b',
    "1e300 * NaN - -0 + 0.000001",
    "sum(a) by ()",
]


def _variants(text: str, seed: int, n: int) -> list[str]:
    tree = parse(text)
    c = RandomChoices(seed)
    return [to_text_variant(tree, c) for _ in range(n)]


@pytest.mark.parametrize("text", EXAMPLES)
def test_every_variant_parses_back_to_the_same_tree(text: str) -> None:
    tree = parse(text)
    seen = set()
    for v in _variants(text, 7, 60):
        assert parse(v) == tree, v
        seen.add(v)
    assert len(seen) > 5  # variants really vary


def test_variants_are_deterministic_per_seed() -> None:
    assert _variants(EXAMPLES[0], 3, 5) == _variants(EXAMPLES[0], 3, 5)
    assert _variants(EXAMPLES[0], 3, 5) != _variants(EXAMPLES[0], 4, 5)


def test_variants_of_all_testdata_queries_round_trip(testdata_queries: list[EvalQuery]) -> None:
    c = RandomChoices(11)
    bad = []
    for q in testdata_queries:
        if q.file == "unquoted_utf8_names.test":
            continue
        tree = parse(q.query)
        v = to_text_variant(tree, c)
        try:
            ok = parse(v) == tree
        except Exception:  # noqa: BLE001
            ok = False
        if not ok:
            bad.append((q.query, v))
    assert bad == []


def test_canonical_text_differs_from_prometheus_only_for_empty_by() -> None:
    t = parse("sum by () (a)")
    assert to_text(t) == "sum by () (a)"
    assert to_text(t, prometheus=True) == "sum(a)"
    assert to_text(AggregateExpr("sum", VectorSelector("a"), grouping=("x",))) == "sum by (x) (a)"
    assert to_text(NumberLiteral(1e21)) == "1000000000000000000000"
    assert to_text(NumberLiteral(-0.0)) == "-0"


def test_unprintable_metric_name_is_refused() -> None:
    with pytest.raises(ValueError, match="__name__"):
        to_text(VectorSelector("foo.bar"))


@pytest.mark.hosts
def test_canonical_text_equals_the_hosts_string(prometheus_host, testdata_queries: list[EvalQuery]) -> None:  # type: ignore[no-untyped-def]
    queries = [q.query for q in testdata_queries if q.file != "unquoted_utf8_names.test"][::5] + EXAMPLES
    assert len(queries) > 300
    mismatches = []
    for q in queries:
        answer = prometheus_host.get("/api/v1/parse", query=q)
        assert answer["status"] == "success", (q, answer)
        ours = to_text(parse(q), prometheus=True)
        if ours != answer["data"]["canonical"]:  # type: ignore[index]
            mismatches.append((q, ours, answer["data"]))
    assert mismatches == []


@pytest.mark.hosts
def test_parse_errors_agree_with_the_host(prometheus_host) -> None:  # type: ignore[no-untyped-def]
    bad = [
        "foo bar",
        "sum(foo",
        "rate(foo)",
        "1 == 1",
        "{}",
        "foo[5m/0]",
        'foo{a=~"("}',
        "a and 1",
        "-foo[5m]",
    ]
    for q in bad:
        answer = prometheus_host.get("/api/v1/parse", query=q)
        assert answer["status"] == "error"
        with pytest.raises(Exception) as info:
            parse(q)
        pos = str(answer["error"]).split(": parse error: ")[0]
        assert f"{info.value.line}:{info.value.column}" == pos, (q, answer)  # type: ignore[attr-defined]


def test_generated_trees_print_and_parse_back_unchanged() -> None:
    from promfuzz.generators.queries import QueryGenerator

    gen = QueryGenerator(RandomChoices(5))
    vc = RandomChoices(9)
    checked = 0
    for _ in range(300):
        node, _vt, invalid = gen.query()
        text = to_text(node)
        if invalid is not None:
            with pytest.raises(Exception):  # noqa: B017 - any parse error
                parse(text)
            continue
        assert parse(text) == node, text
        assert parse(to_text_variant(node, vc)) == node, text
        checked += 1
    assert checked > 250
