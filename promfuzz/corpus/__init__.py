"""promfuzz.corpus: promqltest files, the case store and replay.

* :mod:`~promfuzz.corpus.promqltest` -- :func:`read_test_file` / :func:`parse_test` (the
  whole promqltest format of Prometheus v0.316.0 plus the legacy forms Mimir's files use),
  :func:`write_case` / :func:`read_case` (one case, lossless), :func:`write_test_file`,
  :func:`expected_to_result`.
* :mod:`~promfuzz.corpus.store` -- :class:`CorpusStore` (content-addressed, atomic, one
  folder per signature) and :func:`merge_corpora`.
* :mod:`~promfuzz.corpus.replay` -- :func:`replay` and :func:`format_report`.
"""

from promfuzz.corpus.promqltest import (
    ClearCommand,
    EvalCommand,
    Expectation,
    ExpectedSeries,
    LoadCommand,
    TestFile,
    expected_to_result,
    parse_test,
    promqltest_dataset,
    read_case,
    read_test_file,
    write_case,
    write_test_file,
)
from promfuzz.corpus.replay import ReplayReport, check_eval, format_report, replay, write_report
from promfuzz.corpus.store import CaseMeta, CorpusStore, StoredCase, merge_corpora

__all__ = [
    "CaseMeta",
    "ClearCommand",
    "CorpusStore",
    "EvalCommand",
    "Expectation",
    "ExpectedSeries",
    "LoadCommand",
    "ReplayReport",
    "StoredCase",
    "TestFile",
    "check_eval",
    "expected_to_result",
    "format_report",
    "merge_corpora",
    "parse_test",
    "promqltest_dataset",
    "read_case",
    "read_test_file",
    "replay",
    "write_case",
    "write_report",
    "write_test_file",
]
