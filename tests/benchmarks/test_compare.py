"""promfuzz.benchmarks.compare: a tiny promfuzz-vs-promqlsmith run on the coverage hosts
(structure only: never an assertion on times or on how many divergences turn up)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from promfuzz.benchmarks.compare import run_compare
from promfuzz.errors import ConfigError

BUILD = Path(__file__).resolve().parents[2] / ".build"


def test_unknown_source_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown source"):
        run_compare(1.0, sources=("promfuzz", "afl"))


@pytest.mark.hosts
def test_compare_reports_both_sources_with_coverage_of_both_engines_and_a_plot(tmp_path: Path) -> None:
    for b in ("prometheus-host", "mimir-host"):
        if not (BUILD / b).is_file():
            pytest.skip(f"{BUILD / b} is not built (run `make hosts`)")
    if shutil.which("go") is None:
        pytest.skip("the Go toolchain is missing, so coverage builds of the hosts cannot be made")
    rep = run_compare(2.0, seed=5, out_dir=tmp_path, sample_every_s=1.0)
    assert [r.source for r in rep.results] == ["promfuzz", "promqlsmith"]
    for r in rep.results:
        assert r.queries > 0 and sum(r.verdicts.values()) == r.queries
        assert 0 <= r.parsed <= r.queries and 0 <= r.nonempty <= r.queries
        assert r.final_percent("prometheus") > 0 and r.final_percent("mqe") > 0
        assert len(set(r.signatures)) == len(r.signatures)
    png = tmp_path / "coverage_over_time.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    obj = json.loads((tmp_path / "compare.json").read_text())
    assert [x["source"] for x in obj["results"]] == ["promfuzz", "promqlsmith"]
    assert "promqlsmith" in (tmp_path / "compare.txt").read_text()
