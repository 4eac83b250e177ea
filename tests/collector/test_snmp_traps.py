"""Traps to device series: sender to device (central or an agent's), at once, unknown senders dropped;
the SNMP service's trap port, counters kept in the store, and its configuration errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fleetwatch_collector.agentstate import AgentEntry
from fleetwatch_collector.config import SnmpSection, SnmpTrapsSection
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.persist import Persister
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.snmpservice import SnmpConfigError, SnmpService
from fleetwatch_collector.snmptraps import FLUSH_SECONDS, TrapRouter
from fleetwatch_collector.store import Store
from tests.collector.kinds.netdev_reports import AN_CU, WAN, device, polled
from tests.collector.snmp_fakes import FakeBackend, FakeTrap, devices_toml
from tests.collector.support import parsed_samples, register
from tests.collector.test_snmp_central import RT_A, Lab, make_lab

SETTLE = FLUSH_SECONDS * 4  # long enough for the router's flush (not a timing assertion)


def received(metrics: CollectorMetrics, version: str = "2c") -> float:
    value: float = metrics.traps_received.labels(version)._value.get()
    return value


def rejected(metrics: CollectorMetrics) -> dict[str, float]:
    (family,) = list(metrics.traps_rejected.collect())
    return {sample.labels["reason"]: sample.value for sample in family.samples}


async def deliver(router: TrapRouter, *traps: FakeTrap) -> None:
    for trap in traps:
        router.on_trap(trap)
    await asyncio.sleep(SETTLE)


def test_a_link_down_trap_of_a_central_device_shows_at_once(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, RT_A)
    router = TrapRouter(lab.fleet, lab.central, lab.metrics)

    async def scenario() -> None:
        await lab.central.poll_all()
        assert lab.value("fleetwatch_netdev_if_oper_up", device="rt-a", ifname=WAN) == 1
        await deliver(router, FakeTrap("192.0.2.10", "link_down", if_index=1))
        assert lab.value("fleetwatch_netdev_if_oper_up", device="rt-a", ifname=WAN) == 0
        assert lab.value("fleetwatch_netdev_if_oper_changes_total", device="rt-a", ifname=WAN) == 1
        assert lab.value("fleetwatch_netdev_traps_total", device="rt-a", trap="link_down") == 1
        assert received(lab.metrics) == 1
        # The next poll sees it down too: the same flip.
        lab.fake.poller.answers["rt-a"] = device("rt-a", wan_up=False)
        await lab.central.poll_all()
        assert lab.value("fleetwatch_netdev_if_oper_changes_total", device="rt-a", ifname=WAN) == 1

    asyncio.run(scenario())


def test_an_ipv4_mapped_sender_is_the_same_device(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, RT_A)
    router = TrapRouter(lab.fleet, lab.central, lab.metrics)

    async def scenario() -> None:
        await lab.central.poll_all()
        await deliver(router, FakeTrap("::ffff:192.0.2.10", "cold_start", version="1"))
        assert lab.value("fleetwatch_netdev_traps_total", device="rt-a", trap="cold_start") == 1
        assert received(lab.metrics, "1") == 1

    asyncio.run(scenario())


def test_a_trap_from_an_unknown_sender_is_counted_and_dropped(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, RT_A)
    router = TrapRouter(lab.fleet, lab.central, lab.metrics)

    async def scenario() -> None:
        await lab.central.poll_all()
        before = lab.fleet.render()[0]
        await deliver(
            router, FakeTrap("192.0.2.99", "link_down", if_index=1), FakeTrap("192.0.2.99", "link_up")
        )
        assert rejected(lab.metrics)["unknown_sender"] == 2
        assert received(lab.metrics) == 0
        assert lab.fleet.render()[0] == before

    asyncio.run(scenario())


def agent_lab(tmp_path: Path) -> tuple[Lab, TrapRouter, list[str]]:
    """A collector with no central device of that address, and an agent polling its router 192.0.2.20."""
    lab = make_lab(tmp_path, RT_A)
    lab.fleet.apply("a1", [polled(1, [device("rt-site", address="192.0.2.20:161")])], site=AN_CU)
    saved: list[str] = []
    return lab, TrapRouter(lab.fleet, lab.central, lab.metrics, saved.append), saved


def test_a_trap_from_a_device_an_agent_polls_changes_the_agents_series(tmp_path: Path) -> None:
    lab, router, saved = agent_lab(tmp_path)

    async def scenario() -> None:
        await deliver(router, FakeTrap("192.0.2.20", "link_down", if_index=1))
        (labels, value), *_ = lab.samples("fleetwatch_netdev_if_oper_up", device="rt-site", ifname=WAN)
        assert value == 0
        assert (labels["agent_id"], labels["site"]) == ("a1", "xa-an-cu")
        assert lab.value("fleetwatch_netdev_if_oper_changes_total", device="rt-site", ifname=WAN) == 1
        assert saved == ["a1"]  # its counters are stored like a Push's

    asyncio.run(scenario())


def test_a_burst_of_traps_renders_the_device_once(tmp_path: Path) -> None:
    lab, router, _saved = agent_lab(tmp_path)
    updates: list[str] = []
    original = lab.fleet.update

    def counting(agent_id: str, change: object) -> bool:
        updates.append(agent_id)
        return original(agent_id, change)  # type: ignore[arg-type]

    lab.fleet.update = counting  # type: ignore[method-assign]

    async def scenario() -> None:
        await deliver(
            router, *[FakeTrap("192.0.2.20", kind, if_index=1) for kind in ("link_down", "link_up") * 5]
        )
        assert updates == ["a1"]
        assert lab.value("fleetwatch_netdev_if_oper_changes_total", device="rt-site", ifname=WAN) == 10
        assert lab.value("fleetwatch_netdev_if_oper_up", device="rt-site", ifname=WAN) == 1

    asyncio.run(scenario())


def test_a_device_the_agent_no_longer_polls_is_forgotten(tmp_path: Path) -> None:
    lab, router, _saved = agent_lab(tmp_path)

    async def scenario() -> None:
        await deliver(router, FakeTrap("192.0.2.20", "link_down", if_index=1))
        # Another agent reports it now: the first one's report an hour later no longer has it.
        lab.fleet.apply(
            "a1", [polled(2, [device("rt-other", address="192.0.2.30")], second=3700)], site=AN_CU
        )
        lab.fleet.apply("a2", [polled(1, [device("rt-site", address="192.0.2.20")], second=3700)], site=AN_CU)
        await deliver(
            router, FakeTrap("192.0.2.20", "link_down", if_index=1)
        )  # to the old owner: not applied
        await deliver(router, FakeTrap("192.0.2.20", "link_down", if_index=1))  # learnt again: a2's
        found = lab.samples("fleetwatch_netdev_traps_total", device="rt-site", trap="link_down")
        assert {labels["agent_id"]: value for labels, value in found} == {"a2": 1}

    asyncio.run(scenario())


# --- the service ----------------------------------------------------------------------------------


def service_of(tmp_path: Path, store: Store, fake: FakeBackend, listen: str = "127.0.0.1:0") -> SnmpService:
    devices = tmp_path / "devices.toml"
    devices.write_text(devices_toml(RT_A), encoding="utf-8")
    section = SnmpSection(
        devices_file=str(devices),
        interval_seconds=3600.0,
        credentials={"routers": {"version": "2c"}},
        traps=SnmpTrapsSection(listen=listen),
    )
    lab = make_lab(tmp_path / "lab", RT_A)
    return SnmpService(
        section, lab.sites, lab.fleet, CollectorMetrics(), store, Persister(store), 0.05, fake.backend()
    )


def test_the_service_listens_for_traps_polls_and_keeps_counters(tmp_path: Path) -> None:
    store = Store(tmp_path / "collector.sqlite")
    fake = FakeBackend()

    async def scenario() -> None:
        service = service_of(tmp_path, store, fake)
        await service.start()
        (server,) = fake.trap_servers
        assert (server.host, server.started, service.trap_port) == ("127.0.0.1", True, 40162)
        assert server.credentials == ["credential routers"]
        server.counts["bad_community"] = 3
        assert service._metrics.traps_rejected is not None
        assert rejected(service._metrics)["bad_community"] == 3
        for _ in range(100):  # the first poll runs at start
            if fake.poller.polls:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.05)
        server.on_trap(FakeTrap("192.0.2.10", "link_down", if_index=1))
        await service.stop()
        assert server.closed and fake.poller.closed

    asyncio.run(scenario())
    counters = store.load_devices()
    assert '"link_down": 1' in counters["rt-a"]
    store.close()


def test_a_trap_port_that_cannot_be_bound_names_the_option(tmp_path: Path) -> None:
    store = Store(tmp_path / "collector.sqlite")

    async def scenario() -> None:
        service = service_of(tmp_path, store, FakeBackend(), listen="0.0.0.0:1")
        with pytest.raises(OSError, match=r"SNMP traps on 0\.0\.0\.0:1: .*CAP_NET_BIND_SERVICE"):
            await service.start()

    asyncio.run(scenario())
    store.close()


def test_an_unreadable_credential_is_a_configuration_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "collector.sqlite")
    lab = make_lab(tmp_path / "lab", RT_A)
    section = SnmpSection(credentials={"routers": {"version": "2c", "community_file": "missing"}})
    with pytest.raises(SnmpConfigError, match=r"snmp\.credentials: credential 'routers': community_file"):
        SnmpService(
            section,
            lab.sites,
            lab.fleet,
            CollectorMetrics(),
            store,
            Persister(store),
            1.0,
            FakeBackend().backend(),
        )
    store.close()


def test_agent_trap_counters_are_stored_with_the_agent(tmp_path: Path) -> None:
    store = register(Store(tmp_path / "collector.sqlite"), "a1")
    fake = FakeBackend()

    async def scenario() -> None:
        service = service_of(tmp_path, store, fake)
        fleet = service._fleet
        fleet.apply("a1", [polled(1, [device("rt-site", address="192.0.2.20")])], site=AN_CU)
        store.save_agents([fleet.snapshot("a1")])
        await service.start()
        service.router.on_trap(FakeTrap("192.0.2.20", "warm_start"))
        await asyncio.sleep(SETTLE)
        await service.stop()
        service._persister.close()

    asyncio.run(scenario())
    ((snapshot, _site),) = store.load_agents()
    entry = AgentEntry("a1")
    entry.restore_counters(snapshot.counters)
    assert entry.states["netdev"].netdev_devices["rt-site"]["traps"]["warm_start"] == 1
    store.close()


def test_samples_of_the_collectors_snmp_metrics(tmp_path: Path) -> None:
    metrics = CollectorMetrics()
    text = metrics.render().decode()
    names = {name for name, _labels, _value in parsed_samples(text)}
    assert {"fleetwatch_collector_snmp_devices", "fleetwatch_collector_snmp_poll_cycle_seconds"} <= names
    assert 'fleetwatch_collector_snmp_traps_rejected_total{reason="unknown_sender"} 0.0' in text
    assert FleetState().render()[0] == b""
