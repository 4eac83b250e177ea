"""Which probes run in which cycle: the agent's cadence, each probe every N cycles from a random first one.

The agent reports every cycle (its cadence, the ``Report.interval_seconds`` the collector's liveness
follows); a cycle runs only the probes that are due and its report carries their sections.

- ``[agent] interval_seconds = 0`` (the default): the cadence is the shortest ``interval_seconds`` of
  the enabled probes (15 s: resources), and each probe runs every ``interval_seconds`` of its own,
  rounded down to a whole number of cycles (at least one): a probe never runs less often than asked.
- ``[agent] interval_seconds`` set (configurations written before probes had intervals): that is the
  cadence and, as it always meant, every probe runs every cycle; the probes' own intervals are unused.

Each probe's first run is at a random cycle within its interval, drawn from the agent's random
generator: the 4,130 agents that start together after a power cut spread their antivirus runs over
5 minutes instead of running them in the same second.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetwatch_proto.limits import MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS

if TYPE_CHECKING:
    from fleetwatch_agent.runner import BoundProbe

# The cadence when no enabled probe has an interval (none enabled, or only probes of the tests).
DEFAULT_CADENCE_SECONDS = 15.0


@dataclass(frozen=True)
class Plan:
    """The cadence, every probe's interval in cycles, and what the agent says about them at start."""

    cadence_seconds: float
    every: Mapping[str, int]
    # The configuration asks for something the agent rounds or cannot keep: logged as warnings.
    warnings: tuple[str, ...] = ()
    # [agent] interval_seconds is set: every probe runs every cycle.
    legacy: bool = False

    def describe(self) -> str:
        """One line for the start log: each probe's interval in seconds."""
        runs = ", ".join(f"{name} every {n * self.cadence_seconds:g}s" for name, n in self.every.items())
        return f"a report every {self.cadence_seconds:g}s; {runs or 'no probes'}"


def cycles_between(interval_seconds: float, cadence_seconds: float) -> int:
    """A probe's interval in cycles: rounded down to a whole number of cycles, at least one."""
    if interval_seconds <= 0:
        return 1
    return max(1, math.floor(interval_seconds / cadence_seconds + 1e-9))


def cadence_of(agent_interval_seconds: float, probes: Sequence[BoundProbe]) -> float:
    """Seconds between reports: [agent] interval_seconds when set, else the shortest probe interval."""
    if agent_interval_seconds > 0:
        return agent_interval_seconds
    intervals = [p.interval_seconds for p in probes if p.interval_seconds > 0]
    shortest = min(intervals, default=DEFAULT_CADENCE_SECONDS)
    # A report at least once an hour (the contract's bound), even when every probe runs less often.
    return float(min(max(shortest, MIN_INTERVAL_SECONDS), MAX_INTERVAL_SECONDS))


def plan(agent_interval_seconds: float, probes: Sequence[BoundProbe]) -> Plan:
    """The cadence and each probe's interval in cycles, with the warnings the configuration deserves."""
    cadence = cadence_of(agent_interval_seconds, probes)
    legacy = agent_interval_seconds > 0
    every: dict[str, int] = {}
    warnings: list[str] = []
    for probe in probes:
        n = 1 if legacy else cycles_between(probe.interval_seconds, cadence)
        every[probe.name] = n
        runs_every = n * cadence
        wanted = probe.interval_seconds
        if not legacy and wanted > cadence and not math.isclose(runs_every, wanted):
            warnings.append(
                f"probe {probe.name}: interval_seconds {wanted:g} is not a multiple of the {cadence:g} s "
                f"cadence: it runs every {runs_every:g} s"
            )
        if probe.timeout_seconds >= runs_every:
            warnings.append(
                f"probe {probe.name}: timeout_seconds {probe.timeout_seconds:g} is not below its "
                f"{runs_every:g} s interval: its runs may overrun"
            )
    return Plan(cadence, every, tuple(warnings), legacy)


class Schedule:
    """The probes due at each cycle; cycle 0 is the agent's first (its phase is runner.first_tick's)."""

    # A cycle index counts ticks of the cadence, also those a slow cycle skipped: a probe whose
    # cycle was skipped runs in the next one, then keeps its grid.

    def __init__(self, every: Mapping[str, int], rng: random.Random) -> None:
        self._every = dict(every)
        self._next = {name: rng.randrange(n) for name, n in self._every.items()}

    def due(self, cycle: int) -> tuple[str, ...]:
        """The probes to run at ``cycle`` (cycles only grow), in registry order."""
        names = []
        for name, at in self._next.items():
            if at <= cycle:
                names.append(name)
                n = self._every[name]
                self._next[name] = at + n * ((cycle - at) // n + 1)
        return tuple(names)
