"""The resources lines `fleetwatch-agent check` prints: CPU, memory, the fullest filesystem."""

from __future__ import annotations

from fleetwatch_agent.probes.resources import summary, wire
from fleetwatch_agent.probes.resources.collect import Mount
from tests.agent.probes.resources.psutil_shapes import Partition, Usage, reading

NOW = 1_795_805_400.0
GIB = 1024**3


def test_cpu_memory_and_fullest_filesystem() -> None:
    data = Mount(
        Partition("/dev/sdb1", "/data", "xfs", "rw"), Usage(100 * GIB, 90 * GIB, 10 * GIB, 90.0), None
    )
    lines = summary.lines(wire.message(reading(filesystems=(*reading().filesystems, data))), NOW)
    assert lines == [
        "resources:",
        "  - CPU 25% busy (4 CPUs), load 0.50 0.25 0.12",
        "  - memory 5.0 GiB of 8.0 GiB used (62%), swap 0.0 GiB of 2.0 GiB",
        "  - fullest filesystem /data (xfs): 90% used, 10.0 GiB free",
    ]


def test_no_load_no_swap_no_filesystem() -> None:
    message = wire.message(reading(load=None, filesystems=()))
    message.swap_total_bytes = 0
    assert summary.lines(message, NOW) == [
        "resources:",
        "  - CPU 25% busy (4 CPUs)",
        "  - memory 5.0 GiB of 8.0 GiB used (62%)",
        "  - no filesystem found",
    ]


def test_an_empty_message_does_not_divide_by_zero() -> None:
    empty = wire.Resources()
    assert summary.lines(empty, NOW)[2] == "  - memory 0.0 GiB of 0.0 GiB used (0%)"
