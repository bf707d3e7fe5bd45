"""The atheris harness (parser/printer round trip from raw bytes) runs bounded with no crash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from promfuzz.promql.fuzz_roundtrip import check_one


@pytest.mark.parametrize(
    "data",
    [
        b"inf^h",  # Prometheus prints +Inf, which would parse as +(Inf ^ h)
        b"61----0s--w",  # -0s must keep its sign
        b"5555510413800\x00\x00\x00\x00\x00\x00303\x80\x80\x80\x80",  # no out-of-range duration spelling
        b"sum by (a) (rate(x[5m])) / on (a) group_left (b) y",
        b"\xff\xfe not utf-8",
    ],
)
def test_round_trip_property_holds_on_inputs_fuzzing_found(data: bytes) -> None:
    check_one(data)


def test_bounded_atheris_run_finds_no_crash(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "promfuzz.promql.fuzz_roundtrip", "-runs=20000", "-max_len=200", "-seed=7",
         f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 20000 runs" in proc.stderr
    assert not list(tmp_path.glob("crash-*"))
