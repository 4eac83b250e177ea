"""An OK to a Push means the reports are stored: the collector is SIGKILLed the moment it answers OK, while
other agents' Pushes are in flight, and after each restart every acknowledged report is in its store
(per agent, the stored count equals the acknowledged count, plus at most the one Push whose answer the kill
cut off, all of it or none). Resending what was not acknowledged then counts every report exactly once.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio
import pytest

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.e2e.fault_processes import Collector, start_collector
from tests.e2e.fleet_client import FleetClient, av_report
from tests.e2e.support import ProcessGroup, auth_metadata, create_token, value_of

pytestmark = pytest.mark.e2e

AGENTS = 8
ROUNDS = 3


@dataclass
class Sender:
    """One agent's reports: the ones acknowledged, and the Push in flight (resent after a failure)."""

    agent_id: str
    secret: str
    hostname: str
    made: int = 0
    acked: int = 0
    in_flight: list[int] = field(default_factory=list)

    def next_batch(self, rng: random.Random) -> list[int]:
        if not self.in_flight:  # a failed Push is sent again, as the agent's spool does
            size = rng.randint(1, 5)
            self.in_flight = list(range(self.made + 1, self.made + size + 1))
            self.made += size
        return self.in_flight


def stored(collector: Collector, agent_id: str) -> tuple[set[int], int]:
    """Seqs the store says are applied (up to the highest one made) and its reports_total."""
    row = collector.store_row(agent_id)
    assert row is not None
    watermark, above = json.loads(row[0])
    return set(range(1, watermark + 1)) | set(above), row[1]


async def push_until_killed(collector: Collector, senders: list[Sender], rng: random.Random) -> None:
    """Every sender pushes in turn; after a random number of OKs the collector is killed at once."""
    kill_after = rng.randint(10, 40)
    oks = 0
    async with grpc.aio.insecure_channel(collector.grpc_address) as channel:
        stub = pb_grpc.CollectorStub(channel)  # type: ignore[no-untyped-call]

        async def run(sender: Sender) -> None:
            nonlocal oks
            while True:
                batch = sender.next_batch(rng)
                request = pb.PushRequest(
                    reports=[av_report(seq, sender.hostname, True) for seq in batch], oldest_held_seq=batch[0]
                )
                try:
                    response = await stub.Push(
                        request, metadata=auth_metadata(sender.agent_id, sender.secret), timeout=10
                    )
                except grpc.aio.AioRpcError:
                    return  # the collector is gone: this batch stays in flight
                assert response.acked_seq == batch[-1]
                sender.acked += len(batch)
                sender.in_flight = []
                oks += 1
                if oks == kill_after:
                    collector.process.kill()  # right after the OK, others' Pushes still in flight
                    return

        await asyncio.gather(*(run(sender) for sender in senders))


def test_every_acknowledged_report_survives_a_kill(processes: ProcessGroup, tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    data_dir = tmp_path / "collector-data"
    token = create_token(data_dir, "xa-an-cu")
    collector = start_collector(processes, data_dir)
    client = FleetClient(collector.grpc_address)
    try:
        senders = [
            Sender(agent.agent_id, agent.secret, agent.hostname)
            for agent in (client.enrol(token, f"pc-{i:02}") for i in range(AGENTS))
        ]
    finally:
        client.close()

    for round_number in range(ROUNDS):
        asyncio.run(push_until_killed(collector, senders, rng))
        assert collector.process.returncode is not None, "the collector was not killed"
        for sender in senders:
            applied, total = stored(collector, sender.agent_id)
            where = f"seed {seed}, round {round_number}, {sender.agent_id}"
            done = set(range(1, sender.made - len(sender.in_flight) + 1))
            assert done <= applied, f"{where}: acknowledged reports missing from the store"
            assert sender.acked == len(done)
            if set(sender.in_flight) & applied:  # its answer was cut off after the commit
                assert set(sender.in_flight) <= applied and total == sender.acked + len(sender.in_flight), (
                    where
                )
            else:
                assert total == sender.acked, f"{where}: stored {total}, acknowledged {sender.acked}"
        collector.start()

    asyncio.run(resend_the_rest(collector, senders))
    samples = collector.samples()
    for sender in senders:
        assert stored(collector, sender.agent_id)[1] == sender.made == sender.acked
        assert value_of(samples, "fleetwatch_agent_reports_total", agent_id=sender.agent_id) == sender.made
    collector.stop()


async def resend_the_rest(collector: Collector, senders: list[Sender]) -> None:
    """What the agents do after the last restart: send again what was never acknowledged."""
    async with grpc.aio.insecure_channel(collector.grpc_address) as channel:
        stub = pb_grpc.CollectorStub(channel)  # type: ignore[no-untyped-call]
        for sender in senders:
            if sender.in_flight:
                batch = sender.in_flight
                reports = [av_report(seq, sender.hostname, True) for seq in batch]
                await stub.Push(
                    pb.PushRequest(reports=reports, oldest_held_seq=batch[0]),
                    metadata=auth_metadata(sender.agent_id, sender.secret),
                    timeout=10,
                )
                sender.acked += len(batch)
                sender.in_flight = []
