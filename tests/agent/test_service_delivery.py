"""AgentService delivering a spooled backlog to an in-process collector: each report applied once."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sqlite3
import time
from pathlib import Path

import pytest

from fleetwatch_agent import credentials
from fleetwatch_agent.config import AgentConfig, AgentSection, CollectorSection, ProbesSection
from fleetwatch_agent.credentials import AgentCredential
from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.resources import ResourcesConfig
from fleetwatch_agent.service import AgentService
from fleetwatch_agent.spool import Spool, SpoolLimits
from fleetwatch_collector import enrolment
from fleetwatch_collector.server import CollectorServer
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.inprocess import any_site_token, grpc_address, poll, running_collector

BACKLOG = 5
SPOOL_NAME = "spool.sqlite"
GIB = 1024**3


def report(seq: int, now_ms: int) -> pb.Report:
    """A valid report of about 600 bytes; memory_available tells which seq was applied last."""
    return pb.Report(
        seq=seq,
        collected_unix_ms=now_ms - (BACKLOG - seq) * 1000,
        interval_seconds=3600,
        host=pb.HostInfo(
            hostname="pc-spool-01",
            os_name="Debian " + "x" * 200,
            kernel="6.1." + "y" * 200,
            os_version="12." + "z" * 200,
            agent_version="0.1.0",
        ),
        resources=pb.Resources(cpu_count=4, memory_total_bytes=8 * GIB, memory_available_bytes=seq * GIB),
    )


def prepare_agent(server: CollectorServer, data_dir: Path) -> str:
    """Enrol, and leave BACKLOG reports in the spool as a stopped agent would."""
    enrolled = enrolment.enrol(server.store, any_site_token(server), time.time())
    credentials.save(data_dir, AgentCredential(enrolled.agent_id, enrolled.secret, "", "", ""))
    (data_dir / "seq").write_text("1000\n")  # new reports, if any, come after the backlog
    spool = Spool(data_dir / SPOOL_NAME, SpoolLimits(6000, 64 * 1024 * 1024, 86400))
    now_ms = int(time.time() * 1000)
    for seq in range(1, BACKLOG + 1):
        spool.put(seq, now_ms, report(seq, now_ms).SerializeToString())
    spool.close()
    return enrolled.agent_id


def spooled(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / SPOOL_NAME) as db:
        count: int = db.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
    return count


def agent_config(server: CollectorServer, data_dir: Path, max_reports: int, max_bytes: int) -> AgentConfig:
    collector = dataclasses.replace(
        CollectorSection(),
        addresses=(grpc_address(server),),
        max_batch_reports=max_reports,
        max_batch_bytes=max_bytes,
        timeout_seconds=10.0,
    )
    collector.validate()  # a configuration the agent accepts
    return AgentConfig(
        agent=AgentSection(data_dir=str(data_dir), interval_seconds=3600.0),
        collector=collector,
        probes=ProbesSection(
            resources=ResourcesConfig(enabled=False), antivirus=AntivirusConfig(enabled=False)
        ),
    )


async def deliver_backlog(tmp_path: Path, max_reports: int, max_bytes: int) -> tuple[int, int]:
    """Run the agent until its spool is empty; (reports applied, memory shown) at the collector."""
    data_dir = tmp_path / "agent"
    async with running_collector(tmp_path / "collector") as server:
        agent_id = prepare_agent(server, data_dir)
        # random.Random(1) puts the first collection 8 minutes away: only the backlog is sent.
        service = AgentService(agent_config(server, data_dir, max_reports, max_bytes), random.Random(1))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))

        def applied() -> int:
            entry = server.fleet.get(agent_id)
            return entry.reports_total if entry is not None else 0

        try:
            await poll(lambda: task.done() or applied() >= BACKLOG, "the backlog to be applied")
        finally:
            stop.set()
            await task
        # Delivered reports are forgotten: the last batch, the whole spool, with the next store or
        # when the agent stops (Outbox).
        assert spooled(data_dir) == 0
        entry = server.fleet.get(agent_id)
        assert entry is not None
        assert entry.host.hostname == "pc-spool-01"
        return entry.reports_total, entry.applied.highest


def test_a_backlog_is_applied_once_each_and_deleted(tmp_path: Path) -> None:
    """With the default batch bounds all five reports go in one Push."""
    applied, highest = asyncio.run(deliver_backlog(tmp_path, 100, 1024 * 1024))
    assert (applied, highest) == (BACKLOG, BACKLOG)


@pytest.mark.parametrize(
    ("max_reports", "max_bytes"),
    [(1, 1024 * 1024), (100, 1024)],
    ids=["max_batch_reports=1", "max_batch_bytes=1024"],
)
def test_a_backlog_sent_one_report_per_push_is_applied_once_each(
    tmp_path: Path, max_reports: int, max_bytes: int
) -> None:
    """Batches that hold only the newest report must not make the collector skip the older ones."""
    # BUG (source): service._send_loop sends oldest_held_seq = min(seq of the batch). When the
    # batch is only the newest report (max_batch_reports = 1, or the oldest does not fit in
    # max_batch_bytes), that is the newest seq: the collector advances its watermark past the
    # whole backlog and then acks seqs 4..1 as duplicates without applying them (1 of 5 counted).
    applied, highest = asyncio.run(deliver_backlog(tmp_path, max_reports, max_bytes))
    assert (applied, highest) == (BACKLOG, BACKLOG)
