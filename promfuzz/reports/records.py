"""What a run records, independent of how oracles and engines represent things.

A campaign turns every non-match verdict into a :class:`Finding` (one per distinct
signature, with an occurrence count) and keeps running totals in :class:`RunStats`.
The report writers (summary.json, junit.xml, index.html) read only these records, so
they can be rebuilt later from ``summary.json`` and ``findings.jsonl`` alone.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SUMMARY_SCHEMA_VERSION = 1


@dataclass
class SeriesView:
    """One series of one engine's answer, ready to print or chart."""

    labels: str
    points: list[tuple[int, str]]  # (t_ms, value text as the engine gave it)


@dataclass
class ResultView:
    engine: str
    outcome: str
    value_type: str | None = None
    series: list[SeriesView] = field(default_factory=list)
    scalar: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)


@dataclass
class Finding:
    """One distinct signature seen in a run (the first, shrunk, case; how often seen)."""

    signature: str  # stable key (a folder name under corpus/)
    title: str
    verdict: str  # divergence | expected | unsupported | engine_failure | performance
    oracle: str
    category: str
    reference: str
    target: str
    query: str  # shrunk query
    original_query: str
    params: dict[str, Any]
    case_file: str | None  # path of the .test file in the corpus, when stored
    diff: str
    results: list[ResultView] = field(default_factory=list)
    occurrences: int = 1
    first_seen_s: float = 0.0
    shrink: dict[str, Any] = field(default_factory=dict)
    rule: str | None = None  # id of the known-difference rule, for `expected`
    panic: str | None = None  # the normalized panic message when an engine panicked
    chart_svg: str | None = None  # range queries: drawn once, by the first report written after the finding
    # The root cause this finding belongs to (promfuzz/bugs/grouping.py): a ledger bug's id,
    # or ``new-<hash>`` of the grouping key when no ledger bug matches; None when not
    # grouped (expected differences, unsupported queries, reports written before grouping).
    bug_id: str | None = None
    bug_title: str | None = None  # English, no placeholders or dict reprs
    bug_status: str | None = None  # new | open | reported | fixed-regression | wontfix | documented
    # promfuzz explain's attribution of the shrunk case (promfuzz/explain.py,
    # Explanation.to_json_obj: rows, label engine|fork-lag|both|none, attributed, conclusion);
    # None when not explained (--no-explain, performance findings, older reports).
    explain: dict[str, Any] | None = None

    def to_json_obj(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json_obj(d: Mapping[str, Any]) -> Finding:
        d = dict(d)
        d["results"] = [
            ResultView(**{**r, "series": [SeriesView(s["labels"], [tuple(p) for p in s["points"]]) for s in r["series"]]})
            for r in d.get("results", [])
        ]
        return Finding(**d)


@dataclass
class ThroughputSample:
    elapsed_s: float
    cases: int
    divergences: int


@dataclass
class RunStats:
    """Running totals of one campaign (all workers merged)."""

    cases: int = 0
    datasets: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    engine_seconds: dict[str, float] = field(default_factory=dict)
    """Time inside each engine: the sum of its answers' hostStats ``engineNs`` (creating
    and executing the query; ``wallNs`` for engines that do not report it)."""
    suite_seconds: dict[str, float] = field(default_factory=dict)
    """Time the suite spent around the engines: ``python_cpu`` (the workers' own CPU time
    generating, decoding, judging) and ``host_overhead`` (the time a worker waited on a
    host beyond the engine time: request parsing, JSON encoding, HTTP, transfer)."""
    wall_seconds: float = 0.0
    features: Counter[str] = field(default_factory=Counter)
    invalid_queries: int = 0
    throughput: list[ThroughputSample] = field(default_factory=list)
    cases_fingerprint: int = 0
    """Sum (mod 2**64) of a hash of every case run: equal sets of cases give equal sums
    whatever the order or the number of workers (the determinism check)."""

    def add_case_hash(self, h: int) -> None:
        self.cases_fingerprint = (self.cases_fingerprint + h) % (1 << 64)

    def merge(self, other: RunStats) -> None:
        self.add_case_hash(other.cases_fingerprint)
        self.cases += other.cases
        self.datasets += other.datasets
        self.verdicts.update(other.verdicts)
        for k, v in other.engine_seconds.items():
            self.engine_seconds[k] = self.engine_seconds.get(k, 0.0) + v
        for k, v in other.suite_seconds.items():
            self.suite_seconds[k] = self.suite_seconds.get(k, 0.0) + v
        self.features.update(other.features)
        self.invalid_queries += other.invalid_queries

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.wall_seconds if self.wall_seconds > 0 else 0.0


def write_json_atomic(path: Path, obj: Any, sort_keys: bool = True) -> None:
    """Write JSON through a temp file and rename, so readers never see half a file.
    ``sort_keys=False`` keeps the dict's own order (summary.json puts panics first)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_findings(lines: Iterable[str]) -> list[Finding]:
    out = []
    for line in lines:
        line = line.strip()
        if line:
            out.append(Finding.from_json_obj(json.loads(line)))
    return out
