"""RateLimiter: per-agent token buckets with an injected clock."""

from __future__ import annotations

import pytest

from fleetwatch_collector.ratelimit import RateLimiter


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_burst_is_allowed_then_the_wait_is_told() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.acquire("a1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a1") == pytest.approx(0.5)  # one token at 2 per second


def test_asking_again_does_not_extend_the_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=1, clock=clock)
    assert limiter.acquire("a1") == 0.0
    assert limiter.acquire("a1") == pytest.approx(0.5)
    assert limiter.acquire("a1") == pytest.approx(0.5)
    clock.now += 0.2
    assert limiter.acquire("a1") == pytest.approx(0.3)
    clock.now += 0.3
    assert limiter.acquire("a1") == 0.0  # exactly when told


def test_refill_over_time() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=4.0, burst=10, clock=clock)
    for _ in range(10):
        assert limiter.acquire("a1") == 0.0
    assert limiter.acquire("a1") == pytest.approx(0.25)
    clock.now += 1.0  # four tokens back
    assert [limiter.acquire("a1") for _ in range(4)] == [0.0] * 4
    assert limiter.acquire("a1") == pytest.approx(0.25)
    clock.now += 0.125  # half a token
    assert limiter.acquire("a1") == pytest.approx(0.125)


def test_refill_is_capped_at_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    limiter.acquire("a1")
    clock.now += 3600
    assert [limiter.acquire("a1") for _ in range(3)] == [0.0] * 3
    assert limiter.acquire("a1") == pytest.approx(0.5)


def test_steady_rate_is_served_without_waiting() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=1, clock=clock)
    for _ in range(20):
        assert limiter.acquire("a1") == 0.0
        clock.now += 0.5


def test_agents_are_independent() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock)
    assert [limiter.acquire("a1") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("a1") == pytest.approx(1.0)
    assert [limiter.acquire("a2") for _ in range(2)] == [0.0, 0.0]  # a1's use costs a2 nothing
    assert limiter.acquire("a2") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.acquire("a1") == 0.0
    assert limiter.acquire("a2") == 0.0
