"""Agent lifecycle in the fleet state: retirement, revocation, forgetting, re-enrolment, inventory labels."""

from __future__ import annotations

from pathlib import Path

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.fleet import AgentCounts, FleetState
from fleetwatch_collector.sitedir import SiteDirectory
from tests.collector.support import NOW_MS, add_antivirus, full_report, parsed_samples, report
from tests.collector.test_sitedir import INVENTORY, write

DAY = 86400.0
BOUND = SiteLabels("xa-mot", "h-cu", "commune", "Xã Một (2023)")


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def agents_in(fleet: FleetState) -> set[str]:
    """Agent ids with any series on /metrics."""
    return {labels["agent_id"] for _, labels, _ in parsed_samples(fleet.render()[0].decode())}


def counts(fleet: FleetState) -> AgentCounts:
    return fleet.render_chunks()[1]


def fleet_of_three(clock: Clock, sites: SiteDirectory | None = None) -> FleetState:
    fleet = FleetState(clock=clock, retire_after_seconds=30 * DAY, sites=sites)
    for agent_id in ("a1", "a2", "a3"):
        fleet.apply(agent_id, [add_antivirus(full_report(1, hostname=f"pc-{agent_id}"))], 1, BOUND)
    return fleet


def test_silent_agents_retire_and_come_back_when_they_report() -> None:
    clock = Clock()
    fleet = fleet_of_three(clock)
    clock.now += 20 * DAY
    fleet.apply("a1", [report(2, NOW_MS + 1000)])
    clock.now += 10 * DAY + 1  # a2 and a3: silent 30 days and a second
    fleet.sweep({"a1": False, "a2": False, "a3": False}, clock.now)
    assert agents_in(fleet) == {"a1"}
    assert counts(fleet) == AgentCounts(up=0, down=1, retired=2, unknown_site=0)
    fleet.apply("a3", [report(2, NOW_MS + 2000)])  # back without waiting for a sweep
    assert agents_in(fleet) == {"a1", "a3"}
    assert counts(fleet) == AgentCounts(up=1, down=1, retired=1, unknown_site=0)


def test_retirement_zero_means_never() -> None:
    clock = Clock()
    fleet = FleetState(clock=clock)
    fleet.apply("a1", [full_report(1)])
    clock.now += 3650 * DAY
    fleet.sweep({"a1": False}, clock.now)
    assert agents_in(fleet) == {"a1"}


def test_revoked_agents_leave_metrics_and_count_as_retired() -> None:
    clock = Clock()
    fleet = fleet_of_three(clock)
    fleet.sweep({"a1": False, "a2": True, "a3": False}, clock.now)
    assert agents_in(fleet) == {"a1", "a3"}
    assert counts(fleet).retired == 1
    fleet.apply("a2", [report(2, NOW_MS + 1000)])  # a Push that passed auth just before the revoke
    assert "a2" not in agents_in(fleet)


def test_forgotten_agents_are_removed_with_their_series() -> None:
    clock = Clock()
    fleet = fleet_of_three(clock)
    read_at = clock.now + 1
    clock.now += 2
    fleet.apply("a4", [full_report(1, hostname="pc-a4")])  # enrolled and reported after the read
    fleet.sweep({"a1": False, "a3": False}, read_at)
    assert agents_in(fleet) == {"a1", "a3", "a4"}
    assert fleet.get("a2") is None and len(fleet) == 3
    assert counts(fleet).retired == 0


def test_restored_agents_past_retirement_stay_off_metrics() -> None:
    clock = Clock()
    before = fleet_of_three(clock)
    clock.now += 40 * DAY
    before.apply("a1", [report(2, NOW_MS + 1000)])
    after = FleetState(clock=clock, retire_after_seconds=30 * DAY)
    after.restore([(before.snapshot(agent_id), BOUND) for agent_id in ("a1", "a2", "a3")])
    assert agents_in(after) == {"a1"}
    assert counts(after) == AgentCounts(up=0, down=1, retired=2, unknown_site=0)


def test_reenrolled_agent_starts_its_seqs_again_and_keeps_counting() -> None:
    clock = Clock()
    fleet = fleet_of_three(clock)
    fleet.apply("a1", [report(s, NOW_MS + s) for s in range(2, 40)])
    fleet.reenrolled("a1", BOUND)
    result = fleet.apply("a1", [full_report(1, NOW_MS + 100_000, hostname="pc-a1")], 1, BOUND)
    assert (result.applied, result.duplicates, result.acked_seq) == (1, 0, 1)
    entry = fleet.get("a1")
    assert entry is not None and (entry.reports_total, entry.state_seq) == (40, 1)
    assert entry.last_report_ms == NOW_MS + 100_000  # the new install's report is the one shown


def test_labels_come_from_the_inventory_and_follow_its_changes(tmp_path: Path) -> None:
    path = write(tmp_path / "sites.toml", INVENTORY)
    sites = SiteDirectory(path)
    clock = Clock()
    fleet = fleet_of_three(clock, sites=sites)
    fleet.apply(
        "a4", [full_report(1, hostname="pc-a4")], 1, SiteLabels("xa-hai", "h-cu", "commune", "Xã Hai")
    )
    fleet.apply(
        "a5", [full_report(1, hostname="pc-a5")], 1, SiteLabels("xa-ngoai", "h-cu", "commune", "Ngoài")
    )

    def labels_of(agent_id: str) -> tuple[str, str, str]:
        text = fleet.render()[0].decode()
        ((_, labels, _),) = [
            s
            for s in parsed_samples(text)
            if s[0] == "fleetwatch_agent_info" and s[1]["agent_id"] == agent_id
        ]
        return labels["site"], labels["district"], labels["site_name"]

    assert labels_of("a1") == ("xa-mot", "khu-a", "Xã Một")  # the inventory's, not the token's
    assert labels_of("a5") == ("xa-ngoai", "h-cu", "Ngoài")  # unknown slug: enrolment labels
    assert counts(fleet).unknown_site == 1
    write(
        path,
        INVENTORY.replace('name = "Xã Một"\ngroup = "khu-a"', 'name = "Phường Một"\ngroup = "khu-b"')
        .replace('slug = "xa-hai"', 'slug = "xa-moi"\naliases = ["xa-hai"]')
        .replace('name = "Xã Hai"', 'name = "Xã Mới"'),
    )
    sites.check()
    assert fleet.relabel() == 4  # a1..a3 moved and renamed, a4 merged; a5 untouched
    assert labels_of("a1") == ("xa-mot", "khu-b", "Phường Một")
    assert labels_of("a4") == ("xa-moi", "khu-a", "Xã Mới")
    assert fleet.relabel() == 0
    protected = [
        s for s in parsed_samples(fleet.render()[0].decode()) if s[0] == "fleetwatch_antivirus_protected"
    ]
    assert {s[1]["district"] for s in protected} == {"khu-b"}  # every family moved, not only the info
