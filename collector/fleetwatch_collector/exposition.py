"""Renders agents to Prometheus text: per-agent chunks cached at ingest, joined per family at scrape."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from fleetwatch_collector.agentstate import AgentEntry
from fleetwatch_collector.catalog import HOST_INDEX, PER_HOST
from fleetwatch_collector.kinds import KINDS
from fleetwatch_collector.textformat import label_pairs, number

UP = HOST_INDEX["fleetwatch_agent_up"]
HEADERS = tuple(spec.header().encode() for spec in PER_HOST)


def _spans() -> tuple[slice, ...]:
    """Each kind's families in PER_HOST, which lists them kind by kind."""
    spans, start = [], 0
    for kind in KINDS:
        spans.append(slice(start, start + len(kind.metrics)))
        start += len(kind.metrics)
    if start != len(PER_HOST):
        raise ValueError("PER_HOST is not the kinds' metrics in the order of KINDS")
    return tuple(spans)


SPANS = _spans()


def host_label_pairs(agent: AgentEntry) -> tuple[tuple[str, str], ...]:
    """The labels every host series carries, as (name, raw value) pairs in sorted order."""
    site = agent.labels()
    return (
        ("agent_id", agent.agent_id),
        ("district", site.district),
        ("host", agent.hostname or agent.host.hostname),
        ("site", site.site),
        ("site_type", site.site_type),
    )


def base_labels(agent: AgentEntry, texts: LabelTexts | None = None) -> str:
    """The labels every host series carries, in sorted order, as text."""
    pairs = host_label_pairs(agent)
    return label_pairs(pairs) if texts is None else texts.get(pairs)


Pairs = tuple[tuple[str, str], ...]


class LabelTexts:
    """Label texts by their (name, value) pairs, kept across reports: an agent's labels and most of
    the extra ones (a probe, a state, the targets of the default configuration) are the same from one
    report to the next, and sanitizing and escaping them was a third of the rendering. Forgets all
    when it holds ``limit`` texts (hostile label values cannot grow it)."""

    def __init__(self, limit: int = 1 << 18) -> None:
        self._texts: dict[Pairs, str] = {}
        self._limit = limit

    def get(self, pairs: Pairs) -> str:
        text = self._texts.get(pairs)
        if text is None:
            if len(self._texts) >= self._limit:
                self._texts.clear()
            text = self._texts[pairs] = label_pairs(pairs)
        return text


class Chunks:
    """Accumulates one agent's sample lines per host family; the kinds' render() add to it."""

    def __init__(self, labels: str, texts: LabelTexts | None = None) -> None:
        self.labels = labels
        self.lines: list[list[str]] = [[] for _ in PER_HOST]
        self._texts = texts or LabelTexts()
        # The agent's labels with each ``extra`` seen: the kinds give the same extra labels to several
        # families (a target's to its eight).
        self._label_text: dict[Pairs, str] = {}

    def _labels(self, extra: Iterable[tuple[str, str]]) -> str:
        key = extra if extra.__class__ is tuple else tuple(extra)
        labels = self._label_text.get(key)
        if labels is None:
            labels = self._label_text[key] = f"{self.labels},{self._texts.get(key)}" if key else self.labels
        return labels

    def add(self, name: str, value: float, extra: Iterable[tuple[str, str]] = ()) -> None:
        """One sample of family ``name`` with the agent's labels and ``extra`` (name, value) pairs."""
        labels = self._labels(extra)
        text = str(value) if value.__class__ is int else number(value)  # counters and sizes: ints
        self.lines[HOST_INDEX[name]].append(f"{name}{{{labels}}} {text}\n")  # labels never empty

    def add_all(self, extra: Iterable[tuple[str, str]], samples: Iterable[tuple[str, float]]) -> None:
        """``add(name, value, extra)`` for each (name, value) of ``samples``, in their order: the
        labels are looked up once (a third of the cost of a sample). A subclass that overrides ``add``
        (remotewrite/render.py keeps samples, not text) gets its ``add`` called for each."""
        if self.__class__.add is not Chunks.add:
            for name, value in samples:
                self.add(name, value, extra)
            return
        labels = self._labels(extra)
        lines = self.lines
        for name, value in samples:
            text = str(value) if value.__class__ is int else number(value)
            lines[HOST_INDEX[name]].append(f"{name}{{{labels}}} {text}\n")

    def done(self, span: slice = slice(None)) -> tuple[bytes, ...]:
        """The chunks of the families of ``span`` (all by default), UTF-8 encoded."""
        return tuple("".join(lines).encode() if lines else b"" for lines in self.lines[span])


def render_agent(agent: AgentEntry, texts: LabelTexts | None = None) -> tuple[bytes, tuple[bytes, ...]]:
    """The up-line prefix and the per-family chunks of one agent, UTF-8 encoded once at ingest;
    ``texts``: label texts kept by the fleet across reports. A kind whose render key
    (Kind.render_key) and the agent's labels are what they were gives the chunks it gave then
    (``agent.rendered``): a report without its section, or with the same, renders none of it."""
    texts = texts or LabelTexts()
    labels = base_labels(agent, texts)
    chunks = Chunks(labels, texts)
    kept = agent.rendered
    done: list[bytes] = []
    for kind, span in zip(KINDS, SPANS, strict=True):
        state = agent.states[kind.name]
        key = None if kind.render_key is None else kind.render_key(agent, state)
        if key is not None:
            last = kept.get(kind.name)
            if last is not None and last[0] == labels and last[1] == key:
                kept[kind.name] = (labels, key, last[2])  # the new key: the old state can go
                done += last[2]
                continue
        kind.render(chunks, agent, state)  # a kind adds to its own families only
        mine = chunks.done(span)
        if key is not None:
            kept[kind.name] = (labels, key, mine)
        done += mine
    return f"fleetwatch_agent_up{{{labels}}} ".encode(), tuple(done)


def render_rows(rows: Sequence[Sequence[bytes]], up_lines: Sequence[bytes]) -> Iterator[bytes]:
    """``render_fleet`` of the chunks kept per key (``rows[k][family]``, b"" where a key has no
    samples): the rows are read one family at a time (``zip``, in C), a family without any sample
    is left out with its header."""
    columns: Iterable[Sequence[bytes]] = zip(*rows, strict=True) if rows else [()] * len(HEADERS)
    for index, (header, column) in enumerate(zip(HEADERS, columns, strict=True)):
        body = b"".join(up_lines if index == UP else column)
        if body:
            yield header + body


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
