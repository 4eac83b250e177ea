"""Conversion of a cycle to the wire Report, checked after a real serialize/parse round trip."""

from __future__ import annotations

import pytest

from fleetwatch_agent import convert
from fleetwatch_agent.hostfacts import HostFacts
from fleetwatch_agent.probes.resources import FilesystemUsage, InterfaceCounters, ResourcesSample
from fleetwatch_agent.report import CycleReport, Location, ProbeOutcome
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

FACTS = HostFacts(
    hostname="pc-so-y-te-001",
    os_family="windows",
    os_name="Windows 10 Pro",
    os_version="10.0.19045",
    kernel="10.0",
    arch="AMD64",
    cpu_count=4,
    memory_total_bytes=8 * 1024**3,
    boot_time_unix=1_700_000_000,
)
ROOT = FilesystemUsage("/", "/dev/sda1", "ext4", 500, 200, 280, 1000, 900)
FAT = FilesystemUsage("/boot/efi", "/dev/sda2", "vfat", 100, 10, 90, None, None)
ETH = InterfaceCounters("eth0", True, 1_000_000_000, 10, 20, 30, 40, 1, 2, 3, 4)


def sample(load: tuple[float, float, float] | None) -> ResourcesSample:
    return ResourcesSample(
        cpu_utilization_ratio=0.25,
        cpu_count=4,
        load=load,
        memory_total_bytes=8 * 1024**3,
        memory_available_bytes=3 * 1024**3,
        swap_total_bytes=2 * 1024**3,
        swap_used_bytes=1024,
        filesystems=(ROOT, FAT),
        interfaces=(ETH,),
        boot_time_unix=1_700_000_000,
        process_count=187,
    )


def cycle(site_type: str = "department", load: tuple[float, float, float] | None = None) -> CycleReport:
    return CycleReport(
        seq=42,
        collected_unix_ms=1_700_000_123_456,
        interval_seconds=15.0,
        host=FACTS,
        location=Location("so-y-te", "tp-my-tho", site_type, "Sở Y tế"),
        agent_version="0.1.0",
        outcomes=(
            ProbeOutcome("resources", True, 0.012),
            ProbeOutcome("antivirus", False, 5.0, "timed out after 5s"),
        ),
        results={"resources": sample(load)},
    )


def round_trip(message: pb.Report) -> pb.Report:
    return pb.Report.FromString(message.SerializeToString())


def test_report_header_host_and_outcomes_survive_the_round_trip() -> None:
    wire = round_trip(convert.report(cycle()))
    assert (wire.seq, wire.collected_unix_ms, wire.interval_seconds) == (42, 1_700_000_123_456, 15)
    host = wire.host
    assert (host.hostname, host.os_family, host.os_name, host.arch) == (
        "pc-so-y-te-001",
        "windows",
        "Windows 10 Pro",
        "AMD64",
    )
    assert (host.cpu_count, host.memory_total_bytes, host.boot_time_unix) == (4, 8 * 1024**3, 1_700_000_000)
    assert host.agent_version == "0.1.0"
    assert (host.site, host.district, host.site_name) == ("so-y-te", "tp-my-tho", "Sở Y tế")
    assert [(p.name, p.success, p.error) for p in wire.probes] == [
        ("resources", True, ""),
        ("antivirus", False, "timed out after 5s"),
    ]
    assert wire.probes[0].duration_seconds == pytest.approx(0.012)


def test_resources_survive_the_round_trip() -> None:
    wire = round_trip(convert.report(cycle(load=(0.5, 0.25, 0.125))))
    assert wire.HasField("resources")
    res = wire.resources
    assert res.cpu_utilization_ratio == 0.25
    assert (res.cpu_count, res.process_count, res.boot_time_unix) == (4, 187, 1_700_000_000)
    assert (res.memory_total_bytes, res.memory_available_bytes) == (8 * 1024**3, 3 * 1024**3)
    assert (res.swap_total_bytes, res.swap_used_bytes) == (2 * 1024**3, 1024)
    assert res.HasField("load")
    assert (res.load.load1, res.load.load5, res.load.load15) == (0.5, 0.25, 0.125)
    root, fat = res.filesystems
    assert (root.mountpoint, root.device, root.fstype) == ("/", "/dev/sda1", "ext4")
    assert (root.size_bytes, root.used_bytes, root.free_bytes) == (500, 200, 280)
    assert (root.has_inodes, root.inodes_total, root.inodes_free) == (True, 1000, 900)
    assert (fat.mountpoint, fat.has_inodes, fat.inodes_total, fat.inodes_free) == ("/boot/efi", False, 0, 0)
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
    wire = round_trip(convert.report(cycle(load=None)))
    assert not wire.resources.HasField("load")


def test_zero_inodes_are_still_reported_as_present() -> None:
    full = FilesystemUsage("/", "/dev/sda1", "ext4", 1, 1, 0, 0, 0)
    message = convert.resources(
        ResourcesSample(0.0, 1, None, 1, 1, 0, 0, (full,), (), 0, 1),
    )
    assert round_trip(pb.Report(resources=message)).resources.filesystems[0].has_inodes is True


@pytest.mark.parametrize(
    ("site_type", "expected"),
    [
        ("department", pb.SITE_TYPE_DEPARTMENT),
        ("district", pb.SITE_TYPE_DISTRICT),
        ("commune", pb.SITE_TYPE_COMMUNE),
        ("village", pb.SITE_TYPE_UNSPECIFIED),
    ],
)
def test_site_type_maps_to_the_enum(site_type: str, expected: int) -> None:
    assert round_trip(convert.report(cycle(site_type=site_type))).host.site_type == expected


def test_no_resources_message_without_a_resources_result() -> None:
    failed = CycleReport(
        seq=1,
        collected_unix_ms=1,
        interval_seconds=14.6,
        host=FACTS,
        location=Location("so-y-te", "tp-my-tho", "department"),
        agent_version="0.1.0",
        outcomes=(ProbeOutcome("resources", False, 5.0, "timed out after 5s"),),
        results={},
    )
    wire = round_trip(convert.report(failed))
    assert not wire.HasField("resources")
    assert wire.interval_seconds == 15
    assert [p.success for p in wire.probes] == [False]
