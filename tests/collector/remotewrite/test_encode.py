"""The hand-made WriteRequest decodes with protoc's classes of Prometheus' remote.proto, after snappy."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import cramjam
import pytest

from fleetwatch_collector.remotewrite.encode import (
    Labels,
    Sample,
    encode_write_request,
    group,
    varint,
    write_request_body,
)

CPU: Labels = (("__name__", "fleetwatch_host_cpu_utilization_ratio"), ("agent_id", "a1"), ("host", "pc-01"))
INFO: Labels = (("__name__", "fleetwatch_agent_info"), ("host", 'Máy-Tân Mỹ Chánh "1"\n'), ("os", "Windows"))


def decoded(prompb: ModuleType, body: bytes) -> Any:
    request = prompb.WriteRequest()
    request.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    return request


def as_dict(request: Any) -> dict[Labels, list[tuple[int, float]]]:
    return {
        tuple((label.name, label.value) for label in series.labels): [
            (sample.timestamp, sample.value) for sample in series.samples
        ]
        for series in request.timeseries
    }


def test_round_trip(prompb: ModuleType) -> None:
    samples: list[Sample] = [
        (CPU, 1_760_000_030_000, 0.5),
        (INFO, 1_760_000_000_000, 1.0),
        (CPU, 1_760_000_000_000, 0.25),  # out of order: sorted in its series
        (CPU, 1_760_000_015_000, 0.0),  # zero is written, not left out
    ]
    request = decoded(prompb, write_request_body(samples))
    assert as_dict(request) == {
        CPU: [(1_760_000_000_000, 0.25), (1_760_000_015_000, 0.0), (1_760_000_030_000, 0.5)],
        INFO: [(1_760_000_000_000, 1.0)],
    }
    assert len(request.timeseries) == 2  # one TimeSeries per series, not per sample


@pytest.mark.parametrize("value", [2.0**64, -1.5, 1e-300, math.inf, -math.inf])
@pytest.mark.parametrize("timestamp", [0, 1, 127, 128, 2**31, 2**53, -1, -(2**40)])
def test_numbers(prompb: ModuleType, value: float, timestamp: int) -> None:
    request = decoded(prompb, write_request_body([(CPU, timestamp, value)]))
    assert as_dict(request) == {CPU: [(timestamp, value)]}


def test_nan_survives(prompb: ModuleType) -> None:
    (series,) = decoded(prompb, write_request_body([(CPU, 5, math.nan)])).timeseries
    assert math.isnan(series.samples[0].value)


def test_the_same_as_protoc_writes(prompb: ModuleType) -> None:
    """Byte for byte what the generated classes serialize (fields in number order, packed nothing)."""
    expected = prompb.WriteRequest()
    series = expected.timeseries.add()
    for name, value in INFO:
        series.labels.add(name=name, value=value)
    series.samples.add(value=1.0, timestamp=1_760_000_000_000)
    series.samples.add(value=2.5, timestamp=1_760_000_060_000)
    ours = encode_write_request({INFO: [(1_760_000_000_000, 1.0), (1_760_000_060_000, 2.5)]})
    assert ours == expected.SerializeToString()


def test_empty_request(prompb: ModuleType) -> None:
    assert encode_write_request({}) == b""
    assert list(decoded(prompb, write_request_body([])).timeseries) == []


def test_group_keeps_the_last_value_of_a_time() -> None:
    assert group([(CPU, 1, 0.1), (CPU, 1, 0.2), (INFO, 1, 1.0)]) == {CPU: [(1, 0.2)], INFO: [(1, 1.0)]}


def test_varint() -> None:
    assert varint(0) == b"\x00"
    assert varint(300) == b"\xac\x02"
    assert varint(-1) == b"\xff" * 9 + b"\x01"
