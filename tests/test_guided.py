"""Engine-coverage-guided campaigns (issue #17 item 4): Go counter files read in Python,
the bandit, and on a coverage build: a case reaching new engine code is kept in the seed
pool, a case reaching nothing new is not."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import pytest
from build_helpers import need_binary

from promfuzz.guided import Bandit, CounterFormatError, covered_units, parse_counter_file

ROOT = Path(__file__).resolve().parents[1]


def _uleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _counter_file(funcs: list[tuple[int, int, list[int]]], flavor: int = 2) -> bytes:
    """A counter file as Go's encodecounter writes it (one segment, ``args`` empty)."""
    head = b"\x00cwm" + struct.pack("<I", 1) + b"\x11" * 16 + bytes([flavor, 0]) + b"\x00" * 6
    strtab = _uleb(1) + _uleb(0)  # a string table holding ""
    args = _uleb(0)
    pre = strtab + args
    pre += b"\x00" * (-(16 + len(pre)) % 4)
    body = bytearray()
    for pk, fn, ctrs in funcs:
        if flavor == 2:
            body += _uleb(len(ctrs)) + _uleb(pk) + _uleb(fn) + b"".join(_uleb(c) for c in ctrs)
        else:
            body += struct.pack(f"<III{len(ctrs)}I", len(ctrs), pk, fn, *ctrs)
    seg = struct.pack("<QII", len(funcs), len(strtab), len(pre) - len(strtab))
    foot = b"\x00cwm" + b"\x00" * 4 + struct.pack("<I", 1) + b"\x00" * 4
    return head + seg + pre + bytes(body) + foot


@pytest.mark.parametrize("flavor", [1, 2])
def test_counter_file_parses_to_its_functions_and_non_zero_units(flavor: int) -> None:
    funcs = [(0, 3, [1, 0, 300]), (2, 1, [0, 0]), (1, 70000, [5])]
    data = _counter_file(funcs, flavor)
    assert list(parse_counter_file(data)) == funcs
    assert covered_units(data) == {(0, 3, 0), (0, 3, 2), (1, 70000, 0)}


def test_bad_counter_file_is_a_clear_error() -> None:
    with pytest.raises(CounterFormatError, match="bad magic"):
        list(parse_counter_file(b"not a counter file at all, 32 bytes+"))
    with pytest.raises(CounterFormatError, match="truncated"):
        list(parse_counter_file(_counter_file([(0, 1, [1, 2, 3])])[:-20] + b"\x80" + b"\x00" * 16))


def test_bandit_tries_every_source_then_favours_the_rewarding_one() -> None:
    b = Bandit(["a", "b", "c"])
    picks = []
    for _ in range(300):
        arm = b.pick()
        picks.append(arm)
        b.update(arm, 1.0 if arm == "b" else 0.0)
    assert set(picks[:3]) == {"a", "b", "c"}
    assert picks.count("b") > 200


@pytest.mark.hosts
def test_counter_reader_sees_new_code_once(tmp_path: Path) -> None:
    """On the coverage build: a query reaching new engine code adds counters; the same
    query again adds none; a query with another function adds some."""
    need_binary("prometheus-host")
    from promfuzz.benchmarks.coverage import CoverageHost, build_coverage_host, spec_for_engine
    from promfuzz.guided import CounterReader
    from promfuzz.model import Dataset, EvalParams

    spec = spec_for_engine("prometheus")
    host = CoverageHost(spec, build_coverage_host(spec.binary), tmp_path)
    try:
        eng = host.engine("prometheus")
        eng.load(Dataset.build([({"__name__": "up", "job": "a"}, [(0, 1.0), (60_000, 4.0)])]))
        reader = CounterReader(host.process, tmp_path / "live")
        seen = reader.read()
        eng.query("sum by (job) (rate(up[2m]))", EvalParams.instant(60_000))
        after = reader.read()
        assert len(after - seen) > 20
        eng.query("sum by (job) (rate(up[2m]))", EvalParams.instant(60_000))
        assert reader.read() - after == set()
        eng.query("histogram_quantile(0.9, up)", EvalParams.instant(60_000))
        assert len(reader.read() - after) > 5
    finally:
        host.close()


@pytest.mark.hosts
def test_guided_loop_keeps_cases_reaching_new_coverage(tmp_path: Path) -> None:
    """A short guided run (12 cases) on Prometheus's coverage build: the cases that
    reached new counters are in the pool, the others are not, and the pool's cases were
    judged like campaign cases."""
    need_binary("prometheus-host")
    from promfuzz.guided import run_guided

    with tempfile.TemporaryDirectory() as corpus:
        s = run_guided("prometheus", "prometheus", 0, max_cases=12, corpus=Path(corpus), sample_every_s=1e9)
    assert s.cases == 12
    assert s.pool >= 1 and s.counters > 100
    kept = sum(v.get("new_coverage", 0) for v in s.by_source.values())
    assert kept == s.pool
    assert s.pool < s.cases or s.counters > 0
    assert sum(s.verdicts.values()) == 12
    # Prometheus against itself: both engines hold each case's dataset (a same-named pair
    # once shared one "already loaded" mark, and the target answered on the old data).
    assert s.verdicts["divergence"] == 0 and not s.stored, s.stored
    assert s.coverage and s.coverage[-1]["covered"] > 0  # the final snapshot, read by go tool covdata
