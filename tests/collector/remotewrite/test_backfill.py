"""Late reports replayed in seq order: each becomes the samples /metrics would have shown at its time."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.remotewrite.backfill import Backfill
from fleetwatch_collector.remotewrite.encode import Sample
from fleetwatch_collector.remotewrite.queue import SampleQueue
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import (
    NOW_MS,
    add_antivirus,
    add_connectivity,
    add_network_devices,
    full_report,
    parsed_samples,
)

AGENT = "a1"
INTERVAL_MS = 15_000
Series = tuple[str, frozenset[tuple[str, str]]]


def make_report(seq: int) -> pb.Report:
    """Report ``seq`` of a varied history: memory moving, antivirus every third report with a threat
    every fifth, an outage and a LAN device every fourth, a router with a link change every seventh."""
    r = full_report(seq, NOW_MS + seq * INTERVAL_MS)
    r.resources.memory_available_bytes = seq * 2**20
    if seq % 3 == 0:
        add_antivirus(r)
        if seq % 5:
            del r.events[:]  # its section, without the threat
    if seq % 4 == 0:
        add_connectivity(r)
    if seq % 7 == 0:
        add_network_devices(r)
    return r


class Recorder:
    """A fleet with a backfill, recording what became of late reports."""

    def __init__(self, capacity: int = 1_000_000, max_held_bytes: int = 64 * 2**20) -> None:
        self.queue = SampleQueue(capacity)
        self.results: Counter[str] = Counter()
        self.fleet = FleetState()
        self.backfill = Backfill(self.queue, self.count, max_held_bytes=max_held_bytes)
        self.fleet.backfill = self.backfill
        self.samples: list[Sample] = []

    def count(self, result: str) -> None:
        self.results[result] += 1

    def push(self, reports: Iterable[pb.Report], oldest_held_seq: int = 0) -> None:
        self.fleet.apply(AGENT, list(reports), oldest_held_seq)
        self.samples += self.queue.take(10**9)

    def by_time(self) -> dict[int, dict[Series, float]]:
        found: dict[int, dict[Series, float]] = {}
        for labels, timestamp, value in self.samples:
            names = dict(labels)
            name = names.pop("__name__")
            series = (name, frozenset(names.items()))
            assert series not in found.setdefault(timestamp, {}), f"{series} twice at {timestamp}"
            found[timestamp][series] = value
        return found


def results_of(recorder: Recorder) -> Counter[str]:
    return Counter({k: v for k, v in recorder.results.items() if v})


def drain(recorder: Recorder, seqs: list[int], batch: int) -> None:
    """Push ``seqs`` as the agent's spool does: the newest left first, then the oldest in order."""
    left = sorted(seqs)
    while left:
        chosen = [left[-1], *left[: batch - 1]] if len(left) > 1 else [left[-1]]
        chosen = list(dict.fromkeys(chosen))
        recorder.push(make_report(seq) for seq in chosen)
        left = [seq for seq in left if seq not in chosen]


def expected_at(upto: int) -> dict[int, dict[Series, float]]:
    """What /metrics showed after each report 1..``upto`` applied alone, in order (an agent never
    cut off), by the report's collection time; fleetwatch_agent_up aside."""
    fleet = FleetState()
    shown: dict[int, dict[Series, float]] = {}
    for seq in range(1, upto + 1):
        fleet.apply(AGENT, [make_report(seq)])
        text = fleet.render()[0].decode()
        shown[NOW_MS + seq * INTERVAL_MS] = {  # Prometheus stores no label of empty value
            (name, frozenset((k, v) for k, v in labels.items() if v)): value
            for name, labels, value in parsed_samples(text)
            if name != "fleetwatch_agent_up"
        }
    return shown


def test_reports_on_time_write_nothing() -> None:
    recorder = Recorder()
    for seq in range(1, 6):
        recorder.push([make_report(seq)])
    assert recorder.samples == []
    assert len(recorder.backfill) == 0
    assert results_of(recorder) == Counter()


def test_a_backlog_in_one_push_renders_each_late_report_as_metrics_showed_it() -> None:
    recorder = Recorder()
    for seq in range(1, 4):  # on time
        recorder.push([make_report(seq)])
    recorder.push(make_report(seq) for seq in [25, *range(4, 25)])  # back: the newest first
    expected = expected_at(25)
    written = recorder.by_time()
    assert sorted(written) == [NOW_MS + seq * INTERVAL_MS for seq in range(4, 25)]
    for timestamp, series in written.items():
        assert series == expected[timestamp], timestamp
    assert results_of(recorder) == Counter(queued=21)
    assert len(recorder.backfill) == 0  # caught up
    assert recorder.backfill.held_bytes == 0


def test_a_drain_in_many_pushes_keeps_every_counter_as_it_was() -> None:
    """The newest of the backlog leads each Push, so reports arrive older than the one /metrics shows;
    the threats, outages, link changes and reports counted must still be those after each report."""
    recorder = Recorder()
    for seq in range(1, 3):
        recorder.push([make_report(seq)])
    drain(recorder, list(range(3, 41)), batch=4)
    expected = expected_at(40)
    written = recorder.by_time()
    # Every report of the backlog but the first Push's newest (shown by /metrics), exactly once.
    assert sorted(written) == [NOW_MS + seq * INTERVAL_MS for seq in range(3, 40)]
    for timestamp, series in written.items():
        assert series == expected[timestamp], timestamp
    threats = [
        value
        for _, series in sorted(written.items())
        for (name, _labels), value in series.items()
        if name == "fleetwatch_antivirus_threats_detected_total"
    ]
    assert threats == sorted(threats) and threats[-1] == 2  # seq 15 and 30, counted in order
    assert results_of(recorder) == Counter(queued=37)
    assert len(recorder.backfill) == 0
    assert recorder.backfill.held_bytes == 0


def test_reports_held_while_older_ones_are_awaited() -> None:
    recorder = Recorder()
    recorder.push([make_report(1)])
    recorder.push([make_report(10), make_report(2), make_report(3)])  # 4..9 still in the spool
    assert recorder.backfill.held_bytes > 0  # 10 waits for them
    recorder.push([make_report(9), make_report(4), make_report(5)])
    assert sorted(recorder.by_time()) == [NOW_MS + s * INTERVAL_MS for s in (2, 3, 4, 5)]
    recorder.push([make_report(8), make_report(6), make_report(7)])
    assert sorted(recorder.by_time()) == [NOW_MS + s * INTERVAL_MS for s in range(2, 10)]
    assert len(recorder.backfill) == 0 and recorder.backfill.held_bytes == 0


def test_reports_the_agent_dropped_do_not_stall_the_timeline() -> None:
    recorder = Recorder()
    recorder.push([make_report(1)])
    recorder.push([make_report(20), make_report(2), make_report(3)])
    # The agent's spool dropped 4..9: it says so with the lowest seq it still holds.
    recorder.push([make_report(19), make_report(10), make_report(11)], oldest_held_seq=10)
    times = sorted(recorder.by_time())
    assert times == [NOW_MS + s * INTERVAL_MS for s in (2, 3, 10, 11)]


def test_a_full_queue_refuses_whole_reports() -> None:
    measure = Recorder()
    measure.push(make_report(seq) for seq in (3, 2, 1))
    one = len(measure.by_time()[NOW_MS + 2 * INTERVAL_MS])
    recorder = Recorder(capacity=one + 10)  # report 2's samples fit, no more (3 and 4 have as many)
    recorder.push([make_report(1)])
    recorder.push(make_report(seq) for seq in (5, 2, 3, 4))
    assert results_of(recorder) == Counter(queued=1, queue_full=2)
    assert len({timestamp for _, timestamp, _ in recorder.samples}) == 1


def test_over_the_held_budget_a_report_keeps_only_its_events() -> None:
    recorder = Recorder(max_held_bytes=0)
    recorder.push([make_report(1)])
    recorder.push([make_report(30), make_report(2)])
    recorder.push([make_report(29), make_report(3)])  # 29 is late but cannot wait
    drain(recorder, list(range(4, 29)), batch=30)
    assert results_of(recorder)["over_budget"] == 1
    written = recorder.by_time()
    assert NOW_MS + 29 * INTERVAL_MS not in written
    expected = expected_at(28)  # counters after it are still right: its events were kept
    assert written[NOW_MS + 28 * INTERVAL_MS] == expected[NOW_MS + 28 * INTERVAL_MS]


def test_a_reenrolled_agent_starts_a_new_timeline() -> None:
    recorder = Recorder()
    recorder.push([make_report(1)])
    recorder.push([make_report(50), make_report(2)])  # a gap: a timeline waits
    assert len(recorder.backfill) == 1
    recorder.fleet.reenrolled(AGENT, None)
    recorder.push([make_report(3), make_report(1), make_report(2)])  # seqs start again
    assert len(recorder.backfill) == 0
    assert results_of(recorder) == Counter(queued=3)


def test_constant_labels_are_added_where_the_series_has_none() -> None:
    queue = SampleQueue(10_000)
    fleet = FleetState()
    constant = (("job", "fleetwatch-backfill"), ("host", "ignored"), ("Region", "south"))
    fleet.backfill = Backfill(queue, labels=constant)
    fleet.apply(AGENT, [make_report(2), make_report(1)])
    samples = queue.take(10_000)
    assert samples
    for labels, _, _ in samples:
        names = dict(labels)
        assert names["job"] == "fleetwatch-backfill"
        assert names["host"] == "pc-ke-01"
        assert names["Region"] == "south"
        assert [name for name, _ in labels] == sorted(names)  # sorted by name (bytes: "Region" first)
        assert "" not in names.values()


def test_timelines_of_forgotten_agents_are_dropped() -> None:
    recorder = Recorder()

    def open_gap(agent_id: str) -> None:
        recorder.fleet.apply(agent_id, [make_report(1)])
        recorder.fleet.apply(agent_id, [make_report(50), make_report(2)])  # 3..49 awaited

    for i in range(40):
        open_gap(f"gone-{i}")
    held = recorder.backfill.held_bytes
    assert len(recorder.backfill) == 40 and held > 0
    assert recorder.fleet.sweep({}, read_at=time.time() + 1) == 40  # `agent forget`: not in the store
    for i in range(30):
        open_gap(f"new-{i}")
    assert len(recorder.backfill) == 30  # the 40 went when the timelines reached 64
    assert recorder.backfill.held_bytes == held * 30 // 40
