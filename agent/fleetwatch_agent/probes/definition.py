"""What a probe is: its name, its config section, its collect function, its wire conversion, its summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from fleetwatch_agent.probes.context import ProbeContext

if TYPE_CHECKING:
    from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


class ProbeConfig(Protocol):
    """What the runner needs of every probe's config dataclass (frozen, with defaults)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def timeout_seconds(self) -> float: ...

    def validate(self) -> None:
        """Raise ValueError("<option>: <why>") for a bad value; the loader prefixes the option path."""


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
