"""bench_scale.py --gzip: gzip scrapes of /metrics in-process while reports keep arriving at a steady rate.

A FleetState holds ``agents`` simulated agents (64 report templates of the simulated fleet, applied
under every agent id); a thread applies one report per agent every ``interval`` seconds, spread (the
event loop of the collector, holding the GIL as it does), the background compaction runs as a gzip
scrape starts it, and a scrape every few seconds is timed to its last chunk (MetricsPage.render_gzip, as
the HTTP thread joins it). The decompressed body of the last scrape is compared with the plain body.
"""

from __future__ import annotations

import statistics
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

SEED = 13
TEMPLATES = 64


@dataclass
class GzipRun:
    agents: int
    rate: float  # reports applied per second, aimed at
    applied: int = 0
    seconds: float = 0.0
    scrapes: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    same_as_plain: bool = False

    @property
    def applied_rate(self) -> float:
        return self.applied / self.seconds if self.seconds else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.scrapes) if self.scrapes else float("nan")

    @property
    def worst(self) -> float:
        return max(self.scrapes, default=float("nan"))


def templates() -> list[Any]:
    """Reports of the first TEMPLATES agents of the simulated fleet (seq and time set at each use)."""
    import asyncio

    from fleetwatch_proto.sites import load_inventory
    from fleetwatch_sim.fleet import Drive, FleetStats, build_fleet, make_report
    from fleetwatch_sim.probes import HostIncidents
    from fleetwatch_sim.scenario import NO_INCIDENTS

    drive = Drive(None, 60.0, 0.0, 1, FleetStats(), asyncio.Event())  # type: ignore[arg-type]
    reports = []
    for simulated in build_fleet(TEMPLATES, SEED, load_inventory()):
        effects = NO_INCIDENTS.effects(simulated.location.site, simulated.index, 0.0)
        reports.append(make_report(simulated, 1, 60.0, effects, HostIncidents(), drive))
    return reports


def gzip_under_load(agents: int, interval: float, seconds: float, every: float) -> GzipRun:
    from fleetwatch_collector.fleet import FleetState
    from fleetwatch_collector.scrape import MetricsPage
    from fleetwatch_collector.selfmetrics import CollectorMetrics
    from fleetwatch_collector.server import tune_interpreter

    tune_interpreter()  # as the collector does when it starts (its thread switch interval, mostly)
    reports = templates()
    fleet = FleetState()
    seqs = [0] * agents

    def apply(n: int) -> None:
        report = reports[n % TEMPLATES]
        seqs[n] += 1
        report.seq, report.collected_unix_ms = seqs[n], int(time.time() * 1000)
        fleet.apply(f"agent-{n:06d}", [report], hostname=report.host.hostname)

    for n in range(agents):
        apply(n)
    run = GzipRun(agents, agents / interval)
    page = MetricsPage(fleet, CollectorMetrics())
    b"".join(page.render_gzip())  # the first scrape compresses all and starts the compaction
    stop = threading.Event()

    def feed() -> None:
        began = time.monotonic()
        n = 0
        while not stop.is_set():
            due = began + n / run.rate
            wait = due - time.monotonic()
            if wait > 0:
                stop.wait(wait)
                continue
            apply(n % agents)
            n += 1
        run.applied = n

    feeder = threading.Thread(target=feed, name="reports")
    began = time.monotonic()
    feeder.start()
    try:
        while time.monotonic() - began < seconds:
            time.sleep(every)
            started = time.perf_counter()
            size = sum(len(chunk) for chunk in page.render_gzip())
            run.scrapes.append(time.perf_counter() - started)
            run.sizes.append(size)
    finally:
        stop.set()
        feeder.join()
        run.seconds = time.monotonic() - began
    page.close()
    unzipped = b"".join(map(gunzip, fleet.render_gzip_chunks()[0]))
    run.same_as_plain = unzipped == b"".join(fleet.render_chunks()[0])
    return run


def gunzip(members: bytes) -> bytes:
    """What gzip members one after the other decompress to, fed in pieces (gzip.decompress copies the
    rest of a large body after each member)."""
    out = []
    inflater = zlib.decompressobj(31)
    for start in range(0, len(members), 1 << 16):
        piece = members[start : start + (1 << 16)]
        while piece:
            out.append(inflater.decompress(piece))
            piece = b""
            if inflater.eof:
                piece, inflater = inflater.unused_data, zlib.decompressobj(31)
    return b"".join(out)


def gzip_section(agents: int, interval: float, seconds: float, every: float = 5.0) -> str:
    """The RESULTS.md section of one run."""
    from benchlib import section_header

    run = gzip_under_load(agents, interval, seconds, every)
    command = f"python benchmarks/bench_scale.py --gzip --gzip-agents {agents} --gzip-seconds {seconds:g}"
    head = section_header("bench_scale --gzip", command)
    sizes = statistics.median(run.sizes) / 1e6 if run.sizes else float("nan")
    rows = [
        f"| agents, reports applied per second (aimed at) | {run.agents:,}, {run.applied_rate:,.0f}"
        f" ({run.rate:,.0f}) | |",
        f"| gzip scrapes every {every:g} s, median / worst ({len(run.scrapes)}) |"
        f" {run.median * 1e3:,.0f} ms / {run.worst * 1e3:,.0f} ms | < 1 s |",
        f"| gzip body | {sizes:,.1f} MB | |",
        f"| decompressed body equals the plain body | {'yes' if run.same_as_plain else 'NO'} | yes |",
        "",
    ]
    return "\n".join([*head, *rows]) + "\n"
