"""Every eval query of Prometheus's promqltest testdata parses, prints and parses back."""

from __future__ import annotations

from promfuzz.promql import parse, to_text
from promfuzz.promql.testdata import EvalQuery

# Prometheus v0.316.0 ships 22 .test files with 2,434 eval commands (the notes' 2,214
# counted an older release); 19 of them use unquoted UTF-8 names, which promqltest's
# parser enables (EnableUnquotedUTF8Names) and the engine hosts do not.
EXPECTED_EVALS = 2434


def test_testdata_has_the_expected_number_of_eval_queries(testdata_queries: list[EvalQuery]) -> None:
    assert len(testdata_queries) == EXPECTED_EVALS
    assert sum(q.expect_fail for q in testdata_queries) > 0


def test_every_testdata_query_parses_with_promqltest_options(testdata_queries: list[EvalQuery]) -> None:
    # promqltest parses each query when loading a file, so all must parse (failures
    # its evals expect happen at evaluation time).
    failures = []
    for q in testdata_queries:
        try:
            parse(q.query, unquoted_utf8_names=True)
        except Exception as e:  # noqa: BLE001 - collect all
            failures.append(f"{q.file}:{q.line}: {q.query!r}: {e}")
    assert failures == []


def test_every_testdata_query_round_trips_through_the_canonical_printer(
    testdata_queries: list[EvalQuery],
) -> None:
    failures = []
    for q in testdata_queries:
        tree = parse(q.query, unquoted_utf8_names=True)
        text = to_text(tree, unquoted_utf8_names=True)
        again = parse(text, unquoted_utf8_names=True)
        if again != tree or to_text(again, unquoted_utf8_names=True) != text:
            failures.append(f"{q.file}:{q.line}: {q.query!r} -> {text!r}")
    assert failures == []


def test_queries_needing_unquoted_utf8_names_are_rejected_without_the_option(
    testdata_queries: list[EvalQuery],
) -> None:
    utf8 = [q for q in testdata_queries if q.file == "unquoted_utf8_names.test"]
    assert utf8
    rejected = 0
    for q in utf8:
        try:
            parse(q.query)
        except Exception:  # noqa: BLE001
            rejected += 1
    # The file pairs each unquoted query with its quoted spelling: about half need the option.
    assert 0 < rejected < len(utf8)
