"""What a report kind is on the collector side (the Kind record), and the helpers kinds share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from google.protobuf.message import Message

from fleetwatch_collector.checks import Limits
from fleetwatch_collector.metricspec import MetricSpec
from fleetwatch_proto import limits
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

if TYPE_CHECKING:
    from fleetwatch_collector.agentstate import AgentEntry
    from fleetwatch_collector.exposition import Chunks

S = TypeVar("S")
M = TypeVar("M", bound=Message)

# Distinct label values of one event counter per agent; beyond, "other" (agents bound their totals alike).
MAX_COUNTED_KEYS = limits.MAX_COUNTED_KEYS


def no_events(state: object, report: pb.Report) -> None:
    """``count_events`` of a kind whose reports carry no events."""


@dataclass(frozen=True)
class Kind(Generic[S]):
    """One report kind: what the collector checks, keeps, counts and exposes of it.

    ``S`` is the kind's per-agent state (a small dataclass of its module): the newest values
    and the event counters. Each agent holds one, made by ``new_state``, in
    ``AgentEntry.states[name]``.
    """

    # The kind's name: a key of AgentEntry.states, a heading of docs/metrics.md.
    name: str
    # The field of fleetwatch.v1.Report it reads (None: the report itself, for `host`).
    section: str | None
    # One line on what it exposes, for docs/metrics.md.
    summary: str
    # Its entries of the metric catalog, in the order they are exposed.
    metrics: tuple[MetricSpec, ...]
    # A fresh per-agent state.
    new_state: Callable[[], S]
    # validate(where, report, limits): raise Rejection for its part of a report, at path `where`.
    validate: Callable[[str, pb.Report, Limits], None]
    # take(state, newer): keep the newest values of reports newer than those shown (in seq order),
    # and the counters of the newest report's totals (Report.totals: the agent's own counts).
    take: Callable[[S, Sequence[pb.Report]], None]
    # render(chunks, entry, state): add its samples of one agent; called at ingest, never at scrape.
    render: Callable[[Chunks, AgentEntry, S], None]
    # count_events(state, report): add the effect of its events; called once per applied report
    # (a report with totals adds nothing: ``take`` sets the counters from them).
    count_events: Callable[[S, pb.Report], None] = no_events
    # Fields of the state kept in the store (JSON), so counts survive a collector restart.
    # Their names are keys of one JSON object shared by all kinds: unique across kinds.
    counters: tuple[str, ...] = ()
    # render_key(entry, state): everything ``render`` reads, as a value compared with ``==``. While
    # it stays equal and so do the agent's labels, the text rendered last is used again (a report
    # without the kind's section, or with the same one); None (the default): rendered every time.
    # Only for states that are replaced, never changed in place (copies, not the dicts themselves).
    render_key: Callable[[AgentEntry, S], object] | None = None

    def save(self, state: S) -> dict[str, Any]:
        """The counters of ``state``, for the store."""
        return {name: getattr(state, name) for name in self.counters}

    def restore(self, state: S, saved: dict[str, Any]) -> None:
        """Set the counters of ``state`` from a stored object; absent ones keep their defaults."""
        for name in self.counters:
            if name in saved:
                setattr(state, name, saved[name])


def copy_message(message: M) -> M:
    """A copy with memory of its own (not a view into the request it was decoded from).

    A sub-message shares the memory of the whole decoded request, and keeping it would pin
    up to 500 reports per agent after a backlog drain."""
    return type(message).FromString(message.SerializeToString())


def newest_section(newer: Sequence[pb.Report], section: str, current: M | None) -> M | None:
    """A copy of ``section`` of the newest report that has it; ``current`` when none has."""
    for report in reversed(newer):
        if report.HasField(section):
            value: M = getattr(report, section)
            return copy_message(value)
    return current


def newest_totals(newer: Sequence[pb.Report]) -> tuple[pb.Report | None, Sequence[pb.Report]]:
    """The newest report of ``newer`` (in seq order) with totals, and the reports after it (from an
    agent downgraded since: their events count on top); (None, ()) when none has totals."""
    for i in range(len(newer) - 1, -1, -1):
        if newer[i].HasField("totals"):
            return newer[i], newer[i + 1 :]
    return None, ()


def counted_by_events(report: pb.Report, totals_as_of_ms: int) -> bool:
    """Whether the events of ``report`` add to a kind's counters: not when it carries totals (the
    newest report's totals set them), nor when it was collected before the report whose totals the
    counters hold (``totals_as_of_ms``, 0: none): a backlog of an agent upgraded meanwhile, whose
    totals started after these events."""
    return not report.HasField("totals") and report.collected_unix_ms >= totals_as_of_ms


def bounded(counters: dict[str, Any], key: str) -> str:
    """``key``, or "other" once MAX_COUNTED_KEYS distinct keys are counted (bounded series)."""
    return limits.counted_key(counters, key)
