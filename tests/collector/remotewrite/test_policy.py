"""What a remote write answer means, and the backoff before a retry."""

from __future__ import annotations

import pytest

from fleetwatch_collector.remotewrite.policy import Outcome, backoff_seconds, classify


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, "", Outcome.SENT),
        (204, "", Outcome.SENT),
        # Prometheus with an out-of-order window: too old samples are a 500, final all the same.
        (500, "too old sample", Outcome.REJECTED),
        (500, 'failed to append: out of bounds: "fleetwatch_x"', Outcome.REJECTED),
        (400, "out of order sample", Outcome.REJECTED),
        (400, "duplicate sample for timestamp", Outcome.REJECTED),
        (400, "bad request", Outcome.REJECTED),
        (401, "", Outcome.REJECTED),
        (404, "404 page not found", Outcome.REJECTED),
        (413, "", Outcome.REJECTED),
        (408, "", Outcome.RETRY),
        (429, "too many requests", Outcome.RETRY),
        (500, "internal error: disk full", Outcome.RETRY),
        (502, "<html>Bad Gateway</html>", Outcome.RETRY),
        (503, "", Outcome.RETRY),
        (301, "", Outcome.REJECTED),
    ],
)
def test_classify(status: int, body: str, outcome: Outcome) -> None:
    assert classify(status, body) is outcome


def test_backoff_doubles_up_to_the_maximum() -> None:
    highest = [backoff_seconds(n, 0.5, 30.0, lambda low, high: high) for n in range(1, 10)]
    assert highest == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    lowest = [backoff_seconds(n, 0.5, 30.0, lambda low, high: low) for n in range(1, 10)]
    assert lowest == [0.25] * 9


def test_backoff_is_jittered_within_bounds() -> None:
    waits = [backoff_seconds(4, 0.5, 30.0) for _ in range(200)]
    assert all(0.25 <= wait <= 4.0 for wait in waits)
    assert len(set(waits)) > 100  # random, so 4,130 collectors' worth of retries spread


def test_backoff_never_exceeds_a_small_maximum() -> None:
    assert all(backoff_seconds(n, 1.0, 0.5) <= 0.5 for n in range(1, 5))
