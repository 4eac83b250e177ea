"""Renders one network device's series (fleetwatch_netdev_*) into chunks: agent-polled and central alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetwatch_collector.devstate import TRAP_KINDS, DeviceView, ifname
from fleetwatch_proto.names import SNMP_ERROR

if TYPE_CHECKING:
    from fleetwatch_collector.exposition import Chunks

ERROR_CLASSES = SNMP_ERROR.names()
# Interface counters: (metric, DeviceInterface field), the device's own cumulative counts.
IF_COUNTERS = (
    ("fleetwatch_netdev_if_in_octets_total", "in_octets"),
    ("fleetwatch_netdev_if_out_octets_total", "out_octets"),
    ("fleetwatch_netdev_if_in_unicast_packets_total", "in_unicast_packets"),
    ("fleetwatch_netdev_if_out_unicast_packets_total", "out_unicast_packets"),
    ("fleetwatch_netdev_if_in_errors_total", "in_errors"),
    ("fleetwatch_netdev_if_out_errors_total", "out_errors"),
    ("fleetwatch_netdev_if_in_discards_total", "in_discards"),
    ("fleetwatch_netdev_if_out_discards_total", "out_discards"),
)


def render_device(c: Chunks, view: DeviceView) -> None:
    """Every series of one device, with the labels of ``c`` and ``device`` (and ``ifname``)."""
    device = (("device", view.name),)
    polled = view.device
    if polled is not None:
        c.add("fleetwatch_netdev_up", int(polled.reachable), device)
        c.add("fleetwatch_netdev_poll_duration_seconds", polled.poll_duration_seconds, device)
        failed = "" if polled.reachable else SNMP_ERROR.name(polled.error_class, "other")
        for name in ERROR_CLASSES:
            c.add("fleetwatch_netdev_poll_error", int(name == failed), (*device, ("class", name)))
        c.add("fleetwatch_netdev_last_poll_timestamp_seconds", view.polled_at, device)
        if polled.reachable:
            c.add("fleetwatch_netdev_uptime_seconds", polled.uptime_seconds, device)
            c.add("fleetwatch_netdev_interfaces_omitted", polled.interfaces_omitted, device)
    info = (("sys_name", view.sys_name), ("sys_object_id", view.sys_object_id), ("poller", view.poller))
    c.add("fleetwatch_netdev_info", 1, (*device, *info))
    last_trap = float(view.counters["last_trap"])
    if last_trap > 0:
        c.add("fleetwatch_netdev_last_trap_timestamp_seconds", last_trap, device)
    traps = view.counters["traps"]
    for kind in TRAP_KINDS:
        c.add("fleetwatch_netdev_traps_total", traps.get(kind, 0), (*device, ("trap", kind)))
    for nic in view.interfaces():
        name = ifname(nic)
        labels = (*device, ("ifname", name))
        c.add(
            "fleetwatch_netdev_if_info",
            1,
            (*labels, ("ifalias", nic.alias), ("iftype", str(nic.type)), ("ifindex", str(nic.index))),
        )
        oper = view.oper.get(name)
        c.add("fleetwatch_netdev_if_admin_up", int(nic.admin_up), labels)
        c.add("fleetwatch_netdev_if_oper_up", int(nic.oper_up if oper is None else oper.up), labels)
        c.add("fleetwatch_netdev_if_speed_bytes", nic.speed_bits_per_second // 8, labels)
        for metric, field in IF_COUNTERS:
            c.add(metric, getattr(nic, field), labels)
        c.add("fleetwatch_netdev_if_oper_changes_total", view.changes(name), labels)
