"""Renders agents to Prometheus text: per-agent chunks cached at ingest, joined per family at scrape."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from fleetwatch_collector.agentstate import AgentEntry
from fleetwatch_collector.catalog import HOST_INDEX, PER_HOST
from fleetwatch_collector.kinds import KINDS
from fleetwatch_collector.textformat import label_pairs, sample

UP = HOST_INDEX["fleetwatch_agent_up"]
HEADERS = tuple(spec.header().encode() for spec in PER_HOST)


def base_labels(agent: AgentEntry) -> str:
    """The labels every host series carries, in sorted order."""
    site = agent.labels()
    return label_pairs(
        (
            ("agent_id", agent.agent_id),
            ("district", site.district),
            ("host", agent.hostname or agent.host.hostname),
            ("site", site.site),
            ("site_type", site.site_type),
        )
    )


class Chunks:
    """Accumulates one agent's sample lines per host family; the kinds' render() add to it."""

    def __init__(self, labels: str) -> None:
        self.labels = labels
        self.lines: list[list[str]] = [[] for _ in PER_HOST]

    def add(self, name: str, value: float, extra: Iterable[tuple[str, str]] = ()) -> None:
        """One sample of family ``name`` with the agent's labels and ``extra`` (name, value) pairs."""
        extra_text = label_pairs(extra)
        labels = f"{self.labels},{extra_text}" if extra_text else self.labels
        self.lines[HOST_INDEX[name]].append(sample(name, labels, value))

    def done(self) -> tuple[bytes, ...]:
        return tuple("".join(lines).encode() for lines in self.lines)


def render_agent(agent: AgentEntry) -> tuple[bytes, tuple[bytes, ...]]:
    """The up-line prefix and the per-family chunks of one agent, UTF-8 encoded once at ingest."""
    labels = base_labels(agent)
    chunks = Chunks(labels)
    for kind in KINDS:
        kind.render(chunks, agent, agent.states[kind.name])
    return f"fleetwatch_agent_up{{{labels}}} ".encode(), chunks.done()


def render_fleet(families: Sequence[Sequence[bytes]], up_lines: Sequence[bytes]) -> Iterator[bytes]:
    """Each host family as one chunk: its header followed by every agent's samples;
    ``families[UP]`` is replaced by ``up_lines``, which depend on the time of the scrape.

    One chunk per family (about 1 MB for 4,130 agents), not one body: a 22 MB allocation per
    scrape, from whichever thread serves it, leaves glibc arenas holding hundreds of MiB; and
    the joins stay in C, with no Python loop over the 100,000 samples."""
    for index, header in enumerate(HEADERS):
        body = up_lines if index == UP else families[index]
        if body:
            yield header + b"".join(body)
