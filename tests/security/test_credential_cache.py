"""Credentials kept in memory by a running collector never outlive their change: a revoked or forgotten
agent is refused at its next Push, an agent enrolling again has only its new secret (real gRPC)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc

from fleetwatch_collector import enrolment
from fleetwatch_collector.store import Store
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.e2e.support import auth_metadata
from tests.integration.support import GIB, GOOD, Harness, agent_series, report, running_collector

OTHER = "other"
MACHINE = "5e" * 32
HOST = "pc-ke-toan-02"


async def pushed(h: Harness, who: str, seq: int) -> None:
    """A few Pushes of ``who``, so its credential is in the collector's memory."""
    for n in range(seq, seq + 3):
        assert (await h.push([report(n, GIB, hostname=HOST)], who)).acked_seq == n


def test_revoked_by_another_process_is_refused_at_its_next_push(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_collector(tmp_path, agents=(GOOD, OTHER)) as h:
            await pushed(h, OTHER, 1)
            shown = agent_series(await h.samples(), h.agent_id(OTHER))
            cli = Store(h.server.store.path)  # what `fleetwatch-collector agent revoke` opens
            try:
                assert enrolment.revoke_agent(cli, h.agent_id(OTHER))
            finally:
                cli.close()
            await h.refused_with_counter(
                h.push([report(4, 2 * GIB, hostname=HOST)], OTHER),
                grpc.StatusCode.PERMISSION_DENIED,
                "revoked",
            )
            # Its series stay as they were until the upkeep takes them off /metrics.
            after = agent_series(await h.samples(), h.agent_id(OTHER))
            assert after in ({}, shown), "a revoked agent's report was applied"
            assert (await h.push([report(1, GIB)], GOOD)).acked_seq == 1, "another agent was refused"

    asyncio.run(scenario())


def test_forgotten_by_another_process_is_unknown_at_its_next_push(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_collector(tmp_path, agents=(GOOD, OTHER)) as h:
            await pushed(h, OTHER, 1)
            cli = Store(h.server.store.path)
            try:
                assert enrolment.forget_agent(cli, h.agent_id(OTHER))
            finally:
                cli.close()
            await h.refused_with_counter(
                h.push([report(4, GIB, hostname=HOST)], OTHER),
                grpc.StatusCode.UNAUTHENTICATED,
                "bad_credential",
            )
            assert (await h.push([report(1, GIB)], GOOD)).acked_seq == 1

    asyncio.run(scenario())


def test_enrolling_again_retires_the_old_secret_and_the_new_one_works(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_collector(tmp_path) as h:
            token = enrolment.create_token(h.server.store, None, time.time(), None)
            stub = pb_grpc.CollectorStub(h.channel)  # type: ignore[no-untyped-call]
            host = report(1, GIB, hostname=HOST).host
            request = pb.EnrollRequest(token=token, host=host, machine_id=MACHINE)
            first: pb.EnrollResponse = await stub.Enroll(request, timeout=10)
            old = auth_metadata(first.agent_id, first.secret)
            for seq in (1, 2, 3):
                response = await h.push([report(seq, GIB, hostname=HOST)], metadata=old)
                assert response.acked_seq == seq
            again: pb.EnrollResponse = await stub.Enroll(request, timeout=10)  # the machine, reinstalled
            assert again.agent_id == first.agent_id and again.secret != first.secret
            await h.refused_with_counter(
                h.push([report(1, GIB, hostname=HOST)], metadata=old),
                grpc.StatusCode.UNAUTHENTICATED,
                "bad_credential",
            )
            new = auth_metadata(again.agent_id, again.secret)
            assert (await h.push([report(1, GIB, hostname=HOST)], metadata=new)).acked_seq == 1
            await h.refused(
                h.push([report(2, GIB, hostname=HOST)], metadata=old), grpc.StatusCode.UNAUTHENTICATED
            )

    asyncio.run(scenario())
