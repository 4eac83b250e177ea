"""collector.spread = "rendezvous": each agent ranks the addresses by a hash of its id, calls its home first,
and fails over and back along its own order, also when many agents share one Transport (the simulator)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleetwatch_agent.config import CollectorSection, load_config
from fleetwatch_agent.failover import address_order
from fleetwatch_agent.grpcwire import StatusCode
from fleetwatch_agent.transport import Identity, PushError, Transport
from fleetwatch_collector import enrolment
from fleetwatch_collector.server import CollectorServer
from fleetwatch_proto import rendezvous
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.failover_support import enrol_at, reports_of, teach
from tests.agent.inprocess import grpc_address, running_collector
from tests.collector.support import full_report
from tests.conftest import free_port

FAILBACK = 300.0
ADDRESSES = ("127.0.0.1:50051", "127.0.0.1:50052", "127.0.0.1:50053")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def collectors(tmp_path: Path, count: int) -> AsyncIterator[list[CollectorServer]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running_collector(tmp_path / f"c{i}")) for i in range(count)]


def transport(addresses: list[str], clock: Clock | None = None) -> Transport:
    section = CollectorSection(
        addresses=tuple(addresses), spread="rendezvous", timeout_seconds=5.0, failback_seconds=FAILBACK
    )
    section.validate()
    return Transport(section, clock=clock or Clock())


async def push(client: Transport, identity: Identity, seq: int) -> StatusCode:
    """One report; OK or the code of the refusal."""
    try:
        await client.push(identity, [full_report(seq, int(time.time() * 1000))])
    except PushError as exc:
        return exc.code
    return StatusCode.OK


def homed_at(servers: list[CollectorServer], home: CollectorServer, enrolled_at: CollectorServer) -> Identity:
    """An agent enrolled at ``enrolled_at`` whose rendezvous home is ``home``."""
    addresses = [grpc_address(s) for s in servers]
    for _ in range(64):  # each enrolment is the home's with probability 1/len(servers)
        identity = enrol_at(enrolled_at)
        if rendezvous.home(identity.agent_id, addresses) == grpc_address(home):
            return identity
    raise AssertionError("no agent id ranked the wanted home first")


def test_the_order_is_the_rendezvous_ranking_whatever_the_written_order() -> None:
    for key in ("agent-1", "agent-2", "3d" * 32):
        ranked = address_order(ADDRESSES, "rendezvous", key)
        assert ranked == tuple(rendezvous.ranked(key, ADDRESSES))
        assert address_order(tuple(reversed(ADDRESSES)), "rendezvous", key) == ranked
        assert address_order(ADDRESSES, "ordered", key) == ADDRESSES
    assert address_order(ADDRESSES, "rendezvous", "") == ADDRESSES  # no key yet: as written
    # The fleet spreads: every address is the home of about a third of the agents.
    homes = [address_order(ADDRESSES, "rendezvous", f"agent-{n}")[0] for n in range(3000)]
    assert all(800 < homes.count(address) < 1200 for address in ADDRESSES)


def test_spread_is_checked_by_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[collector]\nspread = "rendezvous"\n', encoding="utf-8")
    assert load_config(config).collector.spread == "rendezvous"
    assert load_config(None).collector.spread == "ordered"
    config.write_text('[collector]\nspread = "random"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"collector\.spread.*'random' is not one of"):
        load_config(config)


def test_reports_go_to_the_agents_home_and_enrolment_to_the_home_of_its_machine_id(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with collectors(tmp_path, 2) as servers:
            addresses = [grpc_address(s) for s in servers]
            for home in servers:
                other = servers[1] if home is servers[0] else servers[0]
                identity = homed_at(servers, home, enrolled_at=home)
                teach(home, other, identity.agent_id)  # both accept it: only the order decides
                for written in (addresses, addresses[::-1]):
                    client = transport(written)
                    try:
                        assert client.order(identity.agent_id)[0] == grpc_address(home)
                        before = reports_of(home, identity.agent_id)
                        assert await push(client, identity, before + 1) is StatusCode.OK
                        assert reports_of(home, identity.agent_id) == before + 1
                        assert reports_of(other, identity.agent_id) == 0
                    finally:
                        await client.close()
            # Before it has an id the agent enrols at the home of its machine id: a token of that
            # collector only (the other refuses it) enrols at the first call, in either written order.
            for n in range(4):
                machine_id = f"{n:02x}" * 32
                home = servers[addresses.index(rendezvous.home(machine_id, addresses))]
                token = enrolment.create_token(home.store, None, time.time(), None)
                client = transport(addresses[:: 1 if n % 2 else -1])
                try:
                    response = await client.enroll(token, pb.HostInfo(hostname=f"pc-{n}"), machine_id)
                    assert home.store.query("SELECT 1 FROM agents WHERE agent_id = ?", (response.agent_id,))
                finally:
                    await client.close()

    asyncio.run(scenario())


def test_an_unreachable_home_fails_over_to_the_next_in_the_agents_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with collectors(tmp_path, 1) as (live,):
            closed = f"127.0.0.1:{free_port()}"
            addresses = [closed, grpc_address(live)]
            client = transport(addresses)
            try:
                outcomes: dict[bool, list[StatusCode]] = {True: [], False: []}
                for _ in range(40):
                    identity = enrol_at(live)
                    home_closed = client.order(identity.agent_id)[0] == closed
                    if outcomes[home_closed]:
                        continue  # one agent of each home is enough
                    codes = [await push(client, identity, seq) for seq in (1, 2)]
                    outcomes[home_closed] = codes
                    if all(outcomes.values()):
                        break
                # Homed at the closed address: refused once, then delivered at its second; the
                # agents homed at the live collector never tried the closed one.
                assert outcomes[True] == [StatusCode.UNAVAILABLE, StatusCode.OK]
                assert outcomes[False] == [StatusCode.OK, StatusCode.OK]
            finally:
                await client.close()

    asyncio.run(scenario())


def test_agents_of_one_transport_fail_over_and_back_each_along_their_own_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with collectors(tmp_path, 2) as servers:
            c0, c1 = servers
            # x's home is c0, which does not know it yet; y's home is c1, which does not know it yet.
            x = homed_at(servers, c0, enrolled_at=c1)
            y = homed_at(servers, c1, enrolled_at=c0)
            clock = Clock()
            client = transport([grpc_address(c0), grpc_address(c1)], clock)
            try:
                with pytest.raises(PushError) as refused:
                    await client.push(x, [full_report(1, int(time.time() * 1000))])
                assert refused.value.code is StatusCode.UNAUTHENTICATED and refused.value.failed_over
                assert await push(client, x, 1) is StatusCode.OK  # at its second, c1
                assert await push(client, y, 1) is StatusCode.UNAUTHENTICATED  # moves y only
                assert await push(client, y, 1) is StatusCode.OK  # at its second, c0
                # One shared failover state would now send x to c0 and y to c1: refused both.
                for seq in (2, 3):
                    assert await push(client, x, seq) is StatusCode.OK
                    assert await push(client, y, seq) is StatusCode.OK
                assert (reports_of(c1, x.agent_id), reports_of(c0, y.agent_id)) == (3, 3)
                # The homes learn them (restored databases, or a cluster key); within the failback
                # period each stays where it is, after it each returns home, and stays.
                teach(c1, c0, x.agent_id)
                teach(c0, c1, y.agent_id)
                clock.now += FAILBACK - 1
                assert await push(client, x, 4) is StatusCode.OK
                assert await push(client, y, 4) is StatusCode.OK
                assert (reports_of(c0, x.agent_id), reports_of(c1, y.agent_id)) == (0, 0)
                clock.now += 2
                for seq in (5, 6):
                    assert await push(client, x, seq) is StatusCode.OK
                    assert await push(client, y, seq) is StatusCode.OK
                assert (reports_of(c0, x.agent_id), reports_of(c1, y.agent_id)) == (2, 2)
                assert (reports_of(c1, x.agent_id), reports_of(c0, y.agent_id)) == (4, 4)
            finally:
                await client.close()

    asyncio.run(scenario())
