"""Credentials before resources: unauthenticated and silent calls cannot take the collector's slots or
memory; a legitimate agent's Pushes and Enrolls succeed while they try (real collector, loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path

import grpc
import grpc.aio

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.e2e.support import ProcessGroup
from tests.security.h2raw import RawConnection, grpc_message
from tests.security.support import (
    CHECK,
    ENROLL,
    PUSH,
    WATCH,
    Agent,
    Lab,
    PeakMemory,
    bounded,
    running_lab,
    wait_for,
)

MIB = 1024 * 1024
# Short deadlines so that the test sees them pass.
OPTIONS = {"calls": {"open_message_seconds": 4.0, "push_message_seconds": 4.0}}
HELD_STREAMS = 2100  # more than gRPC's former 2,048 concurrent calls
EIGHT_MIB = grpc_message(b"\x0a" + b"x" * (8 * MIB - 16))  # 8 MiB, within gRPC's receive limit


async def serve_legitimate(lab: Lab, agent: Agent, pushes: int, enrolls: int) -> None:
    """``pushes`` Pushes and ``enrolls`` Enrolls of a well-behaved agent: every one must succeed."""
    for i in range(max(pushes, enrolls)):
        if i < pushes:
            assert await lab.push(agent) == agent.seq
        if i < enrolls:
            enrolled = await lab.enroll(lab.token(max_uses=1), f"newcomer-{i}")
            assert enrolled.agent_id.startswith("a-")


def test_held_open_unauthenticated_streams_do_not_starve_agents(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    """2,100 calls opened without a message (Push without credential, Watch, Enroll, Check), over few
    connections from the agent's own address: every legitimate Push and Enroll still succeeds."""

    async def scenario() -> None:
        async with running_lab(processes, tmp_path, OPTIONS) as lab:
            agent = await lab.enroll(lab.token(), "good-pc")
            assert await lab.push(agent) == 1
            methods = (PUSH, WATCH, ENROLL, CHECK)
            # 8 connections of 225 streams, and one of 300: beyond the 256 one connection may open.
            plan = [225] * 8 + [300]
            assert sum(plan) == HELD_STREAMS
            connections = [await RawConnection.connect("127.0.0.1", lab.port) for _ in plan]
            try:
                opened = 0
                for connection, count in zip(connections, plan, strict=True):
                    for _ in range(count):
                        connection.open_call(methods[opened % len(methods)])
                        opened += 1
                    await connection.flush()
                pushes_opened = sum(1 for i in range(HELD_STREAMS) if i % len(methods) == 0)
                with bounded(60):
                    await serve_legitimate(lab, agent, pushes=20, enrolls=5)
                # The unauthenticated Pushes were refused from their metadata alone.
                await wait_for(
                    lambda: _at_least(
                        lab,
                        "fleetwatch_collector_rejected_total",
                        pushes_opened - 20,
                        reason="unauthenticated",
                    ),
                    "the unauthenticated Pushes refused",
                )
                # Streams beyond the per-connection limit were refused by HTTP/2 itself.
                reset = [e for e in connections[-1].ended.values() if e.how == "reset"]
                assert len(reset) >= 300 - 256, connections[-1].ended
                assert connections[0].server_max_streams == 256
                # Every held call ends: refused at once, replaced by a newer one, or at its deadline.
                await wait_for(
                    lambda: _all_ended(connections, plan), "every held stream ended by the collector", 30.0
                )
                refused = await lab.counters("fleetwatch_collector_calls_refused_total")
                by_reason: dict[str, float] = {}
                for labels, value in refused.items():
                    by_reason[dict(labels)["reason"]] = by_reason.get(dict(labels)["reason"], 0) + value
                assert by_reason.get("evicted", 0) > 0 and by_reason.get("request_timeout", 0) > 0, by_reason
                # Every stream HTTP/2 let through was refused by the collector, and counted once.
                unauthenticated = await lab.counter(
                    "fleetwatch_collector_rejected_total", reason="unauthenticated"
                )
                let_through = HELD_STREAMS - len(reset)
                assert unauthenticated + sum(by_reason.values()) == let_through, (unauthenticated, by_reason)
                for pool in ("push", "open_waiting", "open_reading", "watch"):
                    assert await lab.counter("fleetwatch_collector_calls_in_progress", pool=pool) == 0, pool
                # And the agent is still served afterwards.
                assert await lab.push(agent) == agent.seq
            finally:
                for connection in connections:
                    await connection.close()

    asyncio.run(scenario())


async def _at_least(lab: Lab, name: str, value: float, **labels: str) -> bool:
    return await lab.counter(name, **labels) >= value


async def _gone_while_read(lab: Lab) -> float:
    """Pushes ended while the collector waited for their message: oversized (gRPC's refusal seen as
    such) and cancelled in phase "message" (a client's cancel, or gRPC's refusal seen as one)."""
    oversized = await lab.counter("fleetwatch_collector_rejected_total", reason="oversized")
    cancelled = await lab.counter(
        "fleetwatch_collector_calls_cancelled_total", method="Push", phase="message"
    )
    return oversized + cancelled


async def _is(value: Awaitable[float], expected: float) -> bool:
    return await value == expected


async def _all_ended(connections: list[RawConnection], plan: list[int]) -> bool:
    return all(len(c.ended) >= count for c, count in zip(connections, plan, strict=True))


def test_silent_pushes_of_one_agent_are_bounded(processes: ProcessGroup, tmp_path: Path) -> None:
    """An enrolled agent that opens 2,100 Pushes and never sends their messages holds at most
    calls.max_calls_per_agent of them (each new one replaces its oldest), each until its deadline;
    another agent is not affected."""

    async def scenario() -> None:
        async with running_lab(processes, tmp_path, OPTIONS) as lab:
            good = await lab.enroll(lab.token(), "good-pc")
            hostile = await lab.enroll(lab.token(), "hostile-pc")
            connections = [await RawConnection.connect("127.0.0.1", lab.port) for _ in range(10)]
            try:
                for i in range(HELD_STREAMS):
                    connections[i % 10].open_call(PUSH, hostile.metadata)
                for connection in connections:
                    await connection.flush()
                with bounded(30):
                    for _ in range(20):
                        assert await lab.push(good) == good.seq
                await wait_for(
                    lambda: _all_ended(connections, [HELD_STREAMS // 10] * 10),
                    "every silent Push ended",
                    30.0,
                )
                evicted = await lab.counter("fleetwatch_collector_rejected_total", reason="evicted")
                timed_out = await lab.counter("fleetwatch_collector_rejected_total", reason="request_timeout")
                assert timed_out == 4, "the last calls.max_calls_per_agent calls end at their deadline"
                assert evicted == HELD_STREAMS - 4
                assert await lab.counter("fleetwatch_collector_calls_in_progress", pool="push") == 0
                # The hostile agent itself can push again once it behaves.
                assert await lab.push(hostile) == hostile.seq
            finally:
                for connection in connections:
                    await connection.close()

    asyncio.run(scenario())


async def _send_many(lab: Lab, path: str, count: int, metadata: tuple[tuple[str, str], ...] = ()) -> int:
    """``count`` concurrent calls each sending an 8 MiB message as fast as the collector lets them;
    the bytes the collector accepted in all."""
    connections = [await RawConnection.connect("127.0.0.1", lab.port) for _ in range(count // 50)]
    try:
        sends = []
        for i in range(count):
            connection = connections[i % len(connections)]
            stream = connection.open_call(path, metadata)
            sends.append(connection.send_within_window(stream, EIGHT_MIB, timeout=20.0))
        sent = sum(await asyncio.gather(*sends))
        await wait_for(
            lambda: _all_ended(connections, [count // len(connections)] * len(connections)),
            "every call answered",
            30.0,
        )
        return sent
    finally:
        for connection in connections:
            await connection.close()


def test_unauthenticated_8_mib_pushes_are_refused_unread(processes: ProcessGroup, tmp_path: Path) -> None:
    """500 concurrent unauthenticated Pushes of 8 MiB: refused from their metadata, their messages never
    read (the collector grants each one HTTP/2 window, 64 KiB); its RSS stays under 300 MiB."""

    async def scenario() -> None:
        async with running_lab(processes, tmp_path) as lab:
            agent = await lab.enroll(lab.token(), "good-pc")
            before = await lab.counter("fleetwatch_collector_rejected_total", reason="unauthenticated")
            with PeakMemory(lab) as memory, bounded(90):
                attack = asyncio.ensure_future(_send_many(lab, PUSH, 500))
                for _ in range(10):
                    assert await lab.push(agent) == agent.seq
                sent = await attack
            after = await lab.counter("fleetwatch_collector_rejected_total", reason="unauthenticated")
            assert after - before == 500
            assert sent < 500 * 128 * 1024, f"{sent} bytes accepted: the messages were read"
            assert memory.peak < 300 * MIB, f"peak RSS {memory.peak / MIB:.0f} MiB"
            print(f"500 x 8 MiB unauthenticated Pushes: peak RSS {memory.peak / MIB:.0f} MiB, {sent} B taken")

    asyncio.run(scenario())


def test_8_mib_enrolls_are_bounded_in_memory(processes: ProcessGroup, tmp_path: Path) -> None:
    """500 concurrent Enrolls of 8 MiB (no credential can be checked before an Enroll's message): only
    calls.max_open_reads are read at once, each refused as oversized; RSS stays under 300 MiB and an
    agent enrols meanwhile."""

    async def scenario() -> None:
        async with running_lab(processes, tmp_path) as lab:
            agent = await lab.enroll(lab.token(), "good-pc")
            with PeakMemory(lab) as memory, bounded(120):
                attack = asyncio.ensure_future(_send_many(lab, ENROLL, 500))
                for i in range(5):
                    assert await lab.push(agent) == agent.seq
                    assert (await lab.enroll(lab.token(max_uses=1), f"newcomer-{i}")).agent_id
                await attack
            refused = await lab.counters("fleetwatch_collector_calls_refused_total")
            enroll_refusals = {
                dict(k)["reason"]: v for k, v in refused.items() if dict(k)["method"] == "Enroll"
            }
            assert sum(enroll_refusals.values()) == 500, enroll_refusals
            assert set(enroll_refusals) <= {"oversized", "evicted", "request_timeout"}, enroll_refusals
            assert memory.peak < 300 * MIB, f"peak RSS {memory.peak / MIB:.0f} MiB"
            print(f"500 x 8 MiB Enrolls: peak RSS {memory.peak / MIB:.0f} MiB, refusals {enroll_refusals}")

    asyncio.run(scenario())


def test_calls_past_grpc_limits_and_cancelled_calls_are_counted(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    """What gRPC refuses itself (a message beyond its receive limit), unknown methods and calls the
    client cancels all show in the collector's counters."""

    async def scenario() -> None:
        async with running_lab(processes, tmp_path, {"limits": {"max_message_bytes": 65536}}) as lab:
            agent = await lab.enroll(lab.token(), "good-pc")
            huge = agent.next_report()
            huge.network_devices.add(name="router", sys_descr="x" * 200)
            for _ in range(2000):
                huge.network_devices[0].interfaces.add(name="i" * 200)
            raw = lab.channel.unary_unary(PUSH)
            try:
                request = pb.PushRequest(reports=[huge]).SerializeToString()
                assert len(request) > 2 * 65536  # beyond gRPC's receive limit: gRPC refuses it
                await raw(request, metadata=agent.metadata, timeout=10)
                raise AssertionError("an oversized Push was accepted")
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
            # gRPC tells the collector only that the call ended while its message was read.
            assert await _gone_while_read(lab) == 1
            # An unknown method.
            try:
                await lab.channel.unary_unary("/no.such.Service/Call")(b"", timeout=10)
                raise AssertionError("an unknown method answered")
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error
            assert (
                await lab.counter(
                    "fleetwatch_collector_calls_refused_total", method="other", reason="unknown_method"
                )
                == 1
            )
            # A Push cancelled by its client before it sent its message.
            stream = lab.channel.stream_unary(PUSH)
            never = asyncio.Event()

            async def silent() -> object:
                await never.wait()
                yield b""  # pragma: no cover

            call = stream(silent(), metadata=agent.metadata, timeout=30)
            await asyncio.sleep(0.5)
            call.cancel()
            await wait_for(lambda: _is(_gone_while_read(lab), 2), "the cancelled Push counted")
            assert await lab.push(agent) == agent.seq

    asyncio.run(scenario())
