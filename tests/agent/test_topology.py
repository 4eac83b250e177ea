"""The simulated province: 201 sites with valid slugs, a deterministic allocation, a reproducible fleet."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from fleetwatch_agent.config import AGENT_ID_RE, SLUG_RE
from fleetwatch_agent.simulate.fleet import build_fleet
from fleetwatch_agent.simulate.topology import DISTRICTS, allocate, sites, slugify

SLUG = re.compile(r"^[a-z0-9-]+$")
HOSTNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def test_site_counts_by_type() -> None:
    all_sites = sites()
    assert len(all_sites) == 201
    assert Counter(s.site_type for s in all_sites) == {"department": 18, "district": 11, "commune": 172}


def test_slugs_are_unique_ascii_and_valid_config_slugs() -> None:
    all_sites = sites()
    slugs = [s.slug for s in all_sites]
    assert len(set(slugs)) == len(slugs)
    for site in all_sites:
        assert site.slug.isascii()
        assert SLUG.fullmatch(site.slug), site.slug
        assert SLUG_RE.match(site.slug), site.slug
        assert SLUG_RE.match(site.district), site.district


def test_every_commune_belongs_to_one_of_the_districts() -> None:
    districts = {slug for slug, _name, _n in DISTRICTS}
    assert len(districts) == 11
    communes = [s for s in sites() if s.site_type == "commune"]
    assert {s.district for s in communes} == districts
    per_district = Counter(s.district for s in communes)
    assert per_district == {slug: n for slug, _name, n in DISTRICTS}


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Sở Y tế", "so-y-te"),
        ("Văn phòng Đoàn ĐBQH và HĐND tỉnh", "van-phong-doan-dbqh-va-hdnd-tinh"),
        ("Huyện Tân Phú Đông", "huyen-tan-phu-dong"),
        ("Sở Lao động - Thương binh và Xã hội", "so-lao-dong-thuong-binh-va-xa-hoi"),
        ("Sở Văn hóa, Thể thao và Du lịch", "so-van-hoa-the-thao-va-du-lich"),
        ("đường  Đê", "duong-de"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_allocate_sums_to_the_total_and_gives_every_site_a_share() -> None:
    all_sites = sites()
    allocation = allocate(4130, all_sites)
    assert sum(n for _site, n in allocation) == 4130
    assert [site for site, _n in allocation] == list(all_sites)
    assert all(n >= 1 for _site, n in allocation)
    by_type: dict[str, list[int]] = {}
    for site, n in allocation:
        by_type.setdefault(site.site_type, []).append(n)
    assert min(by_type["department"]) > max(by_type["commune"])
    assert min(by_type["district"]) > max(by_type["commune"])


@pytest.mark.parametrize("total", [201, 1000, 4130, 10_007])
def test_allocate_sums_to_any_total(total: int) -> None:
    assert sum(n for _site, n in allocate(total, sites())) == total


def test_allocate_is_deterministic() -> None:
    assert allocate(4130, sites()) == allocate(4130, sites())


def test_fleet_ids_and_hostnames_are_unique_and_valid() -> None:
    fleet = build_fleet(4130, seed=1)
    assert len(fleet) == 4130
    ids = [agent.host.agent_id for agent in fleet]
    hostnames = [agent.host.facts.hostname for agent in fleet]
    assert len(set(ids)) == 4130
    assert len(set(hostnames)) == 4130
    assert all(AGENT_ID_RE.match(agent_id) for agent_id in ids)
    for hostname in hostnames:
        assert HOSTNAME.match(hostname), hostname
        assert len(hostname) <= 63
    assert len({agent.location.site for agent in fleet}) == 201


def test_fleet_is_reproducible_for_a_seed() -> None:
    first, second = build_fleet(500, seed=1), build_fleet(500, seed=1)
    assert [a.host.agent_id for a in first] == [a.host.agent_id for a in second]
    assert [a.host.facts.os_name for a in first] == [a.host.facts.os_name for a in second]
    assert [a.host.facts.memory_total_bytes for a in first] == [
        a.host.facts.memory_total_bytes for a in second
    ]
    assert [a.location for a in first] == [a.location for a in second]


def test_different_seeds_give_different_hosts() -> None:
    first, second = build_fleet(500, seed=1), build_fleet(500, seed=2)
    assert [a.host.agent_id for a in first] == [a.host.agent_id for a in second]
    assert [a.host.facts.cpu_count for a in first] != [a.host.facts.cpu_count for a in second]
