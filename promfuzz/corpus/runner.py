"""Prometheus's own promqltest runner, as a check that a corpus file is pasteable.

``.build/promqltest-runner`` (built by ``make hosts`` from ``hosts/prometheus/promqltestrun``)
runs .test files through ``promqltest.RunTest`` with the test engine of Prometheus's own
suite, exactly as a file pasted into ``promql/promqltest/testdata/`` is run: the instant
evals' ``@``-pinned re-runs, the range-mode re-run and the order checks included. What
promfuzz's own replay (:mod:`promfuzz.corpus.replay`) checks is the stored answer; this
checks that Prometheus's harness accepts the file as it is written.

:func:`run_promqltest` returns one :class:`RunnerOutcome` per file: passed, or failed with
the runner's own message (the first failing eval's error).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from promfuzz.errors import PromfuzzError

RUNNER_BINARY = "promqltest-runner"
RUNNERS = {
    "prometheus": "promqltest-runner",
    "prometheus-promqltest": "promqltest-runner",
    "prometheus-live": "promqltest-runner",
    "mimir-prometheus": "promqltest-runner-mimir",
    "thanos-prometheus": "promqltest-runner-thanos",
}
"""The promqltest runner of each reference engine's own Prometheus version: the harness a
case whose expected answer came from that engine is pasted into."""

_RUN_RE = re.compile(r"^=== RUN   TestFiles/(f\d+)$")
_FILE_RE = re.compile(r"^\s+[\w.]+\.go:\d+: file (.*)$")
_RESULT_RE = re.compile(r"^    --- (PASS|FAIL|SKIP): TestFiles/(f\d+) ")
_ERROR_RE = re.compile(r"^\s+Error:\s+(.*)$")


@dataclass(frozen=True)
class RunnerOutcome:
    file: str
    passed: bool
    message: str = ""  # the runner's error for the first failing eval (empty when passed)


def runner_path(build_dir: str | os.PathLike[str] | None = None) -> Path:
    from promfuzz.engines.registry import default_build_dir

    return Path(build_dir) if build_dir is not None else default_build_dir()


def runner_for(reference: str) -> str | None:
    """The runner binary for answers of engine ``reference`` (None: no runner applies, e.g.
    an HTTP target, or an engine run with non-default options, which the runner's default
    test engine would not reproduce)."""
    if "[" in reference or "@" in reference or "=" in reference:
        return None
    return RUNNERS.get(reference)


def run_promqltest(files: Sequence[str | os.PathLike[str]], build_dir: str | os.PathLike[str] | None = None,
                   timeout: float = 600.0, runner: str = RUNNER_BINARY) -> list[RunnerOutcome]:
    """Run ``files`` through a promqltest runner (default: Prometheus v0.316.0's); one
    outcome per file, in order (a file may be listed more than once)."""
    binary = runner_path(build_dir) / runner
    if not binary.exists():
        raise PromfuzzError(f"{binary} is missing: build it with `make hosts`")
    paths = [str(Path(f).resolve()) for f in files]
    if not paths:
        return []
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as lst:
        lst.write("\n".join(paths) + "\n")
    try:
        proc = subprocess.run(
            [str(binary), "-test.run", "^TestFiles$", "-test.v", "-list", lst.name],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    finally:
        os.unlink(lst.name)
    out = parse_runner_output(proc.stdout + proc.stderr)
    missing = [p for i, p in enumerate(paths) if i >= len(out) or out[i] is None or out[i].file != p]
    if missing:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise PromfuzzError(f"promqltest runner (exit {proc.returncode}) reported no result for "
                            f"{len(missing)} file(s), e.g. {missing[0]}; output ends:\n{tail}")
    return [o for o in out if o is not None]


def parse_runner_output(text: str) -> list[RunnerOutcome | None]:
    """Outcomes in the order of the runner's list (None where it reported none), from
    ``go test -v`` output of the runner (the same file may be listed several times)."""
    names: dict[str, str] = {}
    errors: dict[str, str] = {}
    results: dict[str, bool] = {}
    current: str | None = None
    want_error_line = False
    for line in text.splitlines():
        m = _RUN_RE.match(line)
        if m:
            current = m.group(1)
            continue
        if current is not None and current not in names:
            fm = _FILE_RE.match(line)
            if fm:
                names[current] = fm.group(1).strip()
                continue
        if want_error_line and current is not None:
            errors.setdefault(current, line.strip())
            want_error_line = False
            continue
        em = _ERROR_RE.match(line)
        if em and current is not None and current not in errors:
            if em.group(1).strip() == "Received unexpected error:":
                want_error_line = True
            else:
                errors[current] = em.group(1).strip()
            continue
        rm = _RESULT_RE.match(line)
        if rm:
            results[rm.group(2)] = rm.group(1) != "FAIL"
    n = max((int(k[1:]) + 1 for k in names), default=0)
    out: list[RunnerOutcome | None] = [None] * n
    for key, path in names.items():
        if key in results:
            ok = results[key]
            out[int(key[1:])] = RunnerOutcome(path, ok, "" if ok else errors.get(key, "failed (no message)"))
    return out


def failing(outcomes: Iterable[RunnerOutcome]) -> list[RunnerOutcome]:
    return [o for o in outcomes if not o.passed]


def check_pasteable(text: str, reference: str, runs: int = 3,
                    build_dir: str | os.PathLike[str] | None = None) -> str | None:
    """Why the promqltest ``text`` (one case, with the expected answer of engine
    ``reference``) is not pasteable, or None when the reference's own runner passes it on
    each of ``runs`` runs (an outcome that varies between runs is a rejection too: no
    stored expectation can be right for it). Also None when no runner applies."""
    runner = runner_for(reference)
    if runner is None or not (runner_path(build_dir) / runner).exists():
        return None
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "case.test"
        f.write_text(text, encoding="utf-8")
        try:
            outcomes = run_promqltest([f] * runs, build_dir, runner=runner, timeout=60.0)
        except subprocess.TimeoutExpired:
            return None  # not judged: the runner did not finish (a case too large to paste anyway)
    bad = failing(outcomes)
    if not bad:
        return None
    varies = " (on some runs only)" if len(bad) < len(outcomes) else ""
    return f"the {reference} promqltest runner rejects the case{varies}: {bad[0].message}"
