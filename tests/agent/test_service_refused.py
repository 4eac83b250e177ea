"""A batch the collector refuses for good (invalid content) is dropped once, logged with its size."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from fleetwatch_agent import credentials
from fleetwatch_agent.config import AgentConfig, AgentSection, CollectorSection, ProbesSection
from fleetwatch_agent.credentials import AgentCredential
from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.resources import ResourcesConfig
from fleetwatch_agent.service import AgentService
from fleetwatch_agent.spool import Spool, SpoolLimits
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.agent.inprocess import poll, stand_in_collector
from tests.agent.test_service_delivery import SPOOL_NAME, report, spooled

BACKLOG = 2  # not 3: a batch is a 3-field tuple, whose len() must not pass for its size


class RefusingCollector(pb_grpc.CollectorServicer):
    """A collector stand-in that refuses every Push as invalid, counting the reports it was sent."""

    def __init__(self) -> None:
        self.pushes: list[list[int]] = []

    async def Push(self, request: pb.PushRequest, context: grpc.aio.ServicerContext) -> pb.PushResponse:  # noqa: N802
        self.pushes.append([r.seq for r in request.reports])
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "report 1: bad content")
        raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def refusing_collector() -> AsyncIterator[tuple[str, RefusingCollector]]:
    servicer = RefusingCollector()
    async with stand_in_collector(servicer) as address:
        yield address, servicer


def test_a_batch_refused_for_good_is_dropped_once_and_its_size_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "agent"
    credentials.save(data_dir, AgentCredential("a-0123456789abcdef", "s" * 43, "", "", ""))
    (data_dir / "seq").write_text("1000\n")
    spool = Spool(data_dir / SPOOL_NAME, SpoolLimits(100, 10**7, 86400))
    now_ms = int(time.time() * 1000)
    for seq in range(1, BACKLOG + 1):
        spool.put(seq, now_ms, report(seq, now_ms).SerializeToString())
    spool.close()

    async def scenario() -> RefusingCollector:
        async with refusing_collector() as (address, collector):
            config = agent_config_at(data_dir, address)
            stop = asyncio.Event()
            task = asyncio.create_task(AgentService(config, random.Random(1)).run(stop))
            try:
                await poll(lambda: task.done() or spooled(data_dir) == 0, "the refused batch to be dropped")
                await asyncio.sleep(0.5)  # nothing more is sent
            finally:
                stop.set()
                await task
            return collector

    with caplog.at_level(logging.ERROR, logger="fleetwatch_agent.service"):
        collector = asyncio.run(scenario())
    assert collector.pushes == [[2, 1]]  # newest first, then the oldest; once
    assert "collector refused 2 reports, dropping them" in caplog.text
    assert spooled(data_dir) == 0


def agent_config_at(data_dir: Path, address: str) -> AgentConfig:
    """Only the spooled reports are sent: the first collection is hours away (interval, seed 1)."""
    collector = dataclasses.replace(CollectorSection(), addresses=(address,), timeout_seconds=10.0)
    collector.validate()
    return AgentConfig(
        agent=AgentSection(data_dir=str(data_dir), interval_seconds=3600.0),
        collector=collector,
        probes=ProbesSection(
            resources=ResourcesConfig(enabled=False), antivirus=AntivirusConfig(enabled=False)
        ),
    )
