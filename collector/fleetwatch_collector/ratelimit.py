"""Token buckets: how often one agent may Push, and how fast enrolments may come (per peer, overall)."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """``rate`` calls per second per key on average, bursts up to ``burst``; at most ``max_keys``
    buckets are kept (full buckets are forgotten first: they hold nothing a new one would not)."""

    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self._burst, now))
        return min(self._burst, tokens + (now - at) * self._rate)

    def acquire(self, key: str) -> float:
        """0 if ``key`` may go now (a token is taken), else the seconds until it may (none taken)."""
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens >= 1.0:
            self._put(key, tokens - 1.0, now)
            return 0.0
        self._put(key, tokens, now)
        return (1.0 - tokens) / self._rate

    def reserve(self, key: str, max_wait: float) -> float | None:
        """Take ``key``'s next token, even one still to come: the seconds to wait for it (0: now),
        or None, taking nothing, when it comes later than ``max_wait``."""
        now = self._clock()
        tokens = self._tokens(key, now)
        wait = max(0.0, (1.0 - tokens) / self._rate)
        if wait > max_wait:
            return None
        self._put(key, tokens - 1.0, now)
        return wait

    def refund(self, key: str) -> None:
        """Give back a token taken by ``reserve`` (the call did not go ahead)."""
        now = self._clock()
        self._put(key, min(self._burst, self._tokens(key, now) + 1.0), now)

    def _put(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            full = [k for k in self._buckets if self._tokens(k, now) >= self._burst]
            for k in full:
                del self._buckets[k]
            while len(self._buckets) > self._max_keys:  # all busy: forget the longest untouched
                del self._buckets[min(self._buckets, key=lambda k: self._buckets[k][1])]
