"""Benchmark: a collector fed by 4,130 simulated agents; /metrics render time and collector RSS.

Starts a real collector process and a real `fleetwatch-agent simulate` process on loopback,
waits until every simulated agent is up, then scrapes /metrics repeatedly while the fleet
keeps reporting. Also renders the same fleet in-process through prometheus-client objects,
to record the ratio between the two ways of rendering on the same machine in the same run.
Appends the figures, the machine and the date to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from benchlib import append_results, free_port, section_header, stop

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
UP_RE = re.compile(rb'^fleetwatch_collector_agents\{state="up"\} ([0-9.e+]+)$', re.M)
RENDER_RE = re.compile(rb"^fleetwatch_collector_render_duration_seconds ([0-9.e+-]+)$", re.M)


def scrape(url: str) -> tuple[bytes, float]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
    return body, time.perf_counter() - started


def client_library_ratio(agents: int) -> tuple[float, float, int]:
    """Seconds to render the same fleet from cached text and via prometheus-client objects."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.parser import text_string_to_metric_families

    from fleetwatch_agent import convert
    from fleetwatch_agent.report import CycleReport, ProbeOutcome
    from fleetwatch_collector.fleet import FleetState
    from fleetwatch_proto.sites import load_inventory
    from fleetwatch_sim.fleet import build_fleet

    fleet = FleetState()
    for n, agent in enumerate(build_fleet(agents, 7, load_inventory())):
        cycle = CycleReport(
            seq=1,
            collected_unix_ms=int(time.time() * 1000),
            interval_seconds=15,
            host=agent.host.facts,
            location=agent.location,
            agent_version="bench",
            outcomes=(ProbeOutcome("resources", True, 0.004),),
            results={"resources": agent.host.sample(15.0)},
        )
        fleet.apply(f"{agent.host.agent_id}-{n}", [convert.report(cycle)])
    text = fleet.render()[0].decode()
    samples = [
        (family.documentation, s) for family in text_string_to_metric_families(text) for s in family.samples
    ]

    class Replay:
        def collect(self):  # type: ignore[no-untyped-def]
            families: dict[str, GaugeMetricFamily] = {}
            for doc, s in samples:
                family = families.get(s.name)
                if family is None:
                    family = families[s.name] = GaugeMetricFamily(s.name, doc, labels=list(s.labels))
                family.add_metric(list(s.labels.values()), s.value)
            yield from families.values()

    registry = CollectorRegistry()
    registry.register(Replay())
    runs = []
    for _ in range(5):  # what /metrics does: the chunks, joined per family, consumed once
        started = time.perf_counter()
        for _chunk in fleet.render_chunks()[0]:
            pass
        runs.append(time.perf_counter() - started)
    cached = statistics.median(runs)
    started = time.perf_counter()
    generate_latest(registry)
    objects = time.perf_counter() - started
    return cached, objects, len(samples)


@dataclass
class Measured:
    up: float = 0.0
    fill_seconds: float = 0.0
    client_times: list[float] = field(default_factory=list)
    server_times: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    series: int = 0
    rss: int = 0
    cpu_seconds: float = 0.0


def wait_for_http(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            scrape(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("collector did not start") from None
            time.sleep(0.2)


def any_site_token(data_dir: str) -> Path:
    """An enrolment token for the simulated fleet, made with the collector's own command."""
    token = subprocess.run(
        [BIN / "fleetwatch-collector", "token", "create", "--any-site", "--data-dir", data_dir],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    path = Path(data_dir) / "fleet.token"
    path.write_text(token)
    return path


def measure(args: argparse.Namespace, collector_pid: int, grpc_port: int, url: str, token: Path) -> Measured:
    """Start the simulated fleet, wait until every agent is up, then scrape repeatedly."""
    result = Measured()
    fleet = subprocess.Popen(
        [BIN / "fleetwatch-sim", "--collector", f"127.0.0.1:{grpc_port}",
         "--agents", str(args.agents), "--interval", str(args.interval), "--token-file", str(token)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        started = time.monotonic()
        while result.up < args.agents:
            if time.monotonic() - started > args.interval * 4 + 60:
                raise SystemExit(f"only {result.up:.0f} of {args.agents} agents up")
            time.sleep(1)
            match = UP_RE.search(scrape(url)[0])
            result.up = float(match.group(1)) if match else 0.0
        result.fill_seconds = time.monotonic() - started
        body = b""
        for _ in range(args.scrapes):
            body, seconds = scrape(url)
            result.client_times.append(seconds)
            match = RENDER_RE.search(body)
            result.server_times.append(float(match.group(1)) if match else float("nan"))
            result.sizes.append(len(body))
            time.sleep(0.5)
        result.series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        process = psutil.Process(collector_pid)
        result.rss = process.memory_info().rss
        cpu = process.cpu_times()
        result.cpu_seconds = cpu.user + cpu.system
    finally:
        stop(fleet)
    return result


def report(args: argparse.Namespace, m: Measured) -> str:
    cached, objects, object_samples = client_library_ratio(args.agents)
    p50 = statistics.median(m.client_times)
    p90 = sorted(m.client_times)[int(0.9 * (len(m.client_times) - 1))]
    command = (
        f"python benchmarks/bench_collector.py --agents {args.agents} "
        f"--interval {args.interval:g} --scrapes {args.scrapes}"
    )
    elapsed = m.fill_seconds + args.scrapes * 0.5
    rows = [
        *section_header("bench_collector", command),
        f"| agents up | {m.up:.0f} (all up {m.fill_seconds:.0f} s after the fleet started) | {args.agents} |",
        f"| series in /metrics | {m.series:,} ({statistics.median(m.sizes) / 1e6:.1f} MB) | |",
        f"| /metrics scrape, client side, median / p90 | {p50 * 1e3:.1f} ms / {p90 * 1e3:.1f} ms | < 50 ms |",
        f"| fleet render inside the collector, median | {statistics.median(m.server_times) * 1e3:.1f} ms | |",
        f"| collector RSS with the fleet loaded | {m.rss / 2**20:.0f} MiB | < 150 MiB |",
        f"| collector CPU while filling and scraping | {m.cpu_seconds:.1f} s over {elapsed:.0f} s | |",
        f"| in-process render, cached text vs prometheus-client objects ({object_samples:,} samples) "
        f"| {cached * 1e3:.1f} ms vs {objects * 1e3:.0f} ms (x{objects / cached:.0f}) | |",
        "",
    ]
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=4130)
    parser.add_argument("--interval", type=float, default=15.0, help="simulated report interval")
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()

    grpc_port, http_port = free_port(), free_port()
    url = f"http://127.0.0.1:{http_port}/metrics"
    with tempfile.TemporaryDirectory() as tmp:
        token = any_site_token(tmp)
        collector = subprocess.Popen(
            [BIN / "fleetwatch-collector", "run", "--grpc-listen", f"127.0.0.1:{grpc_port}",
             "--http-listen", f"127.0.0.1:{http_port}", "--data-dir", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for_http(url)
            measured = measure(args, collector.pid, grpc_port, url, token)
        finally:
            stop(collector)
    text = report(args, measured)
    print(text)
    append_results(args.results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
