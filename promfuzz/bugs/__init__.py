"""Bugs, not signatures: the ledger of root causes (``corpus/bugs/*.toml``) and the
upstream-ready reports written from it. See :mod:`promfuzz.bugs.ledger`."""

from promfuzz.bugs.ledger import (
    STATUSES,
    Attribution,
    Bug,
    LedgerError,
    ReportInfo,
    SeenUpdate,
    case_index,
    dump_bug,
    find_bug,
    load_ledger,
    parse_bug,
    record_bug_seen,
    record_replay,
    record_results,
    unassigned_cases,
    write_bug,
)

__all__ = [
    "STATUSES", "Attribution", "Bug", "LedgerError", "ReportInfo", "SeenUpdate", "case_index", "dump_bug",
    "find_bug", "load_ledger", "parse_bug", "record_bug_seen", "record_replay", "record_results", "unassigned_cases", "write_bug",
]
