"""Shared fixtures for the promql tests: Prometheus's testdata queries and the upstream host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from promfuzz.engines.host import HostProcess
from promfuzz.promql.testdata import EvalQuery, eval_queries, testdata_dir

HOST_BINARY = Path(__file__).resolve().parents[2] / ".build" / "prometheus-host"


@pytest.fixture(scope="session")
def testdata_queries() -> list[EvalQuery]:
    d = testdata_dir()
    if d is None:
        pytest.skip(
            "Prometheus v0.316.0 module is not in the Go module cache "
            "(run `make hosts` or `go mod download github.com/prometheus/prometheus@v0.316.0`)"
        )
    return eval_queries(d)


class Host:
    """A started prometheus-host: ``get(path, **params) -> dict``."""

    def __init__(self, base: str, session: requests.Session) -> None:
        self.base = base
        self.session = session

    def get(self, path: str, **params: str) -> dict[str, object]:
        r = self.session.get(self.base + path, params=params, timeout=30)
        out: dict[str, object] = r.json()
        return out


@pytest.fixture(scope="module")
def prometheus_host() -> Iterator[Host]:
    if not HOST_BINARY.is_file():
        pytest.skip(f"{HOST_BINARY} is missing: build it with `make hosts`")
    proc = HostProcess(HOST_BINARY)
    try:
        with requests.Session() as s:
            yield Host(proc.base_url, s)
    finally:
        proc.close()
