"""Prometheus remote write 1.0 (and remote read) payloads for a :class:`Dataset`.

* :func:`encode_write_request` -- a ``WriteRequest`` protobuf: float samples (stale
  markers keep their exact bits 0x7ff0000000000002) and native histograms sent as float
  histograms (``count_float``, absolute ``positive_counts``/``negative_counts``, spans,
  custom values for schema -53, reset hint).
* :func:`compress` / :data:`WRITE_HEADERS` -- snappy *raw block* (not framed) and the
  headers a remote-write receiver expects.
* :func:`decode_write_request` -- the inverse, for tests and for checking a payload.
* :func:`encode_read_request` / :func:`decode_read_response` -- remote read with the
  ``SAMPLES`` response type, used to dump what a live server stored.

The protobuf schema is our own ``remote.proto`` (wire-compatible with Prometheus's
``prompb``); ``remote_pb2`` is generated from it (see the top of the .proto).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import cramjam

from promfuzz.engines import remote_pb2 as pb
from promfuzz.errors import InputError
from promfuzz.model import Dataset, Histogram, Labels, Sample, Series, Value

WRITE_HEADERS: dict[str, str] = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "promfuzz",
}
READ_HEADERS: dict[str, str] = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "Accept-Encoding": "snappy",
    "X-Prometheus-Remote-Read-Version": "0.1.0",
    "User-Agent": "promfuzz",
}

_HINT_TO_PB = {
    "unknown": pb.Histogram.UNKNOWN,
    "reset": pb.Histogram.YES,
    "not_reset": pb.Histogram.NO,
    "gauge": pb.Histogram.GAUGE,
}
_HINT_FROM_PB = {v: k for k, v in _HINT_TO_PB.items()}


class RemoteProtocolError(InputError):
    """A remote write/read payload could not be decoded."""


# --------------------------------------------------------------------------- encoding


def _histogram_to_pb(t: int, h: Histogram, out: pb.Histogram) -> None:
    out.timestamp = t
    out.count_float = h.count
    out.sum = h.sum
    out.schema = h.schema
    out.zero_threshold = h.zero_threshold
    out.zero_count_float = h.zero_count
    for off, length in h.negative_spans:
        out.negative_spans.add(offset=off, length=length)
    out.negative_counts.extend(h.negative_buckets)
    for off, length in h.positive_spans:
        out.positive_spans.add(offset=off, length=length)
    out.positive_counts.extend(h.positive_buckets)
    out.reset_hint = _HINT_TO_PB[h.counter_reset_hint]
    out.custom_values.extend(h.custom_values)


def series_to_pb(series: Series, shift_ms: int = 0) -> list[pb.TimeSeries]:
    """One series as remote-write ``TimeSeries`` messages (labels sorted by name).

    A receiver appends a message's float samples first and its histograms after them,
    so a series that mixes floats (e.g. a stale marker) and histograms is split into one
    message per run of same-kind samples: appends then happen in time order, exactly as
    a host's loader does them (a stale marker after a histogram becomes TSDB's stale
    histogram, not an out-of-order float).
    """
    out: list[pb.TimeSeries] = []
    ts: pb.TimeSeries | None = None
    kind: bool | None = None
    for s in series.samples:
        is_hist = isinstance(s.v, Histogram)
        if ts is None or is_hist != kind:
            ts = pb.TimeSeries()
            for k, v in series.labels:
                ts.labels.add(name=k, value=v)
            out.append(ts)
            kind = is_hist
        if isinstance(s.v, Histogram):
            _histogram_to_pb(s.t + shift_ms, s.v, ts.histograms.add())
        else:
            ts.samples.add(value=s.v, timestamp=s.t + shift_ms)
    return out


def encode_write_request(series: Iterable[Series], shift_ms: int = 0) -> bytes:
    """Serialized (uncompressed) ``WriteRequest`` for the given series."""
    req = pb.WriteRequest()
    for s in series:
        req.timeseries.extend(series_to_pb(s, shift_ms))
    return bytes(req.SerializeToString())


def chunk_series(dataset: Dataset, max_samples: int = 50_000) -> Iterator[list[Series]]:
    """Split a dataset into write requests of about ``max_samples`` samples (whole series)."""
    batch: list[Series] = []
    n = 0
    for s in dataset.series:
        if batch and n + len(s.samples) > max_samples:
            yield batch
            batch, n = [], 0
        batch.append(s)
        n += len(s.samples)
    if batch:
        yield batch


def chunk_by_time(
    dataset: Dataset, window_ms: int = 1_800_000, max_samples: int = 50_000
) -> Iterator[list[Series]]:
    """Split a dataset into write requests by time window, oldest first, each request
    holding every series' samples of one window (split further past ``max_samples``).

    Written in this order, every append is in order for its series and within TSDB's
    in-order window (head max time - 1h), so nothing lands in out-of-order chunks.
    """
    windows: dict[int, list[Series]] = {}
    for s in dataset.series:
        by_w: dict[int, list[Sample]] = {}
        for x in s.samples:
            by_w.setdefault(x.t // window_ms, []).append(x)
        for w, xs in by_w.items():
            windows.setdefault(w, []).append(Series(s.labels, tuple(xs)))
    for w in sorted(windows):
        batch: list[Series] = []
        n = 0
        for part in windows[w]:
            if batch and n + len(part.samples) > max_samples:
                yield batch
                batch, n = [], 0
            batch.append(part)
            n += len(part.samples)
        if batch:
            yield batch


def compress(payload: bytes) -> bytes:
    """Snappy raw block format (what remote write/read use), not the framed format."""
    return bytes(cramjam.snappy.compress_raw(payload))


def decompress(payload: bytes) -> bytes:
    return bytes(cramjam.snappy.decompress_raw(payload))


# --------------------------------------------------------------------------- decoding


def _spans(spans: Sequence[pb.BucketSpan]) -> tuple[tuple[int, int], ...]:
    return tuple((int(s.offset), int(s.length)) for s in spans)


def _deltas_to_counts(deltas: Sequence[int]) -> tuple[float, ...]:
    out: list[float] = []
    cur = 0
    for d in deltas:
        cur += int(d)
        out.append(float(cur))
    return tuple(out)


def histogram_from_pb(h: pb.Histogram) -> Histogram:
    """A protobuf histogram as our value, kept as stored: a stale marker in a histogram
    series is stored by TSDB as a histogram whose sum is the stale NaN, and the Go hosts'
    ``/dump`` shows it the same way (``{"count":"0.0","schema":0,"sum":"stale"}``), so
    dumps of a host and of a live server compare equal."""
    is_int = h.WhichOneof("count") == "count_int"
    if is_int:
        count = float(h.count_int)
        zero = float(h.zero_count_int)
        pos = _deltas_to_counts(h.positive_deltas)
        neg = _deltas_to_counts(h.negative_deltas)
    else:
        count = h.count_float
        zero = h.zero_count_float
        pos = tuple(h.positive_counts)
        neg = tuple(h.negative_counts)
    return Histogram(
        schema=int(h.schema),
        count=count,
        sum=h.sum,
        zero_threshold=h.zero_threshold,
        zero_count=zero,
        positive_spans=_spans(h.positive_spans),
        positive_buckets=pos,
        negative_spans=_spans(h.negative_spans),
        negative_buckets=neg,
        custom_values=tuple(h.custom_values),
        counter_reset_hint=_HINT_FROM_PB.get(h.reset_hint, "unknown"),  # type: ignore[arg-type]
    )


def _timeseries_items(
    timeseries: Iterable[pb.TimeSeries], shift_ms: int
) -> list[tuple[Labels, list[tuple[int, Value]]]]:
    """(labels, samples) per label set; messages with the same labels are merged."""
    merged: dict[Labels, list[tuple[int, Value]]] = {}
    for ts in timeseries:
        labels = tuple((lab.name, lab.value) for lab in ts.labels)
        samples = merged.setdefault(labels, [])
        samples.extend((s.timestamp - shift_ms, s.value) for s in ts.samples)
        samples.extend((h.timestamp - shift_ms, histogram_from_pb(h)) for h in ts.histograms)
    return list(merged.items())


def decode_write_request(data: bytes, compressed: bool = True, shift_ms: int = 0) -> Dataset:
    """Inverse of :func:`encode_write_request` (optionally of :func:`compress` too)."""
    try:
        raw = decompress(data) if compressed else data
        req = pb.WriteRequest()
        req.ParseFromString(raw)
    except Exception as e:  # cramjam and protobuf raise their own error types
        raise RemoteProtocolError(f"not a remote-write WriteRequest: {e}", "<remote write payload>") from e
    return Dataset.build(_timeseries_items(req.timeseries, shift_ms))


def encode_read_request(start_ms: int, end_ms: int, matchers: Sequence[tuple[str, str, str]]) -> bytes:
    """A compressed ``ReadRequest`` with one query; matchers are (type, name, value) with
    type one of ``=``, ``!=``, ``=~``, ``!~``."""
    types = {
        "=": pb.LabelMatcher.EQ,
        "!=": pb.LabelMatcher.NEQ,
        "=~": pb.LabelMatcher.RE,
        "!~": pb.LabelMatcher.NRE,
    }
    req = pb.ReadRequest()
    q = req.queries.add(start_timestamp_ms=start_ms, end_timestamp_ms=end_ms)
    for op, name, value in matchers:
        q.matchers.add(type=types[op], name=name, value=value)
    req.accepted_response_types.append(pb.ReadRequest.SAMPLES)
    return compress(req.SerializeToString())


def decode_read_response(data: bytes, shift_ms: int = 0) -> Dataset:
    """A compressed ``ReadResponse`` (SAMPLES type) as a Dataset (all query results merged)."""
    try:
        resp = pb.ReadResponse()
        resp.ParseFromString(decompress(data))
    except Exception as e:
        raise RemoteProtocolError(f"not a remote-read ReadResponse: {e}", "<remote read answer>") from e
    items: list[tuple[Labels, list[tuple[int, Value]]]] = []
    for qr in resp.results:
        # A series whose samples were all deleted (admin API) is still listed, empty.
        items.extend(x for x in _timeseries_items(qr.timeseries, shift_ms) if x[1])
    return Dataset.build(items)
