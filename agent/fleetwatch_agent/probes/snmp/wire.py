"""The snmp probe on the wire: Report.network_devices as polled, and a LinkChange event per change."""

from __future__ import annotations

from collections.abc import Sequence

from fleetwatch_agent.probes.snmp.model import SnmpResult
from fleetwatch_agent.wiretext import text
from fleetwatch_proto.limits import MAX_DEVICE_INTERFACES, MAX_NETWORK_DEVICES, MAX_REPORT_DEVICE_INTERFACES
from fleetwatch_proto.names import SNMP_ERROR
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

# The poller's result type: the message itself (fleetwatch_snmp builds it).
NetworkDevice = pb.NetworkDevice
DEVICE_TEXTS = ("name", "sys_name", "sys_descr", "error", "address", "sys_object_id")
INTERFACE_TEXTS = ("name", "alias")


def unanswered(name: str, address: str, error_class: str, error: str, duration: float) -> pb.NetworkDevice:
    """A device this probe could not poll: not allowed, cut at the budget, or the poller failed."""
    return pb.NetworkDevice(
        name=name,
        address=text(address),
        reachable=False,
        error=text(error),
        error_class=SNMP_ERROR.number(error_class),  # type: ignore[arg-type]  # the stubs' enum type
        poll_duration_seconds=duration,
    )


def error_class_name(device: pb.NetworkDevice) -> str:
    """The short name of the device's SnmpError ("timeout", "auth", ...); "" when none."""
    return SNMP_ERROR.name(device.error_class, unknown="")


def shares(counts: Sequence[int], total: int) -> list[int]:
    """How many interfaces each device keeps of ``counts`` so that together they are at most ``total``:
    an even share each, and what a device with fewer leaves to the others (largest devices cut first)."""
    kept = [0] * len(counts)
    left = total
    by_size = sorted(range(len(counts)), key=lambda i: counts[i])
    for rank, i in enumerate(by_size):
        kept[i] = min(counts[i], left // (len(counts) - rank))
        left -= kept[i]
    return kept


def cap_interfaces(devices: Sequence[pb.NetworkDevice], total: int = MAX_REPORT_DEVICE_INTERFACES) -> None:
    """Keep at most ``total`` interfaces over all ``devices`` (each its lowest ifIndexes, in place); those
    left out are added to each device's ``interfaces_omitted``. The collector refuses a report with more."""
    counts = [len(device.interfaces) for device in devices]
    if sum(counts) <= total:
        return
    for device, count, keep in zip(devices, counts, shares(counts, total), strict=True):
        if keep < count:
            del device.interfaces[keep:]
            device.interfaces_omitted += count - keep


def _shaped(device: pb.NetworkDevice, into: pb.NetworkDevice) -> None:
    """``device`` copied into ``into`` with every text within the contract's limits."""
    into.CopyFrom(device)
    for field in DEVICE_TEXTS:
        setattr(into, field, text(getattr(device, field)))
    extra = len(into.interfaces) - MAX_DEVICE_INTERFACES
    if extra > 0:  # the configuration caps interfaces below this; a poller's slip must not cost the report
        del into.interfaces[MAX_DEVICE_INTERFACES:]
        into.interfaces_omitted += extra
    for nic in into.interfaces:
        for field in INTERFACE_TEXTS:
            setattr(nic, field, text(getattr(nic, field)))


def to_wire(result: SnmpResult, report: pb.Report) -> None:
    """Fill report.network_devices; each link change is an event at the time of the poll that saw it."""
    for device in result.devices[:MAX_NETWORK_DEVICES]:
        _shaped(device, report.network_devices.add())
    cap_interfaces(report.network_devices)  # collect() did; a result made otherwise must fit too
    for change in result.link_changes:
        report.events.add(
            time_unix_ms=change.time_unix_ms,
            link_change=pb.LinkChange(
                device=text(change.device), interface=text(change.interface), up=change.up,
                if_index=change.if_index,
            ),
        )  # fmt: skip
