"""A probe that never returns: the agent keeps reporting the other probes every interval."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path

from fleetwatch_agent import credentials
from fleetwatch_agent.centralstate import CentralState
from fleetwatch_agent.config import AgentConfig, AgentSection, CollectorSection, ProbesSection
from fleetwatch_agent.credentials import AgentCredential
from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.connectivity import ConnectivityConfig
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.runner import BoundProbe, bind_probes
from fleetwatch_agent.service import AgentService
from fleetwatch_collector import enrolment
from fleetwatch_collector.server import CollectorServer
from tests.agent.inprocess import any_site_token, grpc_address, poll, running_collector

INTERVAL = 1.0
STUCK_TIMEOUT = 0.3
CYCLES = 11  # ten intervals between the first and the last


def enrolled_config(server: CollectorServer, data_dir: Path) -> tuple[AgentConfig, str]:
    enrolled = enrolment.enrol(server.store, any_site_token(server), time.time())
    credentials.save(data_dir, AgentCredential(enrolled.agent_id, enrolled.secret, "", "", ""))
    config = AgentConfig(
        agent=AgentSection(data_dir=str(data_dir), interval_seconds=INTERVAL),
        collector=CollectorSection(addresses=(grpc_address(server),), timeout_seconds=5.0),
        probes=ProbesSection(
            antivirus=AntivirusConfig(enabled=False), connectivity=ConnectivityConfig(enabled=False)
        ),
    )
    return config, enrolled.agent_id


def test_a_probe_that_never_returns_does_not_stop_the_reports(tmp_path: Path) -> None:
    release = threading.Event()  # the test's end: the hung thread may go

    def stuck() -> object:
        release.wait(120.0)  # a WMI query, a dead NFS mount, a clamd that never answers
        return None

    def with_stuck_probe(section: ProbesSection, context: ProbeContext) -> tuple[BoundProbe, ...]:
        return (*bind_probes(section, context), BoundProbe("stuck", stuck, STUCK_TIMEOUT))

    async def scenario() -> dict[int, tuple[int, dict[str, tuple[bool, str]]]]:
        seen: dict[int, tuple[int, dict[str, tuple[bool, str]]]] = {}
        async with running_collector(tmp_path / "collector") as server:
            config, agent_id = enrolled_config(server, tmp_path / "agent")
            service = AgentService(config, random.Random(5), bind=with_stuck_probe)
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))

            def record() -> bool:
                entry = server.fleet.get(agent_id)
                if task.done():
                    return True
                if entry is not None and entry.state_seq not in seen:
                    probes = {p.name: (p.success, p.error) for p in entry.states["host"].probes}
                    seen[entry.state_seq] = (entry.last_report_ms, probes)
                return entry is not None and entry.reports_total >= CYCLES

            try:
                await poll(record, f"{CYCLES} reports", timeout=CYCLES * INTERVAL + 30.0)
                assert not task.done(), task
                entry = server.fleet.get(agent_id)
                assert entry is not None
                # Every cycle made a report and each was applied once: no cycle was lost.
                assert entry.reports_total == entry.applied.highest >= CYCLES
            finally:
                stop.set()
                started = time.monotonic()
                await task
                stopped_in = time.monotonic() - started
            assert stopped_in < 3.0, f"the agent took {stopped_in:.1f}s to stop"
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        release.set()
    assert len(seen) >= CYCLES - 2, seen  # a report or two may have shared a Push
    for seq, (_, probes) in sorted(seen.items()):
        assert probes["resources"] == (True, ""), (seq, probes)
        success, error = probes["stuck"]
        assert not success
        if seq == 1:
            assert error == f"timeout: no result after {STUCK_TIMEOUT:g}s"
        else:
            assert error.startswith("timeout: still running since "), (seq, error)
    # One report per interval, on the agent's cadence, all along.
    first_ms, last_ms = seen[min(seen)][0], seen[max(seen)][0]
    intervals = (max(seen) - min(seen)) * INTERVAL
    assert intervals >= CYCLES - 3
    assert (last_ms - first_ms) / 1000 < intervals + 3.0


def test_a_hung_probe_keeps_its_record_across_a_central_configuration(tmp_path: Path) -> None:
    """A central configuration rebuilds the probes: the hung call is not started a second time, and
    the reports go on saying since when it hangs."""
    release = threading.Event()
    calls: list[float] = []

    def stuck() -> object:
        calls.append(time.monotonic())
        release.wait(120.0)
        return None

    def with_stuck_probe(section: ProbesSection, context: ProbeContext) -> tuple[BoundProbe, ...]:
        return (*bind_probes(section, context), BoundProbe("stuck", stuck, STUCK_TIMEOUT))

    async def scenario() -> tuple[str, list[tuple[int, str, str]]]:
        seen: dict[int, tuple[str, str]] = {}
        async with running_collector(tmp_path / "collector") as server:
            config, agent_id = enrolled_config(server, tmp_path / "agent")
            server.central.set("all", {"antivirus_outdated_after_days": 3}, time.time())
            server.reload()
            await poll(lambda: server.central.for_site("", "") is not None, "the document served")
            served = server.central.for_site("", "")
            assert served is not None
            # The local file's tables, as written: what the central configuration goes under.
            local = {
                "agent": {"data_dir": config.agent.data_dir, "interval_seconds": INTERVAL},
                "collector": {"addresses": list(config.collector.addresses), "timeout_seconds": 5.0},
                "probes": {"antivirus": {"enabled": False}, "connectivity": {"enabled": False}},
            }
            central = CentralState(Path(config.agent.data_dir), local)
            service = AgentService(config, random.Random(5), bind=with_stuck_probe, central=central)
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))

            def record() -> bool:
                entry = server.fleet.get(agent_id)
                if task.done():
                    return True
                if entry is not None and entry.state_seq not in seen:
                    host = entry.states["host"]
                    errors = {p.name: p.error for p in host.probes}
                    seen[entry.state_seq] = (host.config[0], errors["stuck"])
                return sum(1 for version, _ in seen.values() if version == served.version) >= 4

            try:
                await poll(record, "four reports with the central configuration")
                assert not task.done(), task
            finally:
                stop.set()
                await task
        return served.version, [(seq, version, error) for seq, (version, error) in sorted(seen.items())]

    try:
        version, seen = asyncio.run(scenario())
    finally:
        release.set()
    assert len(calls) == 1, f"the hung probe was started {len(calls)} times"
    assert_one_hang(version, seen)


def assert_one_hang(version: str, seen: list[tuple[int, str, str]]) -> None:
    """Reports before and after ``version`` ran, and the stuck probe's age growing all along."""
    applied = [error for _, ran, error in seen if ran == version]
    assert len(applied) >= 4 and len(applied) < len(seen), seen
    since = []
    for seq, _, error in seen:
        if seq == 1:
            assert error == f"timeout: no result after {STUCK_TIMEOUT:g}s"
            continue
        prefix = "timeout: still running since "
        assert error.startswith(prefix), (seq, error)
        since.append(int(error.removeprefix(prefix).removesuffix("s")))
    # One hang all along: its age grows across the rebuild, never starts again.
    assert since == sorted(since) and since[-1] >= len(applied) - 1, seen
