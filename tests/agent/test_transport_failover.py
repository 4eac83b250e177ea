"""Failover between real in-process collectors: unreachable or refusing moves on, failback returns."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleetwatch_agent.config import CollectorSection
from fleetwatch_agent.grpcwire import StatusCode
from fleetwatch_agent.transport import FAILOVER_CODES, Identity, PushError, Transport, check_collectors
from fleetwatch_collector.server import CollectorServer
from tests.agent.failover_support import enrol_at, teach
from tests.agent.inprocess import grpc_address, running_collector
from tests.conftest import free_port

FAILBACK = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def collectors(tmp_path: Path, count: int) -> AsyncIterator[list[CollectorServer]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running_collector(tmp_path / f"c{i}")) for i in range(count)]


def transport(addresses: list[str], clock: Clock) -> Transport:
    section = CollectorSection(addresses=tuple(addresses), timeout_seconds=5.0, failback_seconds=FAILBACK)
    section.validate()
    return Transport(section, clock=clock)


async def push(client: Transport, identity: Identity) -> StatusCode:
    """OK or the code of the refusal."""
    try:
        await client.push(identity, [])
    except PushError as exc:
        return exc.code
    return StatusCode.OK


def test_credential_and_reachability_codes_move_to_the_next_address() -> None:
    assert {StatusCode.UNAUTHENTICATED, StatusCode.PERMISSION_DENIED} <= FAILOVER_CODES
    assert {StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED} <= FAILOVER_CODES
    # The batch is at fault, not the collector: another one would refuse it too.
    assert StatusCode.INVALID_ARGUMENT not in FAILOVER_CODES


def test_a_refused_credential_moves_on_and_the_first_address_is_tried_again_later(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with collectors(tmp_path, 2) as (first, second):
            identity = enrol_at(second)  # the first collector does not know this agent
            clock = Clock()
            client = transport([grpc_address(first), grpc_address(second)], clock)
            try:
                with pytest.raises(PushError) as refused:
                    await client.push(identity, [])
                assert refused.value.code is StatusCode.UNAUTHENTICATED
                assert refused.value.failed_over is True  # the second was not tried: retry at once
                assert client.address == grpc_address(second)
                assert await push(client, identity) is StatusCode.OK
                assert await push(client, identity) is StatusCode.OK
                assert client.address == grpc_address(second)
                # Before the failback period the first address is left alone.
                clock.now += FAILBACK - 1
                assert await push(client, identity) is StatusCode.OK
                # After it, one call goes to the first again; it still refuses: back to the second.
                clock.now += 2
                assert await push(client, identity) is StatusCode.UNAUTHENTICATED
                assert client.address == grpc_address(second)
                assert await push(client, identity) is StatusCode.OK
                # The first learns the agent (its database restored): the agent returns to it, and stays.
                teach(second, first, identity.agent_id)
                clock.now += FAILBACK + 1
                assert await push(client, identity) is StatusCode.OK
                assert client.address == grpc_address(first)
                clock.now += FAILBACK * 3
                assert await push(client, identity) is StatusCode.OK
                assert client.address == grpc_address(first)
            finally:
                await client.close()

    asyncio.run(scenario())


def test_an_unreachable_address_moves_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with collectors(tmp_path, 1) as (only,):
            identity = enrol_at(only)
            client = transport([f"127.0.0.1:{free_port()}", grpc_address(only)], Clock())
            try:
                with pytest.raises(PushError) as unreachable:
                    await client.push(identity, [])
                assert unreachable.value.code is StatusCode.UNAVAILABLE
                assert unreachable.value.failed_over is True
                assert await push(client, identity) is StatusCode.OK
            finally:
                await client.close()

    asyncio.run(scenario())


def test_when_every_address_refuses_the_round_ends_and_the_caller_backs_off(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with collectors(tmp_path, 3) as (first, second, enrolled_here):
            identity = enrol_at(enrolled_here)
            client = transport([grpc_address(first), grpc_address(second)], Clock())
            try:
                errors = []
                for _ in range(3):
                    with pytest.raises(PushError) as refused:
                        await client.push(identity, [])
                    errors.append((refused.value.code, refused.value.failed_over))
                unauthenticated = StatusCode.UNAUTHENTICATED
                assert errors == [(unauthenticated, True), (unauthenticated, False), (unauthenticated, False)]
            finally:
                await client.close()

    asyncio.run(scenario())


def test_calls_failing_together_move_one_address_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with collectors(tmp_path, 3) as (first, second, third):
            identity = enrol_at(second)
            client = transport([grpc_address(c) for c in (first, second, third)], Clock())
            try:
                codes = await asyncio.gather(*(push(client, identity) for _ in range(4)))
                assert set(codes) == {StatusCode.UNAUTHENTICATED}
                assert client.address == grpc_address(second)  # not the third: it was never tried
                assert await push(client, identity) is StatusCode.OK
            finally:
                await client.close()

    asyncio.run(scenario())


def test_check_tells_ok_refused_unreachable_and_not_enrolled_apart(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with collectors(tmp_path, 2) as (knows, does_not):
            identity = enrol_at(knows)
            closed = f"127.0.0.1:{free_port()}"
            addresses = (grpc_address(knows), grpc_address(does_not), closed)
            section = CollectorSection(addresses=addresses, timeout_seconds=5.0)
            verdicts = await check_collectors(section, identity)
            assert [(v.address, v.status) for v in verdicts] == [
                (addresses[0], "ok"),
                (addresses[1], "refused"),
                (closed, "unreachable"),
            ]
            assert "UNAUTHENTICATED" in verdicts[1].detail
            assert "UNAVAILABLE" in verdicts[2].detail
            anonymous = await check_collectors(section, None)
            assert [v.status for v in anonymous] == ["not_enrolled", "not_enrolled", "unreachable"]
            # An empty Push lists no agent at the collector.
            assert knows.fleet.get(identity.agent_id) is None

    asyncio.run(scenario())
