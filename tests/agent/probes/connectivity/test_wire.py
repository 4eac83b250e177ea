"""The connectivity probe's wire step: targets, LAN sweep, Outage and DeviceSeen events after a round trip."""

from __future__ import annotations

import typing

import pytest

from fleetwatch_agent.probes.connectivity import wire
from fleetwatch_agent.probes.connectivity.model import (
    CheckResult,
    ConnectivityResult,
    ErrorReason,
    Kind,
    LanResult,
    Outage,
    PathResult,
    TargetStatus,
)
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

COLLECTED_MS = 1_760_000_000_000
UP = CheckResult(True, 5, 4, 0.001, 0.002, 0.004, 0.0005, detail="")
DOWN = CheckResult(False, 3, 0, error="refused", detail="connect: refused\r\n")


def wired(result: ConnectivityResult) -> pb.Report:
    report = pb.Report(seq=1, collected_unix_ms=COLLECTED_MS)
    wire.to_wire(result, report)
    return pb.Report.FromString(report.SerializeToString())


def test_targets_with_measures_errors_and_paths() -> None:
    https = CheckResult(True, 1, 1, 0.1, 0.1, 0.1, http_status=200, tls_cert_not_after_unix=1_893_456_000)
    result = ConnectivityResult(
        (
            TargetStatus("gateway", "icmp", "gateway", UP),
            TargetStatus("collector", "tcp", "collector", DOWN, PathResult(4, "10.0.0.1", False)),
            TargetStatus("portal", "http", "custom", https),
        )
    )
    section = wired(result).connectivity
    gateway, collector, portal = section.targets
    assert (gateway.name, gateway.kind, gateway.role, gateway.success) == (
        "gateway",
        pb.PROBE_KIND_ICMP,
        "gateway",
        True,
    )
    assert (gateway.sent, gateway.received, gateway.error) == (5, 4, pb.PROBE_ERROR_NONE)
    assert (gateway.rtt_min_seconds, gateway.rtt_avg_seconds, gateway.rtt_max_seconds) == (
        0.001,
        0.002,
        0.004,
    )
    assert gateway.jitter_seconds == 0.0005
    assert gateway.tls_cert_not_after_unix == 0
    assert not gateway.path_diagnosed
    assert (collector.kind, collector.error, collector.detail) == (
        pb.PROBE_KIND_TCP,
        pb.PROBE_ERROR_REFUSED,
        "connect: refused??",
    )
    assert (
        collector.path_diagnosed,
        collector.path_hops,
        collector.path_last_hop,
        collector.path_reached,
    ) == (
        True,
        4,
        "10.0.0.1",
        False,
    )
    assert (portal.kind, portal.http_status, portal.tls_cert_not_after_unix) == (
        pb.PROBE_KIND_HTTP,
        200,
        1_893_456_000,
    )
    for target in section.targets:  # deprecated: agents send the time, not the days left
        assert not target.HasField("tls_cert_days_left"), target.name
    assert not section.lan_swept


def test_the_address_that_answered_and_the_overruns() -> None:
    answered = CheckResult(
        True, 3, 3, 0.01, 0.01, 0.01, detail="x (after 10.0.0.1: timeout)", address="fd00::2"
    )
    result = ConnectivityResult(
        (TargetStatus("portal", "icmp", "custom", answered),), checks_cut=2, overruns_total=7
    )
    section = wired(result).connectivity
    assert (section.targets[0].address, section.checks_cut, section.overruns_total) == ("fd00::2", 2, 7)
    assert (
        wired(ConnectivityResult((TargetStatus("gateway", "icmp", "gateway", DOWN),)))
        .connectivity.targets[0]
        .address
        == ""
    )


@pytest.mark.parametrize("kind", typing.get_args(Kind))
def test_every_kind_has_its_enum_value(kind: Kind) -> None:
    (target,) = wired(ConnectivityResult((TargetStatus("t", kind, "custom", UP),))).connectivity.targets
    assert target.kind == pb.ProbeKind.Value("PROBE_KIND_" + kind.upper())


@pytest.mark.parametrize("error", [e for e in typing.get_args(ErrorReason) if e])
def test_every_error_reason_has_its_enum_value(error: ErrorReason) -> None:
    failed = CheckResult(False, error=error)
    (target,) = wired(ConnectivityResult((TargetStatus("t", "tcp", "custom", failed),))).connectivity.targets
    assert target.error == pb.ProbeError.Value("PROBE_ERROR_" + error.upper())


def test_lan_sweep_and_events() -> None:
    result = ConnectivityResult(
        (),
        outages=(Outage("gateway", COLLECTED_MS - 60_000, COLLECTED_MS - 15_000),),
        lan=LanResult(12, (("aa:bb:cc:dd:ee:ff", "192.168.1.23"),)),
    )
    report = wired(result)
    assert (report.connectivity.lan_swept, report.connectivity.lan_devices) == (True, 12)
    assert [e.WhichOneof("detail") for e in report.events] == ["device_seen", "outage"]
    seen, outage = report.events
    assert (seen.time_unix_ms, seen.device_seen.mac, seen.device_seen.ip) == (
        COLLECTED_MS,
        "aa:bb:cc:dd:ee:ff",
        "192.168.1.23",
    )
    assert outage.time_unix_ms == COLLECTED_MS - 15_000
    assert (outage.outage.target, outage.outage.start_unix_ms, outage.outage.end_unix_ms) == (
        "gateway",
        COLLECTED_MS - 60_000,
        COLLECTED_MS - 15_000,
    )


def test_failed_sweep_says_why() -> None:
    section = wired(ConnectivityResult((), lan=LanResult(0, error="not permitted"))).connectivity
    assert (section.lan_swept, section.lan_devices, section.lan_error) == (True, 0, "not permitted")
