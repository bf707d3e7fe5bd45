"""Fixtures for promfuzz.engines tests: a fake host binary and paths to the real ones."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUILD = REPO / ".build"


def write_fake_host(dirpath: Path, extra_args: str = "") -> Path:
    """An executable wrapper that ``exec``s the Python fake host (so its PID is the host's)."""
    path = dirpath / "fake-host"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "fake_host.py"}" {extra_args} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def fake_host_binary(tmp_path: Path) -> Path:
    return write_fake_host(tmp_path)


@pytest.fixture
def make_fake_host(tmp_path: Path) -> Callable[[str], Path]:
    counter = iter(range(1000))

    def make(extra_args: str = "") -> Path:
        d = tmp_path / f"h{next(counter)}"
        d.mkdir()
        return write_fake_host(d, extra_args)

    return make


def in_ci() -> bool:
    """CI=true (what GitHub Actions and most CI systems set): a missing host is a failure."""
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(message: str) -> None:
    """Skip with ``message`` locally; under CI=true fail with the same message, so a CI
    job whose hosts did not build cannot go green by skipping every host test."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def host_binary(name: str) -> Path:
    """Path of a real host binary, skipping the test (with the reason) when it is not built
    (failing under CI=true)."""
    path = BUILD / name
    if not path.is_file():
        skip_or_fail(f"{path} is not built (run `make hosts`)")
    return path


@pytest.fixture
def real_binary() -> Callable[[str], Path]:
    """``real_binary("prometheus-host")``: the built binary, or skip saying how to build it
    (fail under CI=true)."""
    return host_binary


@pytest.fixture
def build_dir() -> Path:
    return BUILD


@pytest.fixture(scope="module")
def real_binary_module() -> Callable[[str], Path]:
    """Module-scoped :func:`real_binary`."""
    return host_binary
