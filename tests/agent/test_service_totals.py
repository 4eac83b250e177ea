"""The agent's service stamps its totals on every report it spools; a restart goes on counting from
them, and the collector shows its counters from them."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path

from fleetwatch_agent.config import ProbesSection
from fleetwatch_agent.probes.antivirus.model import AntivirusResult, Detection
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.runner import BoundProbe, bind_probes
from fleetwatch_agent.service import AgentService
from fleetwatch_agent.spool import Spool, SpoolLimits
from fleetwatch_collector.server import CollectorServer
from tests.agent.inprocess import poll, running_collector
from tests.agent.test_service_stuck_probe import enrolled_config

PRODUCT = "ClamAV"


class Detector:
    """An antivirus probe that detects one threat in each of its first ``threats`` calls."""

    def __init__(self, threats: int) -> None:
        self.left = threats

    def collect(self) -> AntivirusResult:
        detections: tuple[Detection, ...] = ()
        if self.left > 0:
            self.left -= 1
            now_ms = int(time.time() * 1000)
            detections = (Detection(now_ms, PRODUCT, "Eicar-Signature", "/tmp/eicar.com", "found"),)
        return AntivirusResult((), "unknown", detections)

    def bind(self, section: ProbesSection, context: ProbeContext) -> tuple[BoundProbe, ...]:
        return (*bind_probes(section, context), BoundProbe("antivirus", self.collect, 5.0))


def counted(server: CollectorServer, agent_id: str) -> tuple[int, int]:
    """Threats the collector counts for the agent, and its reports applied."""
    entry = server.fleet.get(agent_id)
    if entry is None:
        return 0, 0
    return entry.states["antivirus"].threats.get(PRODUCT, 0), entry.reports_total


async def run_until(service: AgentService, done: Callable[[], bool]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await poll(lambda: task.done() or done(), "the collector's counts")
        assert not task.done(), task
    finally:
        stop.set()
        await task


def test_totals_are_stamped_kept_across_a_restart_and_shown_by_the_collector(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_collector(tmp_path / "collector") as server:
            config, agent_id = enrolled_config(server, tmp_path / "agent")
            first = Detector(3)
            service = AgentService(config, random.Random(1), bind=first.bind)
            await run_until(service, lambda: counted(server, agent_id) >= (3, 4))
            assert first.left == 0
            # The collector's counts are the agent's totals, not its own sum of events.
            entry = server.fleet.get(agent_id)
            assert entry is not None and entry.states["antivirus"].threats_as_of_ms > 0

            second = Detector(2)
            restarted = AgentService(config, random.Random(2), bind=second.bind)
            before = counted(server, agent_id)[1]
            await run_until(restarted, lambda: counted(server, agent_id) >= (5, before + 3))
            assert counted(server, agent_id)[0] == 5

        spool = Spool(tmp_path / "agent" / "spool.sqlite", SpoolLimits(10, 10**6, 86400.0))
        try:
            assert spool.totals.threats == {PRODUCT: 5}
        finally:
            spool.close()

    asyncio.run(scenario())
