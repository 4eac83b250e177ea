"""The real agent as a service: stopped during a Push or while a probe hangs, in time, losing nothing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from fleetwatch_agent import credentials
from fleetwatch_agent.config import AgentConfig, AgentSection, CollectorSection, ProbesSection
from fleetwatch_agent.credentials import AgentCredential
from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.connectivity import ConnectivityConfig
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.runner import BoundProbe, bind_probes
from fleetwatch_agent.service import AgentService
from fleetwatch_agent.winservice.controller import STOP_TIMEOUT_SECONDS, ServiceController
from fleetwatch_agent.winservice.status import ExitCode, ServiceState
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.agent.inprocess import poll, running_collector, stand_in_collector
from tests.agent.test_service_delivery import BACKLOG, agent_config, prepare_agent, spooled
from tests.agent.winservice_fakes import FakeServiceManager
from tests.conftest import free_port

S = ServiceState


class HoldingCollector(pb_grpc.CollectorServicer):
    """A collector stand-in that accepts a Push and never answers it: a Push stays in flight."""

    def __init__(self) -> None:
        self.held: list[list[int]] = []  # the seqs of each Push received
        self.cancelled = 0

    async def Push(self, request: pb.PushRequest, context: grpc.aio.ServicerContext) -> pb.PushResponse:  # noqa: N802
        self.held.append([report.seq for report in request.reports])
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:  # the agent gave the call up
            self.cancelled += 1
            raise
        return pb.PushResponse()


@contextlib.asynccontextmanager
async def holding_collector() -> AsyncIterator[tuple[str, HoldingCollector]]:
    servicer = HoldingCollector()
    async with stand_in_collector(servicer) as address:
        yield address, servicer


@contextlib.asynccontextmanager
async def service_running(controller: ServiceController) -> AsyncIterator[asyncio.Task[ExitCode]]:
    """The service's main thread (SvcRun) beside the test's loop; stopped on the way out in any case."""
    run = asyncio.create_task(asyncio.to_thread(controller.run))
    try:
        yield run
    finally:
        controller.request_stop()
        await asyncio.wait_for(asyncio.shield(run), STOP_TIMEOUT_SECONDS + 5.0)


def test_a_stop_during_a_push_ends_in_time_and_the_reports_are_delivered_once_at_the_next_start(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "agent"

    async def scenario() -> None:
        async with running_collector(tmp_path / "collector") as server:
            agent_id = prepare_agent(server, data_dir)  # BACKLOG reports spooled, seqs 1..BACKLOG
            config = agent_config(server, data_dir, 100, 1024 * 1024)
            # random.Random(1) puts the first collection minutes away: only the backlog is sent.
            async with holding_collector() as (address, holder):
                held_config = dataclasses.replace(
                    config, collector=dataclasses.replace(config.collector, addresses=(address,))
                )
                scm = FakeServiceManager()
                controller = ServiceController(lambda: AgentService(held_config, random.Random(1)), scm)
                async with service_running(controller) as run:
                    await poll(lambda: holder.held or run.done(), "a Push held open")
                    assert not run.done(), f"the service ended: {run.result()} (its log says why)"
                    await poll(lambda: S.RUNNING in scm.states(), "RUNNING reported")
                    assert [sorted(seqs) for seqs in holder.held] == [list(range(1, BACKLOG + 1))]
                    controller.request_stop()
                    assert await run == ExitCode.OK
                assert scm.states() == [S.START_PENDING, S.RUNNING, S.STOP_PENDING, S.STOPPED]
                assert scm.seconds_between(S.STOP_PENDING, S.STOPPED) < STOP_TIMEOUT_SECONDS
                assert scm.violations() == []
                await poll(lambda: holder.cancelled == 1, "the held Push to be cancelled")
            assert spooled(data_dir) == BACKLOG  # nothing acknowledged, nothing deleted

            # The next start, with a collector that answers.
            scm = FakeServiceManager()
            controller = ServiceController(lambda: AgentService(config, random.Random(1)), scm)

            def applied() -> int:
                entry = server.fleet.get(agent_id)
                return entry.reports_total if entry is not None else 0

            async with service_running(controller) as run:
                await poll(lambda: run.done() or applied() >= BACKLOG, "the backlog to be applied")
            assert run.result() == ExitCode.OK
            assert spooled(data_dir) == 0  # delivered, and forgotten by the time the service stopped
            entry = server.fleet.get(agent_id)
            assert entry is not None
            assert (entry.reports_total, entry.applied.highest) == (BACKLOG, BACKLOG)  # each once

    asyncio.run(scenario())


def test_a_stop_while_a_probe_hangs_ends_in_time_without_waiting_for_the_probe(tmp_path: Path) -> None:
    entered = threading.Event()
    release = threading.Event()  # the test's end: the hung thread may go

    def hung() -> object:
        entered.set()
        release.wait(120.0)  # a WMI query that never returns
        return None

    def with_hung_probe(section: ProbesSection, context: ProbeContext) -> tuple[BoundProbe, ...]:
        # Its timeout is long: the stop arrives while the cycle still waits for it.
        return (*bind_probes(section, context), BoundProbe("hung", hung, 60.0))

    data_dir = tmp_path / "agent"
    credentials.save(data_dir, AgentCredential("a-0123456789abcdef", "secret", "", "", ""))
    config = AgentConfig(
        agent=AgentSection(data_dir=str(data_dir), interval_seconds=1.0),
        # Nobody listens there; with the cycle hung there is nothing to send anyway.
        collector=CollectorSection(addresses=(f"127.0.0.1:{free_port()}",)),
        probes=ProbesSection(
            antivirus=AntivirusConfig(enabled=False), connectivity=ConnectivityConfig(enabled=False)
        ),
    )
    scm = FakeServiceManager()
    controller = ServiceController(lambda: AgentService(config, random.Random(5), bind=with_hung_probe), scm)
    codes: list[ExitCode] = []
    main = threading.Thread(target=lambda: codes.append(controller.run()), name="svc-main")
    main.start()
    try:
        assert entered.wait(30.0), "the hung probe never started"
        deadline = time.monotonic() + 30.0
        while S.RUNNING not in scm.states() and time.monotonic() < deadline:
            time.sleep(0.01)
        stop_asked = time.monotonic()
        controller.request_stop()
        main.join(STOP_TIMEOUT_SECONDS + 5.0)
        assert not main.is_alive(), "run() did not return"
        assert codes == [ExitCode.OK]
        assert scm.states() == [S.START_PENDING, S.RUNNING, S.STOP_PENDING, S.STOPPED]
        assert scm.first(S.STOPPED) - stop_asked < STOP_TIMEOUT_SECONDS
        assert scm.violations() == []
        # The probe's thread still hangs: the stop did not wait for it (a daemon, it dies with the process).
        assert any(t.name == "probe-hung" and t.is_alive() and t.daemon for t in threading.enumerate())
    finally:
        release.set()
        main.join(5.0)
