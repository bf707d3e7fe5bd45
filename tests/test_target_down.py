"""A campaign whose target stops answering stops itself (issue #15 item 4): a real
Prometheus server started by hand as an ``http:`` target (profile prometheus; it agrees
with the reference, so the run is not busy with findings), killed mid-run; with the window
set to a few seconds (``PROMFUZZ_TARGET_DOWN_STOP_S``) the run ends long before its
budget with one line saying what was tried, and no unanswered query becomes a finding."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from promfuzz.budget import Budget
from promfuzz.campaign import CampaignConfig, run_campaign
from promfuzz.engines.live import LiveServer

BUILD = Path(__file__).resolve().parents[1] / ".build"


def _need(path: Path, how: str) -> None:
    if not path.is_file():
        msg = f"{path} is missing: {how}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


@pytest.mark.live
@pytest.mark.slow  # 73 s at load 30 on 2 cores (worker start, datasets until the kill, the window)
def test_a_campaign_whose_target_dies_stops_after_the_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    _need(BUILD / "prometheus-server", "run `make hosts`")
    _need(BUILD / "prometheus-host", "run `make hosts`")
    srv = LiveServer(BUILD / "prometheus-server")
    url = srv.start()
    monkeypatch.setenv("PROMFUZZ_TARGET_DOWN_STOP_S", "4")
    out = tmp_path / "run"
    cfg = CampaignConfig(
        reference="prometheus", targets=(f"prom=http:{url}?profile=prometheus",), budget=Budget(seconds=150),
        seed=5, workers=1, corpus=tmp_path / "corpus", out=out, queries_per_dataset=20, shrink=False,
        explain=False, run_id="down", vary_lookback=False,
    )
    killed: list[float] = []

    def kill_after_first_dataset() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if json.loads((out / "state.json").read_text()).get("completed"):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        srv.stop()  # SIGTERM by PID: the target is gone mid-run
        killed.append(time.monotonic())

    killer = threading.Thread(target=kill_after_first_dataset, daemon=True)
    killer.start()
    try:
        summary = run_campaign(cfg, progress=False)
    finally:
        killer.join(timeout=130)
        srv.close()
    ended = time.monotonic()
    assert killed, "the target was never killed"
    reason = summary.get("stop_reason", "")
    assert reason.startswith("stopping: the target answered nothing for"), summary.get("dataset_errors")
    assert "target unavailable" in reason and url in reason and "\n" not in reason
    assert ended - killed[0] < 60, "the run did not stop within a minute of the kill"
    err = capfd.readouterr().err
    assert f"promfuzz: {reason}" in err
    assert err.count("failed: load failed: target unavailable") <= 2  # one line per outage, not per dataset
    assert summary["counts"]["by_verdict"].get("target_unavailable", 0) >= 0
    for f in summary["signatures"]:  # nothing the dead target did not answer is a finding
        assert "target unavailable" not in json.dumps(f), f
    stored = list((tmp_path / "corpus").rglob("*.test")) if (tmp_path / "corpus").exists() else []
    assert all("target unavailable" not in p.read_text() for p in stored)


def test_a_target_isolated_by_deleting_runs_on_one_worker(tmp_path: Path) -> None:
    """Two workers sharing one server that is emptied before every load would delete each
    other's datasets mid-query: such a campaign runs on one worker; tenants keep theirs."""
    kw: dict[str, object] = dict(reference="prometheus", corpus=None, out=tmp_path / "r", workers=2)
    deleting = CampaignConfig(targets=("vm=http:http://127.0.0.1:1?profile=victoriametrics",), **kw)  # type: ignore[arg-type]
    assert deleting.workers == 1
    prom = CampaignConfig(targets=("p=http:http://127.0.0.1:1?profile=prometheus",), **kw)  # type: ignore[arg-type]
    assert prom.workers == 1
    tenants = CampaignConfig(targets=("m=http:http://127.0.0.1:1?profile=mimir",), **kw)  # type: ignore[arg-type]
    assert tenants.workers == 2
    assert CampaignConfig(targets=("victoriametrics-live",), **kw).workers == 2  # type: ignore[arg-type]
