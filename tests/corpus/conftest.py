from __future__ import annotations

import glob
import os
from collections.abc import Callable
from pathlib import Path

import pytest

PROM_VERSION = "v0.316.0"
MIMIR_VERSION = "v1.3.1-0.20260423142704-aced80d74930"


def in_ci() -> bool:
    """CI=true: a missing host or module cache is a failure, not a skip."""
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(message: str) -> None:
    """Skip with ``message`` locally; under CI=true fail with the same message."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_host(binary: str) -> Path:
    """The built host binary ``binary`` under the build dir, or skip (fail under CI=true)."""
    from promfuzz.engines.registry import default_build_dir

    path = default_build_dir() / binary
    if not path.is_file():
        skip_or_fail(f"{path} is not built (run `make hosts`)")
    return path


@pytest.fixture
def skip_or_fail_fn() -> Callable[[str], None]:
    """:func:`skip_or_fail` for tests: skip, or fail under CI=true."""
    return skip_or_fail


@pytest.fixture
def host_requirement() -> Callable[[str], Path]:
    """``host_requirement("mimir-host")``: :func:`require_host` for tests."""
    return require_host


@pytest.fixture
def prometheus_host() -> Path:
    return require_host("prometheus-host")


@pytest.fixture
def mimir_host() -> Path:
    return require_host("mimir-host")


def _modcache() -> Path:
    env = os.environ.get("GOMODCACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("GOPATH", str(Path.home() / "go"))) / "pkg" / "mod"


def prometheus_testdata() -> list[Path]:
    d = _modcache() / f"github.com/prometheus/prometheus@{PROM_VERSION}/promql/promqltest/testdata"
    return sorted(Path(p) for p in glob.glob(str(d / "*.test")))


def mimir_testdata() -> list[Path]:
    d = _modcache() / f"github.com/grafana/mimir@{MIMIR_VERSION}/pkg/streamingpromql/testdata"
    return sorted(Path(p) for p in glob.glob(str(d / "**" / "*.test"), recursive=True))


def require_prometheus_testdata() -> list[Path]:
    files = prometheus_testdata()
    if not files:
        skip_or_fail(
            f"Prometheus {PROM_VERSION} is not in the Go module cache (build the hosts or `go mod download`)"
        )
    return files


def require_mimir_testdata() -> list[Path]:
    files = mimir_testdata()
    if not files:
        skip_or_fail(
            f"Mimir {MIMIR_VERSION} is not in the Go module cache (`go mod download github.com/grafana/mimir@...`)"
        )
    return files


@pytest.fixture
def testdata_requirements() -> tuple[Callable[[], list[Path]], Callable[[], list[Path]]]:
    """(Prometheus's, Mimir's) testdata lookups that skip, or fail under CI=true."""
    return require_prometheus_testdata, require_mimir_testdata


@pytest.fixture(scope="session")
def upstream_files() -> list[Path]:
    return require_prometheus_testdata()


@pytest.fixture(scope="session")
def mimir_files() -> list[Path]:
    return require_mimir_testdata()
