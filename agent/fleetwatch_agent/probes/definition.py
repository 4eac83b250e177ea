"""What a probe is: its name, its config section, its collect function, its wire conversion, its summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from fleetwatch_agent.probes.context import ProbeContext

if TYPE_CHECKING:
    from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


# Bounds of every probe's interval_seconds: a second to a day.
MIN_PROBE_INTERVAL_SECONDS = 1.0
MAX_PROBE_INTERVAL_SECONDS = 86400.0


class ProbeConfig(Protocol):
    """What the runner needs of every probe's config dataclass (frozen, with defaults)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def timeout_seconds(self) -> float: ...

    @property
    def interval_seconds(self) -> float:
        """Seconds between two runs of the probe (agent/fleetwatch_agent/schedule.py); validate() calls
        check_interval."""

    def validate(self) -> None:
        """Raise ValueError("<option>: <why>") for a bad value; the loader prefixes the option path."""


def check_interval(interval_seconds: float) -> None:
    """What every probe's validate() checks of its interval_seconds."""
    if not MIN_PROBE_INTERVAL_SECONDS <= interval_seconds <= MAX_PROBE_INTERVAL_SECONDS:
        raise ValueError(
            f"interval_seconds: must be between {MIN_PROBE_INTERVAL_SECONDS:g} and "
            f"{MAX_PROBE_INTERVAL_SECONDS:g} (a day)"
        )


C = TypeVar("C", bound=ProbeConfig)
R = TypeVar("R")


@dataclass(frozen=True)
class ProbeDefinition(Generic[C, R]):
    """One probe of the registry; ``R`` is the type its collect function returns.

    ``name``            registry name: the ``[probes.<name>]`` table, the ``probe`` label, the result key
    ``config_type``     frozen dataclass with defaults and ``validate()``; ``config_type()`` is the default
    ``make_collector``  (config, context) -> the collect function, run in a worker thread every cycle
    ``to_wire``         (result, report) -> fills the probe's section of the report and adds its events
    ``summary``         (result, now) -> the readable lines ``fleetwatch-agent check`` prints
    """

    name: str
    config_type: type[C]
    make_collector: Callable[[C, ProbeContext], Callable[[], R]]
    to_wire: Callable[[R, pb.Report], None]
    summary: Callable[[R, float], list[str]]
