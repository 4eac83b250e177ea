"""Reports with network devices, as an agent polling its site's routers sends them, for the netdev tests."""

from __future__ import annotations

from collections.abc import Sequence

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.devstate import DeviceTrap
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.kinds import netdev
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import NOW_MS, full_report, parsed_samples

AN_CU = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")
ROUTER = "rt-an-cu"
WAN = "Gi0/0"  # ifIndex 1
LAN = "Gi0/1"  # ifIndex 2


def device(
    name: str = ROUTER,
    wan_up: bool = True,
    lan_up: bool = True,
    in_octets: int = 1000,
    address: str = "192.0.2.1",
) -> pb.NetworkDevice:
    """A router that answered, with a WAN and a LAN interface."""
    polled = pb.NetworkDevice(
        name=name, sys_name="rt1.an-cu", sys_descr="Cisco IOS", reachable=True, uptime_seconds=1234.5,
        poll_duration_seconds=0.08, address=address, sys_object_id="1.3.6.1.4.1.9.1.1",
    )  # fmt: skip
    for index, ifname, up in ((1, WAN, wan_up), (2, LAN, lan_up)):
        polled.interfaces.add(
            index=index, name=ifname, alias=f"{ifname} link", admin_up=True, oper_up=up, type=6,
            speed_bits_per_second=100_000_000, in_octets=in_octets * index, out_octets=2 * in_octets,
            counter_bits=64, oper_status=1 if up else 2,
        )  # fmt: skip
    return polled


def unreachable(name: str = ROUTER, error: int = pb.SNMP_ERROR_TIMEOUT) -> pb.NetworkDevice:
    return pb.NetworkDevice(
        name=name,
        reachable=False,
        error="no answer",
        error_class=error,  # type: ignore[arg-type]  # the stubs' enum type
        poll_duration_seconds=10.0,
    )


def link(up: bool, ifname: str = WAN, index: int = 1, name: str = ROUTER) -> pb.LinkChange:
    return pb.LinkChange(device=name, interface=ifname, up=up, if_index=index)


def polled(
    seq: int, devices: Sequence[pb.NetworkDevice], *changes: pb.LinkChange, second: int = 0
) -> pb.Report:
    """Report ``seq`` collected ``second`` seconds after NOW with these devices and link changes."""
    collected = NOW_MS + (second or seq) * 1000
    report = full_report(seq, collected)
    report.network_devices.extend(devices)
    for change in changes:
        report.events.add(time_unix_ms=collected, link_change=change)
    return report


def trap(fleet: FleetState, agent_id: str, kind: str, index: int = 1, second: float = 0.0) -> bool:
    """A trap from the agent's router, applied as the trap receiver does."""
    event = DeviceTrap(kind, NOW_MS / 1000 + second, if_index=index)
    return fleet.update(agent_id, lambda entry: netdev.trap(entry.states["netdev"], ROUTER, event))


def value(fleet: FleetState, name: str, **labels: str) -> float | None:
    """The value of the one series ``name`` with ``labels`` (None: absent)."""
    text = fleet.render()[0].decode()
    found = [v for n, lab, v in parsed_samples(text) if n == name and labels.items() <= lab.items()]
    assert len(found) <= 1, found
    return found[0] if found else None


def changes(fleet: FleetState, ifname: str = WAN) -> float | None:
    return value(fleet, "fleetwatch_netdev_if_oper_changes_total", ifname=ifname)


def oper_up(fleet: FleetState, ifname: str = WAN) -> float | None:
    return value(fleet, "fleetwatch_netdev_if_oper_up", ifname=ifname)
