"""``promfuzz replay-log``: replay recorded queries with the tee's comparison and capture.

Three line formats, recognised per line:

* **Prometheus query log** (``query_log_file``, JSON lines): ``{"params": {"query": ...,
  "start": RFC3339, "end": RFC3339, "step": seconds}, "ts": RFC3339, ...}``; ``start ==
  end`` with ``step`` 0 is an instant query.
* **Mimir query-frontend log lines** (logfmt): ``param_query="..."`` with ``param_time``
  (instant) or ``param_start``/``param_end``/``param_step`` (range), ``path=`` says which
  when present, ``ts=`` the request time.
* **plain text**: ``QUERY`` (evaluated at ``--time``, default now), ``TIME<TAB>QUERY``
  (instant) or ``START<TAB>END<TAB>STEP<TAB>QUERY`` (range); times as Unix seconds or
  RFC 3339, the step as seconds or a duration. Blank lines and ``#`` comments are skipped.

A malformed line is an error naming ``file:line`` and what was expected, and the replay
stops before sending anything (a log that does not parse is not half replayed);
``--skip-malformed`` instead prints each such error, skips the line and counts it.

Against two backends (``--primary URL --secondary URL``) every entry goes to both and is
judged and captured exactly as the tee does (the log's ``ts`` is the request time the
window counts from). With ``--engines REF,TARGET --data DATASET`` the entries run on two
in-process engines loaded with a dataset (a promfuzz dataset JSON file or a promqltest
``.test`` file's load block) and divergences are shrunk and stored with ``--corpus``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from promfuzz.errors import InputError
from promfuzz.model import EvalParams
from promfuzz.tee.request import ApiRequest, RequestError, parse_api_duration, parse_api_time


class LogFormatError(InputError):
    """A log line that is none of the accepted formats."""


@dataclass(frozen=True)
class LogEntry:
    line: int
    query: str
    params: EvalParams
    received_ms: int
    source: str  # prometheus-query-log | mimir-frontend | plain


_LOGFMT_RE = re.compile(r'([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _LOGFMT_RE.finditer(text):
        k, v = m.group(1), m.group(2)
        if v.startswith('"'):
            try:
                v = json.loads(v)
            except json.JSONDecodeError:
                v = v[1:-1]
        out[k] = v
    return out


def _entry_from_query_log(obj: dict[str, Any], line: int, now_ms: int) -> tuple[str, EvalParams, int]:
    p = obj.get("params")
    if not isinstance(p, dict) or not isinstance(p.get("query"), str):
        raise ValueError('expected a Prometheus query log object {"params": {"query": ..., "start": ..., '
                         '"end": ..., "step": ...}, "ts": ...}')
    q = p["query"]
    start = parse_api_time(str(p.get("start")), "params.start") if p.get("start") is not None else None
    end = parse_api_time(str(p.get("end")), "params.end") if p.get("end") is not None else None
    step = p.get("step", 0)
    ts = parse_api_time(str(obj["ts"]), "ts") if obj.get("ts") else now_ms
    if start is None or end is None:
        raise ValueError("params.start and params.end are required in a Prometheus query log line")
    step_ms = round(float(step) * 1000) if isinstance(step, (int, float)) else parse_api_duration(str(step))
    if step_ms <= 0 or start == end:
        return q, EvalParams.instant(end), ts
    return q, EvalParams.range(start, end, step_ms), ts


def _entry_from_logfmt(kv: dict[str, str], now_ms: int) -> tuple[str, EvalParams, int]:
    q = kv["param_query"]
    ts = parse_api_time(kv["ts"], "ts") if kv.get("ts") else now_ms
    path = kv.get("path", "")
    is_range = path.endswith("query_range") or ("param_start" in kv and "param_time" not in kv)
    if is_range:
        missing = [k for k in ("param_start", "param_end", "param_step") if not kv.get(k)]
        if missing:
            raise ValueError(f"a range query line needs {', '.join(missing)}")
        return q, EvalParams.range(parse_api_time(kv["param_start"], "param_start"),
                                   parse_api_time(kv["param_end"], "param_end"),
                                   parse_api_duration(kv["param_step"], "param_step")), ts
    t = parse_api_time(kv["param_time"], "param_time") if kv.get("param_time") else ts
    return q, EvalParams.instant(t), ts


def _entry_from_plain(text: str, default_ms: int) -> tuple[str, EvalParams, int]:
    parts = text.split("\t")
    if len(parts) == 1:
        return parts[0].strip(), EvalParams.instant(default_ms), default_ms
    if len(parts) == 2:
        t = parse_api_time(parts[0], "time")
        return parts[1].strip(), EvalParams.instant(t), default_ms
    if len(parts) == 4:
        return parts[3].strip(), EvalParams.range(parse_api_time(parts[0], "start"), parse_api_time(parts[1], "end"),
                                                  parse_api_duration(parts[2], "step")), default_ms
    raise ValueError(f"expected QUERY, TIME<TAB>QUERY or START<TAB>END<TAB>STEP<TAB>QUERY; found {len(parts)} "
                     "tab-separated fields")


def parse_line(text: str, line: int, source: str, now_ms: int, default_ms: int) -> LogEntry | None:
    s = text.strip()
    if not s or s.startswith("#"):
        return None
    try:
        if s.startswith("{"):
            try:
                obj = json.loads(s)
            except json.JSONDecodeError as e:
                raise ValueError(f"a line starting with '{{' must be a Prometheus query log JSON object "
                                 f"({e.msg} at column {e.colno})") from e
            if not isinstance(obj, dict):
                raise ValueError("expected a JSON object")
            q, p, ts = _entry_from_query_log(obj, line, now_ms)
            kind = "prometheus-query-log"
        elif "param_query=" in s:
            q, p, ts = _entry_from_logfmt(parse_logfmt(s), now_ms)
            kind = "mimir-frontend"
        else:
            q, p, ts = _entry_from_plain(text.rstrip("\n"), default_ms)
            kind = "plain"
    except RequestError as e:
        raise LogFormatError(e.message, source, line) from e
    except (ValueError, KeyError, TypeError) as e:
        raise LogFormatError(str(e), source, line) from e
    if p.is_range and p.end_ms < p.start_ms:
        raise LogFormatError("end is before start", source, line)
    if not q:
        raise LogFormatError("empty query", source, line)
    return LogEntry(line, q, p, ts, kind)


def read_log(path: str | Path, *, skip_malformed: bool = False, time_ms: int | None = None,
             errors: list[str] | None = None) -> list[LogEntry]:
    """Every entry of a log file. A malformed line raises :class:`LogFormatError` (with
    file and line), or with ``skip_malformed`` is appended to ``errors`` and skipped."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read the log: {e}", str(p)) from e
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text: {e}", str(p)) from e
    now = int(time.time() * 1000)
    default = time_ms if time_ms is not None else now
    out: list[LogEntry] = []
    for i, ln in enumerate(text.splitlines(), 1):
        try:
            entry = parse_line(ln, i, str(p), now, default)
        except LogFormatError as err:
            if not skip_malformed:
                raise
            if errors is not None:
                errors.append(str(err))
            continue
        if entry is not None:
            out.append(entry)
    return out


@dataclass
class ReplayLogReport:
    entries: int = 0
    malformed: list[str] = field(default_factory=list)
    results: Counter[str] = field(default_factory=Counter)
    divergences: list[dict[str, Any]] = field(default_factory=list)

    def to_json_obj(self) -> dict[str, Any]:
        return {"entries": self.entries, "malformed": self.malformed, "results": dict(self.results),
                "divergences": self.divergences}

    def format(self) -> str:
        lines = [f"replayed {self.entries} queries: " + ", ".join(f"{k} {v}" for k, v in sorted(self.results.items()))]
        if self.malformed:
            lines.append(f"skipped {len(self.malformed)} malformed lines")
        for d in self.divergences:
            lines.append(f"  divergence (line {d['line']}): {d['query']} -- {d.get('what', '')}")
            if d.get("capture"):
                c = d["capture"]
                lines.append(f"    capture: {c.get('outcome')} {c.get('case_file') or c.get('live_finding') or ''}"
                             f" {c.get('reason', '') if c.get('outcome') != 'reproduced' else ''}".rstrip())
        return "\n".join(lines)


def replay_backends(entries: list[LogEntry], primary: str, secondary: str, *, corpus: Path | None = None,
                    primary_engine: str = "generic", secondary_engine: str = "generic", reference: str = "auto",
                    window_ms: int = 120_000, shrink_seconds: float = 30.0,
                    report: ReplayLogReport | None = None) -> ReplayLogReport:
    """Send each entry to both backends, judge, capture divergences (synchronously)."""
    from promfuzz.tee.core import TeeConfig, TeeCore

    rep = report or ReplayLogReport()
    core = TeeCore(TeeConfig(primary, secondary, primary_engine, secondary_engine, reference=reference,
                             corpus=corpus, sample=1.0, window_ms=window_ms, shrink_seconds=shrink_seconds))
    core._learn_versions()
    seen: set[tuple[Any, ...]] = set()
    try:
        for e in entries:
            req = ApiRequest.from_params(e.query, e.params, e.received_ms)
            ans = core.primary.post_form(req.path, req.form)
            from promfuzz.tee.core import Job

            parsed = core.judge.parse(req)
            if isinstance(parsed, str):
                j = core.judge.judge(req, ans, ans)
            else:
                job = Job(req, ans, None)
                sec = core.secondary.post_form(req.path, req.form)
                j = core.judge.judge(job.req, ans, sec)
            rep.entries += 1
            rep.results[j.result] += 1
            core.metrics.comparisons.labels(j.result).inc()
            if j.result == "divergence":
                d: dict[str, Any] = {"line": e.line, "query": e.query, "params": e.params.to_json_obj(),
                                     "what": j.verdict.signature.title if j.verdict and j.verdict.signature else j.reason}
                key = (req.kind, e.query, e.params)
                if key in seen:
                    d["capture"] = {"outcome": "seen before"}
                elif core.reproducer is not None and j.params is not None:
                    seen.add(key)
                    d["capture"] = core.reproducer.process(req, e.query, j.params, j, core.primary, core.secondary)
                rep.divergences.append(d)
    finally:
        if core.reproducer is not None:
            core.reproducer.close()
        core.primary.close()
        core.secondary.close()
    return rep


def load_dataset_file(path: str | Path) -> Any:
    """A promfuzz dataset JSON file, or the load block of a promqltest file."""
    from promfuzz.model import Dataset

    p = Path(path)
    if p.suffix == ".test":
        from promfuzz.corpus.promqltest import LoadCommand, read_test_file

        tf = read_test_file(p)
        loads = [c.dataset for c in tf.commands if isinstance(c, LoadCommand)]
        if not loads:
            raise InputError("a .test file given as --data needs a load block", str(p))
        return loads[0]
    try:
        return Dataset.from_json(p.read_text(encoding="utf-8"), str(p))
    except OSError as e:
        raise InputError(f"cannot read the dataset: {e}", str(p)) from e


def replay_engines(entries: list[LogEntry], engines: list[str], dataset: Any, *, corpus: Path | None = None,
                   shrink_seconds: float = 30.0, report: ReplayLogReport | None = None) -> ReplayLogReport:
    """Each entry on two in-process engines holding ``dataset``; divergences shrunk and stored."""
    from promfuzz.engines.registry import open_engine
    from promfuzz.model import Case
    from promfuzz.oracles import DifferentialOracle, load_rules
    from promfuzz.pipeline import engine_versions_for_rules

    if len(engines) != 2:
        raise InputError(f"--engines takes two engine specs, REFERENCE,TARGET (got {len(engines)})")
    rep = report or ReplayLogReport()
    ref = open_engine(engines[0])
    tgt = open_engine(engines[1], name=f"{engines[1]}#2") if engines[1] == engines[0] else open_engine(engines[1])
    try:
        versions = {e.name: e.versions() for e in (ref, tgt)}
        oracle = DifferentialOracle(rules=load_rules(), versions=engine_versions_for_rules(versions))
        ref.load(dataset)
        tgt.load(dataset)
        for e in entries:
            case = Case(dataset, e.query, e.params)
            v = oracle.check(case, ref.query(e.query, e.params), tgt.query(e.query, e.params))
            kind = {"match": "match", "expected": "expected", "not_applicable": "skipped"}.get(v.kind, "divergence")
            rep.entries += 1
            rep.results[kind] += 1
            if kind != "divergence":
                continue
            d: dict[str, Any] = {"line": e.line, "query": e.query, "params": e.params.to_json_obj(),
                                 "what": v.signature.title if v.signature else v.reason}
            if corpus is not None:
                d["capture"] = _store_engine_finding(case, v, ref, tgt, oracle, versions, corpus, shrink_seconds, e)
                ref.load(dataset)
                tgt.load(dataset)
            rep.divergences.append(d)
    finally:
        ref.close()
        tgt.close()
    return rep


def _store_engine_finding(case: Any, v: Any, ref: Any, tgt: Any, oracle: Any, versions: Any, corpus: Path,
                          shrink_seconds: float, e: LogEntry) -> dict[str, Any]:
    from promfuzz.tee.reproduce import ReproduceConfig, Reproducer

    rp = Reproducer(ReproduceConfig(corpus=corpus, reference=None, secondary=None, shrink_seconds=shrink_seconds))
    req = ApiRequest.from_params(e.query, e.params, e.received_ms)
    r1, r2 = ref.query(case.query, case.params), tgt.query(case.query, case.params)
    return rp._store_reproduced(req, case, v, r1, r2, ref, tgt, oracle, versions, {"source_line": e.line})


def print_malformed(errors: list[str], out: TextIO = sys.stderr) -> None:
    for m in errors:
        print(f"promfuzz replay-log: skipped malformed line: {m}", file=out)

