"""Load shedding by how long Pushes wait for the store: refuse only while a queue stands (CoDel's rule).

A count of waiting Pushes says little: 256 of them are a third of a second at 833 Pushes/s and a
whole minute for a small site. What matters is the wait, and only a wait that lasts: a pause of the
event loop or a slow commit makes every Push wait once, then the queue drains by itself. So, as
CoDel does for packets (Nichols and Jacobson, RFC 8289), Pushes are refused once the oldest Push
waiting for the store has been older than ``target`` for a whole ``interval`` without a break, and
again accepted as soon as it is not. The count stays as a hard bound on the memory held by
waiting Pushes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Shedder:
    """Decides, at each Push, whether the store's queue has stood too long; no I/O, the clock given."""

    target: float  # seconds the oldest waiting Push may wait before the queue counts as standing
    interval: float  # seconds a queue must stand, without a break, before Pushes are refused
    max_pending: int  # waiting Pushes beyond which any new one is refused, however short the wait
    _standing_since: float | None = field(default=None, init=False)

    def overloaded(self, pending: int, oldest_wait: float, now: float) -> bool:
        """True when a new Push should be refused; ``oldest_wait`` is 0 when nothing waits."""
        if pending >= self.max_pending:
            return True
        if oldest_wait < self.target:
            self._standing_since = None
            return False
        if self._standing_since is None:
            # The oldest Push crossed the target this long ago; it has waited since then.
            self._standing_since = now - (oldest_wait - self.target)
        return now - self._standing_since >= self.interval
