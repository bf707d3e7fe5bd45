"""The function and aggregation tables match Prometheus v0.316.0's parser."""

from __future__ import annotations

import pytest

from promfuzz.promql import AGGREGATIONS, FUNCTIONS
from promfuzz.promql.functions import BINARY_OPERATORS


def test_table_has_every_v0_316_function_with_exact_signatures() -> None:
    assert len(FUNCTIONS) == 91
    assert sum(f.experimental for f in FUNCTIONS.values()) == 18
    rate = FUNCTIONS["rate"]
    assert (rate.arg_types, rate.return_type, rate.variadic, rate.experimental) == (
        ("matrix",),
        "vector",
        0,
        False,
    )
    hq = FUNCTIONS["histogram_quantiles"]
    assert hq.arg_types == ("vector", "string", "scalar", "scalar") and hq.variadic == 9 and hq.experimental
    assert FUNCTIONS["label_join"].variadic == -1 and FUNCTIONS["label_join"].max_args is None
    assert FUNCTIONS["round"].min_args == 1 and FUNCTIONS["round"].max_args == 2
    assert FUNCTIONS["info"].min_args == 1 and FUNCTIONS["info"].max_args == 2
    assert FUNCTIONS["histogram_quantiles"].max_args == 12
    assert FUNCTIONS["scalar"].return_type == "scalar" and FUNCTIONS["vector"].arg_types == ("scalar",)
    assert "holt_winters" not in FUNCTIONS
    assert FUNCTIONS["integral"].experimental


def test_aggregations_and_operators_match_the_lexer() -> None:
    assert sorted(AGGREGATIONS) == sorted(
        "avg bottomk count count_values group limit_ratio limitk max min quantile stddev stdvar sum topk".split()
    )
    assert {a for a, v in AGGREGATIONS.items() if v.param_type == "scalar"} == {
        "topk",
        "bottomk",
        "quantile",
        "limitk",
        "limit_ratio",
    }
    assert AGGREGATIONS["count_values"].param_type == "string"
    assert len(BINARY_OPERATORS) == 18


@pytest.mark.hosts
def test_function_table_equals_the_hosts_parser_table(prometheus_host) -> None:  # type: ignore[no-untyped-def]
    data = prometheus_host.get("/api/v1/functions")["data"]
    theirs = {
        f["name"]: (tuple(f["argTypes"]), f["returnType"], f["variadic"], f["experimental"])
        for f in data["functions"]
    }
    ours = {f.name: (f.arg_types, f.return_type, f.variadic, f.experimental) for f in FUNCTIONS.values()}
    assert ours == theirs
    assert sorted(data["aggregations"]) == sorted(AGGREGATIONS)
    assert sorted(data["binaryOperators"]) == sorted(BINARY_OPERATORS)
