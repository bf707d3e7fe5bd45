"""The bug ledger (corpus/bugs/*.toml): validation, the CLI, the labelled grouping of the
committed corpus, last-seen/regression updates, and upstream reports."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from promfuzz.bugs import (
    LedgerError,
    case_index,
    dump_bug,
    load_ledger,
    parse_bug,
    record_results,
    unassigned_cases,
)
from promfuzz.cli import main

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
BUILD = ROOT / ".build"
needs_hosts = pytest.mark.skipif(
    not (BUILD / "prometheus-host").exists() or not (BUILD / "mimir-host").exists(),
    reason="engine hosts not built (run `make hosts`)",
)

CASE_A = "differential-value-0123456789/0123456789abcdef.test"
CASE_B = "differential-value-0123456789/fedcba9876543210.test"
CASE_C = "differential-value-0123456789/00000000000000cc.test"

GOOD = f'''id = "mqe-example-bug"
title = "bottomk ranks NaN below every number"
engines = ["mqe"]
status = "open"
members = ["{CASE_A}"]
'''


def _bug_file(tmp: Path, text: str, name: str = "mqe-example-bug") -> Path:
    d = tmp / "bugs"
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{name}.toml"
    p.write_text(text, encoding="utf-8")
    return p


def _corpus(tmp: Path, *cases: str) -> Path:
    for c in cases:
        p = tmp / c
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("load 1m\n  x 1\n\neval instant at 0s x\n  x 1\n", encoding="utf-8")
    return tmp


# ----------------------------------------------------------------------------- validation


def test_a_good_file_parses_and_round_trips() -> None:
    b = parse_bug(GOOD, "corpus/bugs/mqe-example-bug.toml")
    assert (b.id, b.status, b.engines, b.members) == ("mqe-example-bug", "open", ("mqe",), (CASE_A,))
    assert b.wrong == "target" and b.addressed_to == "mimir"
    again = parse_bug(dump_bug(b), "corpus/bugs/mqe-example-bug.toml")
    assert again == b


@pytest.mark.parametrize(
    ("edit", "key", "expected"),
    [
        (lambda t: t.replace('title = "bottomk ranks NaN below every number"\n', ""), "title", "non-empty"),
        (lambda t: t.replace('"open"', '"closed"'), "status", "open | reported | fixed"),
        (lambda t: t.replace('"open"', '"reported"'), "link", "upstream issue"),
        (lambda t: t.replace('"open"', '"fixed"'), "fixed_in", "revision"),
        (lambda t: t.replace('"open"', '"wontfix"'), "reason", "why"),
        (lambda t: t.replace('"open"', '"not-a-bug"'), "reason", "why"),
        (lambda t: t.replace(CASE_A, "somewhere/else.test"), "members", "SIGNATURE-FOLDER/CASE-ID.test"),
        (lambda t: t.replace(f'["{CASE_A}"]', f'["{CASE_A}", "{CASE_A}"]'), "members", "each case once"),
        (lambda t: t.replace(f'["{CASE_A}"]', "[]"), "members", "non-empty list"),
        (lambda t: t + 'wrong = "both"\n', "wrong", "target | reference"),
        (lambda t: t + 'first_seen = "yesterday"\n', "first_seen", "YYYY-MM-DD"),
        (lambda t: t.replace('id = "mqe-example-bug"', 'id = "other-id"'), "id", "file's name"),
        (lambda t: t + "colour = 1\n", "colour", "allowed"),
        (lambda t: t + '[attribution]\nlayer = "moon"\n', "attribution.layer", "engine | fork"),
        (lambda t: t + f'[report]\ncase = "{CASE_B}"\n', "report.case", "one of the bug's members"),
        (lambda t: t.replace("bottomk ranks NaN below every number", "<fn> differs"), "title", "for people"),
    ],
)
def test_validation_names_file_key_and_what_was_expected(edit, key: str, expected: str) -> None:
    src = "corpus/bugs/mqe-example-bug.toml"
    with pytest.raises(LedgerError) as e:
        parse_bug(edit(GOOD), src)
    msg = str(e.value)
    assert msg.startswith(src + ":"), msg
    assert repr(key) in msg or key in msg, msg
    assert expected in msg, msg


def test_invalid_toml_is_a_clear_error() -> None:
    with pytest.raises(LedgerError, match=r"x\.toml: invalid TOML"):
        parse_bug("id = \n", "x.toml")


def test_ledger_checks_members_exist_and_belong_to_one_bug(tmp_path: Path) -> None:
    _bug_file(tmp_path, GOOD)
    with pytest.raises(LedgerError, match=r"mqe-example-bug\.toml: key 'members': case .* does not exist"):
        load_ledger(tmp_path)
    _corpus(tmp_path, CASE_A)
    assert [b.id for b in load_ledger(tmp_path)] == ["mqe-example-bug"]
    _bug_file(tmp_path, GOOD.replace("mqe-example-bug", "mqe-second-bug"), "mqe-second-bug")
    with pytest.raises(LedgerError, match="already a member of bug 'mqe-example-bug'"):
        load_ledger(tmp_path)


def test_merging_two_corpora_is_a_union_of_ledger_files(tmp_path: Path) -> None:
    from promfuzz.corpus.store import merge_corpora

    a, b, dest = tmp_path / "a", tmp_path / "b", tmp_path / "dest"
    _bug_file(a, GOOD + 'first_seen = "2026-12-01"\nlast_seen = "2026-12-01"\n')
    other = GOOD.replace("mqe-example-bug", "mqe-other-bug").replace(CASE_A, CASE_B)
    _bug_file(b, other, "mqe-other-bug")
    # the same bug on both sides: more members, a later sighting, and a settled status
    same = (GOOD.replace(f'["{CASE_A}"]', f'["{CASE_A}", "{CASE_C}"]').replace('"open"', '"fixed"')
            + 'fixed_in = "abc123"\nfirst_seen = "2026-11-30"\nlast_seen = "2026-12-02"\n')
    _bug_file(b, same)
    merge_corpora(dest, a)
    merge_corpora(dest, b)
    got = {x.id: x for x in load_ledger(dest, check_members=False)}
    assert sorted(got) == ["mqe-example-bug", "mqe-other-bug"]
    e = got["mqe-example-bug"]
    assert e.members == (CASE_A, CASE_C) and e.status == "fixed" and e.fixed_in == "abc123"
    assert (e.first_seen, e.last_seen) == ("2026-11-30", "2026-12-02")
    merge_corpora(dest, a, b)  # idempotent
    assert {x.id: x for x in load_ledger(dest, check_members=False)} == got


def test_merging_keeps_a_case_under_the_bug_the_destination_files_it_under(tmp_path: Path) -> None:
    from promfuzz.bugs.ledger import merge_ledgers

    a, b = tmp_path / "a", tmp_path / "b"
    _bug_file(a, GOOD)
    _bug_file(b, GOOD.replace("mqe-example-bug", "mqe-other-bug"), "mqe-other-bug")
    conflicts = merge_ledgers(a, b)
    assert conflicts == [f"{CASE_A}: bug mqe-other-bug in {b}, bug mqe-example-bug in {a} (kept)"]
    assert [x.id for x in load_ledger(a, check_members=False)] == ["mqe-example-bug"]


# ----------------------------------------------------------------------------- CLI


def test_cli_lists_shows_and_refuses_unknown_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _corpus(tmp_path, CASE_A)
    _bug_file(tmp_path, GOOD)
    assert main(["bugs", "--corpus", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 ledger entries: 1 open" in out
    assert re.search(r"mqe-example-bug\s+open\s+mqe\s+1\s+bottomk ranks NaN below every number", out), out
    assert main(["bugs", "--corpus", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["id"] == "mqe-example-bug" and data[0]["members"] == [CASE_A]
    assert main(["bugs", "--corpus", str(tmp_path), "show", "mqe-example-bug"]) == 0
    out = capsys.readouterr().out
    assert "status:      open" in out and CASE_A in out
    assert main(["bugs", "--corpus", str(tmp_path), "show", "nope"]) == 2
    assert "no bug 'nope' in the ledger" in capsys.readouterr().err


def test_cli_reports_a_malformed_ledger_with_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _corpus(tmp_path, CASE_A)
    p = _bug_file(tmp_path, GOOD.replace('"open"', '"reported"'))
    assert main(["bugs", "--corpus", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "'link'" in err


# ----------------------------------------------------------------------------- last seen, regressions


def test_record_results_sets_last_seen_and_flags_fixed_bugs_failing_again(tmp_path: Path) -> None:
    _corpus(tmp_path, CASE_A, CASE_B)
    _bug_file(tmp_path, GOOD)
    fixed = (GOOD.replace("mqe-example-bug", "mqe-fixed-bug").replace(CASE_A, CASE_B)
             .replace('"open"', '"fixed"') + 'fixed_in = "abc123"\n')
    _bug_file(tmp_path, fixed, "mqe-fixed-bug")
    now = "2026-12-03T10:00:00.000000Z"
    up = record_results(tmp_path, [(CASE_A, "mqe[passes=all]", True), (CASE_B, "mimir-prometheus", True)], now=now)
    assert up.seen == ("mqe-example-bug",) and up.regressions == ()  # another family is not the bug's engine
    bugs = {b.id: b for b in load_ledger(tmp_path)}
    assert bugs["mqe-example-bug"].last_seen == now and bugs["mqe-fixed-bug"].last_seen == ""
    up = record_results(tmp_path, [(CASE_B, "mqe", True)], now=now)
    assert up.regressions == (("mqe-fixed-bug", CASE_B, "mqe"),)
    assert "REGRESSION bug mqe-fixed-bug" in up.lines()[0]
    assert "fails again on mqe" in {b.id: b for b in load_ledger(tmp_path)}["mqe-fixed-bug"].regression
    assert record_results(tmp_path, [(CASE_A, "mqe", False)], now=now).now_passing == (("mqe-example-bug", CASE_A),)
    # campaigns pass the stored file's path
    later = "2026-12-04T10:00:00.000000Z"
    assert record_results(tmp_path, [(str(tmp_path / CASE_A), "mqe", True)], now=later).seen == ("mqe-example-bug",)
    assert {b.id: b for b in load_ledger(tmp_path)}["mqe-example-bug"].last_seen == later


@pytest.mark.hosts
@needs_hosts
def test_a_fixed_bug_whose_case_fails_again_is_a_regression_on_a_real_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A case that really fails on mqe (bottomk ranking NaN), in a ledger that says fixed."""
    from promfuzz.corpus.replay import replay

    bug = next(b for b in load_ledger(CORPUS) if b.id == "mqe-bottomk-ranks-nan-lowest")
    case = bug.members[0]
    for ext in (".test", ".json"):
        dst = tmp_path / (case[:-5] + ext)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / (case[:-5] + ext), dst)
    _bug_file(tmp_path, f'''id = "mqe-bottomk-nan"
title = "bottomk ranks NaN below every number"
engines = ["mqe"]
status = "fixed"
fixed_in = "deadbeef"
members = ["{case}"]
''', "mqe-bottomk-nan")
    report = replay([tmp_path], "mqe", range_check=False, at_variants=False)
    [o] = report.outcomes
    assert o.kind == "failed" and o.case_status == "fixed"
    assert "REGRESSION: this case is marked fixed (bug mqe-bottomk-nan, fixed in deadbeef)" in o.detail
    assert main(["replay", str(tmp_path), "--engine", "mqe"]) == 1
    out = capsys.readouterr().out
    assert f"REGRESSION bug mqe-bottomk-nan: case {case} (marked fixed) fails again on mqe" in out
    assert "fails again on mqe" in load_ledger(tmp_path)[0].regression


# ----------------------------------------------------------------------------- the labelled grouping


def test_every_corpus_case_is_assigned_to_exactly_one_ledger_entry() -> None:
    bugs = load_ledger(CORPUS)  # members exist, no case in two entries
    assert unassigned_cases(CORPUS, bugs) == []
    assert len(bugs) >= 10
    for b in bugs:
        if b.status == "not-a-bug":
            assert b.reason.strip(), b.id


def test_findings_md_lists_every_case_with_its_ledger_entry() -> None:
    idx = case_index(load_ledger(CORPUS))
    text = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([^`]+\.test)` \| `([a-z0-9-]+)` \|", text, re.M))
    assert rows == {c: b.id for c, b in idx.items()}


def test_reports_named_by_the_ledger_exist() -> None:
    with_reports = [b for b in load_ledger(CORPUS) if b.report.file]
    assert len([b for b in with_reports if b.addressed_to == "mimir"]) >= 10
    for b in with_reports:
        text = (ROOT / b.report.file).read_text(encoding="utf-8")
        assert text.startswith(f"# {b.title}"), b.id
        up = b.report.upstream.lower()
        assert "still present" in up or "changed since" in up, b.id


@pytest.mark.hosts
@needs_hosts
def test_report_generation_runs_the_engines_and_its_block_passes_the_real_runner(tmp_path: Path) -> None:
    from promfuzz.corpus.runner import RUNNER_BINARY, run_promqltest

    if not (BUILD / RUNNER_BINARY).exists():
        pytest.skip("promqltest runner not built (make hosts)")
    out = tmp_path / "r.md"
    assert main(["bugs", "--corpus", str(CORPUS), "report", "mqe-bottomk-ranks-nan-lowest", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    for section in ("## Versions", "## Configuration", "## Minimal case", "## Expected vs actual",
                    "## Why the expected answer is right", "## Attribution", "## Reproduce with promfuzz"):
        assert section in text
    assert "github.com/grafana/mimir" in text and "v0.316.0" in text
    block = re.search(r"## Minimal case\n.*?```\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]
    table = text.split("## Expected vs actual", 1)[1].split("##", 1)[0]
    assert "NaN" in table  # the actual side shows MQE's NaN pick
    f = tmp_path / "case.test"
    f.write_text(block, encoding="utf-8")
    [res] = run_promqltest([f])
    assert res.passed, res.message
