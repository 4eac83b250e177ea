"""The `netdev` kind: routers and switches an agent polls over SNMP, their link changes and traps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleetwatch_collector.checks import (
    MAX_SECONDS,
    Limits,
    Rejection,
    check_count,
    check_range,
    check_texts,
)
from fleetwatch_collector.devrender import ERROR_CLASSES, render_device
from fleetwatch_collector.devstate import (
    TRAP_KINDS,
    DeviceTrap,
    DeviceView,
    apply_trap,
    link_change,
    new_counters,
    take_poll,
)
from fleetwatch_collector.kinds.base import Kind
from fleetwatch_collector.metricspec import MetricSpec, MetricType, host_metric
from fleetwatch_collector.textformat import distinct
from fleetwatch_proto.limits import DEVICE_NAME_RE, MAX_NETWORK_DEVICES, MAX_REPORT_DEVICE_INTERFACES
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

if TYPE_CHECKING:
    from fleetwatch_collector.agentstate import AgentEntry
    from fleetwatch_collector.exposition import Chunks

DEVICE_TEXTS = ("sys_name", "sys_descr", "error", "address", "sys_object_id")
INTERFACE_TEXTS = ("name", "alias")
LINK_TEXTS = ("interface",)
# A device no report mentioned for this long after the agent's newest poll of any device is
# dropped with its series (the agent stopped polling it).
STALE_DEVICE_SECONDS = 3600.0
# Largest sysUpTime: TimeTicks are 32-bit hundredths of a second.
MAX_UPTIME_SECONDS = 2**32 / 100
# What the per-agent memory ceiling allows for (docs/security.md), in interfaces: the kept polls of
# an agent's devices together (the newest report's are kept whatever this is: [limits] bounds them;
# older ones go first); as many oper views again kept by devices whose newest poll did not answer
# (from their last answered one, to count a flip when they answer); and flip counts of interfaces no
# view holds (link changes alone).
INTERFACE_BUDGET = MAX_REPORT_DEVICE_INTERFACES


def device_metric(name: str, type_: MetricType, help_: str, *extra: str) -> MetricSpec:
    """A per-device metric: the host labels (agent_id, host: when an agent polls), device, ``extra``."""
    return host_metric(name, type_, help_, "device", *extra)


def if_metric(name: str, type_: MetricType, help_: str, *extra: str) -> MetricSpec:
    """A per-interface metric: the device's labels and ``ifname`` (ifName, else ifDescr)."""
    return device_metric(name, type_, help_, "ifname", *extra)


METRICS = (
    device_metric("fleetwatch_netdev_up", "gauge", "1 if the device answered its latest SNMP poll, else 0."),
    device_metric(
        "fleetwatch_netdev_poll_duration_seconds", "gauge", "Time the latest poll of the device took."
    ),
    device_metric(
        "fleetwatch_netdev_poll_error",
        "gauge",
        f"1 for the class of the failure of the latest poll ({', '.join(ERROR_CLASSES)}), 0 for the "
        "others; all 0 when the device answered.",
        "class",
    ),
    device_metric(
        "fleetwatch_netdev_uptime_seconds", "gauge", "sysUpTime of the device at its latest answered poll."
    ),
    device_metric(
        "fleetwatch_netdev_info",
        "info",
        "The device's sysName and sysObjectID (from its latest answered poll) and who polls it (agent, "
        "central); value is always 1.",
        "sys_name",
        "sys_object_id",
        "poller",
    ),
    device_metric(
        "fleetwatch_netdev_last_poll_timestamp_seconds",
        "gauge",
        "When the device was last polled, answered or not (Unix seconds).",
    ),
    device_metric(
        "fleetwatch_netdev_last_trap_timestamp_seconds",
        "gauge",
        "When the collector last accepted a trap or inform from the device (Unix seconds; absent: none).",
    ),
    device_metric(
        "fleetwatch_netdev_traps_total",
        "counter",
        f"Traps and informs accepted from the device, by kind ({', '.join(TRAP_KINDS)}).",
        "trap",
    ),
    device_metric(
        "fleetwatch_netdev_interfaces_omitted",
        "gauge",
        "Interfaces of the device its poller left out: beyond its max_interfaces, or beyond its share of "
        "the interfaces one report may carry.",
    ),
    if_metric(
        "fleetwatch_netdev_if_info",
        "info",
        "An interface of the device: ifAlias, ifType (IANAifType number), ifIndex; value is always 1.",
        "ifalias",
        "iftype",
        "ifindex",
    ),
    if_metric("fleetwatch_netdev_if_admin_up", "gauge", "1 if ifAdminStatus is up(1)."),
    if_metric(
        "fleetwatch_netdev_if_oper_up",
        "gauge",
        "1 if the interface is operationally up (ifOperStatus up(1)): the latest poll, or a newer "
        "linkDown/linkUp trap.",
    ),
    if_metric(
        "fleetwatch_netdev_if_speed_bytes",
        "gauge",
        "Interface speed in bytes per second (ifHighSpeed x 10^6 / 8, else ifSpeed / 8), like "
        "fleetwatch_host_network_speed_bytes.",
    ),
    if_metric(
        "fleetwatch_netdev_if_in_octets_total", "counter", "Octets received (ifHCInOctets, else ifInOctets)."
    ),
    if_metric(
        "fleetwatch_netdev_if_out_octets_total", "counter", "Octets sent (ifHCOutOctets, else ifOutOctets)."
    ),
    if_metric(
        "fleetwatch_netdev_if_in_unicast_packets_total",
        "counter",
        "Unicast packets received (ifHCInUcastPkts, else ifInUcastPkts).",
    ),
    if_metric(
        "fleetwatch_netdev_if_out_unicast_packets_total",
        "counter",
        "Unicast packets sent (ifHCOutUcastPkts, else ifOutUcastPkts).",
    ),
    if_metric("fleetwatch_netdev_if_in_errors_total", "counter", "Inbound packets with errors (ifInErrors)."),
    if_metric(
        "fleetwatch_netdev_if_out_errors_total", "counter", "Outbound packets with errors (ifOutErrors)."
    ),
    if_metric(
        "fleetwatch_netdev_if_in_discards_total", "counter", "Inbound packets discarded (ifInDiscards)."
    ),
    if_metric(
        "fleetwatch_netdev_if_out_discards_total", "counter", "Outbound packets discarded (ifOutDiscards)."
    ),
    if_metric(
        "fleetwatch_netdev_if_oper_changes_total",
        "counter",
        "Changes of the interface's operational state, each counted once by whichever saw it first: a "
        "poll, an agent's LinkChange event or a linkDown/linkUp trap.",
    ),
)


@dataclass
class NetdevState:
    """The agent's devices by name (newest poll, oper view) and their counters."""

    devices: dict[str, DeviceView] = field(default_factory=dict)
    # By device name: flips by interface, traps by kind, the last trap's time (devstate.new_counters).
    # A view's ``counters`` is its entry here; kept in the store.
    netdev_devices: dict[str, dict[str, Any]] = field(default_factory=dict)


def view_of(state: NetdevState, name: str) -> DeviceView:
    """The device ``name`` of the agent, made on first sight (at most MAX_NETWORK_DEVICES are kept)."""
    view = state.devices.get(name)
    if view is not None:
        return view
    if len(state.devices) >= MAX_NETWORK_DEVICES:
        oldest = min(state.devices.values(), key=lambda v: v.polled_at)
        del state.devices[oldest.name]
    counters = state.netdev_devices.get(name)
    if counters is None:
        if len(state.netdev_devices) >= 2 * MAX_NETWORK_DEVICES:
            for gone in [n for n in state.netdev_devices if n not in state.devices]:
                del state.netdev_devices[gone]
        counters = state.netdev_devices[name] = new_counters()
    for key, value in new_counters().items():  # a store written by an older collector
        counters.setdefault(key, value)
    view = state.devices[name] = DeviceView(name, "agent", counters=counters)
    return view


def validate(where: str, report: pb.Report, limits: Limits) -> None:
    """Bounded device and interface lists (also all the interfaces of the report together); device names
    are label values; texts label-safe; uptime and poll duration finite and sane; LinkChange events name
    a device."""
    check_count(where, ".network_devices", len(report.network_devices), limits.max_network_devices)
    total = sum(len(device.interfaces) for device in report.network_devices)
    check_count(where, ".network_devices[*].interfaces", total, limits.max_report_device_interfaces)
    for i, device in enumerate(report.network_devices):
        at = f"{where}.network_devices[{i}]"
        check_count(at, ".interfaces", len(device.interfaces), limits.max_device_interfaces)
        if not DEVICE_NAME_RE.fullmatch(device.name):
            raise Rejection("invalid_label", f"{at}.name: {device.name[:64]!r} is not a device name")
        check_texts(at, device, DEVICE_TEXTS)
        check_range(at, "uptime_seconds", device.uptime_seconds, 0.0, MAX_UPTIME_SECONDS)
        check_range(at, "poll_duration_seconds", device.poll_duration_seconds, 0.0, MAX_SECONDS)
        for j, nic in enumerate(device.interfaces):
            check_texts(f"{at}.interfaces[{j}]", nic, INTERFACE_TEXTS)
    for i, event in enumerate(report.events):
        if event.HasField("link_change"):
            change = event.link_change
            if not DEVICE_NAME_RE.fullmatch(change.device):
                raise Rejection("invalid_label", f"{where}.events[{i}].link_change.device: not a device name")
            check_texts(f"{where}.events[{i}].link_change", change, LINK_TEXTS)


def take(state: NetdevState, newer: Sequence[pb.Report]) -> None:
    """Each device from the newest report that has it; devices no longer reported are dropped, and
    those of older reports too while the devices kept hold more interfaces than the budget."""
    taken: set[str] = set()
    latest: list[pb.NetworkDevice] = []  # the devices of the newest report that has some
    for report in reversed(newer):
        at = report.collected_unix_ms / 1000.0
        for device in distinct(report.network_devices, lambda d: d.name):
            if device.name not in taken:
                taken.add(device.name)
                take_poll(view_of(state, device.name), device, at)
        latest = latest or list(report.network_devices)
    if taken:
        newest = max(view.polled_at for view in state.devices.values())
        for view in list(state.devices.values()):
            if view.polled_at < newest - STALE_DEVICE_SECONDS:
                del state.devices[view.name]
        _within_budget(state, latest)


def _within_budget(state: NetdevState, latest: Sequence[pb.NetworkDevice]) -> None:
    """Drop devices, those not in the newest report first, then the least recently polled, until the
    interfaces kept fit the budget, or that report's (validated) count when it is larger; then the oper
    views kept from devices' last answered polls, until all fit their budget."""
    views = state.devices.values()
    kept = sum(view.size() for view in views)
    budget = max(INTERFACE_BUDGET, sum(len(device.interfaces) for device in latest))
    names = {device.name for device in latest}
    for view in sorted(views, key=lambda v: (v.name in names, v.polled_at)):
        if kept <= budget:
            break
        kept -= view.size()
        del state.devices[view.name]
    held = sum(len(view.oper) for view in views)
    for view in sorted(views, key=lambda v: v.polled_at):
        if held <= budget + INTERFACE_BUDGET:
            break
        if view.size() == 0 and view.oper:  # its newest poll did not answer
            held -= len(view.oper)
            view.oper.clear()
            view.names.clear()
    _forget_hidden_changes(state)


def _forget_hidden_changes(state: NetdevState) -> None:
    """Flip counts of interfaces no answered poll kept shows (link changes alone) beyond the budget, first
    counted first."""
    counts = [counters["changes"] for counters in state.netdev_devices.values()]
    excess = sum(len(changes) for changes in counts) - INTERFACE_BUDGET
    for name, changes in zip(state.netdev_devices, counts, strict=True):
        if excess <= 0:
            return
        view = state.devices.get(name)
        shown = set(view.names.values()) if view is not None else set()
        for ifname in [n for n in changes if n not in shown][:excess]:
            del changes[ifname]
            excess -= 1


def count_events(state: NetdevState, report: pb.Report) -> None:
    changed = False
    held = sum(len(view.oper) for view in state.devices.values())
    for event in report.events:
        if event.HasField("link_change"):
            at = (event.time_unix_ms or report.collected_unix_ms) / 1000.0
            view = view_of(state, event.link_change.device)
            before = len(view.oper)
            link_change(view, event.link_change, at, room=held < 2 * INTERFACE_BUDGET)
            held += len(view.oper) - before
            changed = True
    if changed:
        _forget_hidden_changes(state)


def trap(state: NetdevState, device: str, event: DeviceTrap) -> bool:
    """Apply a trap from the agent's device ``device``; False when the agent no longer has it."""
    view = state.devices.get(device)
    if view is None:
        return False
    apply_trap(view, event)
    return True


def addresses(state: NetdevState) -> dict[str, str]:
    """Device name -> the address its newest poll used (host[:port]), for matching trap senders."""
    return {
        name: view.device.address
        for name, view in state.devices.items()
        if view.device is not None and view.device.address
    }


def render(c: Chunks, agent: AgentEntry, state: NetdevState) -> None:
    # Also called when a trap changed a device (FleetState.update): at that moment, never at scrape.
    for name in sorted(state.devices):
        view = state.devices[name]
        if view.device is not None:  # else known from a LinkChange only, never polled yet
            render_device(c, view)


KIND = Kind(
    name="netdev",
    section="network_devices",
    summary="Routers and switches polled over SNMP (IF-MIB, system group), their link changes "
    "(`LinkChange` events) and the traps they send to the collector. Series carry `device` (and `ifname`); "
    "devices an agent polls carry the agent's labels, devices the collector polls itself "
    "(`[snmp] devices_file`) only `site`, `district`, `site_type` (docs/routers.md).",
    metrics=METRICS,
    new_state=NetdevState,
    validate=validate,
    take=take,
    render=render,
    count_events=count_events,
    counters=("netdev_devices",),
)
