"""The gate's pools of calls in progress: per agent, per peer address, newest-first reads, streams.

Single-threaded: used only from the event loop of the gRPC server (gate.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


class Refused(Exception):
    """A call the gate refuses: status code, reason label, message for the caller."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.retry_after = retry_after


@dataclass(eq=False)
class Call:
    """One admitted call: its key (agent id or peer address) and where it is."""

    key: str
    started: float
    phase: str = "waiting"  # waiting (for its turn to read), reading, handling
    read_started: float = 0.0
    reading: asyncio.Future[Any] | None = None  # the pending read, cancelled when evicted
    evicted: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Evicted(Exception):
    """A newer call took this call's place while it had not sent its message."""


class AgentCalls:
    """Authenticated calls in progress: at most ``per_agent`` per agent, ``total`` overall."""

    def __init__(self, total: int, per_agent: int) -> None:
        self._total = total
        self._per_agent = per_agent
        self._calls: dict[str, list[Call]] = {}
        self.count = 0

    def admit(self, agent_id: str, now: float) -> Call:
        mine = self._calls.get(agent_id, [])
        if len(mine) >= self._per_agent:
            victim = next((c for c in mine if c.phase != "handling"), None)  # oldest first
            if victim is None:
                raise Refused(
                    RESOURCE_EXHAUSTED,
                    "agent_busy",
                    f"more than {self._per_agent} calls of this agent in progress",
                    1.0,
                )
            _evict(victim)
            self.release(victim)
        if self.count >= self._total:
            raise Refused(RESOURCE_EXHAUSTED, "busy", "collector busy, retry later", 1.0)
        call = Call(agent_id, now)
        self._calls.setdefault(agent_id, []).append(call)
        self.count += 1
        return call

    def release(self, call: Call) -> None:
        mine = self._calls.get(call.key)
        if mine is None or call not in mine:
            return
        mine.remove(call)
        self.count -= 1
        if not mine:
            del self._calls[call.key]


def _evict(call: Call) -> None:
    call.evicted = True
    if call.reading is not None and not call.reading.done():
        call.reading.cancel()
    call.wake.set()


class OpenCalls:
    """Calls without a credential waiting for their turn to read (a stack: newest first) or reading."""

    def __init__(
        self, total: int, per_peer: int, reads: int, grace: float, clock: Callable[[], float]
    ) -> None:
        self._total = total
        self._per_peer = per_peer
        self._reads = reads
        self._grace = grace
        self._clock = clock
        self._waiting: list[Call] = []  # oldest first; the last one reads next
        self._reading: list[Call] = []  # oldest first
        self._by_peer: dict[str, int] = {}

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def reading(self) -> int:
        return len(self._reading)

    def admit(self, peer: str, now: float) -> Call:
        if self._by_peer.get(peer, 0) >= self._per_peer:
            victim = next((c for c in self._waiting if c.key == peer), None)
            if victim is None:
                raise Refused(
                    RESOURCE_EXHAUSTED, "peer_busy", "too many calls from this address in progress", 1.0
                )
            self._drop(victim)
        if len(self._waiting) + len(self._reading) >= self._total:
            if not self._waiting:
                raise Refused(RESOURCE_EXHAUSTED, "busy", "collector busy, retry later", 1.0)
            self._drop(self._waiting[0])
        call = Call(peer, now)
        self._waiting.append(call)
        self._by_peer[peer] = self._by_peer.get(peer, 0) + 1
        return call

    def _drop(self, victim: Call) -> None:
        """Evict a waiting call: it is told, and leaves at once."""
        _evict(victim)
        self._leave(victim)

    async def turn(self, call: Call, deadline: float) -> None:
        """Wait until ``call`` may read: newest first; raises Evicted or TimeoutError."""
        while True:
            if call.evicted:
                raise Evicted
            now = self._clock()
            wait = deadline - now
            if self._waiting and self._waiting[-1] is call:
                if len(self._reading) < self._reads:
                    self._start_reading(call, now)
                    return
                oldest = self._reading[0]
                age = now - oldest.read_started
                if age >= self._grace:
                    _evict(oldest)
                    self._leave(oldest)
                    self._start_reading(call, now)
                    return
                wait = min(wait, self._grace - age)
            if deadline <= now:
                raise TimeoutError
            call.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.wake.wait(), max(wait, 0.001))

    def _start_reading(self, call: Call, now: float) -> None:
        self._waiting.remove(call)
        self._reading.append(call)
        call.phase, call.read_started = "reading", now
        if self._waiting:  # the next one may replace a reader that overstays its grace
            self._waiting[-1].wake.set()

    def done_reading(self, call: Call) -> None:
        """``call`` has its message (or failed): it leaves the pool, the next waiting call may read."""
        self._leave(call)
        call.phase = "handling"

    def _leave(self, call: Call) -> None:
        for calls in (self._reading, self._waiting):
            if call in calls:
                calls.remove(call)
                left = self._by_peer[call.key] - 1
                if left:
                    self._by_peer[call.key] = left
                else:
                    del self._by_peer[call.key]
                break
        if self._waiting:
            self._waiting[-1].wake.set()


class Streams:
    """Long-lived streams (health Watch): at most ``total``, ``per_peer`` from one address; no eviction."""

    def __init__(self, total: int, per_peer: int) -> None:
        self._total = total
        self._per_peer = per_peer
        self._by_peer: dict[str, int] = {}
        self.count = 0

    def enter(self, peer: str) -> None:
        if self._by_peer.get(peer, 0) >= self._per_peer:
            raise Refused(RESOURCE_EXHAUSTED, "peer_busy", "too many Watch streams from this address")
        if self.count >= self._total:
            raise Refused(RESOURCE_EXHAUSTED, "busy", "too many Watch streams")
        self._by_peer[peer] = self._by_peer.get(peer, 0) + 1
        self.count += 1

    def leave(self, peer: str) -> None:
        left = self._by_peer[peer] - 1
        if left:
            self._by_peer[peer] = left
        else:
            del self._by_peer[peer]
        self.count -= 1
