"""Parse a Prometheus HTTP API envelope into a :class:`~promfuzz.model.Result`.

Works for the Go hosts (which add ``hostStats`` and, with ``histograms=full``, a
``full`` histogram object) and for any real Prometheus-compatible server.

Mapping of error classes to outcomes:

* ``errorType: unsupported`` (or ``hostStats.unsupported``) -> outcome ``unsupported``;
* ``errorType: timeout`` -> outcome ``timeout`` (the engine's own query timeout);
* ``errorType: engine_panic`` -> outcome ``engine_failure`` (the error keeps the class);
* every other error -> outcome ``error`` with the API's class and message.

Float values accept the API spellings (``"NaN"``, ``"+Inf"``, ``"-Inf"``) as well as
plain numbers; timestamps are float seconds and become integer milliseconds exactly.
Labels are normalized with :func:`~promfuzz.model.make_labels` (empty value = absent).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from promfuzz.model import (
    Bucket,
    EngineStats,
    Histogram,
    Outcome,
    Point,
    Result,
    ResultError,
    ResultHistogram,
    ResultSeries,
    ValueType,
    api_time_to_ms,
    decode_float,
    make_labels,
)

_STATS_KEYS = {
    "wallNs": "wall_ns",
    "engineNs": "engine_ns",
    "allocBytes": "alloc_bytes",
    "peakBytes": "peak_bytes",
    "samples": "samples",
}


class EnvelopeError(ValueError):
    """The body is not a Prometheus API envelope (used internally; becomes engine_failure)."""


def parse_histogram(obj: Mapping[str, Any]) -> ResultHistogram:
    """``{"count": "4", "sum": "5", "buckets": [[rule, "lo", "hi", "n"], ...], "full": {...}}``."""
    buckets = tuple(
        Bucket(int(b[0]), decode_float(b[1]), decode_float(b[2]), decode_float(b[3]))
        for b in obj.get("buckets") or ()
    )
    full_obj = obj.get("full")
    full = Histogram.from_json(full_obj) if isinstance(full_obj, Mapping) else None
    return ResultHistogram(
        count=decode_float(obj.get("count", 0)),
        sum=decode_float(obj.get("sum", 0)),
        buckets=buckets,
        full=full,
    )


def _float_point(pair: Sequence[Any]) -> Point:
    return Point(api_time_to_ms(pair[0]), decode_float(pair[1]))


def _hist_point(pair: Sequence[Any]) -> Point:
    return Point(api_time_to_ms(pair[0]), parse_histogram(pair[1]))


def _series(obj: Mapping[str, Any]) -> ResultSeries:
    labels = make_labels(obj.get("metric") or {})
    points: list[Point] = []
    if "value" in obj:
        points.append(_float_point(obj["value"]))
    if "histogram" in obj:
        points.append(_hist_point(obj["histogram"]))
    if "values" in obj or "histograms" in obj:
        points.extend(_float_point(p) for p in obj.get("values") or ())
        points.extend(_hist_point(p) for p in obj.get("histograms") or ())
        # A series mixing floats and histograms comes as two lists: merge by time.
        points.sort(key=lambda p: p.t)
    return ResultSeries(labels, tuple(points))


def parse_stats(obj: Any) -> tuple[EngineStats, bool]:
    """``hostStats`` to EngineStats, plus its ``unsupported`` flag."""
    if not isinstance(obj, Mapping):
        return EngineStats(), False
    kw: dict[str, int] = {}
    extra: dict[str, Any] = {}
    for k, v in obj.items():
        if k in _STATS_KEYS:
            try:
                kw[_STATS_KEYS[k]] = int(v)
            except (TypeError, ValueError):
                extra[k] = v
        elif k != "unsupported":
            extra[k] = v
    return EngineStats(**kw, extra=extra), bool(obj.get("unsupported", False))


def _strings(obj: Any) -> tuple[str, ...]:
    if not obj:
        return ()
    if isinstance(obj, str):
        return (obj,)
    return tuple(str(x) for x in obj)


def parse_envelope(obj: Any, engine: str, wall_ns: int = 0) -> Result:
    """Turn a decoded API envelope into a Result. Raises :class:`EnvelopeError` when
    ``obj`` is not an envelope at all."""
    if not isinstance(obj, Mapping) or obj.get("status") not in ("success", "error"):
        raise EnvelopeError(f"not a Prometheus API envelope: {_short(obj)}")
    stats, unsupported = parse_stats(obj.get("hostStats"))
    if wall_ns and not stats.wall_ns:
        stats = EngineStats(
            wall_ns=wall_ns,
            engine_ns=stats.engine_ns,
            alloc_bytes=stats.alloc_bytes,
            peak_bytes=stats.peak_bytes,
            samples=stats.samples,
            extra=stats.extra,
        )
    warnings = _strings(obj.get("warnings"))
    infos = _strings(obj.get("infos"))
    if obj["status"] == "error":
        error_type = str(obj.get("errorType") or "unknown")
        message = str(obj.get("error") or "")
        outcome: Outcome = "error"
        if unsupported or error_type == "unsupported":
            outcome = "unsupported"
        elif error_type == "timeout":
            outcome = "timeout"
        elif error_type == "engine_panic":
            outcome = "engine_failure"
        return Result(
            engine=engine,
            outcome=outcome,
            error=ResultError(error_type, message),
            warnings=warnings,
            infos=infos,
            stats=stats,
        )
    data = obj.get("data")
    if not isinstance(data, Mapping):
        raise EnvelopeError(f"success without data: {_short(obj)}")
    rtype = data.get("resultType")
    raw: Any = data.get("result")
    try:
        if rtype in ("vector", "matrix"):
            series = tuple(_series(s) for s in raw or ())
            vt: ValueType = "vector" if rtype == "vector" else "matrix"
            return Result(engine, "ok", vt, series=series, warnings=warnings, infos=infos, stats=stats)
        if rtype == "scalar":
            return Result(
                engine, "ok", "scalar", scalar=_float_point(raw), warnings=warnings, infos=infos, stats=stats
            )
        if rtype == "string":
            return Result(
                engine,
                "ok",
                "string",
                scalar=None,
                string=str(raw[1]),
                warnings=warnings,
                infos=infos,
                stats=stats,
            )
    except (TypeError, ValueError, IndexError, KeyError) as e:
        raise EnvelopeError(f"malformed {rtype} result: {e}: {_short(raw)}") from e
    raise EnvelopeError(f"unknown resultType {rtype!r}")


def parse_body(body: bytes | str, status_code: int, engine: str, wall_ns: int = 0) -> Result:
    """Parse an HTTP answer. A body that is not an envelope (a proxy's HTML page, a
    truncated answer) becomes an ``engine_failure`` Result quoting the status and body."""
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return Result.failure(
            engine,
            "engine_failure",
            "bad_response",
            f"HTTP {status_code}: answer is not JSON ({e}): {_short(body)}",
            wall_ns,
        )
    try:
        return parse_envelope(obj, engine, wall_ns)
    except EnvelopeError as e:
        return Result.failure(engine, "engine_failure", "bad_response", f"HTTP {status_code}: {e}", wall_ns)


def _short(x: Any, n: int = 300) -> str:
    if isinstance(x, bytes):
        s = x.decode("utf-8", "replace")
    elif isinstance(x, str):
        s = x
    else:
        s = repr(x)
    return s if len(s) <= n else s[:n] + "..."
