"""The resources probe's reads: CPU, filesystem and interface selection on fakes, one real collection."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fleetwatch_agent.probes.resources import ResourcesConfig, make_collector
from fleetwatch_agent.probes.resources.collect import (
    CpuTimes,
    Memory,
    MountTableWatch,
    Partitions,
    Swap,
    cpu_times_of,
    cpu_utilization,
    make_reader,
    parse_meminfo,
    select_filesystems,
    select_interfaces,
)
from fleetwatch_proto.limits import MAX_FILESYSTEMS, MAX_INTERFACES
from tests.agent.probes.resources.psutil_shapes import NicStats, Partition, Usage, io

# The shape of psutil.cpu_times() on Linux.
scputimes = namedtuple(
    "scputimes",
    "user nice system idle iowait irq softirq steal guest guest_nice",
)


# --- CPU -----------------------------------------------------------------------------------------


def test_cpu_times_counts_idle_and_iowait_as_not_busy_and_guest_once() -> None:
    times = scputimes(
        user=100.0,
        nice=10.0,
        system=30.0,
        idle=500.0,
        iowait=40.0,
        irq=5.0,
        softirq=3.0,
        steal=2.0,
        guest=20.0,
        guest_nice=7.0,
    )
    result = cpu_times_of(times)
    # guest and guest_nice are already inside user and nice on Linux.
    assert result.total == pytest.approx(690.0)
    assert result.busy == pytest.approx(150.0)


def test_cpu_times_of_windows_shaped_tuple() -> None:
    wintimes = namedtuple("wintimes", "user system idle interrupt dpc")  # psutil on Windows
    result = cpu_times_of(wintimes(user=10.0, system=5.0, idle=80.0, interrupt=1.0, dpc=4.0))
    assert result.busy == pytest.approx(20.0)
    assert result.total == pytest.approx(100.0)


def test_cpu_utilization_without_previous_sample_is_zero() -> None:
    assert cpu_utilization(None, CpuTimes(busy=50.0, total=100.0)) == 0.0


def test_cpu_utilization_is_busy_share_of_elapsed() -> None:
    previous = CpuTimes(busy=100.0, total=400.0)
    current = CpuTimes(busy=130.0, total=500.0)
    assert cpu_utilization(previous, current) == pytest.approx(0.3)


@pytest.mark.parametrize(
    "current",
    [
        CpuTimes(busy=10.0, total=40.0),  # counters reset (e.g. after suspend)
        CpuTimes(busy=100.0, total=400.0),  # no time elapsed
        CpuTimes(busy=90.0, total=500.0),  # busy went backwards
    ],
)
def test_cpu_utilization_is_zero_on_reset_or_no_elapsed_time(current: CpuTimes) -> None:
    assert cpu_utilization(CpuTimes(busy=100.0, total=400.0), current) == 0.0


def test_cpu_utilization_is_clamped_to_one() -> None:
    previous = CpuTimes(busy=100.0, total=400.0)
    assert cpu_utilization(previous, CpuTimes(busy=300.0, total=500.0)) == 1.0


# --- filesystems ---------------------------------------------------------------------------------


def usage_table(table: dict[str, Usage]) -> Callable[[str], Usage]:
    def usage(mountpoint: str) -> Usage:
        if mountpoint not in table:
            raise OSError(f"no medium in {mountpoint}")
        return table[mountpoint]

    return usage


def no_inodes(_mountpoint: str) -> None:
    return None


def test_select_filesystems_skips_ignored_types_duplicates_and_unreadable_mounts() -> None:
    partitions = [
        Partition("/dev/sda1", "/", "ext4", "rw"),
        Partition("/dev/loop0", "/snap/core/1", "squashfs", "ro"),
        Partition("/dev/sda1", "/var/lib/docker", "ext4", "rw"),  # bind mount of the same device
        Partition("/dev/sr0", "/media/cdrom", "udf", "ro"),
        Partition("/dev/sdb1", "/mnt/usb", "vfat", "rw"),  # unmounted meanwhile
        Partition("/dev/sda2", "/home", "xfs", "rw"),
    ]
    usage = usage_table(
        {
            "/": Usage(100, 40, 60, 40.0),
            "/snap/core/1": Usage(5, 5, 0, 100.0),
            "/var/lib/docker": Usage(999, 999, 0, 100.0),
            "/home": Usage(200, 50, 150, 25.0),
        }
    )
    result = select_filesystems(partitions, usage, no_inodes, ("squashfs", "udf"))
    assert [(m.partition.mountpoint, m.partition.device, m.partition.fstype) for m in result] == [
        ("/", "/dev/sda1", "ext4"),
        ("/home", "/dev/sda2", "xfs"),
    ]
    assert result[0].usage == Usage(100, 40, 60, 40.0)


def test_select_filesystems_keeps_a_device_whose_first_mount_was_unreadable() -> None:
    partitions = [
        Partition("/dev/sdb1", "/mnt/gone", "ext4", "rw"),
        Partition("/dev/sdb1", "/mnt/usb", "ext4", "rw"),
    ]
    result = select_filesystems(partitions, usage_table({"/mnt/usb": Usage(10, 1, 9, 10.0)}), no_inodes, ())
    assert [m.partition.mountpoint for m in result] == ["/mnt/usb"]


def test_select_filesystems_inode_counts_present_or_absent() -> None:
    partitions = [
        Partition("/dev/sda1", "/", "ext4", "rw"),
        Partition("/dev/sda2", "/data", "btrfs", "rw"),
    ]
    usage = usage_table({"/": Usage(100, 40, 60, 40.0), "/data": Usage(10, 1, 9, 10.0)})
    inodes = {"/": (1000, 750)}
    result = select_filesystems(partitions, usage, inodes.get, ())
    assert [m.inodes for m in result] == [(1000, 750), None]


def test_select_filesystems_is_capped() -> None:
    partitions = [Partition(f"/dev/sd{i}", f"/mnt/{i}", "ext4", "rw") for i in range(100)]
    result = select_filesystems(partitions, lambda _m: Usage(10, 1, 9, 10.0), no_inodes, ())
    assert len(result) == MAX_FILESYSTEMS
    assert [m.partition.mountpoint for m in result] == [f"/mnt/{i}" for i in range(MAX_FILESYSTEMS)]


def test_select_filesystems_windows_drive_without_inodes() -> None:
    part = SimpleNamespace(device="C:", mountpoint="C:\\", fstype="NTFS")
    (mount,) = select_filesystems([part], lambda _m: SimpleNamespace(total=3, used=1, free=2), no_inodes, ())
    assert (mount.partition.mountpoint, mount.usage.total, mount.inodes) == ("C:\\", 3, None)


# --- interfaces ----------------------------------------------------------------------------------


def test_select_interfaces_ignores_patterns_and_sorts_by_name() -> None:
    counters = {"veth1a2b": io(0), "lo": io(0), "eth1": io(0), "eth0": io(0), "wlan0": io(0)}
    stats = {name: NicStats(True, 2, 100, 1500, "up") for name in counters}
    result = select_interfaces(counters, stats, ("lo", "veth*"))
    assert [nic.name for nic in result] == ["eth0", "eth1", "wlan0"]


def test_select_interfaces_keeps_psutils_tuples_and_a_missing_stats_entry() -> None:
    counters = {"eth0": io(0), "tun0": io(100)}
    stats = {"tun0": NicStats(isup=False, duplex=0, speed=0, mtu=1500, flags="")}
    eth0, tun0 = select_interfaces(counters, stats, ())
    assert (eth0.name, eth0.io, eth0.stats) == ("eth0", io(0), None)
    assert (tun0.name, tun0.io, tun0.stats) == ("tun0", io(100), stats["tun0"])


def test_select_interfaces_is_capped() -> None:
    counters = {f"eth{i:03d}": io(i) for i in range(100)}
    result = select_interfaces(counters, {}, ())
    assert len(result) == MAX_INTERFACES
    assert [nic.name for nic in result] == sorted(counters)[:MAX_INTERFACES]


# --- the real probe on this host ----------------------------------------------------------------


def test_real_collection_on_this_host_is_sane() -> None:
    collect = make_collector(ResourcesConfig())
    first = collect()
    second = collect()
    for sample in (first, second):
        assert 0.0 <= sample.cpu_utilization_ratio <= 1.0
        assert sample.cpu_count >= 1
        assert sample.memory_total_bytes > 0
        assert 0 <= sample.memory_available_bytes <= sample.memory_total_bytes
        assert 0 <= sample.swap_used_bytes <= sample.swap_total_bytes
        assert 0 < sample.boot_time_unix < time.time()
        assert sample.process_count >= 1
        assert sample.filesystems, "no filesystem reported"
        for fs in sample.filesystems:
            assert fs.size_bytes >= fs.used_bytes >= 0
            assert fs.fstype not in ResourcesConfig().ignore_fstypes
        assert "lo" not in {nic.name for nic in sample.interfaces}
        assert [nic.name for nic in sample.interfaces] == sorted(nic.name for nic in sample.interfaces)
        if sample.HasField("load"):
            assert min(sample.load.load1, sample.load.load5, sample.load.load15) >= 0.0
    assert second.boot_time_unix == first.boot_time_unix


def test_ignored_interface_patterns_apply_to_the_real_probe() -> None:
    sample = make_collector(ResourcesConfig(ignore_interfaces=("*",)))()
    assert len(sample.interfaces) == 0


# --- memory and the mount table ------------------------------------------------------------------

# Recorded from /proc/meminfo of a Debian 12 host (kernel 6.1), shortened.
MEMINFO = b"""MemTotal:       24563520 kB
MemFree:         1200340 kB
MemAvailable:   18123456 kB
Buffers:          412000 kB
Cached:         15000000 kB
SwapCached:            0 kB
SwapTotal:       2097148 kB
SwapFree:        1048572 kB
HugePages_Total:       0
"""


def test_meminfo_gives_memory_and_swap_in_bytes() -> None:
    parsed = parse_meminfo(MEMINFO)
    assert parsed is not None
    memory, swap = parsed
    assert memory == Memory(total=24563520 * 1024, available=18123456 * 1024)
    assert swap == Swap(total=2097148 * 1024, used=(2097148 - 1048572) * 1024)


@pytest.mark.parametrize("missing", [b"MemAvailable", b"MemTotal", b"SwapTotal", b"SwapFree"])
def test_meminfo_without_a_needed_line_is_none(missing: bytes) -> None:
    text = b"\n".join(line for line in MEMINFO.splitlines() if not line.startswith(missing + b":"))
    assert parse_meminfo(text) is None


def test_meminfo_with_a_garbled_value_is_none() -> None:
    assert parse_meminfo(MEMINFO.replace(b"SwapFree:        1048572", b"SwapFree:  lots")) is None


def test_the_probes_memory_and_swap_agree_with_psutil_on_this_host() -> None:
    psutil = pytest.importorskip("psutil")
    reading = make_reader((), ())()
    assert reading.memory.total == psutil.virtual_memory().total
    assert reading.swap.total == psutil.swap_memory().total
    memory = psutil.virtual_memory()
    assert abs(reading.memory.available - memory.available) < memory.total / 10
    assert 0 <= reading.swap.used <= reading.swap.total


class Listing:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> list[Any]:
        self.calls += 1
        data = Partition(f"/dev/sdb{self.calls}", "/data", "xfs", "rw")
        return [Partition("/dev/sda1", "/", "ext4", "rw"), data]


class FakeWatch:
    """A mount table watch told when the table changes."""

    def __init__(self) -> None:
        self.pending = False

    def changed(self) -> bool:
        changed, self.pending = self.pending, False
        return changed


def test_partitions_are_listed_again_only_when_the_mount_table_changes() -> None:
    listing, watch = Listing(), FakeWatch()
    partitions = Partitions(listing, watch)  # type: ignore[arg-type]
    first = partitions()
    assert partitions() == first and partitions() == first
    assert listing.calls == 1
    watch.pending = True  # a disk mounted
    assert partitions()[1].device == "/dev/sdb2"
    assert partitions()[1].device == "/dev/sdb2"
    assert listing.calls == 2


def test_partitions_without_a_mount_table_to_watch_are_listed_every_time() -> None:
    listing = Listing()
    everywhere = Partitions(listing, None)  # Windows, or no /proc
    for _ in range(3):
        everywhere()
    assert listing.calls == 3


def test_there_is_no_watch_without_a_mount_table(tmp_path: Path) -> None:
    assert MountTableWatch.of_this_host(tmp_path / "no-such-file") is None


# Run in a mount namespace of its own (unshare): a tmpfs mounted and unmounted there must each be seen
# once by the watch, and nothing else.
WATCH_SCRIPT = """
import pathlib, subprocess, sys, tempfile
from fleetwatch_agent.probes.resources.collect import MountTableWatch
watch = MountTableWatch.of_this_host()
assert watch is not None
seen = [watch.changed()]
target = tempfile.mkdtemp()
subprocess.run(["mount", "-t", "tmpfs", "none", target], check=True)
seen += [watch.changed(), watch.changed()]
subprocess.run(["umount", target], check=True)
seen += [watch.changed(), watch.changed()]
print(seen)
"""


def test_the_watch_sees_a_mount_and_an_unmount_in_a_mount_namespace() -> None:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs unshare(1) and root for a mount namespace of its own")
    done = subprocess.run(
        [unshare, "--mount", "--propagation", "private", sys.executable, "-c", WATCH_SCRIPT],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if done.returncode != 0 and "unshare failed" in done.stderr:
        pytest.skip(f"no mount namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[False, True, False, True, False]"


def test_boot_time_and_cpu_count_are_read_again_every_few_minutes_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    psutil = pytest.importorskip("psutil")
    from fleetwatch_agent.probes.resources import collect

    now = [1000.0]
    facts = {"boot": 1_700_000_000.0, "cpus": 4}
    monkeypatch.setattr(collect.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(psutil, "boot_time", lambda: facts["boot"])
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: facts["cpus"])
    read = make_reader((), ())
    assert (read().boot_time_unix, read().cpu_count) == (1_700_000_000, 4)
    facts.update(boot=1_700_003_600.0, cpus=8)  # the clock was set; a CPU hot-plugged
    now[0] += collect.SLOW_FACTS_SECONDS - 1
    assert (read().boot_time_unix, read().cpu_count) == (1_700_000_000, 4)
    now[0] += 1
    assert (read().boot_time_unix, read().cpu_count) == (1_700_003_600, 8)
