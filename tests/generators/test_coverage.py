"""Grammar coverage counting and the coverage report."""

from __future__ import annotations

from pathlib import Path

import pytest

from promfuzz.generators.coverage import coverage_report, format_coverage, grammar_coverage, literal_kinds
from promfuzz.promql.parser import parse


def test_grammar_coverage_counts_features_of_texts_and_trees() -> None:
    cov = grammar_coverage(["sum by (job) (rate(x[5m]))", parse("-1 + NaN"), "this is not promql"])
    assert cov["queries"] == 3 and cov["unparsed"] == 1
    assert cov["counts"]["fn:rate"] == 1 and cov["counts"]["agg:sum"] == 1
    assert cov["counts"]["lit:nan"] == 1 and cov["counts"]["lit:negative"] == 1
    assert "fn:irate" in cov["categories"]["functions"]["missing"]
    assert 0 < cov["share"] < 0.2


def test_literal_kinds_distinguish_special_values() -> None:
    kinds = literal_kinds(parse('vector(-0) + 1e300 * 1e-300 + Inf - -Inf + 0.5 + count_values("", x)'))
    assert {"lit:negative_zero", "lit:huge", "lit:tiny", "lit:+inf", "lit:-inf", "lit:decimal"} <= kinds
    assert "lit:empty_string" in kinds


def test_coverage_report_reaches_the_whole_language() -> None:
    report = coverage_report(10_000, 1)
    assert report["share"] == 1.0, {k: v["missing"] for k, v in report["categories"].items()}
    assert report["parser"]["valid_rejected"] == 0
    assert report["parser"]["invalid_accepted"] == 0
    # parse(print(ast)) == ast for every valid query, printed with random surface variants
    assert report["parser"]["roundtrip_same"] == report["parser"]["valid_parsed"], report["parser"]["examples"]
    assert report["invalid"] > 0
    text = format_coverage(report)
    assert "functions" in text and "100.0%" in text


HOST = Path(__file__).resolve().parents[2] / ".build" / "prometheus-host"


@pytest.mark.hosts
def test_prometheus_parser_accepts_every_valid_query_and_rejects_invalid_ones() -> None:
    if not HOST.exists():
        pytest.skip(f"{HOST} not built (make hosts)")
    report = coverage_report(10_000, 2, check_host=True)  # the bar: 10,000 generated queries
    host = report["host"]
    assert host["valid_rejected"] == 0, host["examples"]
    assert host["invalid_accepted"] == 0, host["examples"]
    assert host["type_mismatch"] == 0
    assert host["canonical_differs"] == 0, host["examples"]
