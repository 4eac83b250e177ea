"""One agent's state as remote write samples: the kinds' own rendering, captured instead of printed."""

from __future__ import annotations

from collections.abc import Iterable

from fleetwatch_collector.agentstate import AgentEntry
from fleetwatch_collector.exposition import Chunks, host_label_pairs
from fleetwatch_collector.kinds import KINDS
from fleetwatch_collector.remotewrite.encode import Labels, Sample
from fleetwatch_collector.textformat import sanitize

Pairs = tuple[tuple[str, str], ...]


class SampleChunks(Chunks):
    """What the kinds' ``render`` add, kept as (name, extra labels, value) rather than text lines."""

    def __init__(self) -> None:
        super().__init__("")
        self.added: list[tuple[str, Pairs, float]] = []

    def add(self, name: str, value: float, extra: Iterable[tuple[str, str]] = ()) -> None:
        self.added.append((name, tuple(extra), value))


def series_labels(host: Pairs, extra: Pairs, constant: Pairs = ()) -> Labels:
    """The labels of one series but its name, as /metrics shows them (values sanitized, empty ones
    absent, as Prometheus reads them), ``constant`` ones added where the series has no label of that
    name; sorted by name."""
    labels = dict(host)
    for label, value in extra:
        labels[label] = sanitize(value)
    for label, value in constant:
        labels.setdefault(label, value)
    return tuple(sorted((label, value) for label, value in labels.items() if value))


def with_name(name: str, labels: Labels) -> Labels:
    """``labels`` with ``__name__``, still sorted (it sorts first unless a label name starts with A-Z)."""
    if not labels or labels[0][0] > "__name__":
        return (("__name__", name), *labels)
    return tuple(sorted((("__name__", name), *labels)))


class LabelCache:
    """Labels of the series rendered lately, by host labels, then name and extra labels: the series of an
    agent repeat from one report to the next, so their label tuples are made once and shared by the
    queued samples. Bounded: emptied when it holds ``size`` series."""

    def __init__(self, constant: Pairs = (), size: int = 50_000) -> None:
        self.constant = constant
        self.size = size
        self._hosts: dict[Pairs, dict[tuple[str, Pairs], Labels]] = {}
        self._count = 0

    def of_host(self, host: Pairs) -> dict[tuple[str, Pairs], Labels]:
        if self._count >= self.size:
            self._hosts.clear()
            self._count = 0
        return self._hosts.setdefault(host, {})

    def labels(self, series: dict[tuple[str, Pairs], Labels], host: Pairs, name: str, extra: Pairs) -> Labels:
        labels = series.get((name, extra))
        if labels is None:
            labels = series[name, extra] = with_name(name, series_labels(host, extra, self.constant))
            self._count += 1
        return labels


def render_samples(agent: AgentEntry, timestamp_ms: int, cache: LabelCache | None = None) -> list[Sample]:
    """Every series the kinds render for ``agent`` (all but fleetwatch_agent_up, which tells whether
    the collector heard from the agent, not what the agent measured), at ``timestamp_ms``."""
    cache = cache or LabelCache()
    chunks = SampleChunks()
    for kind in KINDS:
        kind.render(chunks, agent, agent.states[kind.name])
    host = tuple((label, sanitize(value)) for label, value in host_label_pairs(agent))
    series = cache.of_host(host)
    return [
        (cache.labels(series, host, name, extra), timestamp_ms, float(value))
        for name, extra, value in chunks.added
    ]
