"""The comparator's view of a query: the tree-based and the token fallback analyses agree."""

from __future__ import annotations

import pytest

from promfuzz.oracles._query import analyze, analyze_tokens, analyze_tree, token_features
from promfuzz.promql import features, parse

QUERIES = [
    "m",
    "sort(m)",
    "((sort_desc(rate(m[5m]))))",
    'sort_by_label_desc(m, "a", "b")',
    "sort(m) + 1",
    "topk(3, m)",
    "topk by (g, h) (3, m)",
    "bottomk(2, m) without (i)",
    "abs(topk(2, m)) * 2",
    "-topk(2, m)",
    "2 > bool topk(2, m)",
    "topk(2, m) + on() group_left n",
    "sum(topk(2, m))",
    "topk(1, topk(2, m))",
    "limitk(2, m)",
    "sort_desc(topk(2, m))",
    'count_values("v", m)',
    'sum by (v) (count_values by (g) ("v", m))',
    "m and topk(1, m)",
    'label_replace(topk(1, m), "a", "b", "c", "d")',
]


@pytest.mark.parametrize("q", QUERIES)
def test_token_analysis_agrees_with_the_tree(q: str) -> None:
    tree = analyze_tree(q, parse(q))
    tokens = analyze_tokens(q)
    assert (tree.ordering, tree.sort_labels, tree.select_k, tree.nested_select_k, tree.count_values_labels) == (
        tokens.ordering, tokens.sort_labels, tokens.select_k, tokens.nested_select_k, tokens.count_values_labels)


def test_shapes_of_note() -> None:
    assert analyze("((sort_desc(m)))").ordering == "sort_desc"
    assert analyze("sort(m) + 1").ordering is None
    sk = analyze("topk by (g) (3, m)").select_k
    assert sk is not None and sk.direct and sk.grouping == "by" and sk.labels == ("g",)
    wrapped = analyze("abs(topk(2, m)) * 2").select_k
    assert wrapped is not None and not wrapped.direct
    assert analyze("topk(2, m) + on() group_left n").select_k is None
    assert analyze("sum(topk(2, m))").nested_select_k
    assert analyze('sum by (v) (count_values by (g) ("v", m))').count_values_labels == {"v"}


def test_unparseable_text_falls_back_to_tokens() -> None:
    shape = analyze("sort(m{) ")
    assert shape.ordering is None or shape.ordering == "sort"
    assert analyze("topk(2, m) +").select_k is None


@pytest.mark.parametrize("q", QUERIES + ["rate(m[5m] offset 1m) / on(a) group_left (b) n > bool 3",
                                         "max_over_time(m[10m:1m] @ 100) unless -n"])
def test_token_features_agree_with_the_tree_on_signature_features(q: str) -> None:
    from promfuzz.oracles.verdict import signature_features

    assert signature_features(token_features(q)) == signature_features(features(parse(q)))


def test_select_k_carries_the_texts_the_comparator_asks_the_engine_for() -> None:
    sk = analyze("abs(topk by (g) (2, rate(m[5m]))) * 2").select_k
    assert sk is not None and not sk.direct
    assert (sk.operand_text, sk.node_text, sk.lifted_text, sk.k) == (
        "rate(m[5m])", "topk by (g) (2, rate(m[5m]))", "abs(rate(m[5m])) * 2", 2.0)
    direct = analyze("limitk(scalar(x), m)").select_k
    assert direct is not None and direct.lifted_text is None and direct.k is None and direct.node_text
    # limit_ratio's pick is defined: no select-k check, and it makes nothing tie-sensitive
    assert analyze("limit_ratio(0.5, m)").select_k is None
    assert not analyze("sum(limit_ratio(0.5, m))").nested_select_k
    assert analyze("limit_ratio(0.5, topk(1, m))").nested_select_k
    # from tokens only (text our parser refuses) there is nothing to ask for
    assert analyze_tokens("topk(2, m)").select_k.operand_text is None  # type: ignore[union-attr]
