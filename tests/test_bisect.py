"""``promfuzz bisect`` on a real engine: a throwaway git repository made from the pinned
promql-engine module source (copied from the Go module cache at test time) as commit 1,
a no-op commit, a commit that breaks ``abs`` (a deliberate bug in a function kernel), a
commit that does not build and its fix, more no-op commits. Bisect must name the bug commit and report
the commit it skipped. Commits that change no Go file share one build, so the walk builds
the host twice (plus the failing build), each incremental through Go's build cache.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from engine_checkouts import (
    PROMQL_ENGINE,
    abs_case,
    break_abs,
    copy_module,
    need_go_and_cache,
)

from promfuzz.bisect import BisectError, bisect, go_content_id, search
from promfuzz.cli import main
from promfuzz.engines.revisions import built_revisions
from promfuzz.errors import ConfigError
from promfuzz.model import Case

CASE = """\
load 1m
  a{job="x"} -2.5 -2.5

eval instant at 1m abs(a)
  {job="x"} 2.5
"""


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(repo)}
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def noop(repo: Path, n: int) -> str:
    with open(repo / "README.md", "a") as f:
        f.write(f"\nno-op change {n}\n")
    return commit(repo, f"docs: no-op {n}")


@pytest.fixture(scope="module")
def engine_repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    if shutil.which("git") is None:
        pytest.skip("no git")
    src = need_go_and_cache(PROMQL_ENGINE, "thanos")
    repo = copy_module(src, tmp_path_factory.mktemp("bisect") / "promql-engine")
    git(repo, "init", "-q", "-b", "main")
    c = {"base": commit(repo, "import the pinned promql-engine")}
    c["noop1"] = noop(repo, 1)
    break_abs(repo)
    c["bug"] = commit(repo, "function: abs floors (the deliberate bug)")
    broken = repo / "engine" / "zz_broken.go"
    broken.write_text("package engine\n\nfunc broken() {\n")  # does not compile
    c["broken"] = commit(repo, "wip: does not compile")
    broken.unlink()
    c["fixed"] = commit(repo, "fix the build")
    c["noop2"] = noop(repo, 2)
    c["noop3"] = noop(repo, 3)
    return {"repo": repo, "commits": c}


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build dir for the module: the second walk reuses the first one's builds."""
    return tmp_path_factory.mktemp("bisect-build")


def case_of() -> Case:
    ds, q, p = abs_case()
    return Case(ds, q, p)


@pytest.mark.hosts
def test_bisect_names_the_commit_that_broke_abs(engine_repo: dict[str, object], build_dir: Path) -> None:
    repo, c = engine_repo["repo"], engine_repo["commits"]
    assert isinstance(repo, Path) and isinstance(c, dict)
    res = bisect(case_of(), "thanos", repo, c["base"], c["noop3"], build_dir=build_dir)
    assert res.first_bad == c["bug"], res.format_text()
    assert res.first_bad_subject == "function: abs floors (the deliberate bug)"
    assert [s.commit for s in res.skipped] == [c["broken"]]
    assert "does not compile" in res.skipped[0].note or "syntax error" in res.skipped[0].note
    assert res.commits == 6
    # Commits that change only README.md share a build: three contents, two of them build.
    assert len({go_content_id(repo, x) for x in c.values()}) == 3
    assert len(built_revisions(build_dir, namespace="bisect")) == 2
    assert built_revisions(build_dir) == []  # not listed as reopenable FAMILY@REV builds
    assert not git(repo, "worktree", "list").count("\n")  # the temporary worktree is gone
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.hosts
def test_bisect_cli_json_and_equal_answers(engine_repo: dict[str, object], build_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    repo, c = engine_repo["repo"], engine_repo["commits"]
    assert isinstance(repo, Path) and isinstance(c, dict)
    monkeypatch.setenv("PROMFUZZ_BUILD_DIR", str(build_dir))
    case = tmp_path / "abs.test"
    case.write_text(CASE)
    assert main(["bisect", str(case), "--engine", "thanos", "--repo", str(repo),
                 "--good", c["noop1"], "--bad", c["fixed"], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["first_bad"] == c["bug"]
    # No change between good and bad: a one-line refusal.
    with pytest.raises(BisectError, match="answers the same at --good"):
        bisect(case_of(), "thanos", repo, c["base"], c["noop1"], build_dir=build_dir)
    assert len(built_revisions(build_dir, namespace="bisect")) == 2  # every content was built once


def test_bisect_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a git checkout"):
        bisect(case_of(), "thanos", tmp_path, "a", "b", build_dir=tmp_path)
    with pytest.raises(ConfigError, match="expected an in-process host family"):
        bisect(case_of(), "prometheus-live", tmp_path, "a", "b", build_dir=tmp_path)
    with pytest.raises(ConfigError, match="give the family without @REV"):
        bisect(case_of(), "thanos@v1", tmp_path, "a", "b", build_dir=tmp_path)


def test_bisect_refuses_a_repository_of_another_module(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("no git")
    (tmp_path / "go.mod").write_text("module example.com/other\n")
    git(tmp_path, "init", "-q", "-b", "main")
    a = commit(tmp_path, "one")
    (tmp_path / "x.go").write_text("package other\n")
    b = commit(tmp_path, "two")
    with pytest.raises(ConfigError, match="module example.com/other at .*expected github.com/thanos-io/promql-engine"):
        bisect(case_of(), "thanos", tmp_path, a, b, build_dir=tmp_path / "build")


def walk(states: str) -> tuple[int, list[int], list[int]]:
    """search() over a string of g/b/s per position (position 0 good, the last bad)."""
    asked: list[int] = []

    def judge(i: int) -> str:
        asked.append(i)
        return {"g": "good", "b": "bad", "s": "skip"}[states[i]]

    first, undecided = search(len(states), judge)
    return first, undecided, asked


@pytest.mark.parametrize(
    ("states", "first", "undecided"),
    [
        ("gb", 1, []),
        ("ggggbbbb", 4, []),
        ("gbbbbbbb", 1, []),
        ("gggggggb", 7, []),
        ("ggsgbbb", 4, []),  # a skip before the change is passed over
        ("gggsbbb", 4, [3, 4]),  # the skip right before the first bad: undecided between them
        ("ggssbb", 4, [2, 3, 4]),
    ],
)
def test_search_halves_and_passes_over_skips(states: str, first: int, undecided: list[int]) -> None:
    got_first, got_undecided, asked = walk(states)
    assert (got_first, got_undecided) == (first, undecided)
    assert len(asked) == len(set(asked))  # nobody is asked twice
    if "s" not in states:
        assert len(asked) <= max(1, (len(states) - 2).bit_length())  # halving, not a linear walk
