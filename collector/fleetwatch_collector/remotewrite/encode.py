"""Prometheus remote write 1.0 bodies: a WriteRequest encoded by hand, then snappy block-compressed.

Only the subset the collector writes (the reference is tests/collector/remotewrite/remote.proto)::

    WriteRequest { repeated TimeSeries timeseries = 1; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }   // milliseconds

Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence

import cramjam

# A series: its labels, ``__name__`` included, sorted by name (as the protocol requires).
Labels = tuple[tuple[str, str], ...]
# One sample waiting to be written: its series, its time (Unix milliseconds), its value.
Sample = tuple[Labels, int, float]

_DOUBLE = struct.Struct("<d")
_UINT64 = (1 << 64) - 1
# Field tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited).
_TIMESERIES = b"\x0a"  # WriteRequest.timeseries = 1
_LABEL = b"\x0a"  # TimeSeries.labels = 1
_SAMPLE = b"\x12"  # TimeSeries.samples = 2
_NAME = b"\x0a"  # Label.name = 1
_VALUE = b"\x12"  # Label.value = 2
_SAMPLE_VALUE = b"\x09"  # Sample.value = 1 (double)
_SAMPLE_TIME = b"\x10"  # Sample.timestamp = 2 (int64)


def varint(number: int) -> bytes:
    """``number`` as a protobuf varint; negative int64 values take their two's complement (10 bytes)."""
    number &= _UINT64
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


def encode_labels(labels: Labels) -> bytes:
    """The ``labels`` fields of one TimeSeries."""
    parts = []
    for name, value in labels:
        label = _delimited(_NAME, name.encode()) + _delimited(_VALUE, value.encode())
        parts.append(_delimited(_LABEL, label))
    return b"".join(parts)


def encode_sample(timestamp_ms: int, value: float) -> bytes:
    """One ``samples`` field of a TimeSeries."""
    return _delimited(_SAMPLE, _SAMPLE_VALUE + _DOUBLE.pack(value) + _SAMPLE_TIME + varint(timestamp_ms))


def encode_write_request(series: Mapping[Labels, Sequence[tuple[int, float]]]) -> bytes:
    """A serialized WriteRequest: one TimeSeries per labels, its samples in time order."""
    out = []
    for labels, samples in series.items():
        body = encode_labels(labels) + b"".join(encode_sample(t, v) for t, v in sorted(samples))
        out.append(_delimited(_TIMESERIES, body))
    return b"".join(out)


def group(samples: Iterable[Sample]) -> dict[Labels, list[tuple[int, float]]]:
    """Samples by series; a series' samples at the same time are one (the last wins)."""
    series: dict[Labels, dict[int, float]] = {}
    for labels, timestamp_ms, value in samples:
        series.setdefault(labels, {})[timestamp_ms] = value
    return {labels: list(points.items()) for labels, points in series.items()}


def write_request_body(samples: Iterable[Sample]) -> bytes:
    """The HTTP body of a remote write request: the samples' WriteRequest, snappy block format."""
    return bytes(cramjam.snappy.compress_raw(encode_write_request(group(samples))))
