"""`bench_scale.py --profile`: cProfile of the Push handler (single-report Pushes of simulated workstations)
and of the exposition (plain and gzip scrapes, the background compaction), in-process."""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import section_header
from drain_backlog import Batch, push_request_bytes
from drain_profile import profile_handler, time_stages
from scale_load import SEED

TOP = 14
REPO = str(Path(__file__).resolve().parent.parent) + "/"


def reports(agents: int) -> list[tuple[str, Any]]:
    """One full report (resources, antivirus, connectivity) per simulated agent, by agent id."""
    from fleetwatch_proto.sites import load_inventory
    from fleetwatch_sim.fleet import Drive, FleetStats, build_fleet, make_report
    from fleetwatch_sim.probes import HostIncidents
    from fleetwatch_sim.scenario import NO_INCIDENTS

    drive = Drive(None, 60.0, 0.0, 1, FleetStats(), asyncio.Event())  # type: ignore[arg-type]
    result = []
    for n, agent in enumerate(build_fleet(agents, SEED, load_inventory())):
        effects = NO_INCIDENTS.effects(agent.location.site, agent.index, 0.0)
        result.append((f"a-{n:06d}", make_report(agent, 1, 60.0, effects, HostIncidents(), drive)))
    return result


def top(profiler: cProfile.Profile, title: str) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(TOP)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    head = lines[0].strip()
    body = [line.replace(REPO, "") for line in lines[start:]]
    return "\n".join([f"{title} ({head}):", "", "```", *body, "```", ""])


def ingest(samples: list[tuple[str, Any]]) -> str:
    """Two rounds of single-report Pushes through CollectorService.push (the second: agents known)."""
    from fleetwatch_collector.validate import Limits

    now_ms = int(time.time() * 1000)
    work: list[tuple[str, Batch]] = []
    for seq in (1, 2):
        for agent_id, report in samples:
            report.seq, report.collected_unix_ms = seq, now_ms - (2 - seq) * 60_000
            raw = push_request_bytes([report.SerializeToString()], seq)
            work.append((agent_id, Batch(raw, 1, seq)))
    limits = Limits(pushes_per_second_per_agent=1000.0, push_burst=1000)
    stages = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(stages):
        time_stages(work, len(work), limits, Path(tmp) / "stages.sqlite")
        profiler, elapsed = profile_handler(work, limits, Path(tmp) / "collector.sqlite", 64)
    text = stages.getvalue().strip().splitlines()
    rate = len(work) / elapsed
    return "\n".join(
        [
            f"Ingest: {len(work):,} single-report Pushes, stage by stage without cProfile:",
            "",
            "```",
            *text,
            "```",
            "",
            top(profiler, f"CollectorService.push under cProfile: {rate:,.0f} Pushes/s with the profiler on"),
        ]
    )


def exposition(samples: list[tuple[str, Any]]) -> str:
    """Plain scrapes, then a quarter of the agents reporting again, a compaction and a gzip scrape."""
    from fleetwatch_collector.fleet import FleetState

    fleet = FleetState()
    now_ms = int(time.time() * 1000)
    for agent_id, report in samples:
        report.seq, report.collected_unix_ms = 1, now_ms
        fleet.apply(agent_id, [report])
    plain = cProfile.Profile()
    plain.enable()
    for _ in range(5):
        for _chunk in fleet.render_chunks()[0]:
            pass
    plain.disable()
    fleet.compact()
    for _chunk in fleet.render_gzip_chunks()[0]:
        pass
    for agent_id, report in samples[::4]:
        report.seq = 2
        fleet.apply(agent_id, [report])
    zipped = cProfile.Profile()
    zipped.enable()
    fleet.compact()
    for agent_id, report in samples[1::8]:
        report.seq = 3
        fleet.apply(agent_id, [report])
    for _chunk in fleet.render_gzip_chunks()[0]:
        pass
    zipped.disable()
    return "\n".join(
        [
            top(plain, f"Exposition: 5 plain scrapes of {len(samples):,} agents"),
            top(
                zipped,
                "Exposition: a compaction after a quarter of the agents reported again, an eighth more "
                "reports, then a gzip scrape",
            ),
        ]
    )


def real_process(agents: int, seconds: float) -> str:
    """The collector process under cProfile while two load generators push as fast as it takes."""
    from scale_load import enrol, fleet_order
    from scale_peers import Generators, Peers

    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "collector.prof"
        peers = Peers(Path(tmp), profile=output)
        generators: Generators | None = None
        try:
            order = fleet_order(agents)
            generators = Generators(2, peers, agents)
            identities = asyncio.run(enrol(peers.grpc_address, agents, order, peers.token))
            generators.send("add", [identities[0::2], identities[1::2]])
            generators.gather()
            generators.run("fill", 64)
            stats = generators.run("burst", seconds)
        finally:
            if generators is not None:
                generators.close()
            peers.close()
        profiler = pstats.Stats(str(output))
    rate = stats.ok / stats.seconds
    out = io.StringIO()
    profiler.stream = out  # type: ignore[attr-defined]
    profiler.sort_stats("tottime").print_stats(TOP)
    profiler.sort_stats("cumulative").print_stats("fleetwatch_collector", TOP)
    text = [line.replace(REPO, "") for line in out.getvalue().splitlines() if line.strip()]
    title = (
        f"The collector process under cProfile (main thread: the event loop), {agents:,} agents, "
        f"{stats.ok:,} single-report Pushes in {stats.seconds:.0f} s ({rate:,.0f}/s with the profiler on), "
        "by own time, then the collector's functions by cumulative time:"
    )
    return "\n".join([title, "", "```", *text, "```", ""])


def profile(agents: int) -> str:
    samples = reports(agents)
    command = f"python benchmarks/bench_scale.py --profile --profile-agents {agents}"
    head = section_header("bench_scale --profile", command)[:-3]
    sections = [ingest(samples), exposition(samples), real_process(min(agents, 2000), 20.0)]
    return "\n".join([*head, "", *sections]) + "\n"
