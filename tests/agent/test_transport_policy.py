"""Transport retry policy: full-jitter exponential backoff and which status codes are retryable."""

from __future__ import annotations

import random

import grpc
import pytest

from fleetwatch_agent.transport import PushError, backoff_delay


@pytest.mark.parametrize("attempt", [0, 1, 2, 5, 8])
def test_delay_is_within_zero_and_the_exponential_bound(attempt: int) -> None:
    rng = random.Random(attempt)
    bound = min(300.0, 1.0 * 2**attempt)
    delays = [backoff_delay(attempt, rng) for _ in range(2000)]
    assert all(0.0 <= d <= bound for d in delays)


def test_custom_base_and_cap() -> None:
    rng = random.Random(1)
    assert all(0.0 <= backoff_delay(3, rng, base=0.5, cap=100.0) <= 4.0 for _ in range(1000))
    assert all(0.0 <= backoff_delay(10, rng, base=0.5, cap=100.0) <= 100.0 for _ in range(1000))


@pytest.mark.parametrize("attempt", [9, 50, 10_000])
def test_cap_is_respected_for_large_attempts(attempt: int) -> None:
    rng = random.Random(2)
    delays = [backoff_delay(attempt, rng, base=1.0, cap=300.0) for _ in range(2000)]
    assert all(0.0 <= d <= 300.0 for d in delays)
    assert max(delays) > 270.0  # the cap, not a smaller bound, is reached


def test_full_jitter_spreads_over_the_whole_range() -> None:
    rng = random.Random(3)
    bound = 2.0**6
    delays = [backoff_delay(6, rng) for _ in range(5000)]
    # Every tenth of [0, bound] is hit: full jitter, not "bound/2 + jitter".
    deciles = {min(9, int(d / bound * 10)) for d in delays}
    assert deciles == set(range(10))
    assert min(delays) < bound * 0.05
    assert max(delays) > bound * 0.95


def test_delays_vary_between_agents() -> None:
    delays = {backoff_delay(4, random.Random(seed)) for seed in range(50)}
    assert len(delays) == 50


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
    ],
)
def test_retryable_codes(code: grpc.StatusCode) -> None:
    assert PushError(code, "try later").retryable is True


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.UNIMPLEMENTED,
    ],
)
def test_non_retryable_codes(code: grpc.StatusCode) -> None:
    assert PushError(code, "refused").retryable is False


def test_push_error_carries_code_details_and_retry_hint() -> None:
    error = PushError(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", retry_after_seconds=2.5)
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details == "slow down"
    assert error.retry_after_seconds == 2.5
    assert str(error) == "RESOURCE_EXHAUSTED: slow down"
