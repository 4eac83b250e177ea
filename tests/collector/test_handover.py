"""Exposure in a cluster: a member lists the agents it is the rendezvous home of, and the others only while
they report to it, then hands them over (off /metrics, counted) until they report there again."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.exposure import RETURN_GRACE, Membership
from fleetwatch_collector.fleet import AgentCounts, FleetState
from fleetwatch_collector.scrape import MetricsPage
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.sitedir import SiteDirectory
from fleetwatch_collector.store import Store
from fleetwatch_collector.upkeep import Upkeep
from fleetwatch_proto import rendezvous
from tests.collector.support import NOW_MS, full_report, parsed_samples, register, report, value_of

A, B, C = "127.0.0.1:50051", "127.0.0.1:50052", "127.0.0.1:50053"
HANDOVER = 60.0
DAY = 86400.0
SITE = SiteLabels("xa-mot", "h-cu", "commune", "Xã Một (2023)")
AGENTS = tuple(f"agent-{n:03d}" for n in range(60))
HOME = rendezvous.home  # the ranking itself, where a test counts the member's calls


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def member(clock: Clock, self_: str) -> FleetState:
    return FleetState(
        clock=clock, membership=Membership((A, B), self_, HANDOVER), retire_after_seconds=30 * DAY
    )


def agents_in(fleet: FleetState) -> set[str]:
    """Agent ids with any series on /metrics."""
    return {labels["agent_id"] for _, labels, _ in parsed_samples(fleet.render()[0].decode())}


def counts(fleet: FleetState) -> AgentCounts:
    return fleet.render_chunks()[1]


def push(fleet: FleetState, agent_id: str, seq: int) -> None:
    reports = [
        full_report(seq, NOW_MS + seq, hostname=f"pc-{agent_id}") if seq == 1 else report(seq, NOW_MS + seq)
    ]
    assert fleet.apply(agent_id, reports, 1, SITE).applied == 1


def sweep(fleet: FleetState, clock: Clock) -> None:
    fleet.sweep(dict.fromkeys(AGENTS, False), clock.now)


def homed(at: str, members: tuple[str, ...] = (A, B)) -> set[str]:
    return {a for a in AGENTS if HOME(a, members) == at}


def test_each_agent_is_listed_by_its_home_only_once_the_handover_time_passed() -> None:
    clock = Clock()
    a, b = member(clock, A), member(clock, B)
    for agent_id in AGENTS:  # every agent reported to both (e.g. a failover and back)
        push(a, agent_id, 1)
        push(b, agent_id, 1)
    clock.now += HANDOVER - 1
    sweep(a, clock)
    sweep(b, clock)
    assert agents_in(a) == agents_in(b) == set(AGENTS)  # both still fresh
    clock.now += 2
    sweep(a, clock)
    sweep(b, clock)
    at_a, at_b = agents_in(a), agents_in(b)
    assert at_a == homed(A) and at_b == homed(B)
    assert at_a | at_b == set(AGENTS) and not at_a & at_b
    assert 10 < len(at_a) < 50  # the hash spreads them
    assert counts(a) == AgentCounts(up=0, down=len(at_a), retired=0, unknown_site=0, handed_over=len(at_b))
    assert counts(b).handed_over == len(at_a)


def test_an_agent_that_failed_over_is_shown_while_it_reports_and_handed_over_after_it_left() -> None:
    clock = Clock()
    b = member(clock, B)
    agent_id = sorted(homed(A))[0]  # its home is A, which is down: it reports to B
    for seq in range(1, 11):
        push(b, agent_id, seq)
        clock.now += 15
        sweep(b, clock)
        assert agents_in(b) == {agent_id}  # 150 s at B, each report fresher than the handover time
    # A is back: the agent fails back and stops reporting to B, which shows it for handover_seconds more.
    clock.now += HANDOVER - 16
    sweep(b, clock)
    assert agents_in(b) == {agent_id} and counts(b).up == 0
    clock.now += 1
    sweep(b, clock)
    assert agents_in(b) == set()
    assert counts(b) == AgentCounts(up=0, down=0, retired=0, unknown_site=0, handed_over=1)
    entry = b.get(agent_id)
    assert entry is not None and entry.reports_total == 10  # kept, with its state
    # It comes back with its next report, without waiting for a sweep (its home went down again).
    push(b, agent_id, 11)
    assert agents_in(b) == {agent_id}
    assert counts(b) == AgentCounts(up=1, down=0, retired=0, unknown_site=0, handed_over=0)


def test_the_home_keeps_showing_a_silent_agent_down_until_it_retires() -> None:
    clock = Clock()
    a = member(clock, A)
    agent_id = sorted(homed(A))[0]
    push(a, agent_id, 1)
    clock.now += 10 * DAY
    sweep(a, clock)
    assert agents_in(a) == {agent_id}
    assert counts(a) == AgentCounts(up=0, down=1, retired=0, unknown_site=0, handed_over=0)
    clock.now += 20 * DAY + 1
    sweep(a, clock)
    assert counts(a) == AgentCounts(up=0, down=0, retired=1, unknown_site=0, handed_over=0)


def test_revoked_and_retired_agents_of_another_home_count_as_retired_not_handed_over() -> None:
    clock = Clock()
    b = member(clock, B)
    revoked, retired, handed = sorted(homed(A))[:3]
    for agent_id in (revoked, retired, handed):
        push(b, agent_id, 1)
    clock.now += 20 * DAY
    push(b, handed, 2)
    clock.now += 10 * DAY + 1  # retired: silent 30 days; handed: silent 10 days
    b.sweep({revoked: True, retired: False, handed: False}, clock.now)
    assert agents_in(b) == set()
    assert counts(b) == AgentCounts(up=0, down=0, retired=2, unknown_site=0, handed_over=1)


def test_a_restarted_member_restores_its_own_agents_and_lists_others_only_while_fresh() -> None:
    clock = Clock()
    before = member(clock, B)
    own, gone, recent = sorted(homed(B))[0], sorted(homed(A))[0], sorted(homed(A))[1]
    for agent_id in (own, gone):
        push(before, agent_id, 1)
    clock.now += HANDOVER + 1
    push(before, recent, 1)
    clock.now += 1
    after = member(clock, B)
    after.restore([(before.snapshot(agent_id), SITE) for agent_id in (own, gone, recent)])
    # Its own agent may still be reporting to A: not shown (down) here until it comes back...
    assert agents_in(after) == {recent}
    assert counts(after) == AgentCounts(up=0, down=1, retired=0, unknown_site=0, handed_over=2)
    push(after, own, 2)
    assert agents_in(after) == {own, recent}
    assert counts(after) == AgentCounts(up=1, down=1, retired=0, unknown_site=0, handed_over=1)


def test_a_restarted_member_shows_its_own_silent_agents_down_once_the_return_grace_is_over() -> None:
    clock = Clock()
    before = member(clock, B)
    own = sorted(homed(B))[0]
    push(before, own, 1)
    clock.now += 1
    after = member(clock, B)
    after.restore([(before.snapshot(own), SITE)])
    clock.now += RETURN_GRACE * HANDOVER - 2
    sweep(after, clock)
    assert agents_in(after) == set()  # maybe still at the other member: neither up nor down here
    clock.now += 2
    sweep(after, clock)
    assert agents_in(after) == {own}
    assert counts(after) == AgentCounts(up=0, down=1, retired=0, unknown_site=0, handed_over=0)


def test_homes_are_ranked_once_per_agent_and_again_when_the_members_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def counted_home(key: str, members: tuple[str, ...]) -> str:
        calls.append(key)
        return HOME(key, members)

    monkeypatch.setattr(rendezvous, "home", counted_home)
    clock = Clock()
    a = member(clock, A)
    for agent_id in AGENTS:
        push(a, agent_id, 1)
    for _ in range(5):
        clock.now += HANDOVER
        sweep(a, clock)
    assert sorted(calls) == sorted(AGENTS)
    assert agents_in(a) == homed(A)

    # A third member: about a third of A's agents move to it, none moves between A and B.
    a.set_membership(Membership((A, B, C), A, HANDOVER))
    sweep(a, clock)
    assert len(calls) == 2 * len(AGENTS)
    assert agents_in(a) == homed(A, (A, B, C)) and homed(A, (A, B, C)) < homed(A)
    assert counts(a).handed_over == len(AGENTS) - len(homed(A, (A, B, C)))


def test_a_single_collector_lists_every_agent_whatever_its_hash() -> None:
    clock = Clock()
    fleet = FleetState(clock=clock, retire_after_seconds=30 * DAY)
    for agent_id in AGENTS:
        push(fleet, agent_id, 1)
    clock.now += 10 * DAY
    sweep(fleet, clock)
    assert agents_in(fleet) == set(AGENTS)
    assert counts(fleet).handed_over == 0


def test_membership_needs_self_among_the_members() -> None:
    with pytest.raises(ValueError, match="is not one of the members"):
        Membership((A, B), C)


def test_upkeep_hands_agents_over_and_metrics_count_them(tmp_path: Path) -> None:
    clock = Clock()
    b = member(clock, B)
    store = register(Store(tmp_path / "collector.sqlite"), *AGENTS)
    metrics = CollectorMetrics()
    upkeep = Upkeep(b, store, SiteDirectory(None), metrics, 5.0)
    page = MetricsPage(b, metrics)
    try:
        for agent_id in AGENTS:
            push(b, agent_id, 1)
        upkeep.check()
        text = b"".join(page.render()).decode()
        assert value_of(text, "fleetwatch_collector_agents", state="up") == len(AGENTS)
        assert value_of(text, "fleetwatch_collector_agents", state="handed_over") == 0
        clock.now += HANDOVER
        upkeep.check()
        text = b"".join(page.render()).decode()
        assert value_of(text, "fleetwatch_collector_agents", state="handed_over") == len(homed(A))
        assert value_of(text, "fleetwatch_collector_agents", state="down") == len(homed(B))
        shown = {
            labels["agent_id"] for name, labels, _ in parsed_samples(text) if name == "fleetwatch_agent_up"
        }
        assert shown == homed(B)
    finally:
        page.close()
        store.close()
