"""The simulated fleet over an inventory: a deterministic allocation by weight, a reproducible fleet."""

from __future__ import annotations

import re

import pytest

from fleetwatch_proto.limits import AGENT_ID_RE
from fleetwatch_proto.sites import Inventory, Site, load_inventory
from fleetwatch_sim.fleet import build_fleet
from fleetwatch_sim.topology import allocate
from tests.conftest import REPO_ROOT

HOSTNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory()


def test_allocate_sums_to_the_total_and_gives_every_site_a_share(inventory: Inventory) -> None:
    allocation = allocate(4130, inventory.sites)
    assert sum(n for _site, n in allocation) == 4130
    assert [site for site, _n in allocation] == list(inventory.sites)
    assert all(n >= 1 for _site, n in allocation)
    by_type: dict[str, list[int]] = {}
    for site, n in allocation:
        by_type.setdefault(site.site_type, []).append(n)
    assert min(by_type["department"]) > max(by_type["commune"])
    assert min(by_type["district"]) > max(by_type["commune"])


@pytest.mark.parametrize("total", [201, 1000, 4130, 10_007])
def test_allocate_sums_to_any_total(inventory: Inventory, total: int) -> None:
    assert sum(n for _site, n in allocate(total, inventory.sites)) == total


def test_allocate_follows_the_weights() -> None:
    sites = (Site("a", "A", "g", "commune", weight=3.0), Site("b", "B", "g", "commune", weight=1.0))
    assert allocate(8, sites) == [(sites[0], 6), (sites[1], 2)]


def test_allocate_with_zero_weights_spreads_evenly() -> None:
    sites = (Site("a", "A", "g", "commune", weight=0.0), Site("b", "B", "g", "commune", weight=0.0))
    assert [n for _s, n in allocate(4, sites)] == [2, 2]


def test_allocate_is_deterministic(inventory: Inventory) -> None:
    assert allocate(4130, inventory.sites) == allocate(4130, inventory.sites)


def test_fleet_ids_and_hostnames_are_unique_and_valid(inventory: Inventory) -> None:
    fleet = build_fleet(4130, 1, inventory)
    assert len(fleet) == 4130
    ids = [agent.host.agent_id for agent in fleet]
    hostnames = [agent.host.facts.hostname for agent in fleet]
    assert len(set(ids)) == 4130
    assert len(set(hostnames)) == 4130
    assert all(AGENT_ID_RE.match(agent_id) for agent_id in ids)
    for hostname in hostnames:
        assert HOSTNAME.match(hostname), hostname
        assert len(hostname) <= 63
    assert len({agent.location.site for agent in fleet}) == len(inventory.sites)


def test_fleet_is_reproducible_for_a_seed(inventory: Inventory) -> None:
    first, second = build_fleet(500, 1, inventory), build_fleet(500, 1, inventory)
    assert [a.host.agent_id for a in first] == [a.host.agent_id for a in second]
    assert [a.host.facts.os_name for a in first] == [a.host.facts.os_name for a in second]
    assert [a.location for a in first] == [a.location for a in second]


def test_different_seeds_give_different_hosts(inventory: Inventory) -> None:
    first, second = build_fleet(500, 1, inventory), build_fleet(500, 2, inventory)
    assert [a.host.agent_id for a in first] == [a.host.agent_id for a in second]
    assert [a.host.facts.cpu_count for a in first] != [a.host.facts.cpu_count for a in second]


def test_the_simulator_runs_over_the_two_tier_inventory() -> None:
    """No district level: the fleet spreads over provincial bodies and commune-level units."""
    two_tier = load_inventory(
        REPO_ROOT / "proto" / "fleetwatch_proto" / "inventories" / "dong-thap-2025.toml"
    )
    fleet = build_fleet(8000, 1, two_tier)
    assert len(fleet) == 8000
    assert {a.location.site_type for a in fleet} == {"department", "commune"}
    assert len({a.location.site for a in fleet}) == len(two_tier.sites)
    assert {a.location.district for a in fleet} == {g.slug for g in two_tier.groups}
