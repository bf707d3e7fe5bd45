"""Case store: content addressing, occurrence counting, atomic writes, merge, bad files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from promfuzz.corpus.promqltest import read_case
from promfuzz.corpus.store import CorpusStore, merge_corpora
from promfuzz.errors import CorpusError
from promfuzz.model import Case, Dataset, EvalParams, Point, Result, ResultSeries
from promfuzz.oracles.verdict import Signature

SIG = Signature("differential", "value", ("fn:rate",), ("ok", "ok"), target="mqe")
OTHER = Signature("differential", "missing_series", ("agg:sum",), ("ok", "ok"), target="mqe")


def _case(q: str = "rate(a[5m])", n: int = 3) -> Case:
    ds = Dataset.build([({"__name__": "a", "job": "x"}, [(i * 15_000, float(i)) for i in range(n)])])
    return Case(ds, q, EvalParams.instant(60_000))


def _expected() -> Result:
    return Result(
        engine="prometheus",
        outcome="ok",
        value_type="vector",
        series=(ResultSeries((("job", "x"),), (Point(60_000, 0.1),)),),
    )


def test_add_writes_content_addressed_test_and_sidecar(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path / "corpus")
    c = _case()
    out = store.add(
        c,
        SIG,
        expected=_expected(),
        engines={"prometheus": {"prom": "v0.316.0"}},
        seed=42,
        oracle="differential",
        shrink={"steps": 3},
        now="2026-01-01T00:00:00Z",
    )
    assert out.new
    folder = tmp_path / "corpus" / SIG.key()
    assert out.stored.test_path == folder / f"{c.case_id()}.test"
    assert read_case(out.stored.test_path.read_text()) == c
    meta = json.loads(out.stored.json_path.read_text())
    assert meta["seed"] == 42 and meta["occurrences"] == 1 and meta["status"] == "open"
    assert meta["signature"]["category"] == "value" and meta["engines"]["prometheus"]["prom"] == "v0.316.0"
    [entry] = list(store.entries())
    assert entry.case == c and entry.meta.shrink == {"steps": 3}
    store.check(entry)


def test_known_signature_counts_an_occurrence_instead_of_adding(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path)
    first = store.add(_case(), SIG, now="2026-01-01T00:00:00Z")
    again = store.add(_case("rate(a[1m])"), SIG, now="2026-01-02T00:00:00Z")
    third = store.add(_case("rate(a[2m])"), SIG, now="2026-01-03T00:00:00Z")
    other = store.add(_case("sum(a)"), OTHER)
    assert first.new and not again.new and not third.new and other.new
    assert len(store) == 2
    meta = store.get(first.stored.meta.case_id)
    assert meta is not None and meta.meta.occurrences == 3
    assert meta.meta.first_seen == "2026-01-01T00:00:00Z" and meta.meta.last_seen == "2026-01-03T00:00:00Z"
    assert sorted(p.name for p in (tmp_path / SIG.key()).iterdir() if not p.name.startswith(".")) == sorted(
        [f"{first.stored.meta.case_id}.json", f"{first.stored.meta.case_id}.test"]
    )


def test_status_update(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path)
    out = store.add(_case(), SIG)
    store.update(out.stored.meta.case_id, status="fixed", note="fixed upstream")
    got = store.get(out.stored.meta.case_id)
    assert got is not None and got.meta.status == "fixed" and got.meta.note == "fixed upstream"
    with pytest.raises(ValueError):
        store.update(out.stored.meta.case_id, status="bogus")


def test_merge_is_a_union_of_files(tmp_path: Path) -> None:
    a, b, dest = CorpusStore(tmp_path / "a"), CorpusStore(tmp_path / "b"), tmp_path / "dest"
    shared = _case("sum(a)")
    a.add(_case(), SIG, now="2026-01-05T00:00:00Z")
    a.add(shared, OTHER, now="2026-01-02T00:00:00Z")
    b.add(shared, OTHER, now="2026-01-01T00:00:00Z")
    b.add(shared, OTHER, now="2026-01-09T00:00:00Z")  # occurrences 2 in b
    b.add(_case("max(a)"), Signature("metamorphic", "value", ("agg:max",)))
    r1 = merge_corpora(dest, a.root)
    r2 = merge_corpora(dest, b.root)
    assert (r1.added, r2.added, r2.merged) == (2, 1, 1)
    merged = CorpusStore(dest)
    assert len(merged) == 3
    m = merged.get(shared.case_id())
    assert m is not None
    assert (m.meta.occurrences, m.meta.first_seen, m.meta.last_seen) == (
        2,
        "2026-01-01T00:00:00Z",
        "2026-01-09T00:00:00Z",
    )
    assert merge_corpora(dest, a.root, b.root).added == 0  # idempotent
    assert len(CorpusStore(dest)) == 3


@pytest.mark.parametrize(
    ("mutate", "line", "needle"),
    [
        (lambda t: t.replace('"occurrences": 1', '"occurrences": "one"'), None, "occurrences"),
        (lambda t: t.replace('"status": "open"', '"status": "closed"'), None, "status"),
        (lambda t: t[: len(t) // 2], None, "invalid JSON"),
        (lambda t: t.replace('"query": "rate(a[5m])"', '"query": "rate(a[6m])"'), None, "does not match"),
        (lambda t: t.replace(SIDECAR_FMT, "other/9"), None, "format"),
    ],
)
def test_malformed_sidecar_names_file_and_line(tmp_path: Path, mutate, line, needle) -> None:  # type: ignore[no-untyped-def]
    store = CorpusStore(tmp_path)
    out = store.add(_case(), SIG)
    jp = out.stored.json_path
    jp.write_text(mutate(jp.read_text()))
    with pytest.raises(CorpusError) as ei:
        list(store.entries())
    assert ei.value.source == str(jp) and ei.value.line > 0
    assert needle in ei.value.message


SIDECAR_FMT = "promfuzz-corpus-case/1"


def test_malformed_test_file_names_file_and_line(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path)
    out = store.add(_case(), SIG)
    out.stored.test_path.write_text("load 1m\n  a 1\n\nbogus line\n")
    with pytest.raises(CorpusError) as ei:
        store.check(out.stored)
    assert ei.value.source == str(out.stored.test_path) and ei.value.line == 4


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import promfuzz.corpus.store as st
    from promfuzz.model import Case, Dataset, EvalParams
    from promfuzz.oracles.verdict import Signature
    real_replace = os.replace
    def slow_replace(a, b):
        if sys.argv[2] == "mid" or str(b).endswith(sys.argv[3]):
            with open(a, "rb") as f:
                size = len(f.read())
            print("PAUSED", a, size, flush=True)
            time.sleep(60)
        real_replace(a, b)
    st.os.replace = slow_replace
    n = int(sys.argv[4])
    ds = Dataset.build([({"__name__": "big", "i": str(k)}, [(t * 1000, float(t) / 7) for t in range(n)]) for k in range(20)])
    store = st.CorpusStore(sys.argv[1])
    store.add(Case(ds, "sum(big)", EvalParams.instant(0)), Signature("differential", "value", ("agg:sum",)))
    print("DONE", flush=True)
    """
)


def _run_and_kill(root: Path, mode: str, suffix: str, n: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(root), mode, suffix, str(n)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PAUSED"), line
        assert int(line.split()[-1]) > 0  # the temp file holds the data, not yet renamed
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("suffix", [".test", ".json"])
def test_killed_writer_leaves_no_partial_case(tmp_path: Path, suffix: str) -> None:
    root = tmp_path / "corpus"
    store = CorpusStore(root)
    before = store.add(_case(), SIG)
    _run_and_kill(root, "one", suffix, 2000)
    # The earlier case is intact, the killed one is not listed, and nothing visible is partial.
    assert [e.meta.case_id for e in store.entries()] == [before.stored.meta.case_id]
    for p in root.rglob("*"):
        if p.is_file() and not p.name.startswith("."):
            if p.suffix == ".json":
                json.loads(p.read_text())
            elif p.suffix == ".test":
                read_case(p.read_text())
    assert store.temp_files()  # the killed writer's hidden temp file...
    assert store.remove_temp_files() >= 1  # ...which cleanup removes
    assert not store.temp_files()


def test_killed_occurrence_update_keeps_the_old_sidecar(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    sig = Signature("differential", "value", ("agg:sum",))
    store = CorpusStore(root)
    first = store.add(_case("sum(big)"), sig)
    old = first.stored.json_path.read_text()
    _run_and_kill(root, "mid", ".json", 10)
    assert first.stored.json_path.read_text() == old
    [entry] = list(store.entries())
    assert entry.meta.occurrences == 1
