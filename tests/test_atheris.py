"""`promfuzz atheris` is guided (issue #17 item 3): the generator modules are instrumented,
so libFuzzer keeps inputs that reach new grammar code and its corpus grows past 1 input
(uninstrumented it stayed at 1 for 4,557 runs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from build_helpers import need_binary

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, *extra: str, runs: int = 80) -> tuple[subprocess.CompletedProcess[str], Path]:
    need_binary("prometheus-host")
    corpus = tmp_path / "libfuzzer-corpus"
    corpus.mkdir()
    env = {**os.environ, "PROMFUZZ_BUILD_DIR": str(ROOT / ".build")}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "promfuzz"), "atheris", "--reference", "prometheus", "--target",
         "prometheus-promqltest", *extra, "--", str(corpus), f"-runs={runs}", "-seed=3"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Done {runs} runs" in proc.stderr, proc.stderr[-3000:]
    return proc, corpus


def _final_corpus(stderr: str) -> int:
    sizes = [int(m) for m in re.findall(r"corp: (\d+)/", stderr)]
    assert sizes, stderr[-2000:]
    return sizes[-1]


@pytest.mark.hosts
def test_short_instrumented_run_grows_the_corpus(tmp_path: Path) -> None:
    proc, corpus = _run(tmp_path)
    assert "functions instrumented (generators)" in proc.stderr
    assert _final_corpus(proc.stderr) > 1, proc.stderr[-2000:]
    assert len(list(corpus.iterdir())) > 1  # libFuzzer wrote the inputs it kept
    assert "NEW" in proc.stderr


@pytest.mark.hosts
def test_uninstrumented_run_keeps_one_input(tmp_path: Path) -> None:
    """The fault the instrumentation fixes: with --instrument none libFuzzer sees no
    Python coverage and keeps nothing."""
    proc, _ = _run(tmp_path, "--instrument", "none")
    assert _final_corpus(proc.stderr) <= 1, proc.stderr[-2000:]


def test_instrument_generators_patches_generator_code_only() -> None:
    code = (
        "import promfuzz.atheris_driver as d, promfuzz.generators.queries as q, promfuzz.oracles.compare as c\n"
        "before_q, before_c = q.QueryGenerator.__init__.__code__, c.__dict__[next(n for n, v in vars(c).items() "
        "if callable(v) and getattr(v, '__module__', '') == c.__name__ and hasattr(v, '__code__'))].__code__\n"
        "n = d.instrument_generators('generators')\n"
        "assert n > 200, n\n"
        "assert q.QueryGenerator.__init__.__code__ is not before_q\n"
        "import promfuzz.oracles.compare as c2\n"
        "assert any(getattr(v, '__code__', None) is before_c for v in vars(c2).values())\n"
        "print(n)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_structure_hints_are_defaults_the_user_can_override() -> None:
    from promfuzz.atheris_driver import libfuzzer_defaults

    assert libfuzzer_defaults(["-runs=5"]) == ["-runs=5", "-max_len=1024", "-len_control=0"]
    assert libfuzzer_defaults(["-max_len=64", "c"]) == ["-max_len=64", "c", "-len_control=0"]


def test_bad_instrument_scope_is_a_clear_error() -> None:
    from promfuzz.atheris_driver import instrument_generators

    with pytest.raises(ValueError, match="instrument scope must be one of"):
        instrument_generators("everything")
