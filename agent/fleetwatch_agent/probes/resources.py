"""The resources probe: CPU, load, memory, swap, filesystems, interfaces, uptime (psutil)."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from fleetwatch_agent.probes.context import ProbeContext

MAX_FILESYSTEMS = 64
MAX_INTERFACES = 64


@dataclass(frozen=True)
class ResourcesConfig:
    """Settings of the resources probe."""

    enabled: bool = True
    # Seconds one collection may take before it is reported as failed.
    timeout_seconds: float = 5.0
    # Interface names to leave out (shell patterns).
    ignore_interfaces: tuple[str, ...] = ("lo",)
    # Filesystem types to leave out besides the pseudo filesystems psutil already skips.
    ignore_fstypes: tuple[str, ...] = ("squashfs", "iso9660", "udf")

    def validate(self) -> None:
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds: must be positive")


@dataclass(frozen=True)
class FilesystemUsage:
    mountpoint: str
    device: str
    fstype: str
    size_bytes: int
    used_bytes: int
    free_bytes: int
    inodes_total: int | None
    inodes_free: int | None


@dataclass(frozen=True)
class InterfaceCounters:
    name: str
    up: bool
    speed_bits_per_second: int
    receive_bytes: int
    transmit_bytes: int
    receive_packets: int
    transmit_packets: int
    receive_errors: int
    transmit_errors: int
    receive_drops: int
    transmit_drops: int


@dataclass(frozen=True)
class ResourcesSample:
    cpu_utilization_ratio: float
    cpu_count: int
    load: tuple[float, float, float] | None
    memory_total_bytes: int
    memory_available_bytes: int
    swap_total_bytes: int
    swap_used_bytes: int
    filesystems: tuple[FilesystemUsage, ...]
    interfaces: tuple[InterfaceCounters, ...]
    boot_time_unix: int
    process_count: int


class CpuTimes(NamedTuple):
    busy: float
    total: float


def cpu_times_of(times: Any) -> CpuTimes:
    """Busy and total seconds from a psutil cpu_times() tuple (idle and iowait are not busy)."""
    values = times._asdict()
    # guest time is already counted in user time on Linux.
    total = sum(v for k, v in values.items() if k not in ("guest", "guest_nice"))
    idle = values.get("idle", 0.0) + values.get("iowait", 0.0)
    return CpuTimes(busy=total - idle, total=total)


def cpu_utilization(previous: CpuTimes | None, current: CpuTimes) -> float:
    """Share of CPU time busy between two samples; 0 without a previous one or on a reset."""
    if previous is None:
        return 0.0
    elapsed = current.total - previous.total
    busy = current.busy - previous.busy
    if elapsed <= 0 or busy < 0:
        return 0.0
    return min(1.0, max(0.0, busy / elapsed))


def select_filesystems(
    partitions: Iterable[Any],
    usage: Callable[[str], Any],
    inodes: Callable[[str], tuple[int, int] | None],
    ignore_fstypes: Iterable[str],
) -> tuple[FilesystemUsage, ...]:
    """One entry per real device (the first mount of a device wins), capped at MAX_FILESYSTEMS."""
    ignored = set(ignore_fstypes)
    seen_devices: set[str] = set()
    result: list[FilesystemUsage] = []
    for part in partitions:
        if part.fstype in ignored or part.device in seen_devices:
            continue
        try:
            used = usage(part.mountpoint)
        except OSError:  # unmounted meanwhile, or a CD drive without a disc
            continue
        seen_devices.add(part.device)
        counts = inodes(part.mountpoint)
        result.append(
            FilesystemUsage(
                mountpoint=part.mountpoint,
                device=part.device,
                fstype=part.fstype,
                size_bytes=used.total,
                used_bytes=used.used,
                free_bytes=used.free,
                inodes_total=counts[0] if counts else None,
                inodes_free=counts[1] if counts else None,
            )
        )
        if len(result) == MAX_FILESYSTEMS:
            break
    return tuple(result)


def select_interfaces(
    io_counters: Mapping[str, Any],
    stats: Mapping[str, Any],
    ignore_patterns: Iterable[str],
) -> tuple[InterfaceCounters, ...]:
    """Counters of each interface not ignored, sorted by name, capped at MAX_INTERFACES."""
    patterns = tuple(ignore_patterns)
    result: list[InterfaceCounters] = []
    for name in sorted(io_counters):
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        io = io_counters[name]
        stat = stats.get(name)
        result.append(
            InterfaceCounters(
                name=name,
                up=bool(stat.isup) if stat else False,
                speed_bits_per_second=int(stat.speed) * 1_000_000 if stat and stat.speed > 0 else 0,
                receive_bytes=io.bytes_recv,
                transmit_bytes=io.bytes_sent,
                receive_packets=io.packets_recv,
                transmit_packets=io.packets_sent,
                receive_errors=io.errin,
                transmit_errors=io.errout,
                receive_drops=io.dropin,
                transmit_drops=io.dropout,
            )
        )
        if len(result) == MAX_INTERFACES:
            break
    return tuple(result)


def _inodes(mountpoint: str) -> tuple[int, int] | None:
    statvfs = getattr(os, "statvfs", None)
    if statvfs is None:  # Windows has no inode counts
        return None
    try:
        st = statvfs(mountpoint)
    except OSError:
        return None
    if st.f_files == 0:  # filesystems without fixed inode tables (btrfs, vfat)
        return None
    return st.f_files, st.f_ffree


def _load() -> tuple[float, float, float] | None:
    getloadavg = getattr(os, "getloadavg", None)
    return getloadavg() if getloadavg is not None else None


def make_collector(
    config: ResourcesConfig, context: ProbeContext | None = None
) -> Callable[[], ResourcesSample]:
    """Return the collect function; it keeps the previous CPU times to compute utilisation."""
    import psutil

    previous: list[CpuTimes | None] = [cpu_times_of(psutil.cpu_times())]

    def collect() -> ResourcesSample:
        current = cpu_times_of(psutil.cpu_times())
        ratio = cpu_utilization(previous[0], current)
        previous[0] = current
        memory = psutil.virtual_memory()
        swap = psutil.swap_memory()
        return ResourcesSample(
            cpu_utilization_ratio=ratio,
            cpu_count=psutil.cpu_count() or 1,
            load=_load(),
            memory_total_bytes=memory.total,
            memory_available_bytes=memory.available,
            swap_total_bytes=swap.total,
            swap_used_bytes=swap.used,
            filesystems=select_filesystems(
                psutil.disk_partitions(all=False),
                psutil.disk_usage,
                _inodes,
                config.ignore_fstypes,
            ),
            interfaces=select_interfaces(
                psutil.net_io_counters(pernic=True),
                psutil.net_if_stats(),
                config.ignore_interfaces,
            ),
            boot_time_unix=int(psutil.boot_time()),
            process_count=len(psutil.pids()),
        )

    return collect
