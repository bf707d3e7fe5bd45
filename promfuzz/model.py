"""The plain-data model every part of promfuzz shares.

* :class:`Dataset` -- series of float samples, stale markers and native histograms.
* :class:`EvalParams` -- an instant evaluation at ``time_ms`` or a range evaluation.
* :class:`Result` -- one engine's normalized answer to one query.

Times are integer milliseconds since the Unix epoch (promqltest files start at 0).
Floats are Python floats; the Prometheus stale marker is the NaN with bit pattern
:data:`STALE_NAN_BITS` and must be created with :func:`stale_nan` and tested with
:func:`is_stale` (``x != x`` is true for it like for every NaN).

The canonical JSON forms (``Dataset.to_json`` and the value encoding in
:func:`encode_float`) are what the Go hosts read on ``/load`` and write on ``/dump``;
see docs/host-protocol.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from promfuzz.errors import DatasetError

STALE_NAN_BITS = 0x7FF0000000000002
"""Bit pattern of Prometheus's stale marker (``value.StaleNaN``)."""

Labels = tuple[tuple[str, str], ...]
"""A label set: (name, value) pairs sorted by name, no empty values, names unique."""


# --------------------------------------------------------------------------- floats


def stale_nan() -> float:
    """The stale marker as a Python float (a NaN with a payload)."""
    return float(struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0])


def float_bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def is_stale(x: float) -> bool:
    return float_bits(x) == STALE_NAN_BITS


def encode_float(x: float) -> str:
    """Encode a float for JSON exactly: ``"stale"``, ``"NaN"``, ``"+Inf"``, ``"-Inf"`` or repr.

    ``repr`` is the shortest string that parses back to the same bits (Go's
    ``strconv.ParseFloat`` reads it exactly too). Negative zero stays ``"-0.0"``.
    """
    if x - x == 0.0:  # finite (the hot path: one comparison instead of isnan + isinf)
        return repr(x) if type(x) is float else repr(float(x))
    if math.isnan(x):
        return "stale" if is_stale(x) else "NaN"
    return "+Inf" if x > 0 else "-Inf"


def decode_float(s: str | float | int) -> float:
    """Inverse of :func:`encode_float`; also accepts Prometheus API spellings and numbers."""
    if isinstance(s, bool):
        raise ValueError(f"not a float: {s!r}")
    if isinstance(s, (int, float)):
        return float(s)
    if s == "stale":
        return stale_nan()
    low = s.lower()
    if low in ("nan", "+nan", "-nan"):
        return math.nan
    if low in ("+inf", "inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    return float(s)


# --------------------------------------------------------------------------- labels


def make_labels(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """Normalize a label set: drop empty values, sort by name, reject duplicates."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    out: dict[str, str] = {}
    for k, v in items:
        if k in out:
            raise DatasetError(f"duplicate label name {k!r}")
        if v != "":
            out[k] = v
    return tuple(sorted(out.items()))


_METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def is_legacy_metric_name(name: str) -> bool:
    return bool(_METRIC_NAME_RE.match(name))


def is_legacy_label_name(name: str) -> bool:
    return bool(_LABEL_NAME_RE.match(name))


def quote_string(s: str) -> str:
    """A double-quoted PromQL string literal (Go ``strconv.Quote`` rules for what matters)."""
    out = ['"']
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def labels_str(labels: Labels) -> str:
    """Series text as promqltest and Prometheus print it: ``name{a="b"}``; UTF-8 names quoted."""
    d = dict(labels)
    name = d.pop("__name__", "")
    parts = []
    if name and not is_legacy_metric_name(name):
        parts.append(quote_string(name))
        name = ""
    for k, v in sorted(d.items()):
        key = k if is_legacy_label_name(k) else quote_string(k)
        parts.append(f"{key}={quote_string(v)}")
    if not parts:
        return name or "{}"
    return f"{name}{{{', '.join(parts)}}}"


# --------------------------------------------------------------------------- histograms

CounterResetHint = Literal["unknown", "reset", "not_reset", "gauge"]
Span = tuple[int, int]  # (offset, length) as in Prometheus's histogram.Span


@dataclass(frozen=True)
class Histogram:
    """A native histogram in Prometheus's FloatHistogram form (absolute bucket counts).

    ``schema`` -4..8 is exponential; -53 is custom buckets (``custom_values`` are the
    upper bounds). Spans and buckets follow Prometheus's layout exactly, so a
    histogram round-trips through the hosts and promqltest text unchanged.
    """

    schema: int = 0
    count: float = 0.0
    sum: float = 0.0
    zero_threshold: float = 0.0
    zero_count: float = 0.0
    positive_spans: tuple[Span, ...] = ()
    positive_buckets: tuple[float, ...] = ()
    negative_spans: tuple[Span, ...] = ()
    negative_buckets: tuple[float, ...] = ()
    custom_values: tuple[float, ...] = ()
    counter_reset_hint: CounterResetHint = "unknown"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema": self.schema,
            "count": encode_float(self.count),
            "sum": encode_float(self.sum),
        }
        if self.zero_threshold:
            d["zero_threshold"] = encode_float(self.zero_threshold)
        if self.zero_count:
            d["zero_count"] = encode_float(self.zero_count)
        if self.positive_spans:
            d["positive_spans"] = [list(s) for s in self.positive_spans]
            d["positive_buckets"] = [encode_float(b) for b in self.positive_buckets]
        if self.negative_spans:
            d["negative_spans"] = [list(s) for s in self.negative_spans]
            d["negative_buckets"] = [encode_float(b) for b in self.negative_buckets]
        if self.custom_values:
            d["custom_values"] = [encode_float(b) for b in self.custom_values]
        if self.counter_reset_hint != "unknown":
            d["counter_reset_hint"] = self.counter_reset_hint
        return d

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> Histogram:
        try:
            return Histogram(
                schema=int(d.get("schema", 0)),
                count=decode_float(d.get("count", 0)),
                sum=decode_float(d.get("sum", 0)),
                zero_threshold=decode_float(d.get("zero_threshold", 0)),
                zero_count=decode_float(d.get("zero_count", 0)),
                positive_spans=tuple((int(a), int(b)) for a, b in d.get("positive_spans", ())),
                positive_buckets=tuple(decode_float(b) for b in d.get("positive_buckets", ())),
                negative_spans=tuple((int(a), int(b)) for a, b in d.get("negative_spans", ())),
                negative_buckets=tuple(decode_float(b) for b in d.get("negative_buckets", ())),
                custom_values=tuple(decode_float(b) for b in d.get("custom_values", ())),
                counter_reset_hint=d.get("counter_reset_hint", "unknown"),
            )
        except (TypeError, ValueError) as e:
            raise DatasetError(f"malformed histogram {dict(d)!r}: {e}") from e


Value = float | Histogram


@dataclass(frozen=True)
class Sample:
    t: int  # milliseconds
    v: Value


@dataclass(frozen=True)
class Series:
    labels: Labels
    samples: tuple[Sample, ...]

    @property
    def name(self) -> str:
        return dict(self.labels).get("__name__", "")


def _encode_value(v: Value) -> Any:
    return v.to_json() if isinstance(v, Histogram) else encode_float(v)


def _decode_value(v: Any) -> Value:
    if isinstance(v, Mapping):
        return Histogram.from_json(v)
    return decode_float(v)


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class Dataset:
    """A set of series. Canonical: series sorted by labels, samples sorted by time.

    Build through :meth:`Dataset.build` (which sorts and validates) unless the input is
    already canonical. Timestamps must be >= 0 so the dataset is expressible as a
    promqltest ``load`` block.
    """

    series: tuple[Series, ...] = ()

    def __eq__(self, other: object) -> bool:
        # Compare by canonical JSON: NaN samples (and stale markers) compare equal bit for bit.
        return isinstance(other, Dataset) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    @staticmethod
    def build(series: Iterable[tuple[Mapping[str, str] | Labels, Iterable[tuple[int, Value]]]]) -> Dataset:
        seen: dict[Labels, Series] = {}
        for raw_labels, raw_samples in series:
            labels = make_labels(raw_labels)
            if labels in seen:
                raise DatasetError(f"duplicate series {labels_str(labels)}")
            samples: dict[int, Sample] = {}
            for t, v in raw_samples:
                t = int(t)
                if t < 0:
                    raise DatasetError(f"series {labels_str(labels)}: negative timestamp {t}")
                if t in samples:
                    raise DatasetError(f"series {labels_str(labels)}: two samples at t={t}ms")
                samples[t] = Sample(t, v)
            seen[labels] = Series(labels, tuple(samples[t] for t in sorted(samples)))
        return Dataset(tuple(seen[k] for k in sorted(seen)))

    # JSON ------------------------------------------------------------------
    def to_json_obj(self) -> dict[str, Any]:
        return {
            "series": [
                {
                    "labels": dict(s.labels),
                    "samples": [[x.t, _encode_value(x.v)] for x in s.samples],
                }
                for s in self.series
            ]
        }

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys, no spaces): the fingerprint is its SHA-256.
        Computed once per instance (a dataset is immutable; a campaign needs the text for
        the fingerprint and for every engine's load)."""
        cached: str | None = self.__dict__.get("_json")
        if cached is None:
            cached = json.dumps(self.to_json_obj(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            object.__setattr__(self, "_json", cached)
        return cached

    @staticmethod
    def from_json_obj(obj: Any, source: str = "<dataset>") -> Dataset:
        if not isinstance(obj, Mapping) or not isinstance(obj.get("series"), list):
            raise DatasetError('expected an object {"series": [...]}', source)
        out = []
        for i, s in enumerate(obj["series"]):
            try:
                labels = s["labels"]
                samples = [(int(t), _decode_value(v)) for t, v in s["samples"]]
            except (KeyError, TypeError, ValueError) as e:
                raise DatasetError(
                    f"series #{i}: expected {{'labels': {{...}}, 'samples': [[t_ms, value], ...]}} ({e})", source
                ) from e
            out.append((labels, samples))
        try:
            return Dataset.build(out)
        except DatasetError as e:
            raise DatasetError(e.message, source) from e

    @staticmethod
    def from_json(text: str, source: str = "<dataset>") -> Dataset:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise DatasetError(f"invalid JSON: {e.msg}", source, e.lineno, e.colno) from e
        return Dataset.from_json_obj(obj, source)

    def fingerprint(self) -> str:
        """SHA-256 of :meth:`to_json`, 16 hex digits; computed once per instance, like the JSON."""
        fp: str | None = self.__dict__.get("_fingerprint")
        if fp is None:
            fp = hashlib.sha256(self.to_json().encode()).hexdigest()[:16]
            object.__setattr__(self, "_fingerprint", fp)
        return fp

    def storage_fingerprint(self) -> str:
        """Fingerprint of what a TSDB is expected to keep: like :meth:`fingerprint`, but a
        histogram's ``not_reset`` hint counts as ``unknown``. A TSDB sets ``not_reset`` by
        itself on samples after the first of a chunk (after checking there was no reset),
        and where chunks are cut differs between storages, so two dumps of the same data
        can differ only there. ``reset`` and ``gauge`` hints are kept."""
        def norm(v: Value) -> Value:
            if isinstance(v, Histogram) and v.counter_reset_hint == "not_reset":
                return replace(v, counter_reset_hint="unknown")
            return v

        return Dataset(
            tuple(Series(s.labels, tuple(Sample(x.t, norm(x.v)) for x in s.samples)) for s in self.series)
        ).fingerprint()

    # facts -------------------------------------------------------------------
    @property
    def sample_count(self) -> int:
        return sum(len(s.samples) for s in self.series)

    def time_range(self) -> tuple[int, int]:
        ts = [x.t for s in self.series for x in s.samples]
        return (min(ts), max(ts)) if ts else (0, 0)

    def metric_names(self) -> list[str]:
        return sorted({s.name for s in self.series if s.name})

    def label_values(self) -> dict[str, list[str]]:
        out: dict[str, set[str]] = {}
        for s in self.series:
            for k, v in s.labels:
                out.setdefault(k, set()).add(v)
        return {k: sorted(v) for k, v in sorted(out.items())}


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvalParams:
    """Instant (``time_ms``) or range (``start_ms``..``end_ms`` every ``step_ms``) evaluation."""

    kind: Literal["instant", "range"]
    time_ms: int = 0
    start_ms: int = 0
    end_ms: int = 0
    step_ms: int = 0
    lookback_ms: int | None = None
    """The staleness lookback delta the case runs under (None: the engines' own, 5m). The
    engines carry it as their ``lookback`` option (one host process per value), campaigns
    draw it per dataset, and promqltest files record it as ``# promfuzz:lookback 30s``."""

    @staticmethod
    def instant(t_ms: int) -> EvalParams:
        return EvalParams("instant", time_ms=int(t_ms))

    @staticmethod
    def range(start_ms: int, end_ms: int, step_ms: int) -> EvalParams:
        return EvalParams("range", start_ms=int(start_ms), end_ms=int(end_ms), step_ms=int(step_ms))

    @property
    def is_range(self) -> bool:
        return self.kind == "range"

    def steps(self) -> int:
        if not self.is_range or self.step_ms <= 0 or self.end_ms < self.start_ms:
            return 1
        return (self.end_ms - self.start_ms) // self.step_ms + 1

    def with_lookback(self, lookback_ms: int | None) -> EvalParams:
        return EvalParams(self.kind, self.time_ms, self.start_ms, self.end_ms, self.step_ms, lookback_ms)

    def to_json_obj(self) -> dict[str, Any]:
        d: dict[str, Any]
        if self.is_range:
            d = {"kind": "range", "start_ms": self.start_ms, "end_ms": self.end_ms, "step_ms": self.step_ms}
        else:
            d = {"kind": "instant", "time_ms": self.time_ms}
        if self.lookback_ms is not None:
            d["lookback_ms"] = self.lookback_ms
        return d

    @staticmethod
    def from_json_obj(d: Mapping[str, Any]) -> EvalParams:
        if d.get("kind") == "range":
            p = EvalParams.range(d["start_ms"], d["end_ms"], d["step_ms"])
        else:
            p = EvalParams.instant(d["time_ms"])
        lb = d.get("lookback_ms")
        return p.with_lookback(int(lb)) if lb is not None else p


def ms_to_api_time(t_ms: int) -> str:
    """Milliseconds to the Prometheus API's float-seconds string, exactly (``-1.5``, ``12.003``)."""
    sign = "-" if t_ms < 0 else ""
    a = abs(t_ms)
    return f"{sign}{a // 1000}.{a % 1000:03d}"


def api_time_to_ms(t: float | str) -> int:
    """Prometheus API float seconds (``1700000000.123``) to integer milliseconds: digits
    past the millisecond are dropped (the API never writes them)."""
    if type(t) is int:
        return t * 1000
    if type(t) is float and -1e12 < t < 1e12:
        # The hot path (decoded JSON numbers): a millisecond-precise time lands within a
        # few ulps of its integer; anything else takes the exact text path below.
        ms = round(t * 1000)
        if abs(t * 1000 - ms) < 1e-3:
            return ms
    s = str(t)
    if "e" in s.lower():
        return round(float(s) * 1000)
    whole, _, frac = s.partition(".")
    neg = whole.startswith("-")
    frac = (frac + "000")[:3]
    ms = abs(int(whole or "0")) * 1000 + int(frac or "0")
    return -ms if neg else ms


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Bucket:
    """One bucket of a native histogram as the HTTP API shows it.

    ``boundary`` is the API's boundary rule, kept verbatim: 0 open left / closed right
    ``(a,b]``, 1 closed left / open right ``[a,b)``, 2 open both, 3 closed both.
    """

    boundary: int
    lower: float
    upper: float
    count: float


@dataclass(frozen=True)
class ResultHistogram:
    """A histogram in a query result: the API's count/sum/non-empty buckets, plus the
    full form when the source could give it (in-process hosts with ``histograms=full``)."""

    count: float
    sum: float
    buckets: tuple[Bucket, ...] = ()
    full: Histogram | None = field(default=None, compare=False)


PointValue = float | ResultHistogram


@dataclass(frozen=True)
class Point:
    t: int  # milliseconds
    v: PointValue


@dataclass(frozen=True)
class ResultSeries:
    labels: Labels
    points: tuple[Point, ...]


ValueType = Literal["vector", "matrix", "scalar", "string"]
Outcome = Literal["ok", "error", "unsupported", "timeout", "engine_failure"]


@dataclass(frozen=True)
class ResultError:
    """An error answer. ``error_type`` is the API's class (``bad_data``, ``execution``,
    ``timeout``, ``canceled``, ``internal``, ``unavailable``) or one of ours
    (``engine_panic``, ``engine_failure``, ``unsupported``)."""

    error_type: str
    message: str


@dataclass(frozen=True)
class EngineStats:
    wall_ns: int = 0  # time the host spent on the query (or the client, for HTTP targets)
    engine_ns: int = 0  # time inside the engine's Exec, when known
    alloc_bytes: int = 0  # Go bytes allocated during the query, when known
    peak_bytes: int = 0  # the engine's own peak memory estimate (MQE), when known
    samples: int = 0  # samples processed, when the engine reports it
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Result:
    """One engine's answer to one query, normalized whatever the source.

    * ``vector``: each series has exactly one point (at the evaluation time).
    * ``matrix``: series with their points (range query, or a range-vector instant query).
    * ``scalar``: ``scalar`` holds the point. ``string``: ``string`` holds the text.
    * errors: ``outcome`` is not ``ok`` and ``error`` says why; ``value_type`` is None.

    Series keep the order the engine gave (order matters for some queries).
    """

    engine: str
    outcome: Outcome
    value_type: ValueType | None = None
    series: tuple[ResultSeries, ...] = ()
    scalar: Point | None = None
    string: str | None = None
    error: ResultError | None = None
    warnings: tuple[str, ...] = ()
    infos: tuple[str, ...] = ()
    stats: EngineStats = field(default_factory=EngineStats, compare=False)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @staticmethod
    def failure(engine: str, outcome: Outcome, error_type: str, message: str, wall_ns: int = 0) -> Result:
        return Result(
            engine=engine,
            outcome=outcome,
            error=ResultError(error_type, message),
            stats=EngineStats(wall_ns=wall_ns),
        )


def series_by_labels(series: Sequence[ResultSeries]) -> dict[Labels, ResultSeries]:
    return {s.labels: s for s in series}


# --------------------------------------------------------------------------- case


@dataclass(frozen=True)
class Case:
    """One generated or stored test case: data, a query text and how to evaluate it."""

    dataset: Dataset
    query: str
    params: EvalParams

    def to_json_obj(self) -> dict[str, Any]:
        return {"query": self.query, "params": self.params.to_json_obj(), "dataset": self.dataset.to_json_obj()}

    @staticmethod
    def from_json_obj(d: Mapping[str, Any], source: str = "<case>") -> Case:
        return Case(
            dataset=Dataset.from_json_obj(d["dataset"], source),
            query=str(d["query"]),
            params=EvalParams.from_json_obj(d["params"]),
        )

    def case_id(self) -> str:
        """Content address: SHA-256 of the canonical JSON of query, params and dataset."""
        text = json.dumps(self.to_json_obj(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
