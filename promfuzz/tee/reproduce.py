"""From a live divergence to a reproducible case.

:class:`Reproducer.process` takes a divergent request and both live answers, captures
the data the query read from both backends (:mod:`promfuzz.tee.capture`), and then:

* runs the case in-process on the reference engine and on the secondary's engine family
  (``--secondary-engine``, e.g. ``mqe``) over the primary's captured data. When the
  in-process engines diverge too, the case is shrunk (:mod:`promfuzz.shrink`, signature
  kept) and stored in the corpus exactly like a campaign finding
  (:func:`promfuzz.pipeline.store_finding`: the promqltest runner gate, the sidecar), the
  original request recorded in the sidecar's ``note``: outcome ``reproduced``;
* when the two backends hold different samples (only samples older than the window
  count), the finding is a **data difference** (ingestion lag, a dropped sample), not an
  engine bug; both datasets are kept, and running the reference on each backend's data
  shows whether the data explains the live divergence: outcome ``data_difference``;
* otherwise ``unreproduced``, with the likely reasons.

Every outcome but ``reproduced`` (and ``expected``) is stored as a *live finding* under
``<corpus>/.live/<id>/``: ``finding.json`` (request, query, parameters, both live answers,
verdicts, reason) and ``primary.dataset.json`` / ``secondary.dataset.json``. The folder
is hidden, so corpus replay, the store and the ledger never read it as a case.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from promfuzz.corpus.store import CorpusStore, atomic_write
from promfuzz.model import Case, Dataset, EvalParams, Result, Sample, Series
from promfuzz.tee.capture import Captured, capture, dataset_differences, likely_reason
from promfuzz.tee.judge import Judgement
from promfuzz.tee.request import ApiRequest

LIVE_DIR = ".live"

UNREPRODUCED_REASONS = (
    "the in-process engines agree on the captured data, so the live difference may come from: ingestion "
    "timing (samples arriving between the query and the capture), sharding or replication (a store or "
    "ingester the query reached and the capture did not), a query-results cache, query splitting or "
    "sharding in a frontend, or engine settings that differ from the in-process defaults (lookback, "
    "feature flags)"
)


def restrict(ds: Dataset, cutoff_ms: int) -> Dataset:
    """``ds`` without samples after ``cutoff_ms``."""
    return Dataset(tuple(
        Series(s.labels, tuple(x for x in s.samples if x.t <= cutoff_ms))
        for s in ds.series if any(x.t <= cutoff_ms for x in s.samples)
    ))


def _result_json(r: Result | None) -> Any:
    if r is None:
        return None
    from dataclasses import asdict

    from promfuzz.pipeline import result_view

    return asdict(result_view(r))


@dataclass
class ReproduceConfig:
    corpus: Path
    reference: str | None  # in-process reference spec (None: no in-process run)
    secondary: str | None  # in-process spec of the secondary's engine family
    window_ms: int = 120_000
    shrink_seconds: float = 30.0
    lookback_ms: int | None = None


class Reproducer:
    """Owns the in-process engines (opened on first use, reused) and the corpus."""

    def __init__(self, cfg: ReproduceConfig, opener: Callable[[str], Any] | None = None) -> None:
        self.cfg = cfg
        self.store = CorpusStore(cfg.corpus)
        self._opener = opener
        self._engines: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _open(self, spec: str, lookback_ms: int | None) -> Any:
        from promfuzz.engines.registry import open_engine, spec_with_lookback

        name = spec_with_lookback(spec, lookback_ms)
        eng = self._engines.get(name)
        if eng is None:
            eng = (self._opener or open_engine)(name)
            self._engines[name] = eng
        return eng

    def engines(self, lookback_ms: int | None) -> tuple[Any, Any] | str:
        if not self.cfg.reference or not self.cfg.secondary:
            return "no in-process engine family named for the secondary (--secondary-engine)"
        try:
            ref = self._open(self.cfg.reference, lookback_ms)
            key2 = self.cfg.secondary
            if key2 == self.cfg.reference:
                from promfuzz.engines.registry import open_engine, spec_with_lookback

                n2 = spec_with_lookback(key2, lookback_ms)
                sec = self._engines.get(n2 + "#2")
                if sec is None:
                    sec = (self._opener or (lambda n: open_engine(n, name=f"{n}#2")))(n2)
                    self._engines[n2 + "#2"] = sec
            else:
                sec = self._open(key2, lookback_ms)
        except Exception as e:  # noqa: BLE001 - a missing host build is a reason, not a crash
            return f"cannot open the in-process engines: {type(e).__name__}: {e}"
        return ref, sec

    def close(self) -> None:
        for e in self._engines.values():
            try:
                e.close()
            except Exception:  # noqa: BLE001
                pass
        self._engines.clear()

    # ------------------------------------------------------------------------------
    def process(self, req: ApiRequest, query: str, params: EvalParams, judgement: Judgement,
                primary: Any, secondary: Any) -> dict[str, Any]:
        """Capture, reproduce, shrink and store one live divergence; returns a summary."""
        with self._lock:
            try:
                return self._process(req, query, params, judgement, primary, secondary)
            except Exception as e:  # noqa: BLE001 - the tee must keep serving
                return {"outcome": "error", "reason": f"{type(e).__name__}: {e}",
                        "traceback": traceback.format_exc()[-2000:]}

    def _process(self, req: ApiRequest, query: str, params: EvalParams, judgement: Judgement,
                 primary: Any, secondary: Any) -> dict[str, Any]:
        from promfuzz.promql import parse

        expr = parse(query)
        t0 = time.monotonic()
        cap_p = capture(expr, params, primary.remote_read, primary.instant_query, self.cfg.lookback_ms)
        cap_s = capture(expr, params, secondary.remote_read, secondary.instant_query, self.cfg.lookback_ms)
        cutoff = req.received_ms - self.cfg.window_ms
        p_old, s_old = restrict(cap_p.dataset, cutoff), restrict(cap_s.dataset, cutoff)
        diffs = dataset_differences(p_old, s_old)
        info: dict[str, Any] = {"capture_seconds": round(time.monotonic() - t0, 3),
                                "data_differences": diffs,
                                "primary_capture": {"method": cap_p.method, "notes": cap_p.notes,
                                                    "series": len(cap_p.dataset.series),
                                                    "samples": cap_p.dataset.sample_count},
                                "secondary_capture": {"method": cap_s.method, "notes": cap_s.notes,
                                                      "series": len(cap_s.dataset.series),
                                                      "samples": cap_s.dataset.sample_count}}
        engines = self.engines(params.lookback_ms)
        if isinstance(engines, str):
            reason = engines
            if diffs:
                return self._live(req, query, params, judgement, cap_p, cap_s, "data_difference",
                                  likely_reason(diffs, req.received_ms, self.cfg.window_ms), info)
            return self._live(req, query, params, judgement, cap_p, cap_s, "unreproduced",
                              f"not re-run in-process: {reason}", info)
        ref, sec = engines
        from promfuzz.oracles import DifferentialOracle, load_rules
        from promfuzz.pipeline import engine_versions_for_rules

        versions = {e.name: e.versions() for e in (ref, sec)}
        oracle = DifferentialOracle(rules=load_rules(), versions=engine_versions_for_rules(versions))
        case = Case(p_old if diffs else cap_p.dataset, query, params)
        ref.load(case.dataset)
        sec.load(case.dataset)
        r1, r2 = ref.query(query, params), sec.query(query, params)
        v = oracle.check(case, r1, r2)
        info["in_process"] = {"reference": ref.name, "secondary": sec.name, "verdict": v.kind,
                              "reason": v.reason}
        if v.kind in ("divergence", "engine_failure", "unsupported"):
            return self._store_reproduced(req, case, v, r1, r2, ref, sec, oracle, versions, info)
        if v.kind == "expected":
            info["rule"] = v.rule
            return {"outcome": "expected", "reason": f"in-process: a known difference ({v.rule})", **info}
        if diffs:
            # The engines agree on one dataset: does each backend's data explain its answer?
            ref.load(s_old)
            r_s = ref.query(query, params)
            ref.load(p_old)
            r_p = ref.query(query, params)
            v2 = oracle.check(Case(p_old, query, params), r_p, r_s)
            info["data_explains"] = v2.kind != "match"
            reason = likely_reason(diffs, req.received_ms, self.cfg.window_ms)
            if v2.kind == "match":
                reason += "; but the reference answers alike on both datasets, so the data does not explain it"
            return self._live(req, query, params, judgement, cap_p, cap_s, "data_difference", reason, info)
        return self._live(req, query, params, judgement, cap_p, cap_s, "unreproduced", UNREPRODUCED_REASONS, info)

    def _store_reproduced(self, req: ApiRequest, case: Case, v: Any, r1: Result, r2: Result, ref: Any, sec: Any,
                          oracle: Any, versions: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        from promfuzz.pipeline import SHRUNK_KINDS, StoredCase, finding_key, result_view, store_finding
        from promfuzz.reports.records import Finding
        from promfuzz.shrink import make_engine_check, shrink

        shrunk, sv, shrink_info = case, v, {}
        if v.kind in SHRUNK_KINDS and self.cfg.shrink_seconds > 0:
            check = make_engine_check(ref, sec, oracle)
            res = shrink(case, check, seconds=self.cfg.shrink_seconds, initial=v)
            shrunk, sv, shrink_info = res.case, res.verdict, res.stats_json()
            if shrunk.params.lookback_ms != case.params.lookback_ms:
                shrunk = Case(shrunk.dataset, shrunk.query, shrunk.params.with_lookback(case.params.lookback_ms))
            ref.load(shrunk.dataset)
            sec.load(shrunk.dataset)
            r1, r2 = ref.query(shrunk.query, shrunk.params), sec.query(shrunk.query, shrunk.params)
            sv = oracle.check(shrunk, r1, r2)
            if sv.kind not in ("divergence", "engine_failure", "unsupported"):  # the shrinker keeps it; be sure
                shrunk, sv = case, v
                ref.load(case.dataset)
                sec.load(case.dataset)
                r1, r2 = ref.query(case.query, case.params), sec.query(case.query, case.params)
        sig = sv.signature
        assert sig is not None
        f = Finding(signature=finding_key(sv), title=sig.title, verdict=sv.kind, oracle=sv.oracle,
                    category=sig.category, reference=ref.name, target=sec.name, query=shrunk.query,
                    original_query=case.query, params=shrunk.params.to_json_obj(), case_file=None,
                    diff=sv.detail, results=[result_view(r1), result_view(r2)], shrink=shrink_info,
                    rule=sv.rule, panic=sig.panic)
        stored = StoredCase(shrunk, r1, sv.to_json_obj(), shrink_info, case.query)
        info["shrink"] = {k: shrink_info.get(k) for k in ("seconds", "checks", "before", "after") if k in shrink_info}
        try:
            path = store_finding(self.store, stored, f, SimpleNamespace(seed="tee"), versions)  # type: ignore[arg-type]
        except ValueError as e:
            return self._live(req, case.query, case.params, None, Captured(case.dataset, "in-process"),
                              None, "unreproduced", f"reproduced in-process but not stored: {e}", info)
        entry = self.store.get(Path(path).stem) if path else None
        if entry is not None and "live request" not in entry.meta.note:
            note = (entry.meta.note + "\n" if entry.meta.note else "") + "live request (promfuzz tee): " + \
                json.dumps(req.to_json_obj(), sort_keys=True)
            self.store.update(entry.meta.case_id, note=note)
        return {"outcome": "reproduced", "case_file": path, "signature": f.signature,
                "shrunk_query": shrunk.query, **info}

    def _live(self, req: ApiRequest, query: str, params: EvalParams, judgement: Judgement | None,
              cap_p: Captured, cap_s: Captured | None, outcome: str, reason: str,
              info: dict[str, Any]) -> dict[str, Any]:
        ident = hashlib.sha256(json.dumps([query, params.to_json_obj(), req.received_ms]).encode()).hexdigest()[:16]
        folder = self.store.root / LIVE_DIR / ident
        folder.mkdir(parents=True, exist_ok=True)
        obj = {
            "format": "promfuzz-live-finding/1",
            "id": ident,
            "outcome": outcome,
            "reason": reason,
            "request": req.to_json_obj(),
            "query": query,
            "params": params.to_json_obj(),
            "live": {
                "verdict": judgement.verdict.to_json_obj() if judgement and judgement.verdict else None,
                "primary": _result_json(judgement.primary if judgement else None),
                "secondary": _result_json(judgement.secondary if judgement else None),
            },
            "captured": {"primary": {k: v for k, v in cap_p.to_json_obj().items() if k != "dataset"},
                         "secondary": ({k: v for k, v in cap_s.to_json_obj().items() if k != "dataset"}
                                       if cap_s is not None else None)},
            **info,
        }
        atomic_write(folder / "primary.dataset.json", cap_p.dataset.to_json() + "\n")
        if cap_s is not None:
            atomic_write(folder / "secondary.dataset.json", cap_s.dataset.to_json() + "\n")
        atomic_write(folder / "finding.json", json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")
        return {"outcome": outcome, "reason": reason, "live_finding": str(folder), **info}


def live_findings(corpus: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every live finding stored under ``corpus`` (newest last)."""
    root = Path(corpus) / LIVE_DIR
    out = []
    for p in sorted(root.glob("*/finding.json")) if root.is_dir() else []:
        out.append(json.loads(p.read_text(encoding="utf-8")))
    return sorted(out, key=lambda d: d.get("request", {}).get("received_ms", 0))


_ = Sample  # re-exported for tests that build datasets by hand
