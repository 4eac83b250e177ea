"""Simulated site routers: accepted and rendered by the collector, counters that grow at plausible rates,
the router incidents of a scenario, and a LinkChange exactly where a port changed state."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from pathlib import Path
from typing import cast

import pytest

from fleetwatch_agent.config import CollectorSection
from fleetwatch_agent.probes.snmp.model import SnmpResult
from fleetwatch_agent.transport import Transport
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.validate import Limits, validate_push
from fleetwatch_proto.limits import DEVICE_NAME_RE
from fleetwatch_proto.sites import parse_inventory
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_sim.fleet import Drive, FleetStats, SimulatedAgent, build_fleet, make_report, run_fleet
from fleetwatch_sim.probes import HostIncidents
from fleetwatch_sim.routers import COUNTERS, SiteRouters, day_wave, device_name
from fleetwatch_sim.scenario import NO_INCIDENTS, Scenario, load_scenario, parse_scenario
from tests.agent.inprocess import any_site_token, grpc_address, running_collector
from tests.e2e.support import fetch_metrics, find_samples, parse_samples

INVENTORY = parse_inventory(
    {
        "groups": [{"slug": "g", "name": "G"}],
        "sites": [
            {"slug": "so-a", "name": "Sở A", "group": "g", "type": "department", "weight": 3},
            {
                "slug": "ubnd-b", "name": "UBND B", "group": "g", "type": "district", "weight": 2,
                "routers": [
                    {"name": "rt-b-core", "address": "127.0.0.2"},
                    {"name": "rt-b-edge", "address": "127.0.0.3"},
                ],
            },
            {"slug": "xa-c", "name": "Xã C", "group": "g", "type": "commune", "weight": 1},
        ],
    }
)  # fmt: skip
STEP = 15.0  # seconds between two polls, the agents' default interval
START = time.time() - 3 * 3600  # the simulated cycles run over the last hours: reports the collector accepts


def router_agents(seed: int = 1, count: int = 12) -> list[SimulatedAgent]:
    return [agent for agent in build_fleet(count, seed, INVENTORY) if agent.routers is not None]


def site_routers(site: str = "so-a", seed: int = 1) -> SiteRouters:
    (agent,) = [a for a in router_agents(seed) if a.location.site == site]
    assert agent.routers is not None
    return agent.routers


def play(routers: SiteRouters, scenario: Scenario, site: str, cycles: int) -> list[SnmpResult]:
    """The snmp probe's result at each cycle, ``STEP`` seconds apart, the scenario's elapsed time from 0."""
    return [
        routers.collect(START + i * STEP, scenario.effects(site, 0, i * STEP).router) for i in range(cycles)
    ]


def ports(result: SnmpResult) -> dict[str, pb.DeviceInterface]:
    """The first device's interfaces by name."""
    return {nic.name: nic for nic in result.devices[0].interfaces}


def role_port(routers: SiteRouters, role: str) -> str:
    """The name of the port of the site's first router with this role."""
    (name,) = [p.plan.name for p in routers.routers[0].ports if p.plan.role == role]
    return name


def changes(results: list[SnmpResult]) -> list[tuple[int, str, bool]]:
    """(cycle, interface, up) of every LinkChange."""
    return [(i, c.interface, c.up) for i, r in enumerate(results) for c in r.link_changes]


def reports_of(agent: SimulatedAgent, scenario: Scenario, cycles: int) -> list[pb.Report]:
    """The agent's whole reports, as the fleet makes them, one per cycle."""
    drive = Drive(cast(Transport, None), STEP, 0.0, 1, FleetStats(), asyncio.Event(), scenario)
    memory = HostIncidents()
    site = agent.location.site
    return [
        make_report(agent, i + 1, STEP, scenario.effects(site, agent.index, i * STEP), memory, drive,
                    now=START + i * STEP)
        for i in range(cycles)
    ]  # fmt: skip


def collector_view(
    agent: SimulatedAgent, reports: list[pb.Report]
) -> list[tuple[str, dict[str, str], float]]:
    """Validate the reports as the collector does, apply them to its fleet state, and read its /metrics."""
    validate_push(pb.PushRequest(reports=reports), int(time.time() * 1000), Limits())
    fleet = FleetState(clock=lambda: reports[-1].collected_unix_ms / 1000 + 1)
    where = agent.location
    labels = SiteLabels(where.site, where.district, where.site_type, where.site_name)
    fleet.apply(agent.host.agent_id, reports, site=labels, hostname=agent.host.facts.hostname)
    return [(s.name, s.labels, s.value) for s in parse_samples(fleet.render()[0].decode())]


def values(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> list[float]:
    return [v for n, lab, v in samples if n == name and labels.items() <= lab.items()]


# --- the fleet's routers ---------------------------------------------------------------------------


def test_the_first_agent_of_each_site_polls_the_sites_routers() -> None:
    fleet = build_fleet(12, 1, INVENTORY)
    pollers = {a.location.site: a for a in fleet if a.routers is not None}
    assert sorted(pollers) == ["so-a", "ubnd-b", "xa-c"]
    assert all(a.index == 0 for a in pollers.values())
    names = {site: [r.name for r in a.routers.routers] for site, a in pollers.items() if a.routers}
    # The inventory's routers where it lists them, else one, rt-<site>.
    assert names == {"so-a": ["rt-so-a"], "ubnd-b": ["rt-b-core", "rt-b-edge"], "xa-c": ["rt-xa-c"]}
    assert [r.address for r in pollers["ubnd-b"].routers.routers] == ["127.0.0.2", "127.0.0.3"]  # type: ignore[union-attr]


def test_device_names_fit_the_contract_also_for_the_longest_slugs() -> None:
    name = device_name("x" * 63)
    assert DEVICE_NAME_RE.fullmatch(name) and len(name) == 63
    assert device_name("xa-a") == "rt-xa-a"


def test_the_same_seed_makes_the_same_routers() -> None:
    def shape(seed: int) -> list[tuple[str, str, list[object]]]:
        return [
            (r.name, r.model.sys_descr, [p.plan for p in r.ports])
            for a in router_agents(seed) if a.routers for r in a.routers.routers
        ]  # fmt: skip

    assert shape(4) == shape(4)
    assert shape(4) != shape(5)


@pytest.mark.parametrize("seed", range(6))
def test_router_reports_pass_validation_and_render_the_netdev_series(seed: int) -> None:
    for agent in router_agents(seed):
        reports = reports_of(agent, NO_INCIDENTS, 8)
        samples = collector_view(agent, reports)
        for device in reports[-1].network_devices:
            assert device.reachable and device.sys_name and device.sys_descr and device.sys_object_id
            assert device.uptime_seconds > 900  # not "just restarted"
            assert 4 <= len(device.interfaces) <= 8
            assert {nic.counter_bits for nic in device.interfaces} == {64}
            wans = [nic for nic in device.interfaces if "wan" in nic.alias.lower()]
            assert wans and wans[0].alias in ("WAN VNPT", "WAN Viettel") and all(n.oper_up for n in wans)
            unused = [nic for nic in device.interfaces if not nic.alias]
            assert unused and not any(nic.oper_up for nic in unused)
            assert all(nic.oper_up for nic in device.interfaces if nic.alias)
            labels = {"device": device.name, "site": agent.location.site}
            assert values(samples, "fleetwatch_netdev_up", **labels) == [1]
            assert values(samples, "fleetwatch_netdev_info", poller="agent", **labels) == [1]
            infos = [
                lab
                for n, lab, _ in samples
                if n == "fleetwatch_netdev_if_info" and lab["device"] == device.name
            ]
            assert sorted(lab["ifalias"] for lab in infos) == sorted(nic.alias for nic in device.interfaces)
            wan = wans[0].name
            assert values(samples, "fleetwatch_netdev_if_in_octets_total", ifname=wan, **labels) == [
                wans[0].in_octets
            ]
            assert values(samples, "fleetwatch_netdev_if_oper_changes_total", ifname=wan, **labels) == [0]


def counts(nic: pb.DeviceInterface) -> list[int]:
    return [getattr(nic, name) for name in COUNTERS]


def test_counters_grow_at_plausible_rates_with_a_daily_wave() -> None:
    routers = site_routers()
    healthy = NO_INCIDENTS.effects("so-a", 0, 0).router
    results = [routers.collect(START + i * 900.0, healthy) for i in range(192)]  # 2 days, every 15 min
    wan = role_port(routers, "wan1")
    by_hour: dict[int, list[float]] = {}
    for i, (before, after) in enumerate(itertools.pairwise(results), start=1):
        for name, nic in ports(after).items():
            now, old = counts(nic), counts(ports(before)[name])
            assert all(n >= o for n, o in zip(now, old, strict=True)), name
            packets = now[2] - old[2] + now[3] - old[3]
            assert sum(now[4:]) - sum(old[4:]) <= 0.001 * packets + 5  # errors and discards: a few
        nic, old_wan = ports(after)[wan], ports(before)[wan]
        utilization = (nic.in_octets - old_wan.in_octets) * 8 / (900.0 * nic.speed_bits_per_second)
        assert 0.099 <= utilization <= 0.601
        hour = int(((START + i * 900.0 + 7 * 3600) % 86400) // 3600)
        by_hour.setdefault(hour, []).append(utilization)
    # Busiest in the afternoon, quietest at night (Vietnam time).
    assert min(by_hour[15]) > max(by_hour[3]) + 0.2
    assert day_wave(8 * 3600.0) == pytest.approx(1.0)  # 08:00 UTC is 15:00 in Vietnam
    uptimes = [r.devices[0].uptime_seconds for r in results]
    assert uptimes == sorted(uptimes) and uptimes[-1] - uptimes[0] == pytest.approx(191 * 900.0)


def test_a_healthy_router_makes_no_link_change() -> None:
    results = play(site_routers("xa-c"), NO_INCIDENTS, "xa-c", 100)
    assert changes(results) == []


# --- incidents -------------------------------------------------------------------------------------


def incident(kind: str, site: str = "so-a", **keys: object) -> Scenario:
    """One incident from the 4th cycle for 4 cycles."""
    entry = {"kind": kind, "site": site, "start": f"{3 * STEP:g}s", "duration": f"{4 * STEP:g}s", **keys}
    return parse_scenario({"incidents": [entry]})


def test_router_down_answers_nothing_while_it_lasts() -> None:
    results = play(site_routers(), incident("router_down"), "so-a", 10)
    reachable = [r.devices[0].reachable for r in results]
    assert reachable == [True] * 3 + [False] * 4 + [True] * 3
    down = results[4].devices[0]
    assert down.error_class == pb.SNMP_ERROR_TIMEOUT and not down.interfaces and down.error
    # The router counted on while it did not answer.
    wan = role_port(site_routers(), "wan1")
    assert ports(results[7])[wan].in_octets > ports(results[2])[wan].in_octets
    assert changes(results) == []
    # The collector shows it down, with a timeout, while it does not answer, and up again after.
    (agent,) = [a for a in router_agents() if a.location.site == "so-a"]
    scenario = incident("router_down")
    during = collector_view(agent, reports_of(agent, scenario, 5))
    assert values(during, "fleetwatch_netdev_up", device="rt-so-a") == [0]
    assert values(during, "fleetwatch_netdev_poll_error", device="rt-so-a", **{"class": "timeout"}) == [1]
    (agent,) = [a for a in router_agents() if a.location.site == "so-a"]
    after = collector_view(agent, reports_of(agent, scenario, 9))
    assert values(after, "fleetwatch_netdev_up", device="rt-so-a") == [1]


@pytest.mark.parametrize("interface", ["lan", "wan2"])
def test_link_down_takes_one_port_down_with_a_link_change_at_each_end(interface: str) -> None:
    routers = site_routers()
    role = interface if interface[-1].isdigit() else f"{interface}1"
    port = role_port(routers, role)
    results = play(routers, incident("link_down", interface=interface), "so-a", 10)
    assert [ports(r)[port].oper_up for r in results] == [True] * 3 + [False] * 4 + [True] * 3
    assert [ports(r)[port].oper_status for r in results][3] == 2
    assert changes(results) == [(3, port, False), (7, port, True)]
    # The other ports do not move; a port without link counts no traffic.
    assert all(nic.oper_up for r in results for name, nic in ports(r).items() if name != port and nic.alias)
    assert ports(results[6])[port].in_octets == ports(results[3])[port].in_octets


def test_link_changes_are_counted_once_each_by_the_collector() -> None:
    (agent,) = [a for a in router_agents() if a.location.site == "so-a"]
    assert agent.routers is not None
    port = role_port(agent.routers, "wan1")
    reports = reports_of(agent, incident("link_flapping", interface="wan"), 10)
    events = [e.link_change for r in reports for e in r.events if e.HasField("link_change")]
    assert [(e.device, e.interface, e.up) for e in events] == [
        ("rt-so-a", port, up) for up in (False, True, False, True)
    ]
    samples = collector_view(agent, reports)
    assert values(samples, "fleetwatch_netdev_if_oper_changes_total", device="rt-so-a", ifname=port) == [4]
    assert values(samples, "fleetwatch_netdev_if_oper_up", device="rt-so-a", ifname=port) == [1]


def test_link_flapping_flips_a_port_at_every_poll_then_stops() -> None:
    routers = site_routers("xa-c")
    port = role_port(routers, "wan1")
    scenario = parse_scenario(
        {"incidents": [{"kind": "link_flapping", "site": "xa-c", "start": "45s", "duration": "75s"}]}
    )  # cycles 3 to 7: five flips, and back up when it ends
    results = play(routers, scenario, "xa-c", 12)
    states = [ports(r)[port].oper_up for r in results]
    assert states == [True, True, True, False, True, False, True, False, True, True, True, True]
    assert changes(results) == [(i, port, states[i]) for i in range(3, 9)]


def test_wan_saturated_fills_the_first_wan_line_then_lets_it_go() -> None:
    routers = site_routers()
    wan, backup = role_port(routers, "wan1"), role_port(routers, "wan2")
    results = play(routers, incident("wan_saturated"), "so-a", 10)

    def used(port: str, cycle: int) -> float:
        nic, old = ports(results[cycle])[port], ports(results[cycle - 1])[port]
        return (nic.in_octets - old.in_octets) * 8 / (STEP * nic.speed_bits_per_second)

    assert all(0.96 <= used(wan, i) <= 0.995 for i in range(3, 7))
    assert all(0.099 <= used(wan, i) <= 0.601 for i in (1, 2, 7, 8, 9))
    assert all(0.099 <= used(backup, i) <= 0.601 for i in range(1, 10))
    assert changes(results) == []


def test_a_dark_site_has_its_wan_lines_down_in_the_reports_it_delivers_later() -> None:
    routers = site_routers()
    wans = {role_port(routers, "wan1"), role_port(routers, "wan2")}
    lans = [p.plan.name for p in routers.routers[0].ports if p.plan.role.startswith("lan")]
    results = play(routers, incident("site_dark"), "so-a", 10)
    assert sorted(changes(results)) == sorted(
        [(3, port, False) for port in wans] + [(7, port, True) for port in wans]
    )
    assert lans and all(ports(r)[name].oper_up for r in results for name in lans)


def test_a_lossy_wan_shows_errors_on_the_wan_port() -> None:
    routers = site_routers()
    wan = role_port(routers, "wan1")
    results = play(routers, incident("wan_degraded", latency_ms=300, loss=0.3), "so-a", 8)
    nic, old = ports(results[6])[wan], ports(results[3])[wan]
    failed = nic.in_errors - old.in_errors + nic.in_discards - old.in_discards
    assert 0.2 < failed / (nic.in_unicast_packets - old.in_unicast_packets) < 0.4


# --- scenarios -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "router_down"}, "kind router_down needs a site"),
        ({"kind": "wan_saturated", "hosts": 1, "site": "a"}, "unknown key 'hosts' for kind wan_saturated"),
        ({"kind": "link_down", "site": "a", "interface": "eth0"}, "incidents[0].interface: 'eth0'"),
        ({"kind": "link_flapping", "site": "a", "interface": 2}, "incidents[0].interface: 2"),
    ],
)
def test_bad_router_incidents_are_refused_naming_the_entry(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario({"incidents": [entry]}, "s.toml")
    assert message in str(caught.value)


def test_router_incidents_hit_the_routers_of_their_site_only() -> None:
    scenario = parse_scenario({"incidents": [
        {"kind": "router_down", "site": "a"},
        {"kind": "link_down", "site": "a", "interface": "lan2"},
        {"kind": "link_flapping", "site": "a"},
        {"kind": "wan_saturated", "site": "a", "start": "1m"},
    ]})  # fmt: skip
    router = scenario.effects("a", 3, 30).router
    assert (router.down, router.links_down, router.flapping, router.wan_saturated) == (
        True, {"lan2"}, {"wan1"}, False,
    )  # fmt: skip
    assert scenario.effects("a", 0, 60).router.wan_saturated
    assert scenario.effects("b", 0, 60).router == NO_INCIDENTS.effects("b", 0, 60).router


def test_the_demo_scenario_plays_every_router_incident() -> None:
    kinds = {i.kind for i in load_scenario(None).incidents}
    assert kinds >= {"router_down", "link_down", "link_flapping", "wan_saturated", "site_dark"}


# --- through the real transport --------------------------------------------------------------------


def test_a_fleet_shows_its_routers_and_their_incidents_at_the_collector(tmp_path: Path) -> None:
    scenario = parse_scenario({"incidents": [
        {"kind": "router_down", "site": "xa-c"},
        {"kind": "link_down", "site": "so-a", "interface": "lan", "start": "2s"},
    ]})  # fmt: skip

    async def run() -> None:
        async with running_collector(tmp_path / "data") as server:
            section = dataclasses.replace(CollectorSection(), addresses=(grpc_address(server),))
            stats = await run_fleet(
                section, 6, 1.0, 5.0, 2, any_site_token(server), None, asyncio.Event(), INVENTORY, scenario
            )
            assert stats.pushes_failed == 0, stats.errors
            text = await asyncio.to_thread(fetch_metrics, f"http://127.0.0.1:{server.http_port}/metrics")
            samples = parse_samples(text)

            def value(name: str, **labels: str) -> list[float]:
                return [s.value for s in find_samples(samples, name, **labels)]

            assert value("fleetwatch_netdev_up", device="rt-so-a", site="so-a") == [1]
            assert (
                value("fleetwatch_netdev_up", device="rt-b-core")
                == value("fleetwatch_netdev_up", device="rt-b-edge")
                == [1]
            )
            assert value("fleetwatch_netdev_up", device="rt-xa-c", site="xa-c") == [0]
            assert value("fleetwatch_netdev_poll_error", device="rt-xa-c", **{"class": "timeout"}) == [1]
            lan_name = role_port(site_routers("so-a", seed=2), "lan1")  # the fleet's routers, seed 2
            assert value("fleetwatch_netdev_if_oper_up", device="rt-so-a", ifname=lan_name) == [0]
            assert value("fleetwatch_netdev_if_oper_changes_total", device="rt-so-a", ifname=lan_name) == [1]

    asyncio.run(run())
