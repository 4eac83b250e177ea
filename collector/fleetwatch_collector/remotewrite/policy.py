"""What to do with a remote write answer, and how long to wait before trying again: pure rules."""

from __future__ import annotations

import enum
import random
from collections.abc import Callable

# Receivers' words for samples they will never take, whatever the status: Prometheus answers 500
# "too old sample" beyond its out-of-order window, 400 "out of order sample" without one, and
# "out of bounds" before its head block; Mimir and Thanos Receive answer 400 or 409 alike.
FINAL_ERRORS = ("too old", "out of bounds", "out of order", "duplicate sample")
# Statuses worth a retry: the receiver is overloaded, restarting or behind a proxy that is.
RETRY_STATUSES = frozenset({408, 429})


class Outcome(enum.Enum):
    SENT = "sent"  # the receiver took the samples
    REJECTED = "rejected"  # it never will: count them and move on
    RETRY = "retry"  # it may later: back off and send the same request again


def classify(status: int, body: str) -> Outcome:
    """The outcome of an HTTP answer: 2xx sent; 408, 429 and 5xx retried, unless the body says the
    samples are out of bounds or too old (Prometheus answers 500 for those); other codes rejected."""
    if 200 <= status < 300:
        return Outcome.SENT
    text = body.lower()
    if any(words in text for words in FINAL_ERRORS):
        return Outcome.REJECTED
    if status >= 500 or status in RETRY_STATUSES:
        return Outcome.RETRY
    return Outcome.REJECTED


def backoff_seconds(
    attempt: int, minimum: float, maximum: float, uniform: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...): "full jitter", a random time up to
    ``minimum`` doubled per attempt, capped at ``maximum``, and never less than half of ``minimum``."""
    ceiling = min(maximum, minimum * 2.0 ** (attempt - 1))
    return uniform(min(ceiling, minimum / 2), ceiling)
