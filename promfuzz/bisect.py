"""``promfuzz bisect CASE.test --engine FAMILY --repo PATH --good REV --bad REV``.

Finds the first commit of a local git checkout of an engine's repository (Mimir,
promql-engine, Prometheus) at which the engine's answer to one case changed. It works like
``git bisect run``: the commits of ``good..bad`` (``git rev-list --ancestry-path``, oldest
first) are searched by halving; at each step the commit is checked out in a temporary
worktree of the repository (``git worktree add``; the user's own work tree is never
touched), the family's host is built against it (``FAMILY@<worktree>``, one build per
distinct content: commits that change only Markdown files share a build, see
:func:`go_content_id`; the builds go to ``<build dir>/revs/bisect``), and the case is run
on it.

The answer at ``good`` is answer A, the one at ``bad`` answer B (they must differ, by
promfuzz's comparator, :func:`promfuzz.oracles.compare.compare_results`). A commit whose
answer equals A is good; any other answer is bad (the answer changed; one that equals
neither A nor B is reported as a third answer). A commit whose host does not build is
skipped (its build error is reported) and the search goes on around it, as ``git bisect
skip`` does; when skipped commits leave it undecided, the result names the range.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promfuzz.engines.revisions import HOST_MODULES, Revision, RevisionError, ensure_built
from promfuzz.engines.spec import parse_spec
from promfuzz.errors import ConfigError, PromfuzzError
from promfuzz.model import Case, Result


class BisectError(PromfuzzError):
    """Bisect cannot start or decide (bad refs, equal answers at good and bad, ...)."""


@dataclass
class Step:
    """One commit bisect looked at."""

    commit: str
    subject: str
    verdict: str  # good | bad | skip
    note: str = ""  # the build error of a skipped commit; "third answer" on a bad one
    answer: str = ""  # a short description of the answer

    def to_json_obj(self) -> dict[str, str]:
        return {"commit": self.commit, "subject": self.subject, "verdict": self.verdict,
                "note": self.note, "answer": self.answer}


@dataclass
class BisectResult:
    engine: str
    repo: str
    good: str
    bad: str
    first_bad: str | None  # the first commit whose answer changed (None: undecided)
    first_bad_subject: str = ""
    candidates: list[str] = field(default_factory=list)  # undecided: one of these
    steps: list[Step] = field(default_factory=list)
    commits: int = 0  # commits in good..bad
    answer_good: str = ""
    answer_bad: str = ""

    @property
    def skipped(self) -> list[Step]:
        return [s for s in self.steps if s.verdict == "skip"]

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "engine": self.engine, "repo": self.repo, "good": self.good, "bad": self.bad,
            "first_bad": self.first_bad, "first_bad_subject": self.first_bad_subject,
            "candidates": self.candidates, "commits": self.commits,
            "answer_good": self.answer_good, "answer_bad": self.answer_bad,
            "steps": [s.to_json_obj() for s in self.steps],
            "skipped": [s.commit for s in self.skipped],
        }

    def format_text(self) -> str:
        lines = [f"bisect {self.engine} over {self.commits} commits of {self.repo} ({self.good[:12]}..{self.bad[:12]})",
                 f"  good answer: {self.answer_good}", f"  bad answer:  {self.answer_bad}"]
        for s in self.steps:
            extra = f"  ({s.note})" if s.note else ""
            lines.append(f"  {s.verdict:<4} {s.commit[:12]} {s.subject}{extra}")
        if self.first_bad:
            lines.append(f"first commit whose answer changed: {self.first_bad} {self.first_bad_subject}")
        else:
            lines.append("undecided (commits that do not build are in the way): the first changed answer is in one of "
                         + ", ".join(c[:12] for c in self.candidates))
        if self.skipped:
            lines.append("skipped (the host does not build): " + ", ".join(s.commit[:12] for s in self.skipped))
        return "\n".join(lines) + "\n"


def _git(repo: Path, *args: str, check: bool = True) -> str:
    try:
        r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BisectError("bisect needs git on PATH") from None
    if check and r.returncode != 0:
        raise BisectError(f"git {' '.join(args)} in {repo}: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return r.stdout


def go_content_id(repo: Path, commit: str) -> str:
    """What a build of ``commit`` depends on: the hash of its tree without Markdown files
    (so commits that only change docs share one build)."""
    out = _git(repo, "ls-tree", "-r", "--full-tree", commit)
    kept = [line for line in out.splitlines() if not line.endswith(".md")]
    return "tree:" + hashlib.sha256("\n".join(kept).encode()).hexdigest()


def _describe(r: Result) -> str:
    if r.error is not None:
        return f"{r.error.error_type}: {' '.join(r.error.message.split())[:160]}"
    digest = hashlib.sha256(repr((r.series, r.scalar, r.string)).encode()).hexdigest()[:12]
    return f"{r.value_type} result, {len(r.series)} series, digest {digest}"


def _same(case: Case, a: Result, b: Result) -> bool:
    from promfuzz.oracles.compare import compare_results

    return compare_results(case.query, case.params, a, b).equal


def bisect(
    case: Case,
    engine: str,
    repo: str | Path,
    good: str,
    bad: str,
    *,
    build_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> BisectResult:
    """Bisect ``good..bad`` of ``repo`` for the first commit whose answer to ``case`` on
    ``engine`` (a family spec, options allowed, no revision) changed (see the module doc)."""
    from promfuzz.engines.registry import default_build_dir

    bdir = Path(build_dir) if build_dir is not None else default_build_dir()
    spec = parse_spec(engine)
    fam = spec.family_def
    if fam is None or fam.kind != "host":
        raise ConfigError(f"bisect --engine {engine!r}: expected an in-process host family "
                          f"(prometheus, mqe, mimir-prometheus, thanos, thanos-prometheus)")
    if spec.revision:
        raise ConfigError(f"bisect --engine {engine!r}: give the family without @REV; --repo, --good and --bad say which revisions")
    host = fam.binary.split("-")[0]
    module = HOST_MODULES[host]
    repo = Path(repo).expanduser().resolve()
    if not (repo / ".git").exists():
        raise ConfigError(f"bisect --repo {repo}: not a git checkout (expected a clone of {module})")
    good_c = _git(repo, "rev-parse", "--verify", f"{good}^{{commit}}").strip()
    bad_c = _git(repo, "rev-parse", "--verify", f"{bad}^{{commit}}").strip()
    if subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", good_c, bad_c]).returncode != 0:
        raise BisectError(f"bisect: --good {good} is not an ancestor of --bad {bad}")
    commits = _git(repo, "rev-list", "--reverse", "--ancestry-path", f"{good_c}..{bad_c}").split()
    if not commits:
        raise BisectError(f"bisect: no commits between --good {good} and --bad {bad}")
    gomod = _git(repo, "show", f"{bad_c}:go.mod", check=False)
    first = next((ln.split()[1] for ln in gomod.splitlines() if ln.startswith("module ")), "")
    if first != module:
        raise ConfigError(f"bisect --repo {repo}: module {first or '(no go.mod)'} at {bad}, expected {module} for {fam.name}")

    say = progress or (lambda _m: None)
    wt_parent = Path(tempfile.mkdtemp(prefix="promfuzz-bisect-", dir=None))
    worktree = wt_parent / "checkout"
    _git(repo, "worktree", "add", "--detach", "--force", str(worktree), good_c)
    cache: dict[str, Result | str] = {}  # commit -> answer, or the build error

    def subject(c: str) -> str:
        return _git(repo, "log", "-1", "--format=%s", c).strip()

    def answer(c: str) -> Result | str:
        if c in cache:
            return cache[c]
        _git(worktree, "checkout", "--quiet", "--detach", "--force", c)
        rev = Revision(host, str(worktree), identity=go_content_id(repo, c))
        try:
            built = ensure_built(f"{fam.name}@{c[:12]}", host, fam.binary, rev, bdir, progress=say, namespace="bisect")
        except RevisionError as e:
            cache[c] = str(e)
            return cache[c]
        cache[c] = _run(case, built.binary, spec, fam.host_engine, fam.binary)
        return cache[c]

    try:
        say(f"bisect: {len(commits)} commits; answer at good {good_c[:12]}")
        a = answer(good_c)
        if isinstance(a, str):
            raise BisectError(f"bisect: the host does not build at --good {good}: {a}")
        say(f"bisect: answer at bad {bad_c[:12]}")
        b = answer(bad_c)
        if isinstance(b, str):
            raise BisectError(f"bisect: the host does not build at --bad {bad}: {b}")
        if _same(case, a, b):
            raise BisectError(f"bisect: {fam.name} answers the same at --good {good} and --bad {bad} ({_describe(a)}): nothing to bisect")
        result = BisectResult(spec.name, str(repo), good_c, bad_c, None, commits=len(commits),
                              answer_good=_describe(a), answer_bad=_describe(b))
        line = [good_c, *commits]

        def judge(i: int) -> str:
            c = line[i]
            say(f"bisect: testing {c[:12]}")
            ans = answer(c)
            if isinstance(ans, str):
                result.steps.append(Step(c, subject(c), "skip", note=ans))
                return "skip"
            if _same(case, a, ans):
                result.steps.append(Step(c, subject(c), "good", answer=_describe(ans)))
                return "good"
            note = "" if _same(case, b, ans) else "a third answer (neither good's nor bad's)"
            result.steps.append(Step(c, subject(c), "bad", note=note, answer=_describe(ans)))
            return "bad"

        first_pos, undecided = search(len(line), judge)
        if undecided:
            result.candidates = [line[k] for k in undecided]
        else:
            result.first_bad = line[first_pos]
            result.first_bad_subject = subject(line[first_pos])
        return result
    finally:
        _git(repo, "worktree", "remove", "--force", str(worktree), check=False)
        _git(repo, "worktree", "prune", check=False)
        shutil.rmtree(wt_parent, ignore_errors=True)


def search(n: int, judge: Callable[[int], str]) -> tuple[int, list[int]]:
    """Halving over positions ``0..n-1`` where 0 is good and ``n-1`` bad; ``judge(i)``
    answers ``good``, ``bad`` or ``skip`` (cannot tell). Returns the first bad position,
    and, when skipped positions sit between the last good and the first bad, those
    positions plus the first bad (any of them may be the first change). A skipped position
    is passed over for the untested one nearest the middle, as ``git bisect skip`` does."""
    verdicts: dict[int, str] = {0: "good", n - 1: "bad"}
    lo, hi = 0, n - 1
    while True:
        untested = [i for i in range(lo + 1, hi) if i not in verdicts]
        if not untested:
            break
        mid = (lo + hi) // 2
        i = min(untested, key=lambda k: (abs(k - mid), k))
        verdicts[i] = judge(i)
        if verdicts[i] == "good":
            lo = i
        elif verdicts[i] == "bad":
            hi = i
    between = [k for k in range(lo + 1, hi) if verdicts.get(k) == "skip"]
    return hi, ([*between, hi] if between else [])


def _run(case: Case, binary: Path, spec: Any, host_engine: str, host_name: str) -> Result:
    """The case's answer on one freshly started host (the binary of one commit)."""
    from promfuzz.engines.host import HostEngine, HostProcess

    proc = HostProcess(binary, host_name=host_name, extra_args=spec.host_args())
    eng = HostEngine(proc, host_engine, owns_process=True, name=spec.name)
    try:
        eng.load(case.dataset)
        return eng.query(case.query, case.params)
    finally:
        eng.close()


def bisect_file(path: str | Path, engine: str, repo: str | Path, good: str, bad: str, **kw: Any) -> BisectResult:
    """:func:`bisect` on the one case of a promqltest file."""
    from promfuzz.shrink.cli import read_single_case

    return bisect(read_single_case(path), engine, repo, good, bad, **kw)
