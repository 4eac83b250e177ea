"""The bounded queue of samples between the fleet state (which renders late reports) and the sender.

    FleetState.apply ─► offer(samples of one report) ─► deque ─► take(batch) ─► sender
                          └ no room: refused whole, the caller counts the report

Thread-safe: reports are applied under the fleet's lock, the sender runs in the event loop.
A report's samples go in whole or not at all, so a graph never shows half a report.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

from fleetwatch_collector.remotewrite.encode import Sample


class SampleQueue:
    """At most ``capacity`` samples, oldest first; ``notify`` is called when samples arrive."""

    def __init__(self, capacity: int, notify: Callable[[], None] = lambda: None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.notify = notify
        self._samples: deque[Sample] = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._samples)

    def room(self) -> int:
        """Samples that still fit."""
        return self.capacity - len(self._samples)

    def offer(self, samples: Sequence[Sample]) -> bool:
        """Queue all of ``samples``, or none when they do not fit (False)."""
        with self._lock:
            if len(samples) > self.capacity - len(self._samples):
                return False
            self._samples.extend(samples)
        if samples:
            self.notify()
        return True

    def take(self, limit: int) -> list[Sample]:
        """Up to ``limit`` of the oldest samples, removed from the queue."""
        with self._lock:
            count = min(limit, len(self._samples))
            return [self._samples.popleft() for _ in range(count)]

    def clear(self) -> int:
        """Drop everything queued; how many samples that was."""
        with self._lock:
            count = len(self._samples)
            self._samples.clear()
            return count
