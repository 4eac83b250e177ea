"""A central configuration over real gRPC: set on an in-process collector, applied by a real agent service,
kept across a restart without the collector, an invalid one refused and shown on /metrics."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path

from fleetwatch_agent import credentials
from fleetwatch_agent.centralstate import CentralState, read_local
from fleetwatch_agent.config import load_config
from fleetwatch_agent.credentials import AgentCredential
from fleetwatch_agent.service import AgentService
from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.server import CollectorServer
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.inprocess import grpc_address, poll, running_collector
from tests.e2e.support import fetch_metrics, find_samples, parse_samples


def local_file(path: Path, data_dir: Path, collector: str) -> Path:
    """Every probe every second; connectivity checks only what the central configuration names."""
    path.write_text(
        f"[agent]\ndata_dir = '{data_dir}'\ninterval_seconds = 1\n"
        f"[collector]\naddresses = ['{collector}']\n"
        "[probes.resources]\nenabled = false\n[probes.antivirus]\nenabled = false\n"
        "[probes.connectivity]\ngateway = false\ncollector = false\ntraceroute = false\n"
        "count = 1\ntimeout_seconds = 3\n"
    )
    return path


def samples(server: CollectorServer, name: str, **labels: str) -> list[object]:
    text = fetch_metrics(f"http://127.0.0.1:{server.http_port}/metrics")
    return list(find_samples(parse_samples(text), name, **labels))


def spooled_versions(data_dir: Path) -> list[tuple[str, list[str]]]:
    with sqlite3.connect(data_dir / "spool.sqlite") as db:
        rows = db.execute("SELECT body FROM reports ORDER BY seq").fetchall()
    reports = [pb.Report.FromString(r[0]) for r in rows]
    return [(r.config_version, [t.name for t in r.connectivity.targets]) for r in reports]


async def run_agent(config_path: Path, until: object, what: str) -> None:
    config = load_config(config_path)
    central = CentralState(Path(config.agent.data_dir), read_local(config_path))
    service = AgentService(config, random.Random(3), central=central)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await poll(lambda: task.done() or until(), what)  # type: ignore[operator]
    finally:
        stop.set()
        await task


def test_central_configuration_end_to_end(tmp_path: Path) -> None:
    async def scenario() -> None:
        data_dir = tmp_path / "agent"
        data_dir.mkdir()
        async with running_collector(tmp_path / "collector") as server:
            site = SiteLabels("s1", "d1", "commune")
            token = enrolment.create_token(server.store, site, time.time(), None)
            enrolled = enrolment.enrol(server.store, token, time.time(), hostname="pc-central-01")
            credentials.save(
                data_dir, AgentCredential(enrolled.agent_id, enrolled.secret, "s1", "d1", "commune")
            )
            config_path = local_file(tmp_path / "agent.toml", data_dir, grpc_address(server))
            target = {"name": "portal", "kind": "tcp", "address": grpc_address(server)}
            server.central.set("all", {"targets": [target]}, time.time())
            server.reload()  # as SIGHUP: served at once
            await poll(lambda: server.central.for_site("s1", "d1") is not None, "the document served")
            good = server.central.for_site("s1", "d1")
            assert good is not None

            def applied() -> bool:
                return bool(samples(server, "fleetwatch_agent_config_info", version=good.version)) and bool(
                    samples(server, "fleetwatch_connectivity_up", target="portal")
                )

            await asyncio.to_thread(lambda: None)
            await run_agent(config_path, applied, "the new target reported with the version")

            # An invalid one for this agent (a dns target without dns_name) passes the collector's schema.
            dns = {"name": "resolver", "kind": "dns", "address": "127.0.0.1"}
            server.central.set("site:s1", {"targets": [dns]}, time.time())
            server.reload()
            await poll(lambda: server.central.for_site("s1", "d1") != good, "the new document served")
            bad = server.central.for_site("s1", "d1")
            assert bad is not None and bad.version != good.version

            def refused() -> bool:
                return bool(samples(server, "fleetwatch_agent_config_refused", version=bad.version)) and bool(
                    samples(server, "fleetwatch_agent_config_info", version=good.version)
                )

            await run_agent(config_path, refused, "the refusal reported, the good version kept")

        # The collector is gone: a restarted agent runs the last good version from its first cycle.
        before = len(spooled_versions(data_dir))
        await run_agent(config_path, lambda: len(spooled_versions(data_dir)) >= before + 2, "reports spooled")
        after = spooled_versions(data_dir)[before:]
        assert after and all(version == good.version and names == ["portal"] for version, names in after)

    asyncio.run(scenario())
