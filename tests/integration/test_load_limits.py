"""Rate limits, load shedding and store failures over real gRPC, and how the agent transport sees them."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from fleetwatch_agent.config import CollectorSection
from fleetwatch_agent.grpcwire import StatusCode
from fleetwatch_agent.transport import Identity, PushError, Transport
from fleetwatch_collector.validate import Limits
from fleetwatch_proto.metadata import RETRY_AFTER_MS as RETRY_AFTER_METADATA
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.integration.support import GIB, GOOD, Harness, agent_series, report, running_collector

FLOOD = "flood"  # an agent that pushes too often
BURST = 3
RATE = 1.0  # pushes per second per agent
RATE_LIMITS = Limits(push_burst=BURST, pushes_per_second_per_agent=RATE)
DEADLINE_SECONDS = 30.0


def retry_after_ms(error: grpc.aio.AioRpcError) -> int:
    values = [v for k, v in error.trailing_metadata() or () if k == RETRY_AFTER_METADATA]
    assert len(values) == 1, f"no single {RETRY_AFTER_METADATA} in {error.trailing_metadata()}"
    return int(values[0])


def transport_to(h: Harness) -> Transport:
    return Transport(CollectorSection(addresses=(f"127.0.0.1:{h.server.grpc_port}",), tls="off"))


def test_rate_limit_refuses_the_pushes_beyond_the_burst_with_a_retry_after(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_collector(tmp_path, RATE_LIMITS, agents=(GOOD, FLOOD)) as h:
            assert (await h.push([report(1, GIB)], oldest_held_seq=1)).acked_seq == 1
            good = agent_series(await h.samples(), h.agent_id(GOOD))
            outcomes: list[int | str] = []
            for seq in range(1, 7):
                try:
                    response = await h.push([report(seq, seq * GIB, hostname="flood-pc")], FLOOD)
                    outcomes.append(response.acked_seq)
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                    wait = retry_after_ms(error)
                    assert 0 < wait <= 1000 / RATE, wait
                    assert "pushes/s" in (error.details() or ""), error.details()
                    outcomes.append("refused")
            assert outcomes == [1, 2, 3, "refused", "refused", "refused"]
            samples = await h.samples()
            assert await h.rejected("rate_limited") == 3
            assert await h.counter("fleetwatch_collector_pushes_total", code="RESOURCE_EXHAUSTED") == 3
            flood = h.agent_id(FLOOD)
            reports = [s.value for s in samples if s.name == "fleetwatch_agent_reports_total"]
            assert sorted(reports) == [1, 3], "refused pushes must not be applied"
            assert agent_series(samples, h.agent_id(GOOD)) == good
            # Other agents keep their own budget.
            assert (await h.push([report(2, 2 * GIB)])).acked_seq == 2
            # Waiting as told is enough.
            error = await h.refused(
                h.push([report(4, GIB, hostname="flood-pc")], FLOOD), grpc.StatusCode.RESOURCE_EXHAUSTED
            )
            await asyncio.sleep(retry_after_ms(error) / 1000 + 0.05)
            assert (await h.push([report(4, 4 * GIB, hostname="flood-pc")], FLOOD)).acked_seq == 4
            assert (await h.counter("fleetwatch_agent_reports_total", agent_id=flood)) == 4

    asyncio.run(scenario())


def test_agent_transport_reports_the_retry_after(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_collector(tmp_path, RATE_LIMITS, agents=(FLOOD,)) as h:
            transport = transport_to(h)
            identity = Identity(h.agent_id(FLOOD), h.agents[FLOOD].secret)
            try:
                for seq in range(1, BURST + 1):
                    assert (await transport.push(identity, [report(seq, GIB)], seq)).acked_seq == seq
                with pytest.raises(PushError) as info:
                    await transport.push(identity, [report(BURST + 1, GIB)], BURST + 1)
            finally:
                await transport.close()
            error = info.value
            assert error.code is StatusCode.RESOURCE_EXHAUSTED
            assert 0 < error.retry_after_seconds <= 1 / RATE
            assert error.retryable and not error.permanent and not error.credential_problem

    asyncio.run(scenario())


def test_agent_transport_classifies_credential_and_content_refusals(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_collector(tmp_path, agents=(GOOD,)) as h:
            transport = transport_to(h)
            good = h.agents[GOOD]
            try:
                with pytest.raises(PushError) as bad_secret:
                    await transport.push(Identity(good.agent_id, "wrong"), [report(1, GIB)], 1)
                with pytest.raises(PushError) as invalid:
                    await transport.push(
                        Identity(good.agent_id, good.secret), [report(1, GIB, "bad host")], 1
                    )
            finally:
                await transport.close()
            assert bad_secret.value.code is StatusCode.UNAUTHENTICATED
            assert bad_secret.value.credential_problem and not bad_secret.value.permanent
            assert bad_secret.value.retry_after_seconds == 0
            assert invalid.value.code is StatusCode.INVALID_ARGUMENT
            assert invalid.value.permanent and not invalid.value.retryable

    asyncio.run(scenario())


@contextlib.contextmanager
def store_locked(data_dir: Path) -> Iterator[None]:
    """Another process-like writer holds the store's write lock: the collector's commits wait."""
    db = sqlite3.connect(data_dir / "collector.sqlite", isolation_level=None, timeout=10)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


async def poll(predicate: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


NAMES = ("a1", "a2", "a3")


def push_first(h: Harness, names: tuple[str, ...]) -> list[asyncio.Task[pb.PushResponse]]:
    """One report from each of ``names``, in flight (with the store locked, waiting for the commit)."""
    return [asyncio.ensure_future(h.push([report(1, GIB, n)], n, oldest_held_seq=1)) for n in names]


def push_third(h: Harness) -> Coroutine[Any, Any, pb.PushResponse]:
    return h.push([report(1, GIB, NAMES[2])], NAMES[2], oldest_held_seq=1)


def test_pushes_beyond_max_pending_are_shed_as_overloaded(tmp_path: Path) -> None:
    limits = Limits(max_pending_pushes=2, retry_after_seconds=0.5)

    async def scenario() -> None:
        async with running_collector(tmp_path, limits, agents=NAMES) as h:
            with store_locked(tmp_path):
                waiting = push_first(h, NAMES[:2])
                await poll(lambda: h.server.persister.pending == 2, "two pushes waiting for the store")
                assert not any(task.done() for task in waiting), "acknowledged before the commit"
                before = await h.rejected("overloaded")
                error = await h.refused(push_third(h), grpc.StatusCode.RESOURCE_EXHAUSTED)
                assert await h.rejected("overloaded") == before + 1
                assert "busy" in (error.details() or "")
                # retry_after_seconds randomised x1..x3, so agents do not come back together.
                assert 500 <= retry_after_ms(error) <= 1500, retry_after_ms(error)
            assert [(await task).acked_seq for task in waiting] == [1, 1]
            assert (await push_third(h)).acked_seq == 1
            assert await h.rejected("overloaded") == before + 1

    asyncio.run(scenario())


def test_a_queue_that_stands_is_shed_and_served_again_once_it_drains(tmp_path: Path) -> None:
    """Below the count bound: the oldest waiting Push older than target + interval refuses new ones."""
    limits = Limits(store_wait_target_seconds=0.2, store_wait_interval_seconds=0.3, retry_after_seconds=0.5)

    async def scenario() -> None:
        async with running_collector(tmp_path, limits, agents=NAMES) as h:
            persister = h.server.persister
            with store_locked(tmp_path):
                waiting = push_first(h, NAMES[:2])
                await poll(lambda: persister.oldest_wait(time.monotonic()) > 0.6, "a standing queue")
                assert persister.pending == 2 < limits.max_pending_pushes
                before = await h.rejected("overloaded")
                error = await h.refused(push_third(h), grpc.StatusCode.RESOURCE_EXHAUSTED)
                assert "busy" in (error.details() or "")
                assert await h.rejected("overloaded") == before + 1
            assert [(await task).acked_seq for task in waiting] == [1, 1]
            assert (await push_third(h)).acked_seq == 1
            assert await h.rejected("overloaded") == before + 1

    asyncio.run(scenario())


def test_a_pause_of_the_store_shorter_than_the_interval_refuses_nothing(tmp_path: Path) -> None:
    """The same wait with a long interval: the Push arriving during the pause waits and is acknowledged."""
    limits = Limits(store_wait_target_seconds=0.2, store_wait_interval_seconds=600.0)

    async def scenario() -> None:
        async with running_collector(tmp_path, limits, agents=NAMES) as h:
            persister = h.server.persister
            with store_locked(tmp_path):
                waiting = push_first(h, NAMES[:2])
                await poll(lambda: persister.oldest_wait(time.monotonic()) > 0.6, "a queue past its target")
                late = asyncio.ensure_future(push_third(h))
                await poll(lambda: persister.pending == 3, "the third push waiting for the store")
            assert [(await task).acked_seq for task in (*waiting, late)] == [1, 1, 1]
            assert await h.rejected("overloaded") == 0

    asyncio.run(scenario())


@contextlib.contextmanager
def failing_agent_writes(data_dir: Path, agent_id: str) -> Iterator[None]:
    """The store refuses to update this agent's row (an injected write failure), until the block exits."""
    db = sqlite3.connect(data_dir / "collector.sqlite", isolation_level=None, timeout=10)
    try:
        db.execute(
            f"CREATE TRIGGER inject_failure BEFORE UPDATE ON agents WHEN NEW.agent_id = '{agent_id}'"
            " BEGIN SELECT RAISE(ABORT, 'injected write failure'); END"
        )
        yield
        db.execute("DROP TRIGGER inject_failure")
    finally:
        db.close()


def stored_state(data_dir: Path, agent_id: str) -> tuple[int, str | None]:
    """(reports_total, applied seqs) of the agent as committed to the store."""
    with contextlib.closing(sqlite3.connect(data_dir / "collector.sqlite")) as db:
        row = db.execute(
            "SELECT reports_total, applied FROM agents WHERE agent_id = ?", (agent_id,)
        ).fetchone()
    return row[0], row[1]


def test_a_push_acknowledged_after_a_store_failure_is_stored(tmp_path: Path) -> None:
    """UNAVAILABLE when the store fails; the retry's OK must mean the reports are committed."""

    async def scenario() -> None:
        async with running_collector(tmp_path, agents=(GOOD,)) as h:
            good = h.agent_id(GOOD)
            batch = [report(1, GIB), report(2, 2 * GIB)]
            with failing_agent_writes(tmp_path, good):
                error = await h.refused(h.push(batch, oldest_held_seq=1), grpc.StatusCode.UNAVAILABLE)
                assert retry_after_ms(error) > 0
                assert await h.rejected("store_error") == 1
            # The agent kept the batch and sends it again once the store works.
            assert (await h.push(batch, oldest_held_seq=1)).acked_seq == 2
            assert await h.counter("fleetwatch_agent_reports_total", agent_id=good) == 2
        stored = stored_state(tmp_path, good)
        # After a restart the collector knows only what it committed.
        async with running_collector(tmp_path, agents=()) as h:
            restored = await h.counter("fleetwatch_agent_reports_total", agent_id=good)
            assert restored == 2, (
                f"acked reports lost in a restart; stored (reports_total, applied): {stored}"
            )

    asyncio.run(scenario())
