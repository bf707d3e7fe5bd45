"""``promfuzz replay-log --engines REF,TARGET --data DATASET``: a plain query file replayed on
two in-process engines; the divergent entry is shrunk and stored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from build_helpers import need_binary

from promfuzz.corpus.store import CorpusStore
from promfuzz.model import Dataset

pytestmark = pytest.mark.hosts

PROMFUZZ = str(Path(sys.executable).parent / "promfuzz")


def test_replay_plain_log_on_in_process_engines(tmp_path: Path) -> None:
    need_binary("prometheus-host")
    ds = Dataset.build([({"__name__": "m", "a": str(j)}, [(i * 60_000, float(i + j)) for i in range(10)])
                        for j in range(2)])
    data = tmp_path / "data.json"
    data.write_text(ds.to_json())
    log = tmp_path / "queries.txt"
    # line 2 diverges (1m lookback: no sample in (560s, 620s]); lines 3 and 4 agree
    log.write_text("# plain queries\n620\tsum(m)\n540\tsum(m)\n0\t540\t60\tm\n")
    corpus = tmp_path / "corpus"
    out = subprocess.run([PROMFUZZ, "replay-log", str(log), "--engines", "prometheus,prometheus[lookback=1m]",
                          "--data", str(data), "--corpus", str(corpus), "--shrink-seconds", "5", "--json",
                          "--fail-on-divergence"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr
    rep = json.loads(out.stdout)
    assert rep["entries"] == 3 and rep["results"] == {"divergence": 1, "match": 2}
    (d,) = rep["divergences"]
    assert d["line"] == 2 and d["capture"]["outcome"] == "reproduced"
    (entry,) = list(CorpusStore(corpus).entries())
    assert "live request (promfuzz tee)" in entry.meta.note
