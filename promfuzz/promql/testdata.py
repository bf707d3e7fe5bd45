"""Read Prometheus's own promqltest eval queries from the Go module cache (never copied).

The files ship in the ``github.com/prometheus/prometheus`` module zip; they are found
under ``$GOMODCACHE`` (``go env GOMODCACHE``, default ``~/go/pkg/mod``) at run time.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from promfuzz.promql.functions import PROMETHEUS_VERSION

__all__ = ["EvalQuery", "eval_queries", "testdata_dir"]

_EVAL_INSTANT = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_EVAL_RANGE = re.compile(
    r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$"
)


@dataclass(frozen=True, slots=True)
class EvalQuery:
    """One ``eval`` command: where it is, its query text, and whether it expects failure."""

    file: str
    line: int
    query: str
    expect_fail: bool


def _modcache() -> Path | None:
    env = os.environ.get("GOMODCACHE")
    if env:
        return Path(env)
    try:
        out = subprocess.run(
            ["go", "env", "GOMODCACHE"], capture_output=True, text=True, timeout=20, check=False
        )
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    home = Path.home() / "go" / "pkg" / "mod"
    return home if home.exists() else None


def testdata_dir(version: str = PROMETHEUS_VERSION) -> Path | None:
    """The promqltest testdata folder of the given Prometheus module version, or None if absent."""
    mc = _modcache()
    if mc is None:
        return None
    d = mc / "github.com" / "prometheus" / f"prometheus@{version}" / "promql" / "promqltest" / "testdata"
    return d if d.is_dir() else None


def eval_queries(directory: Path | None = None) -> list[EvalQuery]:
    """Every eval command's query in ``*.test`` files of ``directory`` (default: :func:`testdata_dir`).

    An eval expects failure when written ``eval_fail`` or followed by an ``expect fail``
    line. Prometheus's harness parses each query when it loads the file, so every query
    listed here must parse; failures it expects happen at evaluation time.
    """
    d = directory if directory is not None else testdata_dir()
    if d is None:
        return []
    out: list[EvalQuery] = []
    for path in sorted(d.glob("*.test")):
        lines = path.read_text(encoding="utf-8").split("\n")
        for i, raw in enumerate(lines):
            line = raw.strip()
            if not line.startswith("eval"):
                continue
            m = _EVAL_INSTANT.match(line)
            if m is not None:
                mod, query = m.group(1), m.group(3)
            else:
                m = _EVAL_RANGE.match(line)
                if m is None:
                    continue
                mod, query = m.group(1), m.group(5)
            fail = mod == "fail"
            for nxt in lines[i + 1 :]:
                s = nxt.strip()
                if not s or s.startswith("#") or s.startswith("eval") or s.startswith("load") or s == "clear":
                    break
                if re.match(r"^expect\s+fail\b", s):
                    fail = True
            out.append(EvalQuery(path.name, i + 1, query, fail))
    return out
