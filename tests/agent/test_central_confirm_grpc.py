"""A central configuration confirmed without waiting an interval, over real gRPC: an agent at a 60 s
interval shows a new version (or its refusal of one) at the collector with the next cycle, brought
forward; `config show` then lists the agent refusing; an enrolling agent gets its site's version."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from fleetwatch_agent import __version__, convert, credentials
from fleetwatch_agent.centralstate import FILE_NAME, CentralState, read_local
from fleetwatch_agent.config import load_config
from fleetwatch_agent.credentials import AgentCredential
from fleetwatch_agent.hostfacts import read_host_facts
from fleetwatch_agent.report import Location
from fleetwatch_agent.service import AgentService
from fleetwatch_agent.transport import Transport
from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.cli import main as collector_main
from fleetwatch_collector.server import CollectorServer
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.inprocess import grpc_address, poll, running_collector
from tests.e2e.support import console_script, fetch_metrics, find_samples, parse_samples

INTERVAL = 60
# Well before the agent's next cycle: without the confirmation the collector would wait INTERVAL.
CONFIRMED_WITHIN = INTERVAL / 2
S1 = SiteLabels("s1", "d1", "commune")


class Lowest(random.Random):
    """Every draw of a range at its low end: the first cycle at once, no jitter (the spread of the
    confirmation is tested on its own)."""

    def uniform(self, a: float, b: float) -> float:
        return a


def local_file(path: Path, data_dir: Path, collector: str, token_file: Path | None = None) -> Path:
    """A report every 60 s; connectivity checks only what the central configuration names."""
    token = f"token_file = '{token_file}'\n" if token_file else ""
    path.write_text(
        f"[agent]\ndata_dir = '{data_dir}'\ninterval_seconds = {INTERVAL}\n"
        f"[collector]\naddresses = ['{collector}']\n{token}"
        "[probes.antivirus]\nenabled = false\n"
        "[probes.connectivity]\ngateway = false\ncollector = false\ntraceroute = false\n"
        "count = 1\ntimeout_seconds = 3\n"
    )
    return path


def shown(server: CollectorServer, agent_id: str) -> tuple[int, str, str]:
    """The reports applied of the agent, the version its latest report runs and the one it refuses."""
    entry = server.fleet.get(agent_id)
    if entry is None:
        return 0, "", ""
    version, refused, _reason = entry.states["host"].config
    return entry.reports_total, version, refused


def samples(server: CollectorServer, name: str, **labels: str) -> list[object]:
    text = fetch_metrics(f"http://127.0.0.1:{server.http_port}/metrics")
    return list(find_samples(parse_samples(text), name, **labels))


@contextlib.asynccontextmanager
async def agent_running(config_path: Path) -> AsyncIterator[asyncio.Task[None]]:
    config = load_config(config_path)
    central = CentralState(Path(config.agent.data_dir), read_local(config_path))
    service = AgentService(config, Lowest(), central=central)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await task


async def until(
    server: CollectorServer, agent_id: str, wanted: Callable[[tuple[int, str, str]], bool]
) -> None:
    await poll(lambda: wanted(shown(server, agent_id)), "the collector to show it", timeout=CONFIRMED_WITHIN)


def set_served(server: CollectorServer, scope: str, document: dict[str, object]) -> None:
    server.central.set(scope, document, time.time())
    server.reload()  # as SIGHUP


def test_a_new_version_and_a_refusal_show_at_the_collector_before_the_next_cycle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> tuple[str, str, str]:
        data_dir = tmp_path / "agent"
        async with running_collector(tmp_path / "collector") as server:
            token = enrolment.create_token(server.store, S1, time.time(), None)
            enrolled = enrolment.enrol(server.store, token, time.time(), hostname="pc-confirm-01")
            credentials.save(
                data_dir, AgentCredential(enrolled.agent_id, enrolled.secret, "s1", "d1", "commune")
            )
            agent_id = enrolled.agent_id
            config_path = local_file(tmp_path / "agent.toml", data_dir, grpc_address(server))
            target = {"name": "portal", "kind": "tcp", "address": grpc_address(server)}
            set_served(server, "all", {"targets": [target]})
            await poll(lambda: server.central.for_site("s1", "d1") is not None, "the document served")
            good = server.central.for_site("s1", "d1")
            assert good is not None

            async with agent_running(config_path) as task:
                # The first cycle's report (no version yet) gets the configuration in its Push response;
                # the next cycle comes at once with it, not 60 s later.
                await until(server, agent_id, lambda s: bool(task.done() or s[1] == good.version))
                assert shown(server, agent_id) == (2, good.version, "")
            assert await asyncio.to_thread(
                samples, server, "fleetwatch_agent_config_info", version=good.version
            )
            assert await asyncio.to_thread(samples, server, "fleetwatch_connectivity_up", target="portal")

            # Invalid for this agent (a dns target without dns_name), valid for the collector's schema.
            set_served(
                server, "site:s1", {"targets": [{"name": "resolver", "kind": "dns", "address": "127.0.0.1"}]}
            )
            await poll(lambda: server.central.for_site("s1", "d1") != good, "the new document served")
            bad = server.central.for_site("s1", "d1")
            assert bad is not None and bad.version != good.version
            async with agent_running(config_path) as task:  # restarted: runs good from its first cycle
                await until(server, agent_id, lambda s: bool(task.done() or s[2] == bad.version))
                assert shown(server, agent_id) == (4, good.version, bad.version)
            assert await asyncio.to_thread(
                samples, server, "fleetwatch_agent_config_refused", version=bad.version
            )
        return agent_id, good.version, bad.version

    agent_id, good, bad = asyncio.run(scenario())
    # The collector stored what the agent said at its shutdown: `config show` reads it from the file.
    assert (
        collector_main(
            ["config", "show", "--site", "s1", "--district", "d1", "--data-dir", str(tmp_path / "collector")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"# version {bad}" in out
    assert f"#   {good}  1" in out
    refusing = [line for line in out.splitlines() if agent_id in line]
    assert len(refusing) == 1 and f"site s1  version {bad}: " in refusing[0] and "dns_name" in refusing[0], (
        out
    )


def test_an_enrolling_agent_runs_its_sites_configuration_from_its_first_cycle(tmp_path: Path) -> None:
    async def scenario() -> None:
        data_dir = tmp_path / "agent"
        async with running_collector(tmp_path / "collector") as server:
            token_file = tmp_path / "token"
            token_file.write_text(enrolment.create_token(server.store, S1, time.time(), None))
            config_path = local_file(tmp_path / "agent.toml", data_dir, grpc_address(server), token_file)
            target = {"name": "portal", "kind": "tcp", "address": grpc_address(server)}
            set_served(server, "site:s1", {"targets": [target]})
            await poll(lambda: server.central.for_site("s1", "d1") is not None, "the document served")
            site_version = server.central.for_site("s1", "d1")
            assert site_version is not None

            async with agent_running(config_path) as task:  # not enrolled: it enrols with its token file
                await poll(lambda: task.done() or bool(credentials.load(data_dir)), "the enrolment")
                credential = credentials.load(data_dir)
                assert credential is not None
                await until(server, credential.agent_id, lambda s: bool(task.done() or s[0] >= 1))
                assert shown(server, credential.agent_id) == (1, site_version.version, "")
            # Kept for the next start, as every version applied.
            assert (
                pb.AgentConfig.FromString((data_dir / FILE_NAME).read_bytes()).version == site_version.version
            )

    asyncio.run(scenario())


def test_the_enroll_command_keeps_the_sites_configuration_for_the_first_cycle(tmp_path: Path) -> None:
    async def scenario() -> None:
        data_dir = tmp_path / "agent"
        async with running_collector(tmp_path / "collector") as server:
            token = enrolment.create_token(server.store, S1, time.time(), None)
            config_path = local_file(tmp_path / "agent.toml", data_dir, grpc_address(server))
            config = load_config(config_path)
            facts = read_host_facts()
            host = convert.host_info(facts, Location("s1", "d1", "commune", ""), __version__)
            transport = Transport(config.collector)
            try:  # no document yet: no configuration in the response
                assert not (await transport.enroll(token, host)).HasField("config")
            finally:
                await transport.close()

            set_served(
                server, "all", {"targets": [{"name": "portal", "kind": "tcp", "address": "127.0.0.1:9"}]}
            )
            await poll(lambda: server.central.for_site("s1", "d1") is not None, "the document served")
            served = server.central.for_site("s1", "d1")
            assert served is not None
            token_file = tmp_path / "token"
            token_file.write_text(token)
            process = await asyncio.create_subprocess_exec(
                console_script("fleetwatch-agent"),
                "enroll",
                "--config",
                str(config_path),
                "--token-file",
                str(token_file),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await process.communicate()
            assert process.returncode == 0, output.decode()

            # The service's first cycle, before any Push: it runs the site's version.
            central = CentralState(data_dir, read_local(config_path))
            service = AgentService(config, Lowest(), central=central)
            report, _cursors = await service.collect_once()
            assert report.config_version == served.version
            assert [t.name for t in report.connectivity.targets] == ["portal"]

    asyncio.run(scenario())
