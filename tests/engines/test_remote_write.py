"""Remote write payloads round-trip through the generated protobuf, bits intact."""

from __future__ import annotations

import math
import struct

import pytest

from promfuzz.engines import remote_pb2 as pb
from promfuzz.engines.remote_write import (
    RemoteProtocolError,
    chunk_series,
    compress,
    decode_read_response,
    decode_write_request,
    encode_read_request,
    encode_write_request,
)
from promfuzz.model import STALE_NAN_BITS, Dataset, Histogram, float_bits, stale_nan

H1 = Histogram(
    schema=1,
    count=10.0,
    sum=-3.25,
    zero_threshold=0.001,
    zero_count=2.0,
    positive_spans=((-2, 2), (3, 1)),
    positive_buckets=(1.0, 2.5, 3.0),
    negative_spans=((0, 1),),
    negative_buckets=(1.5,),
    counter_reset_hint="not_reset",
)
H2 = Histogram(
    schema=-53,
    count=3.0,
    sum=7.0,
    positive_spans=((0, 2),),
    positive_buckets=(1.0, 2.0),
    custom_values=(1.0, 5.0),
)
DS = Dataset.build(
    [
        (
            {"__name__": "f", "job": "a"},
            [(0, 1.0), (15_000, math.nan), (30_000, stale_nan()), (45_000, math.inf), (60_000, -0.0)],
        ),
        ({"__name__": "h"}, [(0, H1), (15_000, H2), (30_000, stale_nan())]),
        ({"__name__": "g", "x": "é✓"}, [(1, 5e-324), (2, -1.7976931348623157e308)]),
    ]
)


def test_write_request_round_trip_keeps_stale_bits_and_histograms() -> None:
    payload = compress(encode_write_request(DS.series))
    back = decode_write_request(payload)
    assert back == DS
    f = back.series[0]
    assert float_bits(f.samples[2].v) == STALE_NAN_BITS  # type: ignore[arg-type]
    assert float_bits(f.samples[1].v) != STALE_NAN_BITS  # type: ignore[arg-type]
    assert math.copysign(1.0, f.samples[4].v) == -1.0  # type: ignore[arg-type]
    hs = next(s for s in back.series if s.name == "h")
    assert hs.samples[0].v == H1 and hs.samples[1].v == H2


def test_wire_layout_matches_prometheus_field_numbers() -> None:
    # Hand-decode the first bytes: WriteRequest.timeseries is field 1 (length-delimited),
    # TimeSeries.labels field 1, Sample field 2 with value (1, double) and timestamp (2, varint).
    one = Dataset.build([({"a": "b"}, [(7, stale_nan())])])
    raw = encode_write_request(one.series)
    assert raw[0] == (1 << 3) | 2
    ts = pb.TimeSeries.FromString(raw[2:])
    sample_bytes = ts.samples[0].SerializeToString()
    assert sample_bytes[0] == (1 << 3) | 1  # double value, field 1
    assert struct.unpack("<Q", sample_bytes[1:9])[0] == STALE_NAN_BITS
    assert sample_bytes[9:] == bytes([(2 << 3) | 0, 7])


def test_float_histograms_sent_as_float_counts_with_hint() -> None:
    one = Dataset.build([({"__name__": "h"}, [(0, H1)])])
    h = pb.WriteRequest.FromString(encode_write_request(one.series)).timeseries[0].histograms[0]
    assert h.WhichOneof("count") == "count_float" and h.WhichOneof("zero_count") == "zero_count_float"
    assert list(h.positive_counts) == [1.0, 2.5, 3.0] and list(h.positive_deltas) == []
    assert h.reset_hint == pb.Histogram.NO and h.schema == 1


def test_integer_histogram_deltas_decode_to_absolute_counts() -> None:
    resp = pb.ReadResponse()
    ts = resp.results.add().timeseries.add()
    ts.labels.add(name="__name__", value="h")
    h = ts.histograms.add(count_int=6, sum=1.0, schema=0, zero_count_int=1, timestamp=1000)
    h.positive_spans.add(offset=0, length=3)
    h.positive_deltas.extend([1, 2, -2])
    back = decode_read_response(compress(resp.SerializeToString()))
    v = back.series[0].samples[0].v
    assert isinstance(v, Histogram) and v.positive_buckets == (1.0, 3.0, 1.0) and v.zero_count == 1.0


def test_stale_histogram_marker_reads_back_as_stored_histogram() -> None:
    resp = pb.ReadResponse()
    ts = resp.results.add().timeseries.add()
    ts.labels.add(name="__name__", value="h")
    ts.histograms.add(sum=stale_nan(), timestamp=5, count_float=0.0)
    back = decode_read_response(compress(resp.SerializeToString()))
    v = back.series[0].samples[0].v
    assert isinstance(v, Histogram) and v.count == 0.0
    assert float_bits(v.sum) == STALE_NAN_BITS
    assert (
        back.to_json()
        == '{"series":[{"labels":{"__name__":"h"},"samples":[[5,{"count":"0.0","schema":0,"sum":"stale"}]]}]}'
    )


def test_shift_moves_timestamps_both_ways() -> None:
    raw = encode_write_request(DS.series, shift_ms=1_000_000)
    req = pb.WriteRequest.FromString(raw)
    assert req.timeseries[0].samples[0].timestamp == 1_000_000
    assert decode_write_request(raw, compressed=False, shift_ms=1_000_000) == DS


def test_read_request_encodes_matchers() -> None:
    from promfuzz.engines.remote_write import decompress

    req = pb.ReadRequest.FromString(decompress(encode_read_request(0, 10, [("=~", "__name__", ".+")])))
    q = req.queries[0]
    assert (q.start_timestamp_ms, q.end_timestamp_ms) == (0, 10)
    assert q.matchers[0].type == pb.LabelMatcher.RE and q.matchers[0].value == ".+"
    assert list(req.accepted_response_types) == [pb.ReadRequest.SAMPLES]


def test_chunks_keep_whole_series() -> None:
    ds = Dataset.build([({"i": str(i)}, [(t, 1.0) for t in range(10)]) for i in range(7)])
    chunks = list(chunk_series(ds, max_samples=25))
    assert [len(c) for c in chunks] == [2, 2, 2, 1]
    assert [s for c in chunks for s in c] == list(ds.series)


def test_garbage_payload_raises_input_error() -> None:
    with pytest.raises(RemoteProtocolError, match="not a remote-write"):
        decode_write_request(b"\x00\x01garbage")


def test_mixed_series_split_into_time_ordered_runs() -> None:
    # A receiver appends a message's floats before its histograms: runs keep time order.
    one = Dataset.build([({"__name__": "h"}, [(0, H1), (15, H1), (30, stale_nan()), (45, H2)])])
    req = pb.WriteRequest.FromString(encode_write_request(one.series))
    kinds = [("h" if ts.histograms else "f", len(ts.histograms) + len(ts.samples)) for ts in req.timeseries]
    assert kinds == [("h", 2), ("f", 1), ("h", 1)]
    assert decode_write_request(req.SerializeToString(), compressed=False) == one
