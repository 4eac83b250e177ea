"""Runs the enabled probes: each timed, each isolated, on a jittered schedule."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetwatch_agent.config import ProbesSection
from fleetwatch_agent.probes import PROBES, ProbeDefinition
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.report import ProbeOutcome

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 200


@dataclass(frozen=True)
class BoundProbe:
    """A probe ready to run: its collect function and its timeout."""

    name: str
    collect: Callable[[], object]
    timeout_seconds: float


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
            bound.append(BoundProbe(definition.name, collect, config.timeout_seconds))
    return tuple(bound)


async def run_probe(probe: BoundProbe) -> tuple[ProbeOutcome, object | None]:
    """Run one probe in a worker thread; any exception or timeout becomes a failed outcome."""
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(asyncio.to_thread(probe.collect), probe.timeout_seconds)
    except TimeoutError:
        error = f"timed out after {probe.timeout_seconds:g}s"
        result = None
    except Exception as exc:  # a probe's bug must not stop the others
        log.warning("probe %s failed: %s", probe.name, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        result = None
    else:
        error = ""
    duration = time.perf_counter() - started
    return ProbeOutcome(probe.name, not error, duration, error), result


async def run_cycle(
    probes: tuple[BoundProbe, ...],
) -> tuple[tuple[ProbeOutcome, ...], dict[str, object]]:
    """Run all probes concurrently; returns the outcomes and the results of those that succeeded."""
    done = await asyncio.gather(*(run_probe(p) for p in probes))
    outcomes = tuple(outcome for outcome, _ in done)
    results = {outcome.name: result for outcome, result in done if result is not None}
    return outcomes, results


def first_tick(now: float, interval: float, rng: random.Random) -> float:
    """A random phase within one interval, so thousands of agents never fire in lockstep."""
    return now + rng.uniform(0.0, interval)


def next_tick(previous_tick: float, now: float, interval: float) -> float:
    """The next tick on the fixed cadence after ``now``; ticks missed by a slow cycle are skipped."""
    if now < previous_tick + interval:
        return previous_tick + interval
    missed = math.floor((now - previous_tick) / interval)
    return previous_tick + (missed + 1) * interval
