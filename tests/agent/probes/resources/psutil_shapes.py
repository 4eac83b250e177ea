"""The shapes of psutil's named tuples the resources probe reads, for tests that build readings by hand."""

from __future__ import annotations

from collections import namedtuple

from fleetwatch_agent.probes.resources.collect import Mount, Nic, Reading

Partition = namedtuple("Partition", "device mountpoint fstype opts")
Usage = namedtuple("Usage", "total used free percent")
IoCounters = namedtuple(
    "IoCounters", "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin dropout"
)
NicStats = namedtuple("NicStats", "isup duplex speed mtu flags")
Memory = namedtuple("Memory", "total available percent used free")
Swap = namedtuple("Swap", "total used free percent sin sout")


def io(base: int) -> IoCounters:
    return IoCounters(base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7, base + 8)


ROOT = Mount(Partition("/dev/sda1", "/", "ext4", "rw"), Usage(500, 200, 280, 41.7), (1000, 900))
EFI = Mount(Partition("/dev/sda2", "/boot/efi", "vfat", "rw"), Usage(100, 10, 90, 10.0), None)
ETH0 = Nic("eth0", IoCounters(20, 10, 40, 30, 1, 2, 3, 4), NicStats(True, 2, 1000, 1500, "up"))


def reading(
    *,
    load: tuple[float, float, float] | None = (0.5, 0.25, 0.125),
    filesystems: tuple[Mount, ...] = (ROOT, EFI),
    interfaces: tuple[Nic, ...] = (ETH0,),
) -> Reading:
    """A Reading as make_reader returns it, from psutil-shaped tuples."""
    return Reading(
        cpu_utilization_ratio=0.25,
        cpu_count=4,
        load=load,
        memory=Memory(8 * 1024**3, 3 * 1024**3, 62.5, 5 * 1024**3, 1024**3),
        swap=Swap(2 * 1024**3, 1024, 2 * 1024**3 - 1024, 0.0, 0, 0),
        filesystems=filesystems,
        interfaces=interfaces,
        boot_time_unix=1_700_000_000,
        process_count=187,
    )
