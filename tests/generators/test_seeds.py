"""Upstream promqltest queries as seeds: loading, counting, deduplication, missing modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from promfuzz.generators.seeds import (
    MIMIR_VERSION,
    SeedsUnavailableError,
    load_upstream_seeds,
    seed_sources,
)
from promfuzz.promql import parse, to_text, value_type
from promfuzz.promql.functions import PROMETHEUS_VERSION


@pytest.fixture(scope="module")
def upstream() -> object:
    src = seed_sources()
    if not src["prometheus"] and not src["mimir"]:
        pytest.skip("Prometheus/Mimir modules are not in the Go module cache (run `make hosts`)")
    return load_upstream_seeds()


def test_seeds_load_from_prometheus_and_mimir_testdata(upstream: object) -> None:
    from promfuzz.generators.seeds import SeedSet

    assert isinstance(upstream, SeedSet)
    stats = {s.source: s for s in upstream.stats}
    by_source: dict[str, int] = {}
    for s in upstream.seeds:
        by_source[s.source] = by_source.get(s.source, 0) + 1
    # Prometheus's testdata alone holds well over a thousand distinct eval queries.
    assert by_source.get("prometheus", 0) > 1000, by_source
    if seed_sources()["mimir"]:
        assert by_source.get("mimir", 0) > 200, by_source
    for st in stats.values():
        if st.files:
            # Our parser accepts nearly every upstream query (failures are expected-to-fail ones).
            assert st.parse_failures <= 0.05 * st.queries, st
            assert st.unreadable_files == 0, st


def test_every_seed_round_trips_and_has_its_type(upstream: object) -> None:
    from promfuzz.generators.seeds import SeedSet

    assert isinstance(upstream, SeedSet)
    for s in upstream.seeds:
        assert to_text(s.node) == s.text
        assert parse(s.text) == s.node
        assert value_type(s.node) == s.value_type


def test_seeds_are_unique_and_sorted(upstream: object) -> None:
    from promfuzz.generators.seeds import SeedSet

    assert isinstance(upstream, SeedSet)
    texts = [s.text for s in upstream.seeds]
    assert texts == sorted(set(texts))


def _fake_modcache(root: Path) -> Path:
    prom = root / "github.com/prometheus" / f"prometheus@{PROMETHEUS_VERSION}/promql/promqltest/testdata"
    prom.mkdir(parents=True)
    (prom / "a.test").write_text(
        'load 1m\n  foo{job="x"} 1 2 3\n\n'
        'eval instant at 1m foo\n  foo{job="x"} 2\n\n'
        'eval instant at 1m   foo\n  foo{job="x"} 2\n\n'  # same query, other spelling
        'eval range from 0 to 2m step 1m rate(foo[2m])\n  {job="x"} 0 0 0\n',
        encoding="utf-8",
    )
    mimir = root / "github.com/grafana" / f"mimir@{MIMIR_VERSION}/pkg/streamingpromql/testdata"
    (mimir / "ours").mkdir(parents=True)
    (mimir / "ours" / "b.test").write_text(
        "load 1m\n  bar 1\n\neval instant at 0 sum(bar)\n  {} 1\n", encoding="utf-8"
    )
    (mimir / "fuzz" / "data").mkdir(parents=True)
    (mimir / "fuzz" / "data" / "seed-queries.test").write_text(
        "# a comment\nfoo\n[ignore_annotations] abs(bar)\nsum(\n", encoding="utf-8"
    )
    return root


def test_seeds_from_a_module_cache_are_counted_per_source(tmp_path: Path) -> None:
    got = load_upstream_seeds(_fake_modcache(tmp_path))
    assert [s.text for s in got.seeds] == ["abs(bar)", "foo", "rate(foo[2m])", "sum(bar)"]
    stats = {s.source: (s.files, s.queries, s.parse_failures) for s in got.stats}
    assert stats == {"prometheus": (1, 3, 0), "mimir": (1, 1, 0), "mimir-fuzz": (1, 3, 1)}
    foo = next(s for s in got.seeds if s.text == "foo")
    assert foo.source == "prometheus" and foo.line == 4
    assert foo.file.endswith("promql/promqltest/testdata/a.test")


def test_missing_module_cache_says_to_run_make_hosts(tmp_path: Path) -> None:
    with pytest.raises(SeedsUnavailableError, match="make hosts"):
        load_upstream_seeds(tmp_path)
