"""Helpers for the revision and bisect tests: writable copies of pinned module sources
from the Go module cache, and the deliberate ``abs`` bug in promql-engine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from promfuzz.model import Dataset, EvalParams

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / ".build"
PROMQL_ENGINE = "github.com/thanos-io/promql-engine"


def gomodcache() -> Path:
    out = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=False).stdout.strip()
    return Path(out)


def pinned_module_dir(module: str, host: str) -> Path:
    """The module cache folder of the version hosts/<host>/go.mod pins."""
    for line in (REPO / "hosts" / host / "go.mod").read_text().splitlines():
        parts = line.split()
        if parts[:1] == [module]:
            return gomodcache() / f"{module}@{parts[1]}"
    raise AssertionError(f"{module} not in hosts/{host}/go.mod")


def copy_module(src: Path, dest: Path) -> Path:
    """A writable copy of a (read-only) module cache folder."""
    shutil.copytree(src, dest)
    for dirpath, dirnames, filenames in os.walk(dest):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            p.chmod(p.stat().st_mode | 0o200)
    Path(dest).chmod(0o755)
    return dest


# abs(x) is simpleFunc(math.Abs) in promql-engine's function table; the "bug" floors.
ABS_LINE = '"abs":   simpleFunc(math.Abs),'
ABS_BUG = '"abs":   simpleFunc(math.Floor),'


def break_abs(checkout: Path) -> None:
    f = checkout / "execution" / "function" / "functions.go"
    text = f.read_text()
    assert ABS_LINE in text, "the pinned promql-engine's abs line moved; update ABS_LINE"
    f.write_text(text.replace(ABS_LINE, ABS_BUG))


def abs_case() -> tuple[Dataset, str, EvalParams]:
    ds = Dataset.from_json_obj({"series": [{"labels": {"__name__": "a", "job": "x"},
                                            "samples": [[0, -2.5], [60000, -2.5]]}]})
    return ds, "abs(a)", EvalParams.instant(60000)


def need_go_and_cache(module: str, host: str) -> Path:
    if shutil.which("go") is None:
        pytest.skip("no go command")
    d = pinned_module_dir(module, host)
    if not d.is_dir():
        pytest.skip(f"{d} not in the module cache (run make hosts)")
    return d
