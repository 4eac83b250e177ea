"""Transport retry policy: full-jitter backoff; retryable, permanent and credential status codes."""

from __future__ import annotations

import random

import pytest

from fleetwatch_agent.grpcwire import StatusCode
from fleetwatch_agent.transport import PushError, backoff_delay


@pytest.mark.parametrize("attempt", [0, 1, 2, 5, 8])
def test_delay_is_within_zero_and_the_exponential_bound(attempt: int) -> None:
    rng = random.Random(attempt)
    bound = min(60.0, 1.0 * 2**attempt)
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
    bound = 2.0**5  # below the cap
    delays = [backoff_delay(5, rng) for _ in range(5000)]
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
        StatusCode.UNAVAILABLE,
        StatusCode.RESOURCE_EXHAUSTED,
        StatusCode.DEADLINE_EXCEEDED,
        StatusCode.ABORTED,
    ],
)
def test_retryable_codes(code: StatusCode) -> None:
    assert PushError(code, "try later").retryable is True


@pytest.mark.parametrize(
    "code",
    [
        StatusCode.INVALID_ARGUMENT,
        StatusCode.UNAUTHENTICATED,
        StatusCode.PERMISSION_DENIED,
        StatusCode.FAILED_PRECONDITION,
        StatusCode.UNIMPLEMENTED,
    ],
)
def test_non_retryable_codes(code: StatusCode) -> None:
    assert PushError(code, "refused").retryable is False


def test_push_error_carries_code_details_and_retry_hint() -> None:
    error = PushError(StatusCode.RESOURCE_EXHAUSTED, "slow down", retry_after_seconds=2.5)
    assert error.code is StatusCode.RESOURCE_EXHAUSTED
    assert error.details == "slow down"
    assert error.retry_after_seconds == 2.5
    assert str(error) == "RESOURCE_EXHAUSTED: slow down"


@pytest.mark.parametrize("code", [StatusCode.INVALID_ARGUMENT, StatusCode.OUT_OF_RANGE])
def test_invalid_content_is_permanent_and_not_a_credential_problem(code: StatusCode) -> None:
    error = PushError(code, "reports[0].seq: must be between 1 and 2**63-1")
    assert error.permanent is True
    assert error.credential_problem is False
    assert error.retryable is False


@pytest.mark.parametrize("code", [StatusCode.UNAUTHENTICATED, StatusCode.PERMISSION_DENIED])
def test_refused_credentials_keep_the_batch(code: StatusCode) -> None:
    error = PushError(code, "bad_credential")
    assert error.credential_problem is True
    assert error.permanent is False
    assert error.retryable is False


@pytest.mark.parametrize(
    "code",
    [
        StatusCode.UNKNOWN,
        StatusCode.INTERNAL,
        StatusCode.UNAVAILABLE,
        StatusCode.RESOURCE_EXHAUSTED,
        StatusCode.FAILED_PRECONDITION,
        StatusCode.UNIMPLEMENTED,
    ],
)
def test_collector_faults_are_neither_permanent_nor_credential_problems(code: StatusCode) -> None:
    # A collector bug (UNKNOWN, INTERNAL) must not make the agent throw reports away.
    error = PushError(code, "something broke")
    assert error.permanent is False
    assert error.credential_problem is False


def test_every_status_code_has_exactly_one_handling() -> None:
    for code in StatusCode:
        if code is StatusCode.OK:
            continue
        error = PushError(code, "")
        assert [error.retryable, error.permanent, error.credential_problem].count(True) <= 1, code
