"""Per-agent token buckets: how often one agent may Push before it is told to wait."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """``rate`` pushes per second per agent on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # agent -> (tokens, at)

    def acquire(self, agent_id: str) -> float:
        """0 if the agent may push now, else the seconds until it may."""
        now = self._clock()
        tokens, at = self._buckets.get(agent_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        if tokens >= 1.0:
            self._buckets[agent_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[agent_id] = (tokens, now)
        return (1.0 - tokens) / self._rate
