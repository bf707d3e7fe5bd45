"""The suite-wide rule of tests/conftest.py: under CI=true a skipped `hosts`/`live` test
fails; an unmarked skip and every skip outside CI stay skips."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BODY = '''
import pytest

@pytest.mark.hosts
def test_needs_hosts():
    pytest.skip("hosts not built")

@pytest.mark.live
@pytest.mark.skipif(True, reason="no server")
def test_needs_server():
    pass

def test_plain_skip():
    pytest.skip("unrelated")
'''


@pytest.mark.parametrize("ci, failed, skipped", [("true", 2, 1), ("", 0, 3)])
def test_marked_skips_fail_only_under_ci(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                         ci: str, failed: int, skipped: int) -> None:
    from pathlib import Path

    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    hosts: h\n    live: l\n")
    pytester.makepyfile(test_it=BODY)
    monkeypatch.setenv("CI", ci)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:promfuzz")
    outcomes = result.parseoutcomes()
    # a skip in the call fails the test; one at setup (a skipif mark, a fixture) errors it
    assert outcomes.get("failed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == failed
    assert outcomes.get("skipped", 0) == skipped
    if failed:
        result.stdout.fnmatch_lines(["*skipped under CI=true*hosts not built*"])
