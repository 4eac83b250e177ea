"""What `check` prints of the snmp probe, and its section on the wire shaped to the contract's limits."""

from __future__ import annotations

from fleetwatch_agent.probes.snmp import summary, wire
from fleetwatch_agent.probes.snmp.model import LinkChange, SnmpResult
from fleetwatch_proto.limits import MAX_DEVICE_INTERFACES, MAX_REPORT_DEVICE_INTERFACES, MAX_TEXT_BYTES
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.probes.snmp.devices_support import device

NOW = 1_760_000_000.0


def sample() -> SnmpResult:
    r1 = device(
        "r1", {"Gi0/0": True, "Gi0/1": False, "Gi0/2": True}, sys_name="tan-my-chanh-r1",
        address="127.0.0.1:1161", poll_duration_seconds=0.12, interfaces_omitted=2,
    )  # fmt: skip
    r2 = pb.NetworkDevice(
        name="r2", address="127.0.0.1:1162", reachable=False, error="no answer within 2 s (2 requests)",
        error_class=pb.SNMP_ERROR_TIMEOUT, poll_duration_seconds=4.0,
    )  # fmt: skip
    r3 = pb.NetworkDevice(
        name="r3",
        reachable=False,
        error="wrong digest",
        error_class=pb.SNMP_ERROR_AUTH,
        address="127.0.0.1:1163",
    )
    return SnmpResult((r1, r2, r3), (LinkChange("r1", "Gi0/1", False, 2, 1),), devices_cut=0)


def test_summary_names_each_device_its_state_and_the_changes() -> None:
    lines = summary.lines(sample(), NOW)
    assert lines[0] == "snmp: 3 devices, 1 reachable, 2 not"
    assert lines[1].startswith("  - r1 (127.0.0.1:1161): reachable, sysName tan-my-chanh-r1,")
    assert "3 interfaces (2 up, 1 not up), 2 more left out by max_interfaces or the report's cap" in lines[1]
    assert (
        lines[2]
        == "  - r2 (127.0.0.1:1162): UNREACHABLE (timeout: no answer within 2 s (2 requests)), after 4.0 s"
    )
    assert lines[3].startswith("  - r3 (127.0.0.1:1163): UNREACHABLE (auth: wrong digest)")
    assert lines[4] == "  ! r1 Gi0/1 (ifIndex 2) went down"


def test_summary_of_a_cut_cycle_says_so() -> None:
    cut = SnmpResult(sample().devices, devices_cut=2)
    assert "  ! 2 device(s) cut at the probe's budget (timeout_seconds too short)" in summary.lines(cut, NOW)


def test_to_wire_shapes_texts_and_caps_interfaces() -> None:
    nics = [
        pb.DeviceInterface(index=i, name=f"e{i}\n", alias="x" * 400)
        for i in range(1, MAX_DEVICE_INTERFACES + 4)
    ]
    big = pb.NetworkDevice(name="r1", reachable=True, sys_descr="line1\r\nline2" + "é" * 300, interfaces=nics)
    report = pb.Report(seq=1)
    wire.to_wire(SnmpResult((big,)), report)
    (shaped,) = report.network_devices
    # The report's cap is the tighter one: all the devices of a report together.
    assert len(shaped.interfaces) == MAX_REPORT_DEVICE_INTERFACES < MAX_DEVICE_INTERFACES
    assert shaped.interfaces_omitted == MAX_DEVICE_INTERFACES + 3 - MAX_REPORT_DEVICE_INTERFACES
    assert [nic.index for nic in shaped.interfaces] == list(range(1, MAX_REPORT_DEVICE_INTERFACES + 1))
    assert shaped.sys_descr.startswith("line1??line2")
    assert len(shaped.sys_descr.encode()) <= MAX_TEXT_BYTES
    assert shaped.interfaces[0].name == "e1?"
    assert len(shaped.interfaces[0].alias) == MAX_TEXT_BYTES
    assert len(big.interfaces) == MAX_DEVICE_INTERFACES + 3, "the result itself is left as it was"


def test_unanswered_sets_the_error_class_by_its_short_name() -> None:
    message = wire.unanswered("r1", "127.0.0.1:161", "timeout", "cut", 1.5)
    assert (message.reachable, message.error_class, message.poll_duration_seconds) == (
        False, pb.SNMP_ERROR_TIMEOUT, 1.5,
    )  # fmt: skip
    assert wire.error_class_name(message) == "timeout"
    assert wire.error_class_name(pb.NetworkDevice()) == ""
