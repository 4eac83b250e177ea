"""Agents' credentials kept in memory for Push authentication, exact when any process changes one.

Reading an agent's credential from the store on every Push was a fifth of the Push's time: a query
on the event loop, whose interpreter lock the store's writer thread takes meanwhile. The cache keeps
what the store said (the secret's hash, never the secret) and forgets everything when the store's
change signal moved (changesignal.py): every path that changes a credential (an agent enrolling
again, ``agent revoke``, ``agent forget``: enrolment.py, from the collector or from its command line
in another process) rewrites the signal once its transaction committed, and every look-up compares
the signal first. So a look-up that begins after such a change was committed reads the store again:
a revoked agent is refused at its next Push, an old secret stops working when the new one is issued.

In a cluster (clusterauth.py) an agent met for the first time is added to the store without the
signal (no reader can have kept a credential for an id the store did not have) and handed to the
cache with ``keep``; the ids of the shared revoked file are checked at every look-up, never kept.

::

    Enroll / agent revoke / agent forget        Push (event loop)
      BEGIN; UPDATE agents ...; COMMIT           signal == seen? --no--> forget all, seen = signal
      rewrite the signal  ------------------->   kept? --no--> read the store, keep it if known
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Container

from fleetwatch_collector.enrolment import Credential

Load = Callable[[str], Credential | None]


class CredentialCache:
    """A ``lookup`` for gate.py: ``load(agent_id)`` once, then from memory until ``signal()`` changes.

    Only known agents are kept (unknown ids, whoever sends them, never take memory), revoked ones
    included, so their refusals are cheap too. ``signal() is None`` (no signal file) keeps nothing.
    Everything is read again after ``max_age`` seconds at the latest: the bound for a change made
    around the collector's code (a hand edit of the store). Used from one thread, the event loop.
    """

    def __init__(
        self,
        load: Load,
        signal: Callable[[], bytes | None],
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
        revoked: Container[str] = frozenset(),
    ) -> None:
        self._load = load
        self._revoked = revoked
        self._signal = signal
        self._max_age = max_age
        self._clock = clock
        self._kept: dict[str, Credential] = {}
        self._seen: bytes | None = None
        self._expires = float("-inf")

    def __len__(self) -> int:
        return len(self._kept)

    def __call__(self, agent_id: str) -> Credential | None:
        signal = self._signal()
        if signal is None or signal != self._seen or self._clock() >= self._expires:
            self._kept.clear()
            self._seen = signal
            self._expires = self._clock() + self._max_age
        credential = self._kept.get(agent_id)
        if credential is None:
            credential = self._load(agent_id)
            if credential is not None and signal is not None:
                self._kept[agent_id] = credential
        if credential is not None and not credential.revoked and agent_id in self._revoked:
            return dataclasses.replace(credential, revoked=True)
        return credential

    def keep(self, agent_id: str, credential: Credential) -> None:
        """Keep what was just written to the store for an id it did not have, unless the signal moved
        since the last look-up (then the next look-up reads the store anyway)."""
        signal = self._signal()
        if signal is not None and signal == self._seen:
            self._kept[agent_id] = credential
