"""32-bit interface counters extended to monotonic 64-bit counts across wraps, per device and interface.

For every (device, ifIndex, counter) the extension keeps the previous raw value and the running total:

    raw:    4294967000 -> 200        (lower than before: one wrap)
    total:  4294967000 -> 4294967000 + (2**32 - 4294967000) + 200 = 2**32 + 200

The first value seen is exported as it is. The base starts again (the exported count restarts at the raw
value, which Prometheus reads as a counter reset) when the device restarted (sysUpTime went down) or the
counter changed width (ifHC* 64-bit <-> ifTable 32-bit). 64-bit counters are exported as read. A poll
that took more than one wrap between two readings cannot be told from one wrap: at 1 Gb/s a 32-bit
octet counter wraps every 34 s, which is why ifHC* counters are used wherever a device has them.
Entries of interfaces missing from a device's poll are dropped; devices not polled for a while too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

WRAP = 2**32
COUNTER_BITS = (32, 64)

# (ifIndex, counter name) -> (raw value, width in bits)
Samples = Mapping[tuple[int, str], tuple[int, int]]


@dataclass
class _Counter:
    bits: int
    raw: int
    total: int


@dataclass
class _Device:
    uptime_ticks: int | None
    seen: float
    counters: dict[tuple[int, str], _Counter] = field(default_factory=dict)


class CounterExtender:
    """The extension state of every device polled; one instance per poller, no module state."""

    def __init__(self) -> None:
        self._devices: dict[str, _Device] = {}

    def extend(
        self, device: str, uptime_ticks: int | None, now: float, samples: Samples
    ) -> dict[tuple[int, str], int]:
        """The exported value of every sample of one poll of ``device``, and the state moved on.

        ``uptime_ticks`` is sysUpTime (None when the device did not give it: restarts go unseen then);
        ``now`` is a monotonic time, used only to forget idle devices. Samples absent from this poll
        are forgotten.
        """
        previous = self._devices.get(device)
        restarted = (
            previous is not None
            and previous.uptime_ticks is not None
            and uptime_ticks is not None
            and uptime_ticks < previous.uptime_ticks
        )
        old = previous.counters if previous is not None and not restarted else {}
        # Without sysUpTime this time, the last one seen stays the reference for the next poll.
        kept_uptime = previous.uptime_ticks if previous is not None and not restarted else None
        state = _Device(uptime_ticks if uptime_ticks is not None else kept_uptime, now)
        exported = {}
        for key, (raw, bits) in samples.items():
            if bits not in COUNTER_BITS:
                raise ValueError(f"{device} {key}: counter width {bits} is not 32 or 64")
            if not 0 <= raw < 2**bits:
                raise ValueError(f"{device} {key}: {raw} does not fit in {bits} bits")
            before = old.get(key)
            if bits == 64 or before is None or before.bits != bits:
                total = raw
            elif raw >= before.raw:
                total = before.total + raw - before.raw
            else:
                total = before.total + WRAP - before.raw + raw
            state.counters[key] = _Counter(bits, raw, total)
            exported[key] = total
        self._devices[device] = state
        return exported

    def forget(self, device: str) -> None:
        """Drop a device's state: its next poll starts every count from the raw values."""
        self._devices.pop(device, None)

    def forget_idle(self, before: float) -> list[str]:
        """Drop the devices last polled before the monotonic time ``before``; their names."""
        idle = [name for name, state in self._devices.items() if state.seen < before]
        for name in idle:
            del self._devices[name]
        return idle

    def devices(self) -> list[str]:
        return sorted(self._devices)

    def tracked(self, device: str) -> int:
        """How many counters of ``device`` are kept."""
        state = self._devices.get(device)
        return len(state.counters) if state is not None else 0
