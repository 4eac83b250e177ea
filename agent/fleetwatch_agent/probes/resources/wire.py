"""The resources probe on the wire: psutil's tuples straight into the Resources message, its result."""

from __future__ import annotations

from fleetwatch_agent.probes.resources.collect import Reading
from fleetwatch_agent.wiretext import text
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

# The probe's result type: the message itself, no mirror dataclass (the simulator builds it directly).
Resources = pb.Resources


def message(reading: Reading) -> pb.Resources:
    """The Resources message of one reading; names are shaped to the contract's text limits."""
    result = pb.Resources(
        cpu_utilization_ratio=reading.cpu_utilization_ratio,
        cpu_count=reading.cpu_count,
        memory_total_bytes=reading.memory.total,
        memory_available_bytes=reading.memory.available,
        swap_total_bytes=reading.swap.total,
        swap_used_bytes=reading.swap.used,
        boot_time_unix=reading.boot_time_unix,
        process_count=reading.process_count,
    )
    if reading.load is not None:
        result.load.load1, result.load.load5, result.load.load15 = reading.load
    for mount in reading.filesystems:
        part, usage = mount.partition, mount.usage
        result.filesystems.add(
            mountpoint=text(part.mountpoint),
            device=text(part.device),
            fstype=text(part.fstype),
            size_bytes=usage.total,
            used_bytes=usage.used,
            free_bytes=usage.free,
            has_inodes=mount.inodes is not None,
            inodes_total=mount.inodes[0] if mount.inodes else 0,
            inodes_free=mount.inodes[1] if mount.inodes else 0,
        )
    for nic in reading.interfaces:
        io, stats = nic.io, nic.stats
        result.interfaces.add(
            name=text(nic.name),
            up=bool(stats.isup) if stats else False,
            speed_bits_per_second=int(stats.speed) * 1_000_000 if stats and stats.speed > 0 else 0,
            receive_bytes=io.bytes_recv,
            transmit_bytes=io.bytes_sent,
            receive_packets=io.packets_recv,
            transmit_packets=io.packets_sent,
            receive_errors=io.errin,
            transmit_errors=io.errout,
            receive_drops=io.dropin,
            transmit_drops=io.dropout,
        )
    return result


def to_wire(result: pb.Resources, report: pb.Report) -> None:
    report.resources.CopyFrom(result)
