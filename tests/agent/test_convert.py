"""The report envelope on the wire after a serialize/parse round trip; sections come from the registry."""

from __future__ import annotations

from typing import Any

import pytest

from fleetwatch_agent import convert
from fleetwatch_agent.hostfacts import HostFacts
from fleetwatch_agent.probes import PROBES, ProbeDefinition
from fleetwatch_agent.probes.resources import wire as resources_wire
from fleetwatch_agent.report import CycleReport, Location, ProbeOutcome
from fleetwatch_proto.limits import MAX_EVENTS
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.probes.resources.psutil_shapes import reading

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


def cycle(site_type: str = "department", results: dict[str, object] | None = None) -> CycleReport:
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
        results={"resources": resources_wire.message(reading())} if results is None else results,
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


def test_a_result_goes_into_its_probes_section() -> None:
    wire = round_trip(convert.report(cycle()))
    assert wire.HasField("resources")
    assert wire.resources == resources_wire.message(reading())
    assert not wire.HasField("antivirus")
    assert not wire.HasField("connectivity")


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


def fake_probe(name: str, calls: list[tuple[str, object]], events: int = 0) -> ProbeDefinition[Any, Any]:
    def to_wire(result: object, report: pb.Report) -> None:
        calls.append((name, result))
        for _ in range(events):
            report.events.add(time_unix_ms=report.collected_unix_ms)

    return ProbeDefinition(
        name, type(PROBES[0].config_type()), PROBES[0].make_collector, to_wire, lambda r, n: []
    )


def test_each_result_is_handed_to_its_probe_in_registry_order_and_unknown_ones_are_left_out() -> None:
    calls: list[tuple[str, object]] = []
    registry = (fake_probe("b", calls), fake_probe("a", calls), fake_probe("absent", calls))
    convert.report(cycle(results={"a": 1, "b": 2, "not-registered": 3}), registry)
    assert calls == [("b", 2), ("a", 1)]


def test_events_beyond_the_contracts_limit_are_cut_so_the_report_is_not_refused() -> None:
    calls: list[tuple[str, object]] = []
    registry = (fake_probe("a", calls, events=200), fake_probe("b", calls, events=200))
    message = convert.report(cycle(results={"a": 1, "b": 2}), registry)
    assert len(message.events) == MAX_EVENTS
