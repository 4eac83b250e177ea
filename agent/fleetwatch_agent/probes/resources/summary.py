"""The resources lines of `fleetwatch-agent check`: CPU, memory, the fullest filesystem."""

from __future__ import annotations

from fleetwatch_agent.probes.resources.wire import Resources

GIB = 1024**3


def _gib(value: int) -> str:
    return f"{value / GIB:.1f} GiB"


def lines(result: Resources, now: float) -> list[str]:
    """CPU and load, memory and swap, and the filesystem with the least room left."""
    cpu = f"  - CPU {result.cpu_utilization_ratio:.0%} busy ({result.cpu_count} CPUs)"
    if result.HasField("load"):
        cpu += f", load {result.load.load1:.2f} {result.load.load5:.2f} {result.load.load15:.2f}"
    used = result.memory_total_bytes - result.memory_available_bytes
    share = used / result.memory_total_bytes if result.memory_total_bytes else 0.0
    memory = f"  - memory {_gib(used)} of {_gib(result.memory_total_bytes)} used ({share:.0%})"
    if result.swap_total_bytes:
        memory += f", swap {_gib(result.swap_used_bytes)} of {_gib(result.swap_total_bytes)}"
    out = ["resources:", cpu, memory]
    sized = [fs for fs in result.filesystems if fs.size_bytes]
    if sized:
        fullest = max(sized, key=lambda fs: fs.used_bytes / fs.size_bytes)
        out.append(
            f"  - fullest filesystem {fullest.mountpoint} ({fullest.fstype}): "
            f"{fullest.used_bytes / fullest.size_bytes:.0%} used, {_gib(fullest.free_bytes)} free"
        )
    else:
        out.append("  - no filesystem found")
    return out
