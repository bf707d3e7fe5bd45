"""Upstream promqltest queries as a seed corpus for structural mutation.

Prometheus's and Mimir's own promqltest files hold thousands of hand-written queries
that exercise corner cases. They are read at run time from the Go module cache (never
copied into this repository), parsed with our parser, deduplicated by canonical text
and sorted, so the same module versions always give the same seed list.

Sources:

* ``prometheus`` -- ``promql/promqltest/testdata/*.test`` of the pinned Prometheus module,
* ``mimir`` -- ``pkg/streamingpromql/testdata/**/*.test`` of the pinned Mimir module
  (read with :func:`promfuzz.corpus.promqltest.read_test_file`, legacy forms included),
* ``mimir-fuzz`` -- Mimir's fuzzing seed file (one query per line), which is not a
  promqltest file.

Queries our parser rejects (most are expected to fail on purpose) are skipped and
counted in :class:`SeedStats`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from promfuzz.errors import PromfuzzError
from promfuzz.promql import Expr, parse, to_text, value_type
from promfuzz.promql.functions import PROMETHEUS_VERSION, ValueType

__all__ = [
    "MIMIR_VERSION",
    "SeedQuery",
    "SeedSet",
    "SeedStats",
    "SeedsUnavailableError",
    "load_upstream_seeds",
    "seed_sources",
    "upstream_seed_queries",
]

MIMIR_VERSION = "v1.3.1-0.20260423142704-aced80d74930"
"""The Mimir module version ``hosts/mimir`` pins (its testdata is read from the module cache)."""


class SeedsUnavailableError(PromfuzzError):
    """The upstream testdata is not in the Go module cache (run ``make hosts``)."""


@dataclass(frozen=True, slots=True)
class SeedQuery:
    """One upstream query: its tree, canonical text, value type and first place seen."""

    node: Expr
    text: str
    value_type: ValueType
    source: str
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class SeedStats:
    """Counts per source: files read, queries seen, queries our parser rejected."""

    source: str
    files: int
    queries: int
    parse_failures: int
    unreadable_files: int = 0


@dataclass(frozen=True, slots=True)
class SeedSet:
    """The deduplicated, sorted seeds and how many of each source were found."""

    seeds: tuple[SeedQuery, ...]
    stats: tuple[SeedStats, ...]


def _modcache() -> Path | None:
    from promfuzz.promql.testdata import _modcache as mc

    return mc()


def seed_sources(modcache: Path | None = None) -> dict[str, list[Path]]:
    """The upstream test files by source name (empty lists when a module is absent)."""
    mc = modcache if modcache is not None else _modcache()
    out: dict[str, list[Path]] = {"prometheus": [], "mimir": [], "mimir-fuzz": []}
    if mc is None:
        return out
    prom = (
        mc
        / "github.com"
        / "prometheus"
        / f"prometheus@{PROMETHEUS_VERSION}"
        / "promql"
        / "promqltest"
        / "testdata"
    )
    if prom.is_dir():
        out["prometheus"] = sorted(prom.glob("*.test"))
    mimir = mc / "github.com" / "grafana" / f"mimir@{MIMIR_VERSION}" / "pkg" / "streamingpromql" / "testdata"
    if mimir.is_dir():
        files = sorted(mimir.rglob("*.test"))
        fuzz = [p for p in files if p.parent.name == "data" and p.parent.parent.name == "fuzz"]
        out["mimir-fuzz"] = [p for p in fuzz if p.name == "seed-queries.test"]
        out["mimir"] = [p for p in files if p not in fuzz]
    return out


def _relative(path: Path) -> str:
    """``module@version/...`` path of a file in the module cache (stable across machines)."""
    parts = path.parts
    for i, part in enumerate(parts):
        if "@" in part:
            return "/".join(parts[i:])
    return path.name


def _queries_of_test_file(path: Path) -> list[tuple[int, str]]:
    from promfuzz.corpus.promqltest import read_test_file

    tf = read_test_file(path)
    return [(ev.line, ev.query) for _, ev in tf.evals()]


def _queries_of_line_file(path: Path) -> list[tuple[int, str]]:
    out = []
    for i, raw in enumerate(path.read_text(encoding="utf-8").split("\n")):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[ignore_annotations]"):
            line = line[len("[ignore_annotations]") :].strip()
        out.append((i + 1, line))
    return out


@functools.lru_cache(maxsize=4)
def _load(modcache: Path | None) -> SeedSet:
    sources = seed_sources(modcache)
    if not sources["prometheus"] and not sources["mimir"]:
        raise SeedsUnavailableError(
            "upstream promqltest files not found in the Go module cache "
            f"(looked for prometheus@{PROMETHEUS_VERSION} and mimir@{MIMIR_VERSION}); "
            "run `make hosts`, which downloads the modules"
        )
    found: dict[str, SeedQuery] = {}
    stats = []
    for source, files in sources.items():
        n = fails = unreadable = 0
        for path in files:
            rel = _relative(path)
            try:
                items = _queries_of_line_file(path) if source == "mimir-fuzz" else _queries_of_test_file(path)
            except (PromfuzzError, OSError, UnicodeDecodeError):
                unreadable += 1
                continue
            for line, q in items:
                n += 1
                try:
                    node = parse(q)
                    text = to_text(node)
                    if parse(text) != node:
                        raise ValueError("does not round-trip")
                    t = value_type(node)
                except (PromfuzzError, ValueError, KeyError, TypeError, RecursionError):
                    fails += 1
                    continue
                if text not in found:
                    found[text] = SeedQuery(node, text, t, source, rel, line)
        stats.append(SeedStats(source, len(files), n, fails, unreadable))
    seeds = tuple(found[k] for k in sorted(found))
    return SeedSet(seeds, tuple(stats))


def load_upstream_seeds(modcache: Path | None = None) -> SeedSet:
    """Every upstream eval query that our parser accepts, deduplicated and sorted by text.

    Raises :class:`SeedsUnavailableError` when neither module is in the Go module cache.
    The result is memoized per module cache path (reading takes about a second).
    """
    return _load(modcache if modcache is not None else _modcache())


def upstream_seed_queries() -> list[SeedQuery]:
    """The seeds of :func:`load_upstream_seeds` as a list (sorted by canonical text)."""
    return list(load_upstream_seeds().seeds)
