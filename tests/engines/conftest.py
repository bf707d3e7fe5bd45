"""Fixtures for promfuzz.engines tests: a fake host binary and paths to the real ones."""

from __future__ import annotations

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


def host_binary(name: str) -> Path:
    """Path of a real host binary, skipping the test (with the reason) when it is not built."""
    path = BUILD / name
    if not path.is_file():
        pytest.skip(f"{path} is not built (run `make hosts`)")
    return path


@pytest.fixture
def real_binary() -> Callable[[str], Path]:
    """``real_binary("prometheus-host")``: the built binary, or skip saying how to build it."""
    return host_binary


@pytest.fixture
def build_dir() -> Path:
    return BUILD


@pytest.fixture(scope="module")
def real_binary_module() -> Callable[[str], Path]:
    """Module-scoped :func:`real_binary`."""
    return host_binary
