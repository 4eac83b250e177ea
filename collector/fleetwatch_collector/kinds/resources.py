"""The `resources` kind: CPU, load, memory, swap, filesystems and network interfaces of the host."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetwatch_collector.checks import Limits, Rejection, check_count, check_text, check_texts, text_problem
from fleetwatch_collector.kinds.base import Kind, newest_section
from fleetwatch_collector.metricspec import host_metric
from fleetwatch_collector.textformat import distinct
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

if TYPE_CHECKING:
    from fleetwatch_collector.agentstate import AgentEntry
    from fleetwatch_collector.exposition import Chunks

FILESYSTEM = ("mountpoint", "fstype")
FILESYSTEM_TEXTS = ("mountpoint", "fstype", "device")
INTERFACE = ("interface",)

METRICS = (
    host_metric(
        "fleetwatch_host_cpu_utilization_ratio",
        "gauge",
        "Share of CPU time busy over the agent's latest interval (0-1).",
    ),
    host_metric("fleetwatch_host_cpus", "gauge", "Number of logical CPUs."),
    host_metric("fleetwatch_host_load1", "gauge", "1-minute load average (absent on Windows)."),
    host_metric("fleetwatch_host_load5", "gauge", "5-minute load average (absent on Windows)."),
    host_metric("fleetwatch_host_load15", "gauge", "15-minute load average (absent on Windows)."),
    host_metric("fleetwatch_host_memory_total_bytes", "gauge", "Physical memory."),
    host_metric(
        "fleetwatch_host_memory_available_bytes",
        "gauge",
        "Memory available to new processes without swapping.",
    ),
    host_metric("fleetwatch_host_swap_total_bytes", "gauge", "Swap space (page file on Windows)."),
    host_metric("fleetwatch_host_swap_used_bytes", "gauge", "Swap space in use."),
    host_metric("fleetwatch_host_boot_time_seconds", "gauge", "Boot time (Unix seconds)."),
    host_metric("fleetwatch_host_processes", "gauge", "Number of processes."),
    host_metric("fleetwatch_host_filesystem_size_bytes", "gauge", "Filesystem size.", *FILESYSTEM),
    host_metric("fleetwatch_host_filesystem_used_bytes", "gauge", "Filesystem space used.", *FILESYSTEM),
    host_metric(
        "fleetwatch_host_filesystem_free_bytes",
        "gauge",
        "Filesystem space available to unprivileged users.",
        *FILESYSTEM,
    ),
    host_metric(
        "fleetwatch_host_filesystem_inodes",
        "gauge",
        "Inodes of the filesystem (where it has an inode table).",
        *FILESYSTEM,
    ),
    host_metric(
        "fleetwatch_host_filesystem_inodes_free", "gauge", "Free inodes of the filesystem.", *FILESYSTEM
    ),
    host_metric("fleetwatch_host_network_up", "gauge", "1 if the interface is up.", *INTERFACE),
    host_metric(
        "fleetwatch_host_network_speed_bytes",
        "gauge",
        "Link speed in bytes per second (0 when unknown).",
        *INTERFACE,
    ),
    host_metric(
        "fleetwatch_host_network_receive_bytes_total", "counter", "Bytes received since boot.", *INTERFACE
    ),
    host_metric(
        "fleetwatch_host_network_transmit_bytes_total", "counter", "Bytes sent since boot.", *INTERFACE
    ),
    host_metric(
        "fleetwatch_host_network_receive_packets_total",
        "counter",
        "Packets received since boot.",
        *INTERFACE,
    ),
    host_metric(
        "fleetwatch_host_network_transmit_packets_total", "counter", "Packets sent since boot.", *INTERFACE
    ),
    host_metric(
        "fleetwatch_host_network_receive_errors_total", "counter", "Receive errors since boot.", *INTERFACE
    ),
    host_metric(
        "fleetwatch_host_network_transmit_errors_total", "counter", "Transmit errors since boot.", *INTERFACE
    ),
    host_metric(
        "fleetwatch_host_network_receive_drops_total",
        "counter",
        "Received packets dropped since boot.",
        *INTERFACE,
    ),
    host_metric(
        "fleetwatch_host_network_transmit_drops_total",
        "counter",
        "Outgoing packets dropped since boot.",
        *INTERFACE,
    ),
)


@dataclass
class ResourcesState:
    """The newest Resources section."""

    section: pb.Resources | None = None


def validate(where: str, report: pb.Report, limits: Limits) -> None:
    """Bounded lists, a CPU ratio in [0, 1], finite loads, label-safe names."""
    if not report.HasField("resources"):
        return
    where = f"{where}.resources"
    res = report.resources
    check_count(where, ".filesystems", len(res.filesystems), limits.max_filesystems)
    check_count(where, ".interfaces", len(res.interfaces), limits.max_interfaces)
    if not 0.0 <= res.cpu_utilization_ratio <= 1.0:  # also false for NaN
        raise Rejection(
            "invalid_value",
            f"{where}.cpu_utilization_ratio: {res.cpu_utilization_ratio} not in [0, 1]",
        )
    for value in (res.load.load1, res.load.load5, res.load.load15):
        if not math.isfinite(value) or value < 0:
            raise Rejection("invalid_value", f"{where}.load: {value} is not a finite non-negative number")
    for i, fs in enumerate(res.filesystems):
        if text_problem(fs.mountpoint) or text_problem(fs.fstype) or text_problem(fs.device):
            check_texts(f"{where}.filesystems[{i}]", fs, FILESYSTEM_TEXTS)
    for i, nic in enumerate(res.interfaces):
        if text_problem(nic.name):
            check_text(f"{where}.interfaces[{i}]", "name", nic.name)


def take(state: ResourcesState, newer: Sequence[pb.Report]) -> None:
    state.section = newest_section(newer, "resources", state.section)


def render(c: Chunks, agent: AgentEntry, state: ResourcesState) -> None:
    r = state.section
    if r is None:
        return
    head: list[tuple[str, float]] = [
        ("fleetwatch_host_cpu_utilization_ratio", r.cpu_utilization_ratio),
        ("fleetwatch_host_cpus", r.cpu_count),
    ]
    if r.HasField("load"):
        load = r.load
        head += [
            ("fleetwatch_host_load1", load.load1),
            ("fleetwatch_host_load5", load.load5),
            ("fleetwatch_host_load15", load.load15),
        ]
    head += [
        ("fleetwatch_host_memory_total_bytes", r.memory_total_bytes),
        ("fleetwatch_host_memory_available_bytes", r.memory_available_bytes),
        ("fleetwatch_host_swap_total_bytes", r.swap_total_bytes),
        ("fleetwatch_host_swap_used_bytes", r.swap_used_bytes),
        ("fleetwatch_host_boot_time_seconds", r.boot_time_unix),
        ("fleetwatch_host_processes", r.process_count),
    ]
    c.add_all((), head)
    for fs in distinct(r.filesystems, lambda fs: fs.mountpoint):
        sizes: list[tuple[str, float]] = [
            ("fleetwatch_host_filesystem_size_bytes", fs.size_bytes),
            ("fleetwatch_host_filesystem_used_bytes", fs.used_bytes),
            ("fleetwatch_host_filesystem_free_bytes", fs.free_bytes),
        ]
        if fs.has_inodes:
            sizes.append(("fleetwatch_host_filesystem_inodes", fs.inodes_total))
            sizes.append(("fleetwatch_host_filesystem_inodes_free", fs.inodes_free))
        c.add_all((("mountpoint", fs.mountpoint), ("fstype", fs.fstype)), sizes)
    for nic in distinct(r.interfaces, lambda nic: nic.name):
        c.add_all(
            (("interface", nic.name),),
            (
                ("fleetwatch_host_network_up", int(nic.up)),
                ("fleetwatch_host_network_speed_bytes", nic.speed_bits_per_second // 8),
                ("fleetwatch_host_network_receive_bytes_total", nic.receive_bytes),
                ("fleetwatch_host_network_transmit_bytes_total", nic.transmit_bytes),
                ("fleetwatch_host_network_receive_packets_total", nic.receive_packets),
                ("fleetwatch_host_network_transmit_packets_total", nic.transmit_packets),
                ("fleetwatch_host_network_receive_errors_total", nic.receive_errors),
                ("fleetwatch_host_network_transmit_errors_total", nic.transmit_errors),
                ("fleetwatch_host_network_receive_drops_total", nic.receive_drops),
                ("fleetwatch_host_network_transmit_drops_total", nic.transmit_drops),
            ),
        )


def render_key(agent: AgentEntry, state: ResourcesState) -> object:
    return state.section


KIND = Kind(
    name="resources",
    section="resources",
    summary="CPU, load, memory, swap, filesystems and network interfaces of the host.",
    metrics=METRICS,
    new_state=ResourcesState,
    validate=validate,
    take=take,
    render=render,
    render_key=render_key,
)
