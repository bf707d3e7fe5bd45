"""Shared by the top-level test files: the built binaries under .build/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def need_binary(name: str) -> Path:
    """The path of ``.build/<name>``: a missing one skips locally and fails under CI=true."""
    path = Path(__file__).resolve().parents[1] / ".build" / name
    if not path.is_file():
        msg = f"{path} is not built (run `make hosts`)"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path
