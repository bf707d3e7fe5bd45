"""Bad input reaching the engines layer fails early and says where and why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from promfuzz.engines.base import EngineLoadError
from promfuzz.engines.host import HostEngine, HostProcess
from promfuzz.errors import DatasetError
from promfuzz.model import Dataset, EvalParams


def test_malformed_dataset_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text('{"series": [\n  {"labels": {"__name__": "a"},\n   "samples": [[0, "1"],]}\n]}\n')
    with pytest.raises(DatasetError) as ei:
        Dataset.from_json(path.read_text(), str(path))
    assert ei.value.source == str(path) and ei.value.line == 3
    assert str(ei.value).startswith(f"{path}:3:")


def test_dataset_with_bad_sample_is_refused_before_any_engine(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text('{"series": [{"labels": {"__name__": "a"}, "samples": [[0, "one"]]}]}')
    with pytest.raises(DatasetError, match=r"series #0: expected"):
        Dataset.from_json(path.read_text(), str(path))


@pytest.mark.hosts
def test_real_host_refuses_bad_load_body(real_binary: Callable[[str], Path]) -> None:
    with HostProcess(real_binary("prometheus-host")) as proc:
        r = proc.request(
            "POST", "/load", 10.0, data=b'{"series": 3}', headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["errorType"] == "bad_data"
        eng = HostEngine(proc, "prometheus")
        with pytest.raises(EngineLoadError, match="refused"):
            proc.load(_Raw('{"series": [{"labels": {}, "samples": [[0, "x"]]}]}'), "raw")  # type: ignore[arg-type]
        # the host still serves queries afterwards
        assert eng.query("1", EvalParams.instant(0)).ok


class _Raw:
    """Stands in for a Dataset whose JSON is given verbatim (to reach the host's checks)."""

    series: tuple[object, ...] = ()

    def __init__(self, text: str) -> None:
        self.text = text

    def to_json(self) -> str:
        return self.text
