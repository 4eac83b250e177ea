"""Group commit: Persister.save resolves once the snapshot is in SQLite, and store failures stay contained."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import grpc.aio
import pytest

from fleetwatch_collector import enrolment
from fleetwatch_collector.config import CollectorConfig, ServerSection
from fleetwatch_collector.dedup import AppliedSeqs
from fleetwatch_collector.fleet import FleetState, Snapshot
from fleetwatch_collector.persist import Persister
from fleetwatch_collector.server import CollectorServer
from fleetwatch_collector.store import Store, StoreError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.collector.support import full_report, host_info, register

AGENTS = 8
SAVES_PER_AGENT = 40


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = register(Store(tmp_path / "collector.sqlite"), "burst", "good", "huge", "other")
    register(s, *(f"a{i}" for i in range(AGENTS)))
    yield s
    s.close()


def _base() -> Snapshot:
    fleet = FleetState(clock=lambda: 1000.0)
    fleet.apply("base", [full_report(1)])
    return fleet.snapshot("base")


BASE = _base()


def snapshot(agent_id: str, n: int, reports_total: int | None = None) -> Snapshot:
    """The state of ``agent_id`` after its n-th report."""
    return replace(
        BASE,
        agent_id=agent_id,
        host=host_info(f"pc-{agent_id}").SerializeToString(),
        applied=AppliedSeqs(n, set()).dumps(),
        state_seq=n,
        reports_total=n if reports_total is None else reports_total,
        last_report_ms=1_760_000_000_000 + n,
        last_seen=1000.0 + n,
    )


def stored(store: Store) -> dict[str, Snapshot]:
    return {snap.agent_id: snap for snap, _ in store.load_agents()}


def test_concurrent_saves_resolve_and_the_last_snapshot_wins(store: Store) -> None:
    async def agent(persister: Persister, agent_id: str) -> None:
        for n in range(1, SAVES_PER_AGENT + 1):
            await persister.save(snapshot(agent_id, n))
            assert stored(store)[agent_id].state_seq >= n  # resolved means committed

    async def burst(persister: Persister) -> None:
        # Queued without waiting in between: one group commit must keep the last of each agent.
        await asyncio.gather(*(persister.save(snapshot("burst", n)) for n in range(1, 301)))

    async def main() -> int:
        persister = Persister(store)
        try:
            await asyncio.gather(burst(persister), *(agent(persister, f"a{i}") for i in range(AGENTS)))
            return persister.pending
        finally:
            await asyncio.to_thread(persister.close)

    assert asyncio.run(main()) == 0
    expected = {f"a{i}": snapshot(f"a{i}", SAVES_PER_AGENT) for i in range(AGENTS)}
    expected["burst"] = snapshot("burst", 300)
    assert stored(store) == expected


def test_close_commits_what_is_queued(store: Store) -> None:
    async def main() -> None:
        persister = Persister(store)
        saves = [asyncio.ensure_future(persister.save(snapshot("a1", n))) for n in range(1, 6)]
        await asyncio.sleep(0)  # every save is queued
        await asyncio.to_thread(persister.close)
        await asyncio.gather(*saves)

    asyncio.run(main())
    assert stored(store)["a1"] == snapshot("a1", 5)


def test_overflowing_snapshot_fails_and_later_saves_still_work(store: Store) -> None:
    async def main() -> None:
        persister = Persister(store)
        try:
            await persister.save(snapshot("good", 1))
            with pytest.raises(StoreError, match="write failed"):
                await persister.save(snapshot("huge", 1, reports_total=2**63))
            assert persister.pending == 0
            await persister.save(snapshot("other", 1))  # the failed transaction was rolled back
            await persister.save(snapshot("good", 2))
        finally:
            await asyncio.to_thread(persister.close)

    asyncio.run(main())
    assert stored(store) == {"good": snapshot("good", 2), "other": snapshot("other", 1)}


def test_store_stays_usable_after_a_failed_commit(store: Store) -> None:
    """BUG: Store.transaction() runs COMMIT outside its rollback handler. When COMMIT itself fails
    (disk full while WAL frames are written; here a deferred constraint checked at COMMIT), the
    transaction stays open and every later write fails with "cannot start a transaction within a
    transaction" until the collector restarts."""
    store.save_agents([snapshot("a1", 1)])
    with sqlite3.connect(store.path) as other:  # a failure that only shows at COMMIT
        other.executescript(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
            "CREATE TABLE child (id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);"
            "CREATE TRIGGER fail_at_commit AFTER UPDATE ON agents WHEN NEW.agent_id = 'a1'"
            " BEGIN INSERT INTO child VALUES (1); END;"
        )
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.save_agents([snapshot("a1", 2)])
    store.save_agents([snapshot("a2", 1)])  # another agent: the trigger does not fire
    assert stored(store) == {"a1": snapshot("a1", 1), "a2": snapshot("a2", 1)}


async def _pushes_through_a_store_failure(data_dir: Path) -> list[tuple[str, Snapshot | None]]:
    """Push one report twice while the store refuses writes, then once more after it recovers;
    for each Push: its outcome and what the store holds of the agent right after it."""
    config = CollectorConfig(
        server=ServerSection(grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0", data_dir=str(data_dir))
    )
    server = CollectorServer(config)
    await server.start()
    outcomes: list[tuple[str, Snapshot | None]] = []
    try:
        token = enrolment.create_token(server.store, None, time.time(), None)
        agent = enrolment.enrol(server.store, token, time.time())
        with sqlite3.connect(server.store.path) as other:  # the disk is full, say
            other.execute(
                "CREATE TRIGGER refuse BEFORE UPDATE ON agents BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        meta = (("x-fleetwatch-agent-id", agent.agent_id), ("authorization", f"Bearer {agent.secret}"))
        request = pb.PushRequest(reports=[full_report(1, int(time.time() * 1000))], oldest_held_seq=1)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = pb_grpc.CollectorStub(channel)  # type: ignore[no-untyped-call]
            for attempt in range(3):  # the agent keeps the report and retries until it is acked
                if attempt == 2:
                    with sqlite3.connect(server.store.path) as other:
                        other.execute("DROP TRIGGER refuse")
                try:
                    response = await stub.Push(request, metadata=meta, timeout=10)
                    outcome = f"OK acked_seq={response.acked_seq}"
                except grpc.aio.AioRpcError as exc:
                    outcome = exc.code().name
                outcomes.append((outcome, stored(server.store).get(agent.agent_id)))
                if outcome.startswith("OK"):
                    break
        return outcomes
    finally:
        await server.shutdown()


def test_push_is_acked_only_once_its_report_is_stored(tmp_path: Path) -> None:
    """BUG (service.py push): the first Push applies the report in memory, its save fails and it is
    refused UNAVAILABLE; the retry finds the seq applied, counts it a duplicate and answers OK without
    saving. The agent then deletes a report the store never got: after a restart it is lost and
    fleetwatch_agent_reports_total misses it."""
    outcomes = asyncio.run(_pushes_through_a_store_failure(tmp_path / "data"))
    assert outcomes[0] == ("UNAVAILABLE", None)
    assert outcomes[-1][0] == "OK acked_seq=1", outcomes  # acked once the store works again
    for index, (outcome, snap) in enumerate(outcomes):
        if outcome.startswith("OK"):
            assert snap is not None, f"push {index + 1} answered {outcome} but nothing is stored"
            assert AppliedSeqs.loads(snap.applied).is_applied(1)
            assert snap.reports_total == 1
