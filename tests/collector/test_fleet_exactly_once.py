"""FleetState applies every report exactly once, whatever the order, replays and restarts."""

from __future__ import annotations

import random
from pathlib import Path

from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import AgentEntry, SiteLabels
from fleetwatch_collector.dedup import AppliedSeqs
from fleetwatch_collector.exposition import render_agent
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.store import Store
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import (
    NOW_MS,
    add_antivirus,
    full_report,
    host_info,
    parsed_samples,
    register,
    report,
    value_of,
)

TOKEN_SITE = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def numbered(seq: int) -> pb.Report:
    """A report whose values tell its seq: cpu seq/1000, hostname pc-<seq>."""
    r = full_report(seq, NOW_MS + seq * 15_000, hostname=f"pc-{seq}")
    r.resources.cpu_utilization_ratio = seq / 1000
    return r


class Spool:
    """The agent side: reports held until acked, sent newest first and then oldest first."""

    def __init__(self) -> None:
        self.held: dict[int, pb.Report] = {}

    def make(self, *seqs: int) -> None:
        for seq in seqs:
            self.held[seq] = numbered(seq)

    def batch(self, size: int) -> tuple[list[pb.Report], int]:
        newest = max(self.held)
        rest = sorted(s for s in self.held if s != newest)[: size - 1]
        return [self.held[s] for s in [newest, *rest]], min(self.held)

    def ack(self, batch: list[pb.Report]) -> None:
        for r in batch:
            del self.held[r.seq]


def text_of(fleet: FleetState) -> str:
    return fleet.render()[0].decode()


def reports_total(fleet: FleetState, agent_id: str = "a1") -> float:
    return value_of(text_of(fleet), "fleetwatch_agent_reports_total", agent_id=agent_id)


def test_newest_first_then_backlog_applies_every_report_once() -> None:
    fleet = FleetState(clock=Clock())
    spool = Spool()
    spool.make(*range(1, 31))  # 30 reports made while the collector was unreachable
    made, applied, pushes = 30, 0, 0
    while spool.held:
        batch, oldest = spool.batch(7)
        result = fleet.apply("a1", batch, oldest)
        assert result.duplicates == 0
        applied += result.applied
        if pushes % 2 == 0:  # the response was lost: the agent sends the same batch again
            again = fleet.apply("a1", batch, oldest)
            assert (again.applied, again.duplicates, again.acked_seq) == (0, len(batch), result.acked_seq)
        spool.ack(batch)
        pushes += 1
        if pushes in (2, 4):  # new reports keep coming meanwhile
            made += 1
            spool.make(made)
    assert applied == made == 32
    entry = fleet.get("a1")
    assert entry is not None
    assert (entry.reports_total, entry.applied) == (32, AppliedSeqs(32, set()))
    assert reports_total(fleet) == 32


def test_acked_seq_covers_only_what_is_stored() -> None:
    fleet = FleetState(clock=Clock())
    first = fleet.apply("a1", [numbered(s) for s in (30, 1, 2, 3)], oldest_held_seq=1)
    assert first.acked_seq == 3  # 4..29 are still missing; 30 is applied but above the watermark
    second = fleet.apply("a1", [numbered(s) for s in range(4, 30)], oldest_held_seq=4)
    assert (second.acked_seq, second.applied) == (30, 26)


def test_replays_of_any_subset_are_duplicates() -> None:
    fleet = FleetState(clock=Clock())
    every = [numbered(s) for s in range(1, 41)]
    fleet.apply("a1", [every[-1], *every[:20]], oldest_held_seq=1)
    fleet.apply("a1", every[20:39], oldest_held_seq=21)
    before = (text_of(fleet), fleet.snapshot("a1"))
    rng = random.Random(7)
    for _ in range(25):
        subset = rng.sample(every, rng.randint(1, len(every)))
        result = fleet.apply("a1", subset, oldest_held_seq=min(r.seq for r in subset))
        assert (result.applied, result.duplicates, result.acked_seq) == (0, len(subset), 40)
    assert (text_of(fleet), fleet.snapshot("a1")) == before
    assert reports_total(fleet) == 40


def test_oldest_held_seq_lets_the_watermark_jump() -> None:
    fleet = FleetState(clock=Clock())
    # The agent dropped 1..40 (spool bound); it holds 41..50 and says so.
    result = fleet.apply("a1", [numbered(50), numbered(41), numbered(42)], oldest_held_seq=41)
    assert (result.acked_seq, result.applied) == (42, 3)
    entry = fleet.get("a1")
    assert entry is not None
    assert entry.applied == AppliedSeqs(42, {50})
    result = fleet.apply("a1", [numbered(s) for s in range(43, 50)], oldest_held_seq=43)
    assert (result.acked_seq, result.applied) == (50, 7)
    assert entry.applied == AppliedSeqs(50, set())
    assert entry.reports_total == 10  # 41..50, the dropped ones are not counted


def test_without_oldest_held_seq_the_gap_stays_open() -> None:
    fleet = FleetState(clock=Clock())
    result = fleet.apply("a1", [numbered(50), numbered(41), numbered(42)])
    assert result.acked_seq == 0
    entry = fleet.get("a1")
    assert entry is not None
    assert entry.applied == AppliedSeqs(0, {41, 42, 50})
    late = fleet.apply("a1", [numbered(7)])  # still welcome: nobody said 7 was gone
    assert (late.applied, late.duplicates) == (1, 0)


def test_shown_values_come_from_the_highest_seq_even_when_it_came_first() -> None:
    fleet = FleetState(clock=Clock())
    fleet.apply("a1", [numbered(30)], oldest_held_seq=1)
    for start in (1, 11, 21):
        fleet.apply("a1", [numbered(s) for s in range(start, min(start + 10, 30))], oldest_held_seq=start)
    text = text_of(fleet)
    assert value_of(text, "fleetwatch_host_cpu_utilization_ratio", agent_id="a1", host="pc-30") == 0.03
    assert value_of(text, "fleetwatch_agent_last_report_timestamp_seconds") == (NOW_MS + 30 * 15_000) / 1000
    assert value_of(text, "fleetwatch_agent_reports_total", host="pc-30") == 30
    assert {labels["host"] for _, labels, _ in parsed_samples(text)} == {"pc-30"}
    entry = fleet.get("a1")
    assert entry is not None
    assert entry.state_seq == 30


def test_site_labels_override_host_info_claims() -> None:
    fleet = FleetState(clock=Clock())
    claims = host_info("pc-1", site="xa-claimed", district="tp-my-tho", site_name="Claimed")
    fleet.apply("a1", [report(1, host=claims)], site=TOKEN_SITE)
    fleet.apply("a2", [report(1, host=claims)])  # any-site token: the claims are used
    text = text_of(fleet)
    token = {"site": "xa-an-cu", "district": "h-cai-be", "site_type": "commune"}
    assert value_of(text, "fleetwatch_agent_up", agent_id="a1", host="pc-1", **token) == 1
    assert value_of(text, "fleetwatch_agent_info", agent_id="a1", site_name="Xã An Cư") == 1
    claimed = {"site": "xa-claimed", "district": "tp-my-tho", "site_type": "commune"}
    assert value_of(text, "fleetwatch_agent_info", agent_id="a2", site_name="Claimed", **claimed) == 1
    assert not [
        lab for _, lab, _ in parsed_samples(text) if lab["agent_id"] == "a1" and lab["site"] != token["site"]
    ]


def test_render_agent_uses_the_entry_site() -> None:
    entry = AgentEntry("a1", host=host_info("pc-1", site="xa-claimed"), site=TOKEN_SITE, reports_total=4)
    prefix, chunks = render_agent(entry)
    assert prefix == (
        b'fleetwatch_agent_up{agent_id="a1",district="h-cai-be",host="pc-1",'
        b'site="xa-an-cu",site_type="commune"} '
    )
    assert b"fleetwatch_agent_reports_total{" in b"".join(chunks)
    assert b"xa-claimed" not in prefix + b"".join(chunks)


def test_empty_push_registers_no_agent() -> None:
    """BUG: apply() with no reports (validate_push accepts an empty Push) creates an entry that
    renders no series, yet counts as one agent down and leaves an empty fleetwatch_agent_up family."""
    fleet = FleetState(clock=Clock())
    result = fleet.apply("ghost", [], oldest_held_seq=5)
    assert (result.applied, result.duplicates) == (0, 0)
    assert fleet.render() == (b"", 0, 0)
    assert len(fleet) == 0


def test_restart_keeps_applied_seqs_and_counts_exactly(tmp_path: Path) -> None:
    path = tmp_path / "collector.sqlite"
    store = Store(path)
    token = enrolment.create_token(store, TOKEN_SITE, 1000.0, None)
    agent = enrolment.enrol(store, token, 1000.0).agent_id
    clock = Clock(2000.0)
    before = FleetState(clock=clock)
    before.apply(agent, [numbered(s) for s in (20, 1, 2, 3, 4, 5)], 1, TOKEN_SITE)
    before.apply(agent, [numbered(s) for s in (6, 7, 12)], 6, TOKEN_SITE)  # 8..11 still to come
    store.save_agents([before.snapshot(agent)])
    store.close()

    store = Store(path)  # the collector restarts
    after = FleetState(clock=clock)
    assert after.restore(store.load_agents()) == 1
    store.close()
    assert after.snapshot(agent) == before.snapshot(agent)
    assert after.render()[1:] == (0, 1)  # down until it reports again
    replay = after.apply(agent, [numbered(s) for s in (20, 1, 7, 12)], 1, TOKEN_SITE)
    assert (replay.applied, replay.duplicates, replay.acked_seq) == (0, 4, 7)
    rest = after.apply(agent, [numbered(s) for s in (21, 8, 9, 10, 11, 13)], 8, TOKEN_SITE)
    assert (rest.applied, rest.duplicates, rest.acked_seq) == (6, 0, 13)
    text = text_of(after)
    assert value_of(text, "fleetwatch_agent_reports_total", agent_id=agent, site=TOKEN_SITE.site) == 9 + 6
    assert value_of(text, "fleetwatch_agent_up", agent_id=agent, host="pc-21") == 1
    entry = after.get(agent)
    assert entry is not None
    assert entry.applied == AppliedSeqs(13, {20, 21})


def test_threat_events_count_once_across_replays_and_restart(tmp_path: Path) -> None:
    def threats(fleet: FleetState) -> float:
        return value_of(text_of(fleet), "fleetwatch_antivirus_threats_detected_total", product="ClamAV")

    batch = [add_antivirus(numbered(s)) for s in (5, 1, 2)]  # one threat event each
    before = FleetState(clock=Clock())
    before.apply("a1", batch, oldest_held_seq=1)
    before.apply("a1", batch, oldest_held_seq=1)  # the ack was lost
    assert threats(before) == 3
    store = register(Store(tmp_path / "collector.sqlite"), "a1")
    try:
        store.save_agents([before.snapshot("a1")])
        after = FleetState(clock=Clock())
        after.restore(store.load_agents())
    finally:
        store.close()
    assert threats(after) == 3
    after.apply("a1", [*batch, add_antivirus(numbered(3)), numbered(4)], oldest_held_seq=1)
    assert threats(after) == 4
