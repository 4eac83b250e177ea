"""The central SNMP poller with a fake poller: labels from the devices file and inventory, bounds, reloads."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetwatch_collector import snmpcentral
from fleetwatch_collector.config import SnmpSection
from fleetwatch_collector.devstate import DeviceTrap
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.sitedir import SiteDirectory
from fleetwatch_collector.snmpcentral import CentralPoller
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.kinds.netdev_reports import WAN, device, unreachable
from tests.collector.snmp_fakes import INVENTORY, FakeBackend, devices_toml
from tests.collector.support import parsed_samples

RT_A = ("rt-a", "xa-an-cu", "192.0.2.10")
RT_B = ("rt-b", "so-y-te", "192.0.2.11:1161")


@dataclass
class Lab:
    central: CentralPoller
    fleet: FleetState
    metrics: CollectorMetrics
    fake: FakeBackend
    sites: SiteDirectory
    devices_file: Path
    inventory_file: Path

    def samples(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        text = self.fleet.render()[0].decode()
        return [(lab, v) for n, lab, v in parsed_samples(text) if n == name and labels.items() <= lab.items()]

    def value(self, name: str, **labels: str) -> float | None:
        found = self.samples(name, **labels)
        assert len(found) <= 1, found
        return found[0][1] if found else None


def make_lab(
    tmp_path: Path, *devices: tuple[str, str, str], saved: dict[str, str] | None = None, **options: object
) -> Lab:
    tmp_path.mkdir(parents=True, exist_ok=True)
    inventory = tmp_path / "sites.toml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    devices_file = tmp_path / "devices.toml"
    devices_file.write_text(devices_toml(*devices), encoding="utf-8")
    sites = SiteDirectory(inventory)
    fleet = FleetState(sites=sites)
    metrics = CollectorMetrics()
    fake = FakeBackend()
    section = SnmpSection(devices_file=str(devices_file), credentials={"routers": {}}, **options)  # type: ignore[arg-type]
    central = CentralPoller(section, sites, fleet, metrics, fake.backend(), {"routers": "cred"}, saved)
    return Lab(central, fleet, metrics, fake, sites, devices_file, inventory)


def test_polled_devices_carry_the_site_labels_of_the_inventory_and_no_agent_labels(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, RT_A, RT_B)
    asyncio.run(lab.central.poll_all())
    (labels, up), *_ = lab.samples("fleetwatch_netdev_up", device="rt-a")
    assert up == 1
    assert labels == {"device": "rt-a", "site": "xa-an-cu", "district": "h-cai-be", "site_type": "commune"}
    (labels, _), *_ = lab.samples("fleetwatch_netdev_up", device="rt-b")
    assert (labels["site"], labels["district"], labels["site_type"]) == ("so-y-te", "tp-my-tho", "department")
    assert lab.value("fleetwatch_netdev_info", device="rt-a", poller="central", sys_name="rt1.an-cu") == 1
    assert lab.value("fleetwatch_netdev_if_oper_up", device="rt-b", ifname=WAN) == 1
    assert lab.metrics.snmp_devices._value.get() == 2
    assert lab.fake.poller.polls == ["rt-a", "rt-b"]


def test_a_merged_sites_old_slug_gets_the_survivors_labels(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, ("rt-old", "xa-an-cu-cu", "192.0.2.12"))
    asyncio.run(lab.central.poll_all())
    (labels, _), *_ = lab.samples("fleetwatch_netdev_up", device="rt-old")
    assert (labels["site"], labels["district"]) == ("xa-an-cu", "h-cai-be")


def test_a_device_that_does_not_answer_is_down_with_its_error_class(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, RT_A)
    lab.fake.poller.answers["rt-a"] = unreachable("rt-a", pb.SNMP_ERROR_TIMEOUT)
    asyncio.run(lab.central.poll_all())
    assert lab.value("fleetwatch_netdev_up", device="rt-a") == 0
    assert lab.value("fleetwatch_netdev_poll_error", device="rt-a", **{"class": "timeout"}) == 1
    assert lab.value("fleetwatch_netdev_poll_error", device="rt-a", **{"class": "auth"}) == 0
    assert lab.value("fleetwatch_netdev_if_oper_up", device="rt-a", ifname=WAN) is None


def test_polls_run_at_most_max_concurrent_at_once(tmp_path: Path) -> None:
    devices = [(f"rt-{i}", "xa-an-cu", f"192.0.2.{20 + i}") for i in range(6)]
    lab = make_lab(tmp_path, *devices, max_concurrent=2)
    lab.fake.poller.delay = 0.02
    asyncio.run(lab.central.poll_all())
    assert sorted(lab.fake.poller.polls) == sorted(name for name, _, _ in devices)
    assert lab.fake.poller.most_at_once == 2
    assert len(lab.samples("fleetwatch_netdev_up")) == 6


def test_a_poll_that_overruns_its_deadline_is_a_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snmpcentral, "DEADLINE_SLACK_SECONDS", 0.0)
    lab = make_lab(tmp_path, RT_A, RT_B, deadline_seconds=0.05)
    lab.fake.poller.delay = 30.0  # a poller that ignores its own deadline
    asyncio.run(lab.central.poll_all())
    for name in ("rt-a", "rt-b"):
        assert lab.value("fleetwatch_netdev_up", device=name) == 0
        assert lab.value("fleetwatch_netdev_poll_error", device=name, **{"class": "timeout"}) == 1


def test_a_poller_that_raises_reports_other(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, RT_A, RT_B)

    def broken(name: str) -> pb.NetworkDevice:
        raise RuntimeError("bug")

    lab.fake.poller.answers["rt-a"] = broken
    asyncio.run(lab.central.poll_all())
    assert lab.value("fleetwatch_netdev_poll_error", device="rt-a", **{"class": "other"}) == 1
    assert lab.value("fleetwatch_netdev_up", device="rt-b") == 1  # the others are polled


def test_the_devices_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, RT_A, RT_B)

    async def scenario() -> None:
        await lab.central.poll_all()
        assert not await lab.central.check()  # unchanged
        lab.devices_file.write_text(devices_toml(RT_A, ("rt-c", "so-y-te", "192.0.2.13")), encoding="utf-8")
        assert await lab.central.check()
        assert lab.value("fleetwatch_netdev_up", device="rt-b") is None  # removed: its series go at once
        assert lab.value("fleetwatch_netdev_up", device="rt-a") == 1  # kept
        await lab.central.poll_all()
        assert lab.value("fleetwatch_netdev_up", device="rt-c") == 1
        # A bad edit keeps the devices in use, counted once.
        lab.devices_file.write_text(devices_toml(("rt-d", "xa-nowhere", "192.0.2.14")), encoding="utf-8")
        assert not await lab.central.check()
        assert not await lab.central.check()
        assert sorted(lab.central.devices) == ["rt-a", "rt-c"]
        assert lab.metrics.snmp_reload_errors._value.get() == 1

    asyncio.run(scenario())


def test_an_inventory_change_relabels_central_devices_at_their_next_poll(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, RT_A)
    asyncio.run(lab.central.poll_all())
    lab.inventory_file.write_text(
        INVENTORY.replace('group = "h-cai-be"', 'group = "tp-my-tho"', 1), encoding="utf-8"
    )
    lab.sites.check()
    asyncio.run(lab.central.poll_all())
    (labels, _), *_ = lab.samples("fleetwatch_netdev_up", device="rt-a")
    assert labels["district"] == "tp-my-tho"


def test_a_bad_devices_file_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"device\[0\] \(rt-x\)\.site: 'xa-nowhere'"):
        make_lab(tmp_path, ("rt-x", "xa-nowhere", "192.0.2.1"))


def test_counters_of_central_devices_go_to_the_store_and_come_back(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, RT_A)
    asyncio.run(lab.central.poll_all())
    device_a = lab.central.devices["rt-a"]
    lab.central.apply_traps(device_a, [DeviceTrap("link_down", 1_760_000_000.0, if_index=1)])
    assert lab.value("fleetwatch_netdev_if_oper_changes_total", device="rt-a", ifname=WAN) == 1
    saved = lab.central.counters()
    assert json.loads(saved["rt-a"])["traps"]["link_down"] == 1

    again = make_lab(tmp_path / "again", RT_A, saved=saved)
    again.fake.poller.answers["rt-a"] = device("rt-a", wan_up=True)
    asyncio.run(again.central.poll_all())
    assert again.value("fleetwatch_netdev_traps_total", device="rt-a", trap="link_down") == 1
    assert again.value("fleetwatch_netdev_if_oper_changes_total", device="rt-a", ifname=WAN) == 1
    assert again.value("fleetwatch_netdev_last_trap_timestamp_seconds", device="rt-a") == 1_760_000_000.0


def test_close_closes_the_poller(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, RT_A)
    asyncio.run(lab.central.poll_all())
    lab.central.close()
    assert lab.fake.poller.closed
