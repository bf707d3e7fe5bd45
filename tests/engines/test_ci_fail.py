"""Under CI=true a missing host binary fails the test instead of skipping it (a CI job
whose hosts did not build must not go green by skipping every host test)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def test_missing_host_skips_locally(monkeypatch: pytest.MonkeyPatch, real_binary: Callable[[str], Path]) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no-such-host is not built \(run `make hosts`\)"):
        real_binary("no-such-host")


def test_missing_host_fails_under_ci(monkeypatch: pytest.MonkeyPatch, real_binary: Callable[[str], Path]) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"no-such-host is not built \(run `make hosts`\)"):
        real_binary("no-such-host")


def test_present_host_is_returned_under_ci(
    monkeypatch: pytest.MonkeyPatch, real_binary: Callable[[str], Path], make_fake_host: Callable[[str], Path]
) -> None:
    # the globals of this directory's conftest (several conftest modules share that name)
    fake = make_fake_host("")
    monkeypatch.setitem(real_binary.__globals__, "BUILD", fake.parent)
    monkeypatch.setenv("CI", "true")
    assert real_binary(fake.name) == fake
