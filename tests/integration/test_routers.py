"""Routers end to end: an in-process collector polls a real snmpd, receives snmptrap's traps, and takes an
agent's polled device over real gRPC; /metrics shows it all (loopback only)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
import grpc.aio
import pytest
from prometheus_client.samples import Sample

from fleetwatch_collector.config import (
    CollectorConfig,
    ServerSection,
    SnmpSection,
    SnmpTrapsSection,
)
from fleetwatch_collector.server import CollectorServer
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.collector.support import check_metrics
from tests.conftest import require_program
from tests.e2e.support import enrolled_identity, fetch_metrics, find_samples, identity_metadata, parse_samples
from tests.snmp.peers import SNMPD_COMMUNITY, Snmpd, running_snmpd

pytestmark = [pytest.mark.peer("snmpd"), pytest.mark.peer("snmptrap")]

T = TypeVar("T")
WAIT_SECONDS = 30.0  # how long to wait for what must come (a loaded machine); not a timing assertion
TRAP_SHOWN_WITHIN_SECONDS = 1.0  # the functional bound: a trap is on /metrics within 1 s
LINK_DOWN, LINK_UP = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
CENTRAL, WRONG, SITE = "rt-central", "rt-wrong-community", "rt-site"
AGENT_DEVICE_ADDRESS = "127.0.0.2"  # the router an agent polls: its traps come from there
UNKNOWN_SENDER = "127.0.0.3"


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    with running_snmpd(tmp_path_factory.mktemp("snmpd")) as peer:
        yield peer


@dataclass
class Lab:
    server: CollectorServer
    channel: grpc.aio.Channel

    async def samples(self) -> list[Sample]:
        return parse_samples(await self.text())

    async def text(self) -> str:
        return await asyncio.to_thread(fetch_metrics, f"http://127.0.0.1:{self.server.http_port}/metrics")

    async def value(self, name: str, **labels: str) -> float | None:
        found = find_samples(await self.samples(), name, **labels)
        assert len(found) <= 1, found
        return found[0].value if found else None

    async def wait_for(self, check: Callable[[list[Sample]], T | None], what: str) -> T:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            result = check(await self.samples())
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}:\n{await self.text()}")
            await asyncio.sleep(0.05)

    async def trap(self, oid: str, if_index: int, community: str = SNMPD_COMMUNITY, source: str = "") -> None:
        """A v2c trap from net-snmp's snmptrap (from ``source`` when set) to the collector's trap port."""
        command = [require_program("snmptrap", "apt-get install snmp"), "-v2c", "-c", community, "-m", ""]
        command += [f"--clientaddr={source}"] if source else []
        command += [f"127.0.0.1:{self.server.snmp.trap_port}", "", oid]  # type: ignore[union-attr]
        command += [f"{IF_INDEX}.{if_index}", "i", str(if_index)]
        result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr

    async def rejected(self, reason: str) -> float:
        return await self.value("fleetwatch_collector_snmp_traps_rejected_total", reason=reason) or 0.0


def secret(path: Path, text: str) -> str:
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o600)
    return str(path)


def config(tmp_path: Path, snmpd: Snmpd) -> CollectorConfig:
    devices = tmp_path / "devices.toml"
    entries = ((CENTRAL, "xa-an-cu", "good"), (WRONG, "so-y-te", "wrong"))  # one snmpd, two credentials
    devices.write_text(
        "".join(
            f'[[device]]\nname = "{name}"\nsite = "{site}"\naddress = "{snmpd.address}"\n'
            f'credential = "{cr}"\n'
            for name, site, cr in entries
        ),
        encoding="utf-8",
    )
    credentials = {
        "good": {"version": "2c", "community_file": secret(tmp_path / "good.community", SNMPD_COMMUNITY)},
        "wrong": {
            "version": "2c",
            "community_file": secret(tmp_path / "wrong.community", "not-the-community"),
        },
    }
    return CollectorConfig(
        server=ServerSection(
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            data_dir=str(tmp_path / "data"),
            grace_seconds=1.0,
        ),
        snmp=SnmpSection(
            devices_file=str(devices),
            interval_seconds=3600.0,  # one poll at start: nothing but the trap changes the state after it
            deadline_seconds=5.0,
            timeout_seconds=0.5,
            retries=0,
            credentials=credentials,
            traps=SnmpTrapsSection(listen="127.0.0.1:0"),
        ),
    )


@contextlib.asynccontextmanager
async def routers_lab(tmp_path: Path, snmpd: Snmpd) -> AsyncIterator[Lab]:
    server = CollectorServer(config(tmp_path, snmpd))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            lab = Lab(server, channel)
            await lab.wait_for(lambda s: find_samples(s, "fleetwatch_netdev_up", device=WRONG), "both polls")
            await lab.wait_for(
                lambda s: find_samples(s, "fleetwatch_netdev_up", device=CENTRAL), "both polls"
            )
            yield lab
    finally:
        await server.shutdown()


def test_the_central_poller_shows_snmpd_up_with_its_interfaces(
    tmp_path: Path, snmpd: Snmpd, promtool: str
) -> None:
    async def scenario() -> None:
        async with routers_lab(tmp_path, snmpd) as lab:
            samples = await lab.samples()
            (up,) = find_samples(samples, "fleetwatch_netdev_up", device=CENTRAL)
            assert up.value == 1
            assert up.labels == {
                "device": CENTRAL,
                "site": "xa-an-cu",
                "district": "h-cai-be",
                "site_type": "commune",
            }
            (info,) = find_samples(samples, "fleetwatch_netdev_info", device=CENTRAL)
            assert (info.labels["sys_name"], info.labels["poller"]) == ("snmpd-test", "central")
            interfaces = find_samples(samples, "fleetwatch_netdev_if_info", device=CENTRAL)
            assert interfaces, "no interface of snmpd"
            assert all(s.labels["iftype"] != "24" for s in interfaces), (
                "softwareLoopback is left out by default"
            )
            for s in interfaces:
                name = s.labels["ifname"]
                assert find_samples(samples, "fleetwatch_netdev_if_oper_up", device=CENTRAL, ifname=name)
                assert find_samples(
                    samples, "fleetwatch_netdev_if_in_octets_total", device=CENTRAL, ifname=name
                )
            assert (await lab.value("fleetwatch_netdev_uptime_seconds", device=CENTRAL) or 0) > 0
            assert await lab.value("fleetwatch_collector_snmp_devices") == 2
            result = check_metrics(promtool, await lab.text())
            assert result.returncode == 0, result.stdout + result.stderr

    asyncio.run(scenario())


def test_a_wrong_community_shows_the_device_down_with_a_timeout(tmp_path: Path, snmpd: Snmpd) -> None:
    async def scenario() -> None:
        async with routers_lab(tmp_path, snmpd) as lab:
            assert await lab.value("fleetwatch_netdev_up", device=WRONG) == 0
            assert await lab.value("fleetwatch_netdev_poll_error", device=WRONG, **{"class": "timeout"}) == 1
            assert await lab.value("fleetwatch_netdev_poll_error", device=WRONG, **{"class": "auth"}) == 0
            assert not find_samples(await lab.samples(), "fleetwatch_netdev_if_info", device=WRONG)

    asyncio.run(scenario())


def test_a_link_down_trap_shows_within_a_second_and_counts_one_flip(tmp_path: Path, snmpd: Snmpd) -> None:
    async def scenario() -> None:
        async with routers_lab(tmp_path, snmpd) as lab:
            samples = await lab.samples()
            up = [
                s
                for s in find_samples(samples, "fleetwatch_netdev_if_oper_up", device=CENTRAL)
                if s.value == 1
            ]
            if not up:
                pytest.skip("snmpd shows no interface up on this machine")
            ifname = up[0].labels["ifname"]
            (info,) = find_samples(samples, "fleetwatch_netdev_if_info", device=CENTRAL, ifname=ifname)
            sent = time.monotonic()
            await lab.trap(LINK_DOWN, int(info.labels["ifindex"]))
            while await lab.value("fleetwatch_netdev_if_oper_up", device=CENTRAL, ifname=ifname) != 0:
                assert time.monotonic() - sent < WAIT_SECONDS, "the trap never showed"
                await asyncio.sleep(0.02)
            shown_after = time.monotonic() - sent
            assert shown_after < TRAP_SHOWN_WITHIN_SECONDS, f"shown after {shown_after:.2f} s"
            assert (
                await lab.value("fleetwatch_netdev_if_oper_changes_total", device=CENTRAL, ifname=ifname) == 1
            )
            assert await lab.value("fleetwatch_netdev_traps_total", device=CENTRAL, trap="link_down") == 1
            assert await lab.value("fleetwatch_netdev_last_trap_timestamp_seconds", device=CENTRAL)
            assert await lab.value("fleetwatch_collector_snmp_traps_received_total", version="2c") == 1
            # The same linkDown again is no new flip.
            await lab.trap(LINK_DOWN, int(info.labels["ifindex"]))
            await lab.wait_for(
                lambda s: (
                    find_samples(s, "fleetwatch_netdev_traps_total", device=CENTRAL, trap="link_down")[
                        0
                    ].value
                    == 2
                ),
                "the second trap",
            )
            assert (
                await lab.value("fleetwatch_netdev_if_oper_changes_total", device=CENTRAL, ifname=ifname) == 1
            )

    asyncio.run(scenario())


def test_traps_from_unknown_senders_and_with_a_wrong_community_are_refused(
    tmp_path: Path, snmpd: Snmpd
) -> None:
    async def scenario() -> None:
        async with routers_lab(tmp_path, snmpd) as lab:
            before = await lab.text()
            await lab.trap(LINK_DOWN, 2, source=UNKNOWN_SENDER)
            await lab.wait_for(
                lambda s: (
                    find_samples(
                        s, "fleetwatch_collector_snmp_traps_rejected_total", reason="unknown_sender"
                    )[0].value
                    == 1
                ),
                "the unknown sender counted",
            )
            await lab.trap(LINK_DOWN, 2, community="no-configured-community")
            await lab.wait_for(
                lambda s: (
                    find_samples(s, "fleetwatch_collector_snmp_traps_rejected_total", reason="bad_community")[
                        0
                    ].value
                    == 1
                ),
                "the wrong community counted",
            )
            assert await lab.value("fleetwatch_collector_snmp_traps_received_total", version="2c") is None
            assert await lab.value("fleetwatch_netdev_traps_total", device=CENTRAL, trap="link_down") == 0
            netdev = [line for line in before.splitlines() if line.startswith("fleetwatch_netdev_")]
            assert [
                line for line in (await lab.text()).splitlines() if line.startswith("fleetwatch_netdev_")
            ] == netdev

    asyncio.run(scenario())


def site_report(seq: int) -> pb.Report:
    """A report of an agent that polls its site's router (127.0.0.2) itself."""
    report = pb.Report(seq=seq, collected_unix_ms=int(time.time() * 1000), interval_seconds=60)
    report.host.hostname = "pc-an-cu-01"
    router = report.network_devices.add(
        name=SITE, sys_name="rt-an-cu", reachable=True, uptime_seconds=100.0, address=AGENT_DEVICE_ADDRESS
    )
    router.interfaces.add(index=1, name="Gi0/0", admin_up=True, oper_up=True, oper_status=1, type=6)
    return report


def test_a_trap_from_a_router_an_agent_polls_changes_the_agents_device(tmp_path: Path, snmpd: Snmpd) -> None:
    async def scenario() -> None:
        async with routers_lab(tmp_path, snmpd) as lab:
            agent = enrolled_identity(lab.server)
            stub = pb_grpc.CollectorStub(lab.channel)  # type: ignore[no-untyped-call]
            await stub.Push(
                pb.PushRequest(reports=[site_report(1)]), metadata=identity_metadata(agent), timeout=10
            )
            (oper,) = find_samples(await lab.samples(), "fleetwatch_netdev_if_oper_up", device=SITE)
            assert (oper.value, oper.labels["agent_id"]) == (1, agent.agent_id)
            sent = time.monotonic()
            await lab.trap(LINK_DOWN, 1, source=AGENT_DEVICE_ADDRESS)
            await lab.wait_for(
                lambda s: find_samples(s, "fleetwatch_netdev_if_oper_up", device=SITE)[0].value == 0,
                "the trap",
            )
            assert time.monotonic() - sent < TRAP_SHOWN_WITHIN_SECONDS
            assert await lab.value("fleetwatch_netdev_if_oper_changes_total", device=SITE) == 1
            # The agent's next poll sees it down and says so: the same flip, counted once.
            report = site_report(2)
            report.network_devices[0].interfaces[0].oper_up = False
            report.events.add(
                time_unix_ms=report.collected_unix_ms,
                link_change=pb.LinkChange(device=SITE, interface="Gi0/0", up=False, if_index=1),
            )
            await stub.Push(pb.PushRequest(reports=[report]), metadata=identity_metadata(agent), timeout=10)
            assert await lab.value("fleetwatch_netdev_if_oper_changes_total", device=SITE) == 1
            assert await lab.value("fleetwatch_netdev_if_oper_up", device=SITE) == 0

    asyncio.run(scenario())
