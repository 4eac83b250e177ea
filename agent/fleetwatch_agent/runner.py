"""Runs the enabled probes: each timed, each in a daemon thread of its own, on a jittered schedule."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import random
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from fleetwatch_agent.config import ProbesSection
from fleetwatch_agent.probes import PROBES, ProbeDefinition
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.report import ProbeOutcome

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 200
T = TypeVar("T")


@dataclass(frozen=True)
class BoundProbe:
    """A probe ready to run: its collect function, its timeout and its interval (schedule.py)."""

    name: str
    collect: Callable[[], object]
    timeout_seconds: float
    interval_seconds: float = 0.0  # 0: every cycle


def bind_probes(
    section: ProbesSection,
    context: ProbeContext | None = None,
    registry: tuple[ProbeDefinition[Any, Any], ...] = PROBES,
) -> tuple[BoundProbe, ...]:
    """Build the collect function of every enabled probe in the registry, with its [probes.<name>] config."""
    context = context or ProbeContext(Path("."))
    bound = []
    for definition in registry:
        config = getattr(section, definition.name)
        if config.enabled:
            collect = definition.make_collector(config, context)
            bound.append(
                BoundProbe(definition.name, collect, config.timeout_seconds, config.interval_seconds)
            )
    return tuple(bound)


class DaemonCall(Generic[T]):
    """One call of ``function`` in a daemon thread (its own, or a probe's Worker), awaitable from the loop
    that started it."""

    # A daemon thread never delays the interpreter's exit: a call stuck in the kernel (a dead NFS
    # mount, a WMI query, a clamd that never answers) dies with the process. asyncio.to_thread
    # would not do: its executor's threads are joined when the loop and the interpreter shut down.

    def __init__(
        self,
        function: Callable[[], T],
        name: str,
        clock: Callable[[], float] = time.monotonic,
        worker: Worker | None = None,
    ):
        self.started = clock()
        self._loop = asyncio.get_running_loop()
        # (value, None) or (None, exception): a result, so an abandoned call never logs
        # "exception was never retrieved".
        self.future: asyncio.Future[tuple[T | None, BaseException | None]] = self._loop.create_future()
        self._returned = threading.Event()
        if worker is None:
            threading.Thread(target=self._run, args=(function,), name=name, daemon=True).start()
        else:
            worker.submit(lambda: self._run(function))

    @property
    def running(self) -> bool:
        """Whether the function has not returned (or raised) yet."""
        return not self._returned.is_set()

    def _run(self, function: Callable[[], T]) -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (function(), None)
        except BaseException as exc:  # handed to the awaiting side
            outcome = (None, exc)
        self._returned.set()
        with contextlib.suppress(RuntimeError):  # a closed loop: the agent stopped meanwhile
            self._loop.call_soon_threadsafe(self._settle, outcome)

    def _settle(self, outcome: tuple[T | None, BaseException | None]) -> None:
        if not self.future.done():
            self.future.set_result(outcome)

    async def result(self, timeout: float | None = None) -> T:
        """The function's value; raises its exception, or TimeoutError (the thread runs on). Awaited once."""
        # The future itself, not a shield of it: its result is only ever read here, and a shield and
        # asyncio.wait_for cost three more turns of the loop per call.
        async with asyncio.timeout(timeout):
            value, error = await self.future
        if error is not None:
            raise error
        return value  # type: ignore[return-value]


class Worker:
    """A daemon thread that runs one probe's calls one after the other, for the probe's whole life."""

    # A thread started per call cost 0.15 ms of CPU (benchmarks/RESULTS.md, bench_agent_rss
    # --footprint): a probe's thread now waits for its next call instead. The runner never submits
    # a call while the previous one runs, so a hung call holds its own thread only, as before.

    def __init__(self, name: str) -> None:
        self.name = name
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, call: Callable[[], None]) -> None:
        """Run ``call`` in this worker's thread (started at the first call)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
            self._thread.start()
        self._calls.put(call)

    def close(self) -> None:
        """Let the thread end after the call it runs, if any (a hung call keeps it until it returns)."""
        if self._thread is not None:
            self._calls.put(None)
            self._thread = None

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            call()  # DaemonCall._run: it never raises


async def in_daemon_thread(function: Callable[[], T], name: str = "agent-io") -> T:
    """Run a blocking ``function`` in a daemon thread (see DaemonCall)."""
    return await DaemonCall(function, name).result()


class ProbeRunner:
    """Runs the bound probes every cycle; a probe whose previous call still hangs is skipped, not stacked."""

    # A hung call keeps its thread: nothing can interrupt a blocked system call. While it runs,
    # the probe is not started again (one stuck thread per probe at most) and each cycle reports
    # it failed with "timeout: still running since N s"; the other probes go on.

    def __init__(self, probes: tuple[BoundProbe, ...], clock: Callable[[], float] = time.monotonic) -> None:
        self.probes = probes
        self._clock = clock
        self._calls: dict[str, DaemonCall[object]] = {}
        self._workers: dict[str, Worker] = {}

    def rebuilt(self, probes: tuple[BoundProbe, ...]) -> ProbeRunner:
        """A runner of ``probes`` (a new configuration) that keeps this one's calls still running:
        a hung probe is not started a second time, and goes on reporting since when it hangs."""
        runner = ProbeRunner(probes, self._clock)
        runner._calls = {name: call for name, call in self._calls.items() if call.running}
        kept = {p.name for p in probes}
        runner._workers = {name: w for name, w in self._workers.items() if name in kept}
        for name, worker in self._workers.items():
            if name not in kept:
                worker.close()
        return runner

    def close(self) -> None:
        """End the probes' threads (each after its current call, if one runs)."""
        for worker in self._workers.values():
            worker.close()
        self._workers = {}

    def stuck(self) -> dict[str, float]:
        """Seconds since each probe whose last call has not returned yet started."""
        now = self._clock()
        return {name: now - call.started for name, call in self._calls.items() if call.running}

    async def run_cycle(
        self, names: Collection[str] | None = None
    ) -> tuple[tuple[ProbeOutcome, ...], dict[str, object]]:
        """Run the probes named (all by default) concurrently; returns the outcomes of those that ran
        and the results of those that succeeded."""
        due = self.probes if names is None else tuple(p for p in self.probes if p.name in names)
        if len(due) == 1:  # most cycles (only the resources probe is due): no gather and its turns
            done = [await self._run(due[0])]
        else:
            done = await asyncio.gather(*(self._run(p) for p in due))
        outcomes = tuple(outcome for outcome, _ in done)
        results = {outcome.name: result for outcome, result in done if result is not None}
        return outcomes, results

    async def _run(self, probe: BoundProbe) -> tuple[ProbeOutcome, object | None]:
        started = self._clock()
        previous = self._calls.get(probe.name)
        if previous is not None:
            if previous.running:
                since = started - previous.started
                log.debug("probe %s skipped: its call of %.0fs ago has not returned", probe.name, since)
                return ProbeOutcome(
                    probe.name, False, 0.0, f"timeout: still running since {since:.0f}s"
                ), None
            # Returned after its cycle was over: that late result is not used, the probe reads
            # its cursors again now (a cursor is only ever committed with its own report).
            log.warning("probe %s: its hung call returned; running it again", probe.name)
            del self._calls[probe.name]
        worker = self._workers.get(probe.name)
        if worker is None:
            worker = self._workers[probe.name] = Worker(f"probe-{probe.name}")
        call: DaemonCall[object] = DaemonCall(probe.collect, worker.name, self._clock, worker)
        self._calls[probe.name] = call
        result: object | None = None
        try:
            result = await call.result(probe.timeout_seconds)
        except TimeoutError:  # the call stays in _calls until it returns
            error = f"timeout: no result after {probe.timeout_seconds:g}s"
            log.warning(
                "probe %s: no result after %gs; skipped until it returns", probe.name, probe.timeout_seconds
            )
        except Exception as exc:  # a probe's bug must not stop the others
            del self._calls[probe.name]
            log.warning("probe %s failed: %s", probe.name, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        else:
            del self._calls[probe.name]
            error = ""
        duration = self._clock() - started
        return ProbeOutcome(probe.name, not error, duration, error), None if error else result


async def run_cycle(
    probes: tuple[BoundProbe, ...],
) -> tuple[tuple[ProbeOutcome, ...], dict[str, object]]:
    """Run all probes once (``check``); see ProbeRunner."""
    runner = ProbeRunner(probes)
    try:
        return await runner.run_cycle()
    finally:
        runner.close()


def first_tick(now: float, interval: float, rng: random.Random) -> float:
    """A random phase within one interval, so thousands of agents never fire in lockstep."""
    return now + rng.uniform(0.0, interval)


def next_tick(previous_tick: float, now: float, interval: float) -> float:
    """The next tick on the fixed cadence after ``now``; ticks missed by a slow cycle are skipped."""
    if now < previous_tick + interval:
        return previous_tick + interval
    missed = math.floor((now - previous_tick) / interval)
    return previous_tick + (missed + 1) * interval
