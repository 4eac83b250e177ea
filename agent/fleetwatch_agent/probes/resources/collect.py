"""What the resources probe reads: psutil's own named tuples, chosen and capped, copied into nothing.

The selection functions are pure (tests give them recorded tuples); ``make_reader`` is the only
place that calls psutil. ``wire.message`` turns a Reading into the Resources message, once.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from fleetwatch_proto.limits import MAX_FILESYSTEMS, MAX_INTERFACES


class CpuTimes(NamedTuple):
    busy: float
    total: float


class Mount(NamedTuple):
    """One filesystem as psutil describes it."""

    partition: Any  # psutil sdiskpart: device, mountpoint, fstype
    usage: Any  # psutil sdiskusage: total, used, free (free: what unprivileged users may use)
    inodes: tuple[int, int] | None  # (total, free); None where the filesystem has no inode table


class Nic(NamedTuple):
    """One network interface as psutil describes it."""

    name: str
    io: Any  # psutil snetio: bytes_sent, bytes_recv, packets_*, errin, errout, dropin, dropout
    stats: Any | None  # psutil snicstats: isup, speed (Mbit/s, 0 unknown); None when psutil has none


class Reading(NamedTuple):
    """One collection: the CPU share computed here, everything else as psutil returned it."""

    cpu_utilization_ratio: float
    cpu_count: int
    load: tuple[float, float, float] | None  # None where the OS has no load average
    memory: Any  # psutil svmem: total, available
    swap: Any  # psutil sswap: total, used
    filesystems: tuple[Mount, ...]
    interfaces: tuple[Nic, ...]
    boot_time_unix: int
    process_count: int


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
) -> tuple[Mount, ...]:
    """One entry per real device (the first readable mount of a device wins), capped at MAX_FILESYSTEMS."""
    ignored = set(ignore_fstypes)
    seen_devices: set[str] = set()
    result: list[Mount] = []
    for part in partitions:
        if part.fstype in ignored or part.device in seen_devices:
            continue
        try:
            used = usage(part.mountpoint)
        except OSError:  # unmounted meanwhile, or a CD drive without a disc
            continue
        seen_devices.add(part.device)
        result.append(Mount(part, used, inodes(part.mountpoint)))
        if len(result) == MAX_FILESYSTEMS:
            break
    return tuple(result)


def select_interfaces(
    io_counters: Mapping[str, Any],
    stats: Mapping[str, Any],
    ignore_patterns: Iterable[str],
) -> tuple[Nic, ...]:
    """Each interface not ignored, sorted by name, capped at MAX_INTERFACES."""
    patterns = tuple(ignore_patterns)
    result: list[Nic] = []
    for name in sorted(io_counters):
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        result.append(Nic(name, io_counters[name], stats.get(name)))
        if len(result) == MAX_INTERFACES:
            break
    return tuple(result)


def read_inodes(mountpoint: str) -> tuple[int, int] | None:
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


def read_load() -> tuple[float, float, float] | None:
    getloadavg = getattr(os, "getloadavg", None)
    return getloadavg() if getloadavg is not None else None


def make_reader(ignore_fstypes: tuple[str, ...], ignore_interfaces: tuple[str, ...]) -> Callable[[], Reading]:
    """The read function; it keeps the previous CPU times to compute utilisation."""
    import psutil

    previous = [cpu_times_of(psutil.cpu_times())]

    def read() -> Reading:
        current = cpu_times_of(psutil.cpu_times())
        ratio = cpu_utilization(previous[0], current)
        previous[0] = current
        return Reading(
            cpu_utilization_ratio=ratio,
            cpu_count=psutil.cpu_count() or 1,
            load=read_load(),
            memory=psutil.virtual_memory(),
            swap=psutil.swap_memory(),
            filesystems=select_filesystems(
                psutil.disk_partitions(all=False), psutil.disk_usage, read_inodes, ignore_fstypes
            ),
            interfaces=select_interfaces(
                psutil.net_io_counters(pernic=True), psutil.net_if_stats(), ignore_interfaces
            ),
            boot_time_unix=int(psutil.boot_time()),
            process_count=len(psutil.pids()),
        )

    return read
