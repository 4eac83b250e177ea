"""What the resources probe reads: psutil's own named tuples, chosen and capped, copied into nothing.

The selection functions are pure (tests give them recorded tuples); ``make_reader`` is the only
place that calls psutil. ``wire.message`` turns a Reading into the Resources message, once.
"""

from __future__ import annotations

import fnmatch
import os
import select
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from fleetwatch_proto.limits import MAX_FILESYSTEMS, MAX_INTERFACES

SLOW_FACTS_SECONDS = 300.0


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


class Memory(NamedTuple):
    """Memory in bytes: psutil's svmem has these two fields too."""

    total: int
    available: int


class Swap(NamedTuple):
    """Swap in bytes: psutil's sswap has these two fields too."""

    total: int
    used: int


class SlowFacts(NamedTuple):
    """What the probe reads every few minutes only, and when (monotonic seconds)."""

    boot_time_unix: int
    cpu_count: int
    read_at: float


class Reading(NamedTuple):
    """One collection: the CPU share computed here, everything else as psutil returned it."""

    cpu_utilization_ratio: float
    cpu_count: int
    load: tuple[float, float, float] | None  # None where the OS has no load average
    memory: Any  # Memory, or psutil's svmem (total, available) where there is no /proc/meminfo
    swap: Any  # Swap, or psutil's sswap (total, used)
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


def parse_meminfo(text: bytes) -> tuple[Memory, Swap] | None:
    """Memory and swap from /proc/meminfo's text ("MemTotal:  16314000 kB"); None without MemTotal,
    MemAvailable (kernels before 3.14) or the swap lines."""
    kib: dict[bytes, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(b":")
        if name in (b"MemTotal", b"MemAvailable", b"SwapTotal", b"SwapFree"):
            fields = rest.split()
            if fields and fields[0].isdigit():
                kib[name] = int(fields[0]) * 1024
    if len(kib) < 4:
        return None
    memory = Memory(kib[b"MemTotal"], kib[b"MemAvailable"])
    return memory, Swap(kib[b"SwapTotal"], max(0, kib[b"SwapTotal"] - kib[b"SwapFree"]))


class MountTableWatch:
    """Whether the mount table changed since the last look: poll(2) on /proc/self/mounts, which the
    kernel marks with POLLPRI at every mount and unmount (proc(5)), one system call and no read."""

    def __init__(self, path: Path) -> None:
        if sys.platform == "win32":  # no poll(2), no mount table
            raise OSError(f"{path}: no mount table to watch on Windows")
        self._file = path.open("rb")  # closed with the watch
        self._poll = select.poll()
        self._poll.register(self._file, select.POLLPRI | select.POLLERR)

    def changed(self) -> bool:
        if sys.platform == "win32":
            return True
        return bool(self._poll.poll(0))

    @classmethod
    def of_this_host(cls, path: Path = Path("/proc/self/mounts")) -> MountTableWatch | None:
        """A watch of the mount table, or None where there is none to watch (Windows, no /proc)."""
        try:
            return cls(path)
        except OSError:
            return None


class Partitions:
    """psutil.disk_partitions(), listed again only when the mount table changed (where it can be
    watched), else at every call."""

    # Listing the partitions (two /proc files read and parsed in Python) was a sixth of the probe's
    # CPU, and reading the mount table to compare it a tenth.

    def __init__(self, list_partitions: Callable[[], list[Any]], watch: MountTableWatch | None) -> None:
        self._list, self._watch = list_partitions, watch
        self._partitions: list[Any] | None = None

    def __call__(self) -> list[Any]:
        if self._watch is None:
            return self._list()
        if self._watch.changed() or self._partitions is None:
            self._partitions = self._list()
        return self._partitions


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
    partitions = Partitions(lambda: psutil.disk_partitions(all=False), MountTableWatch.of_this_host())
    # Read again every SLOW_FACTS_SECONDS, not every cycle (a sixth of the probe's reads): Linux derives
    # the boot time from the wall clock, so it moves when the clock is set (NTP after a boot), and
    # CPUs come and go only by hot-plugging.
    slow = SlowFacts(int(psutil.boot_time()), psutil.cpu_count() or 1, time.monotonic())

    def slow_facts() -> SlowFacts:
        nonlocal slow
        if time.monotonic() - slow.read_at >= SLOW_FACTS_SECONDS:
            slow = SlowFacts(int(psutil.boot_time()), psutil.cpu_count() or 1, time.monotonic())
        return slow

    meminfo = Path("/proc/meminfo")

    def memory_and_swap() -> tuple[Any, Any]:
        # One read of /proc/meminfo for both where there is one: psutil reads it twice, and
        # /proc/vmstat for swap-in/out counts the probe does not report.
        try:
            parsed = parse_meminfo(meminfo.read_bytes())
        except OSError:
            parsed = None
        return parsed or (psutil.virtual_memory(), psutil.swap_memory())

    def read() -> Reading:
        current = cpu_times_of(psutil.cpu_times())
        ratio = cpu_utilization(previous[0], current)
        previous[0] = current
        memory, swap = memory_and_swap()
        facts = slow_facts()
        return Reading(
            cpu_utilization_ratio=ratio,
            cpu_count=facts.cpu_count,
            load=read_load(),
            memory=memory,
            swap=swap,
            filesystems=select_filesystems(partitions(), psutil.disk_usage, read_inodes, ignore_fstypes),
            interfaces=select_interfaces(
                psutil.net_io_counters(pernic=True), psutil.net_if_stats(), ignore_interfaces
            ),
            boot_time_unix=facts.boot_time_unix,
            process_count=len(psutil.pids()),
        )

    return read
