"""One snmp collection: every configured device polled on the agent's one poller, within the probe's budget.

The poller (fleetwatch_snmp) is asyncio code with one SNMP engine and, per device, the state that
extends 32-bit counters to 64 bits across polls: it lives for the agent's life on one event loop in
a daemon thread of its own (``PollLoop``), started at the first collection. Each collection runs in
the runner's worker thread, hands the polls to that loop and waits for them: every device's poll
ends by its ``deadline_seconds``, and whatever is still polling at the probe's budget (90% of
``timeout_seconds``) is reported as a timeout "cut at the probe's budget", so one report always
names every configured device. Together the devices carry at most the interfaces the collector
accepts in one report (``wire.cap_interfaces``: an even share each, the rest counted as omitted).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.probes.snmp import BUDGET_SHARE, linkstate, wire
from fleetwatch_agent.probes.snmp.model import SnmpResult

if TYPE_CHECKING:
    from fleetwatch_agent.probes.snmp import SnmpConfig

log = logging.getLogger(__name__)
T = TypeVar("T")
# Seconds to wait for the loop beyond the budget before the collection gives up on it.
LOOP_GRACE_SECONDS = 1.0
REDACTED = "***"


class Poller(Protocol):
    """What a collection needs of fleetwatch_snmp.poller.Poller."""

    async def poll(self, target: Any) -> wire.NetworkDevice: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class PlannedDevice:
    """A configured device and the poller's target for it; no target when it is not polled."""

    name: str
    address: str
    target: object | None
    not_polled: str = ""  # why it is not polled ("" when it is)


def budget_of(config: SnmpConfig) -> float:
    """Seconds the polls of one cycle may take."""
    return config.timeout_seconds * BUDGET_SHARE


def worst_case_seconds(config: SnmpConfig) -> float:
    """How long a cycle takes when every device runs into its deadline, max_concurrent at a time."""
    return math.ceil(len(config.devices) / config.max_concurrent) * config.deadline_seconds


class PollLoop:
    """One event loop in a daemon thread for the agent's life, with the poller made on it."""

    def __init__(self, make_poller: Callable[[], Poller], name: str = "snmp-poller") -> None:
        self._make_poller = make_poller
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: Poller | None = None

    def _started(self) -> tuple[asyncio.AbstractEventLoop, Poller]:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=_serve, args=(self._loop,), name=self._name, daemon=True).start()
            if self._poller is None:  # made again at the next collection if making it failed

                async def make() -> Poller:  # on the loop: the engine binds to the loop it is made on
                    return self._make_poller()

                self._poller = asyncio.run_coroutine_threadsafe(make(), self._loop).result()
            return self._loop, self._poller

    def run(self, work: Callable[[Poller], Coroutine[Any, Any, T]], timeout: float) -> T:
        """Run ``work(poller)`` on the loop and wait for it at most ``timeout`` seconds."""
        loop, poller = self._started()
        future = asyncio.run_coroutine_threadsafe(work(poller), loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the poller's loop gave no result within {timeout:g} s") from None

    def close(self) -> None:
        """Close the poller and stop the loop (the agent never needs it: its thread dies with the process)."""
        with self._lock:
            loop, poller, self._loop, self._poller = self._loop, self._poller, None, None
        if loop is None:
            return
        if poller is not None:
            loop.call_soon_threadsafe(poller.close)
        loop.call_soon_threadsafe(loop.stop)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The loop's thread: runs it until PollLoop.close stops it."""
    try:
        loop.run_forever()
    finally:
        loop.close()


def redact(value: str, secrets: Sequence[str]) -> str:
    """``value`` with every secret replaced: a poller's error text must never carry one."""
    for secret in secrets:
        if secret:
            value = value.replace(secret, REDACTED)
    return value


async def poll_all(
    poller: Poller,
    planned: Sequence[PlannedDevice],
    budget: float,
    max_concurrent: int,
    clock: Callable[[], float],
    secrets: Sequence[str] = (),
) -> tuple[list[tuple[wire.NetworkDevice, int]], int]:
    """Every planned device with the Unix ms its poll ended, in order; and how many the budget cut."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    gate = asyncio.Semaphore(max_concurrent)

    async def gated(target: object) -> wire.NetworkDevice:
        async with gate:  # waiting for a free slot counts against the budget
            return await poller.poll(target)

    async def one(device: PlannedDevice) -> tuple[wire.NetworkDevice, int, bool]:
        if device.target is None:
            result = wire.unanswered(device.name, device.address, "other", device.not_polled, 0.0)
            return result, int(clock() * 1000), False
        cut = False
        try:
            result = await asyncio.wait_for(gated(device.target), max(0.0, started + budget - loop.time()))
        except TimeoutError:
            cut = True
            error = f"cut at the probe's budget ({budget:g} s, 90% of timeout_seconds)"
            result = wire.unanswered(device.name, device.address, "timeout", error, loop.time() - started)
        except Exception as exc:  # the poller never raises for a device's failure: a bug, kept to this device
            error = redact(f"{type(exc).__name__}: {exc}", secrets)
            log.warning("snmp poll of %s failed: %s", device.name, error)
            result = wire.unanswered(device.name, device.address, "other", error, loop.time() - started)
        result.name = device.name
        if not result.address:
            result.address = device.address
        return result, int(clock() * 1000), cut

    done = await asyncio.gather(*(one(device) for device in planned))
    return [(device, ended) for device, ended, _ in done], sum(1 for *_, cut in done if cut)


def make_collect(
    config: SnmpConfig,
    context: ProbeContext,
    planned: Sequence[PlannedDevice],
    polls: PollLoop,
    secrets: Sequence[str] = (),
) -> Callable[[], SnmpResult]:
    """The collect function: poll every device, compare link states with the committed cursors."""
    budget = budget_of(config)
    names = [device.name for device in planned]

    def collect() -> SnmpResult:
        polled, cut = polls.run(
            lambda poller: poll_all(poller, planned, budget, config.max_concurrent, context.clock, secrets),
            budget + LOOP_GRACE_SECONDS,
        )
        if cut:
            log.warning("snmp: %d device(s) cut at the probe's budget of %g s", cut, budget)
        for device, _ in polled:
            device.error = redact(device.error, secrets)
        # Before the link states: a change is made only for an interface the report carries.
        wire.cap_interfaces([device for device, _ in polled])
        changes, cursors = linkstate.track(context.cursors, polled, names)
        return SnmpResult(tuple(device for device, _ in polled), tuple(changes), cut, cursors)

    return collect


def make_collector(config: SnmpConfig, context: ProbeContext) -> Callable[[], SnmpResult]:
    """The real collector: credentials read, targets built, one Poller for the agent's life."""
    from fleetwatch_agent.probes.snmp import targets

    credentials = targets.load(config)
    planned = targets.plan(config, credentials)
    worst = worst_case_seconds(config)
    if worst > budget_of(config):
        log.warning(
            "probe snmp: %d devices, %d at a time, deadline_seconds %g: a cycle where none answers takes "
            "%g s, more than the probe's budget of %g s (90%% of timeout_seconds); the devices left are "
            "reported cut. Raise max_concurrent or timeout_seconds, or lower deadline_seconds",
            len(config.devices), config.max_concurrent, config.deadline_seconds, worst, budget_of(config),
        )  # fmt: skip
    polls = PollLoop(lambda: targets.new_poller(config.max_concurrent))
    return make_collect(config, context, planned, polls, targets.secrets_of(credentials.values()))
