"""Judging one mirrored request: the two backends' answers under promfuzz's oracle.

The primary's answer is the reference, the secondary's the target; results carry the
engine names the user gave (``--primary-engine``, ``--secondary-engine``) so the
known-difference rules (``promfuzz/oracles/known/*.toml``) apply to them. Samples newer
than the window before the request time are removed from both answers first (backends
ingest at different speeds); a query whose every evaluation time is inside the window is
``skipped``.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from promfuzz.engines.apijson import parse_body
from promfuzz.errors import PromQLSyntaxError
from promfuzz.model import Case, Dataset, EvalParams, Result
from promfuzz.oracles import DifferentialOracle, load_rules
from promfuzz.oracles.verdict import Verdict
from promfuzz.tee.request import ApiRequest, RequestError


@dataclass(frozen=True)
class Answer:
    """A backend's HTTP answer: ``error`` set when none came (connection refused, timeout)."""

    status: int = 0
    body: bytes = b""
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Judgement:
    result: str  # match | divergence | expected | skipped | error
    reason: str = ""
    verdict: Verdict | None = None
    params: EvalParams | None = None
    primary: Result | None = None
    secondary: Result | None = None


def decode_body(body: bytes, encoding: str | None) -> bytes:
    """A body as sent with ``Content-Encoding`` (gzip/deflate), decoded."""
    enc = (encoding or "").lower().strip()
    if enc == "gzip":
        return gzip.decompress(body)
    if enc == "deflate":
        return zlib.decompress(body)
    return body


def drop_recent(r: Result, cutoff_ms: int) -> Result:
    """``r`` without the points after ``cutoff_ms`` (series left with none are dropped)."""
    if not r.ok:
        return r
    if r.value_type in ("scalar", "string"):
        if r.scalar is not None and r.scalar.t > cutoff_ms:
            return replace(r, scalar=None, string=None)
        return r
    series = []
    for s in r.series:
        pts = tuple(p for p in s.points if p.t <= cutoff_ms)
        if pts:
            series.append(replace(s, points=pts) if len(pts) != len(s.points) else s)
    return replace(r, series=tuple(series))


def eval_window(p: EvalParams) -> tuple[int, int]:
    return (p.start_ms, p.end_ms) if p.is_range else (p.time_ms, p.time_ms)


class Judge:
    """Compares answers; one per tee (the oracle and rules are loaded once)."""

    def __init__(self, primary_engine: str = "generic", secondary_engine: str = "generic",
                 window_ms: int = 120_000, versions: Mapping[str, str] | None = None,
                 rules: Any = None) -> None:
        self.primary_engine = primary_engine if primary_engine != "generic" else "primary"
        self.secondary_engine = secondary_engine if secondary_engine != "generic" else "secondary"
        if self.primary_engine == self.secondary_engine:
            self.secondary_engine += "#2"
        self.window_ms = window_ms
        self.oracle = DifferentialOracle(rules=rules if rules is not None else load_rules(), versions=versions)

    def parse(self, req: ApiRequest) -> tuple[str, EvalParams] | str:
        """(query, params), or why the request is not compared."""
        q = req.query
        if not q:
            return "no query parameter"
        try:
            params = req.params()
        except RequestError as e:
            return f"bad parameters: {e.message}"
        from promfuzz.promql import parse

        try:
            parse(q)
        except PromQLSyntaxError as e:
            return f"promfuzz's parser rejects the query: {e.message}"
        return q, params

    def judge(self, req: ApiRequest, primary: Answer, secondary: Answer,
              primary_encoding: str | None = None, secondary_encoding: str | None = None) -> Judgement:
        parsed = self.parse(req)
        if isinstance(parsed, str):
            return Judgement("skipped", parsed)
        query, params = parsed
        if primary.error is not None:
            return Judgement("skipped", f"the primary gave no answer: {primary.error}", params=params)
        if secondary.error is not None:
            return Judgement("error", f"the secondary gave no answer: {secondary.error}", params=params)
        try:
            pbody = decode_body(primary.body, primary_encoding)
            sbody = decode_body(secondary.body, secondary_encoding)
        except (OSError, zlib.error) as e:
            return Judgement("error", f"cannot decode an answer: {e}", params=params)
        pr = parse_body(pbody, primary.status, self.primary_engine)
        sr = parse_body(sbody, secondary.status, self.secondary_engine)
        if sr.outcome == "engine_failure" and sr.error is not None and sr.error.error_type == "bad_response":
            return Judgement("error", f"the secondary's answer is not a Prometheus API envelope: "
                                      f"{sr.error.message[:200]}", params=params, primary=pr, secondary=sr)
        lo, hi = eval_window(params)
        cutoff = req.received_ms - self.window_ms
        if self.window_ms > 0 and lo > cutoff:
            return Judgement("skipped", "every evaluation time is inside the window", params=params,
                             primary=pr, secondary=sr)
        if self.window_ms > 0 and hi > cutoff:
            pr, sr = drop_recent(pr, cutoff), drop_recent(sr, cutoff)
        return self.verdict_of(Case(Dataset(), query, params), pr, sr)

    def verdict_of(self, case: Case, pr: Result, sr: Result) -> Judgement:
        v = self.oracle.check(case, pr, sr, detail=True)
        kind = {"match": "match", "expected": "expected", "not_applicable": "skipped"}.get(v.kind, "divergence")
        return Judgement(kind, v.reason or v.kind, verdict=v, params=case.params, primary=pr, secondary=sr)
