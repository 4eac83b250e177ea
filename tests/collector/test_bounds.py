"""Bounded by construction: every string and every repeated field a PushRequest can carry has a bound
that validation enforces, found by walking the contract's descriptors (a new field without a bound
fails here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from fleetwatch_collector.validate import Limits, Rejection, validate_push
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import NOW_MS, valid_report

# Every count limit 5, so that six entries are too many everywhere.
COUNT = 5
TIMES = ("max_message_bytes", "max_future_seconds", "max_age_seconds")
FIVE = dataclasses.replace(
    Limits(),
    **{
        f.name: COUNT for f in dataclasses.fields(Limits) if f.name.startswith("max_") and f.name not in TIMES
    },
)
Path = tuple[tuple[str, int | None], ...]


def full_request() -> pb.PushRequest:
    """A valid request in which every message type the contract allows in a Push is present once."""
    report = valid_report(1)
    del report.events[:]
    report.resources.load.load1 = 0.5
    report.antivirus.products.add(name="ClamAV")
    report.connectivity.targets.add(name="gateway", sent=1, received=1)
    device = report.network_devices.add(name="switch")
    device.interfaces.add(name="ge-0/0/1")
    report.events.add(time_unix_ms=NOW_MS, threat=pb.ThreatDetected(product="ClamAV"))
    report.events.add(
        time_unix_ms=NOW_MS, outage=pb.Outage(target="gateway", start_unix_ms=NOW_MS - 1, end_unix_ms=NOW_MS)
    )
    report.events.add(time_unix_ms=NOW_MS, device_seen=pb.DeviceSeen(mac="00:11:22:33:44:55"))
    report.events.add(time_unix_ms=NOW_MS, link_change=pb.LinkChange(device="switch", interface="ge-0/0/1"))
    report.events.add(time_unix_ms=NOW_MS, probe_failure=pb.ProbeFailure(probe="resources"))
    report.spool.queued_reports = 1
    while len(report.probes) > 1:
        del report.probes[-1]
    while len(report.resources.filesystems) > 1:
        del report.resources.filesystems[-1]
    while len(report.resources.interfaces) > 1:
        del report.resources.interfaces[-1]
    while len(report.antivirus.products) > 1:
        del report.antivirus.products[-1]
    while len(report.connectivity.targets) > 1:
        del report.connectivity.targets[-1]
    request = pb.PushRequest(reports=[report], oldest_held_seq=1)
    validate_push(request, NOW_MS, FIVE)  # the base is accepted
    return request


def fields(message: Message, path: Path = ()) -> Iterator[tuple[Path, FieldDescriptor]]:
    """Every field of every message present in ``message``, with the path to its message."""
    for field in message.DESCRIPTOR.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.is_repeated:
                yield path, field
                for i, item in enumerate(getattr(message, field.name)):
                    yield from fields(item, (*path, (field.name, i)))
            elif message.HasField(field.name):
                yield from fields(getattr(message, field.name), (*path, (field.name, None)))
        else:
            yield path, field


def at(message: Message, path: Path) -> Message:
    for name, index in path:
        message = getattr(message, name) if index is None else getattr(message, name)[index]
    return message


def where(path: Path, field: FieldDescriptor) -> str:
    steps = [name if index is None else f"{name}[{index}]" for name, index in path]
    return ".".join([*steps, field.name])


STRINGS = [(p, f) for p, f in fields(full_request()) if f.type == FieldDescriptor.TYPE_STRING]
REPEATED = [
    (p, f) for p, f in fields(full_request()) if f.is_repeated and f.type == FieldDescriptor.TYPE_MESSAGE
]


def test_the_walk_finds_the_fields() -> None:
    names = {where(p, f) for p, f in STRINGS}
    assert "reports[0].network_devices[0].sys_descr" in names and "config_version" in names
    assert len(STRINGS) > 50 and len(REPEATED) >= 9


@pytest.mark.parametrize(("path", "field"), STRINGS, ids=[where(p, f) for p, f in STRINGS])
def test_every_string_is_bounded(path: Path, field: FieldDescriptor) -> None:
    request = full_request()
    setattr(at(request, path), field.name, "x" * 300)
    with pytest.raises(Rejection) as info:
        validate_push(request, NOW_MS, FIVE)
    assert info.value.reason in ("invalid_label", "invalid_hostname"), info.value
    assert field.name in str(info.value)


@pytest.mark.parametrize(("path", "field"), REPEATED, ids=[where(p, f) for p, f in REPEATED])
def test_every_repeated_field_is_bounded(path: Path, field: FieldDescriptor) -> None:
    request = full_request()
    items = getattr(at(request, path), field.name)
    while len(items) <= COUNT:
        items.add().CopyFrom(items[0])
    if field.name == "reports":  # distinct seqs
        for seq, report in enumerate(items, start=1):
            report.seq = seq
    with pytest.raises(Rejection) as info:
        validate_push(request, NOW_MS, FIVE)
    assert info.value.reason == "too_many_items", info.value
