"""An agent's order of the collector addresses, and its failover and failback along that order."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Literal

log = logging.getLogger(__name__)

Spread = Literal["ordered", "rendezvous"]


def address_order(addresses: Sequence[str], spread: Spread, key: str) -> tuple[str, ...]:
    """The addresses from first choice to last: as written ("ordered"), or ranked by rendezvous hashing
    of ``key`` (the agent id; before enrolment its machine id or host name), the ranking every member
    of a cluster computes for the agent ("rendezvous"). An empty key keeps them as written."""
    if spread == "rendezvous" and key:
        from fleetwatch_proto import rendezvous  # hashlib: only agents of a cluster need it

        return tuple(rendezvous.ranked(key, addresses))
    return tuple(dict.fromkeys(addresses))


class Route:
    """Where the calls of the agents of one address order go, and when they fail back.

    Calls go to the current address, the first at start (with "rendezvous", the agents' home). A call
    that fails with a failover code at the current address moves it to the next one (round robin);
    once the first address has been left, it is tried again after ``failback_seconds``.
    """

    def __init__(self, order: tuple[str, ...], failback_seconds: float, clock: Callable[[], float]) -> None:
        self.order = order
        self._position = 0
        self._failback_seconds = failback_seconds
        self._failback_at = math.inf
        self._clock = clock
        self.failures = 0  # calls failed in a row since the last success

    @property
    def address(self) -> str:
        """The current address."""
        return self.order[self._position]

    def pick(self) -> str:
        """The address of the next call: the current one, or the first again when its time came."""
        if self._position != 0 and self._clock() >= self._failback_at:
            log.info("trying the first collector address %s again", self.order[0])
            self._position = 0
            self._failback_at = math.inf
        return self.address

    def failed(self, address: str, move: bool) -> bool:
        """A call to ``address`` failed; ``move``: with a failover code. True when it moved the current
        address and the new one was not tried since the last success (the caller may retry at once)."""
        self.failures += 1
        # Only the first failure of a call made at the current address moves it (calls of
        # many agents may fail together).
        if not move or len(self.order) < 2 or address != self.address:
            return False
        if self._position == 0:
            self._failback_at = self._clock() + self._failback_seconds
        self._position = (self._position + 1) % len(self.order)
        return self.failures < len(self.order)

    def succeeded(self, address: str) -> None:
        if self.failures:
            log.info("collector %s answered", address)
        self.failures = 0
