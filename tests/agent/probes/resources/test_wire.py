"""The resources probe's wire step: psutil's tuples into the Resources message, checked after a round trip."""

from __future__ import annotations

from fleetwatch_agent.probes.resources import wire
from fleetwatch_agent.probes.resources.collect import Mount, Nic
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.probes.resources.psutil_shapes import (
    NicStats,
    Partition,
    Usage,
    io,
    reading,
)


def round_trip(message: pb.Resources) -> pb.Resources:
    report = pb.Report()
    wire.to_wire(message, report)
    return pb.Report.FromString(report.SerializeToString()).resources


def test_every_field_survives_the_round_trip() -> None:
    res = round_trip(wire.message(reading()))
    assert res.cpu_utilization_ratio == 0.25
    assert (res.cpu_count, res.process_count, res.boot_time_unix) == (4, 187, 1_700_000_000)
    assert (res.memory_total_bytes, res.memory_available_bytes) == (8 * 1024**3, 3 * 1024**3)
    assert (res.swap_total_bytes, res.swap_used_bytes) == (2 * 1024**3, 1024)
    assert res.HasField("load")
    assert (res.load.load1, res.load.load5, res.load.load15) == (0.5, 0.25, 0.125)
    root, efi = res.filesystems
    assert (root.mountpoint, root.device, root.fstype) == ("/", "/dev/sda1", "ext4")
    assert (root.size_bytes, root.used_bytes, root.free_bytes) == (500, 200, 280)
    assert (root.has_inodes, root.inodes_total, root.inodes_free) == (True, 1000, 900)
    assert (efi.mountpoint, efi.has_inodes, efi.inodes_total, efi.inodes_free) == ("/boot/efi", False, 0, 0)
    (nic,) = res.interfaces
    assert (nic.name, nic.up, nic.speed_bits_per_second) == ("eth0", True, 1_000_000_000)
    assert (nic.receive_bytes, nic.transmit_bytes, nic.receive_packets, nic.transmit_packets) == (
        10,
        20,
        30,
        40,
    )
    assert (nic.receive_errors, nic.transmit_errors, nic.receive_drops, nic.transmit_drops) == (1, 2, 3, 4)


def test_load_is_absent_when_the_os_has_none() -> None:
    assert not round_trip(wire.message(reading(load=None))).HasField("load")


def test_zero_inodes_are_still_reported_as_present() -> None:
    full = Mount(Partition("/dev/sda1", "/", "ext4", "rw"), Usage(1, 1, 0, 100.0), (0, 0))
    (fs,) = round_trip(wire.message(reading(filesystems=(full,)))).filesystems
    assert (fs.has_inodes, fs.inodes_total, fs.inodes_free) == (True, 0, 0)


def test_interface_counters_map_and_speed_becomes_bits() -> None:
    stats = NicStats(isup=True, duplex=2, speed=1000, mtu=1500, flags="up")
    (nic,) = wire.message(reading(interfaces=(Nic("eth0", io(100), stats),))).interfaces
    assert nic.up is True
    assert nic.speed_bits_per_second == 1_000_000_000
    assert (nic.transmit_bytes, nic.receive_bytes) == (101, 102)
    assert (nic.transmit_packets, nic.receive_packets) == (103, 104)
    assert (nic.receive_errors, nic.transmit_errors) == (105, 106)
    assert (nic.receive_drops, nic.transmit_drops) == (107, 108)


def test_interface_without_stats_is_down_with_unknown_speed() -> None:
    down = NicStats(isup=False, duplex=0, speed=0, mtu=1500, flags="")
    message = wire.message(reading(interfaces=(Nic("eth0", io(0), None), Nic("tun0", io(0), down))))
    assert [(n.name, n.up, n.speed_bits_per_second) for n in message.interfaces] == [
        ("eth0", False, 0),
        ("tun0", False, 0),
    ]


def test_to_wire_fills_only_the_resources_section() -> None:
    report = pb.Report(seq=3)
    wire.to_wire(wire.message(reading()), report)
    assert [field.name for field, _ in report.ListFields()] == ["seq", "resources"]
    assert report.resources.cpu_count == 4
