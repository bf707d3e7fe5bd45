"""promfuzz.benchmarks.coverage: profile parsing (fast) and, with the Go hosts, a tiny
coverage run and promqlsmith's /generate endpoint. Never an assertion on times."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from promfuzz.benchmarks.coverage import (
    COVER_SPECS,
    SmithGenerator,
    parse_profile,
    run_coverage,
    spec_for_engine,
)
from promfuzz.errors import ConfigError
from promfuzz.generators.cases import generate_dataset_with_queries
from promfuzz.promql import parse

BUILD = Path(__file__).resolve().parents[2] / ".build"

PROFILE = """mode: atomic
example.com/m/promql/engine.go:10.2,12.3 2 0
example.com/m/promql/engine.go:14.2,15.9 3 1
example.com/m/promql/engine.go:10.2,12.3 2 4
example.com/m/promql/functions.go:1.1,2.2 5 0
example.com/m/promql/promqltest/test.go:1.1,2.2 7 1
"""


def test_parse_profile_counts_a_repeated_block_once_covered_if_any_count_is_positive() -> None:
    prof = parse_profile(PROFILE)
    rows = {f.file: (f.statements, f.covered) for f in prof.files}
    assert rows["example.com/m/promql/engine.go"] == (5, 5)
    assert rows["example.com/m/promql/functions.go"] == (5, 0)
    assert (prof.statements, prof.covered) == (17, 12)


def test_parse_profile_keeps_only_selected_packages_and_sums_per_package() -> None:
    prof = parse_profile(PROFILE, lambda pkg: not pkg.endswith("promqltest"))
    assert (prof.statements, prof.covered) == (10, 5)
    assert prof.percent == pytest.approx(50.0)
    assert [(p.package, p.statements, p.covered) for p in prof.packages()] == [
        ("example.com/m/promql", 10, 5)
    ]


def test_parse_profile_names_the_malformed_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_profile("mode: set\nnot a profile line\n")


def test_engine_packages_exclude_the_host_main_package_and_test_helpers() -> None:
    spec = spec_for_engine("prometheus")
    assert spec.counts("github.com/prometheus/prometheus/promql")
    assert spec.counts("github.com/prometheus/prometheus/promql/parser")
    assert not spec.counts("github.com/prometheus/prometheus/promql/promqltest")
    assert not spec.counts(spec.main_package)
    assert not spec.counts("github.com/prometheus/prometheus/promqlx")
    assert spec_for_engine("mqe") is COVER_SPECS["mimir-host"]
    with pytest.raises(ConfigError, match="no coverage build"):
        spec_for_engine("prometheus-live")


def _need(binary: str) -> None:
    if not (BUILD / binary).is_file():
        pytest.skip(f"{BUILD / binary} is not built (run `make hosts`)")
    if shutil.which("go") is None:
        pytest.skip("the Go toolchain is missing, so coverage builds of the hosts cannot be made")


@pytest.mark.hosts
def test_coverage_run_reports_positive_cumulative_coverage_per_file() -> None:
    _need("prometheus-host")
    rep = run_coverage("prometheus", "promfuzz", budget_s=3.0, seed=3, sample_every_s=1.0)
    assert rep.queries > 0
    assert 0 < rep.covered < rep.statements
    files = {f.file.rsplit("/", 1)[-1] for f in rep.files}
    assert {"engine.go", "functions.go"} <= files
    assert all(f.package.startswith("github.com/prometheus/prometheus/promql") for f in rep.files)
    assert not any("promqltest" in f.package for f in rep.files)
    assert sum(f.statements for f in rep.files) == rep.statements
    # Snapshots are cumulative: coverage never drops, and the last one is the report's.
    pcts = [s.covered for s in rep.samples]
    assert len(pcts) >= 2 and pcts == sorted(pcts) and pcts[-1] == rep.covered
    assert "TOTAL" in rep.table() and '"per_file"' in rep.to_json()


@pytest.mark.hosts
def test_promqlsmith_endpoint_returns_queries_our_parser_accepts() -> None:
    _need("mimir-host")
    ds = generate_dataset_with_queries("smith-test", 0).dataset
    gen = SmithGenerator()
    try:
        qs = gen.generate(ds, seed=11, n=150)
        instant = gen.generate(ds, seed=11, n=20, kind="instant")
    finally:
        gen.close()
    assert len(qs) == 150 and {k for _, k in qs} == {"instant", "range"}
    assert {k for _, k in instant} == {"instant"}
    bad = []
    for text, _ in qs:
        try:
            parse(text)
        except Exception as e:  # noqa: BLE001 -- collect every rejection for the message
            bad.append(f"{text}: {e}")
    assert not bad, "\n".join(bad[:5])
    metric_names = {s.name for s in ds.series if s.name}
    assert any(any(m in text for m in metric_names) for text, _ in qs), (
        "no query selects the dataset's series"
    )


@pytest.mark.hosts
def test_upstream_batches_group_promqltest_evals_by_dataset() -> None:
    _need("prometheus-host")
    from promfuzz.benchmarks.coverage import upstream_batches, upstream_files
    from promfuzz.corpus.promqltest import read_test_file

    files = upstream_files("prometheus")
    assert files, "no promqltest files found"
    f = next(p for p in files if p.name == "functions.test")
    batches = list(upstream_batches([f]))
    evals = list(read_test_file(f).evals())
    assert sum(len(b.queries) for b in batches) == len(evals)
    assert [q for b in batches for q, _ in b.queries] == [ev.query for _, ev in evals]
    assert len(batches) > 1 and all(b.queries and b.dataset.series for b in batches[:3])


def test_report_also_gives_coverage_without_generated_protobuf_code() -> None:
    from promfuzz.benchmarks.coverage import CoverageReport, FileCoverage

    files = (FileCoverage("m/plan/x.go", "m/plan", 6, 3), FileCoverage("m/plan/x.pb.go", "m/plan", 4, 0))
    rep = CoverageReport("mqe", "promfuzz", 0, 1.0, 1.0, 1, 1, "m/...", 10, 3, files, ())
    assert rep.without_generated() == (3, 6)
    assert rep.to_json_obj()["without_pb_go"]["percent"] == pytest.approx(50.0)
    assert "3/6 = 50.00%" in rep.table()
