"""Benchmark: the steady agent's memory and CPU, beside node_exporter; and what the connectivity probe adds.

``--footprint`` (the agent's footprint): starts a real collector on 127.0.0.1, a steady
`fleetwatch-agent run` with every default probe on (the default configuration but for its data folder
and the collector's address; FLEETWATCH_LOOPBACK_ONLY=1, so its connectivity checks stay on loopback),
Debian's /usr/bin/prometheus-node-exporter on a free loopback port with its default collectors, scraped
by this script once per 15 s as Prometheus would, and ``stack_floor.py``, the agent's libraries doing a
cycle's work every 15 s without the agent. ``--code DIR`` adds the agent of another checkout (e.g.
``git archive HEAD agent proto | tar -x -C /tmp/before``), enrolled and run the same way. After
``--warmup`` seconds, for ``--cycles`` cycles of 15 s, every process's RSS, PSS and USS (from
/proc/PID/smaps_rollup) are sampled every 5 s (medians) and its CPU time is read at both ends (the
process's CPU clock, clock_getcpuclockid(3), to the nanosecond: utime + stime count 10 ms ticks, a
third of a millisecond per cycle over 30 cycles): CPU per cycle is that difference over the reports
the collector applied from the agent (one per resources cycle: the other probes' runs, every 4th or
20th cycle, fall in them), over the scrapes for node_exporter, over the cycles for the floor. Then
``agent_profile.py`` explains the agent's figure: Python memory by module and the import-time profile
of the run path; the mappings holding the agent's RSS come from /proc/PID/smaps.

Default (what the connectivity probe adds to the RSS): two agents side by side at an interval of 1 s,
same probes, except that one has `[probes.connectivity] enabled = false` and the other checks these
loopback targets every cycle: the collector's TCP port (collector = true), a small HTTP server of this
process as a `tcp` and as an `http` target, and 127.0.0.1 over ICMP. After a warm-up of ``--warmup``
cycles both RSS are sampled once per second ``--samples`` times (medians; USS too). Checks first that
the collector shows both agents, the connectivity targets of one up, and none for the other.

Both append the figures, the machine and the date to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import footprint
import psutil
from agentlab import Agent, Collector, Scraper, answers, check_distinct, scrape, wait_for
from benchlib import append_results, free_port, section_header, stop
from footprint import Watched, by_thread, measure

HERE = Path(__file__).resolve().parent
TARGET_MB = 5.0  # the target for the connectivity probe, in 10**6 bytes
INTERVAL_SECONDS = 1
TARGETS = ("collector", "local-tcp", "local-http", "loopback-icmp")
UP_RE = re.compile(r"^fleetwatch_connectivity_up\{([^}]*)\} ([0-9.e+-]+)$", re.M)
CADENCE_SECONDS = 15.0  # the default configuration's (the resources probe's interval)
SAMPLE_SECONDS = 5.0
PROBES = ("resources", "antivirus", "connectivity")
NODE_EXPORTER = Path("/usr/bin/prometheus-node-exporter")
RSS_TARGET_MIB = 40.0  # the targets for the steady agent
CPU_TARGET_MS = 5.0
RESOURCES_ONLY = "agent, resources probe only (its cycles are resources cycles)"


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a short 200."""

    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        pass


@dataclass
class Sampled:
    """RSS, USS and threads of one agent of the probe comparison."""

    agent: Agent
    rss: list[int] = field(default_factory=list)
    uss: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)


def delta_config(data_dir: Path, collector: str, http_port: int, connectivity: bool) -> str:
    if not connectivity:
        probe = "[probes.connectivity]\nenabled = false\n"
    else:
        probe = f"""[probes.connectivity]
enabled = true
gateway = false
collector = true
dns_name = ""

[[probes.connectivity.targets]]
name = "local-tcp"
kind = "tcp"
address = "127.0.0.1:{http_port}"

[[probes.connectivity.targets]]
name = "local-http"
kind = "http"
address = "http://127.0.0.1:{http_port}/"

[[probes.connectivity.targets]]
name = "loopback-icmp"
kind = "icmp"
address = "127.0.0.1"
"""
    return f"""[agent]
id = "bench-{"with" if connectivity else "without"}"
data_dir = {json.dumps(str(data_dir))}
interval_seconds = {INTERVAL_SECONDS}

[collector]
addresses = ["{collector}"]

{probe}"""


def verify(collector: Collector, without: Agent, with_: Agent) -> dict[str, float]:
    """Both agents report; the connectivity targets of one are up, the other has none."""
    reports = collector.reports()
    for agent in (without, with_):
        if reports.get(agent.agent_id, 0) < 1:
            raise SystemExit(f"bench_agent_rss: agent {agent.name} ({agent.agent_id}) has no report")
    up: dict[str, float] = {}
    for raw, value in UP_RE.findall(scrape(collector.url)):
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', raw))
        if labels.get("agent_id") == without.agent_id:
            raise SystemExit("bench_agent_rss: the agent without the probe reports connectivity")
        if labels.get("agent_id") == with_.agent_id:
            up[labels["target"]] = float(value)
    if sorted(up) != sorted(TARGETS) or not all(v == 1 for v in up.values()):
        raise SystemExit(f"bench_agent_rss: connectivity targets not all up: {up}")
    return reports


def sample(agents: list[Sampled], samples: int) -> None:
    """RSS, USS and threads of every agent, once per second."""
    processes: list[psutil.Process] = []
    for sampled in agents:
        child = sampled.agent.process
        if child is None or child.poll() is not None:
            raise SystemExit(f"bench_agent_rss: agent {sampled.agent.name} exited")
        processes.append(psutil.Process(child.pid))
    for _ in range(samples):
        for sampled, process in zip(agents, processes, strict=True):
            info = process.memory_full_info()
            sampled.rss.append(info.rss)
            sampled.uss.append(info.uss)
            sampled.threads.append(process.num_threads())
        time.sleep(1.0)


def probe_delta(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> str:
    """The default mode: the RSS of an agent with the connectivity probe beside one without."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    collector = Collector(tmp / "collector", env)
    agents: list[Agent] = []
    try:
        collector.start()
        token = collector.token()
        for name, connectivity in (("without", False), ("with", True)):
            agent = Agent(name, tmp / f"agent-{name}.toml", tmp / f"agent-{name}")
            text = delta_config(agent.data_dir, collector.address, server.server_address[1], connectivity)
            agent.config.write_text(text)
            agent.enrol(collector, token, env)
            agents.append(agent)
        check_distinct(agents)
        for agent in agents:
            agent.start(tmp / f"agent-{agent.name}.log", env)
        without, with_ = (Sampled(agent) for agent in agents)
        time.sleep(args.warmup * INTERVAL_SECONDS)
        verify(collector, without.agent, with_.agent)
        sample([without, with_], args.samples)
        reports = verify(collector, without.agent, with_.agent)
    finally:
        for agent in agents:
            stop(agent.process)
        stop(collector.process)
        server.shutdown()
    return delta_section(args, without, with_, reports)


def delta_section(
    args: argparse.Namespace, without: Sampled, with_: Sampled, reports: dict[str, float]
) -> str:
    mib = 2**20
    rss_without, rss_with = statistics.median(without.rss) / mib, statistics.median(with_.rss) / mib
    uss_without, uss_with = statistics.median(without.uss) / mib, statistics.median(with_.uss) / mib
    difference = rss_with - rss_without
    within = difference * mib <= TARGET_MB * 1e6
    command = f"python benchmarks/bench_agent_rss.py --warmup {args.warmup} --samples {args.samples}"

    def spread(values: list[int]) -> str:
        return f"{min(values) / mib:.1f}–{max(values) / mib:.1f} MiB"

    median_threads = f"{statistics.median(without.threads):.0f} / {statistics.median(with_.threads):.0f}"
    applied = f"{reports[without.agent.agent_id]:.0f} / {reports[with_.agent.agent_id]:.0f}"
    uss = f"{uss_without:.1f} / {uss_with:.1f} / {uss_with - uss_without:+.1f} MiB"
    rows = [
        *section_header("bench_agent_rss", command),
        f"| agent RSS without the probe, median ({spread(without.rss)}) | {rss_without:.1f} MiB | |",
        f"| agent RSS with the probe, median ({spread(with_.rss)}) | {rss_with:.1f} MiB | |",
        f"| difference | {difference:+.1f} MiB ({difference * mib / 1e6:+.1f} MB) "
        f"| ≤ {TARGET_MB:g} MB ({TARGET_MB * 1e6 / mib:.2f} MiB) |",
        f"| USS without / with / difference, median | {uss} | |",
        f"| threads without / with, median | {median_threads} | |",
        f"| targets checked every cycle | {len(TARGETS)}: {', '.join(TARGETS)} (all up) | |",
        f"| reports applied, without / with | {applied} | |",
        "",
        f"Within target: {'yes' if within else 'no'}.",
        "",
    ]
    return "\n".join(rows) + "\n"


def footprint_config(data_dir: Path, collector: str, resources_only: bool = False) -> str:
    """The default configuration but for the data folder, the collector's address and the machine
    identity (and, for the agent that measures resources cycles alone, the other default probes off)."""
    text = f'[agent]\nid = "bench-{data_dir.name}"\ndata_dir = {json.dumps(str(data_dir))}\n\n'
    text += f'[collector]\naddresses = ["{collector}"]\n'
    if resources_only:
        text += "\n[probes.antivirus]\nenabled = false\n\n[probes.connectivity]\nenabled = false\n"
    return text


def footprint_run(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> str:
    """The --footprint mode: the steady agent beside node_exporter and the stack floor, one run."""
    collector = Collector(tmp / "collector", env)
    agents = [Agent("agent", tmp / "agent.toml", tmp / "agent")]
    agents.append(Agent(RESOURCES_ONLY, tmp / "resources.toml", tmp / "resources"))
    for i, code in enumerate(args.code):
        agents.append(Agent(f"agent of {code}", tmp / f"other-{i}.toml", tmp / f"other-{i}", code))
    others: list[subprocess.Popen[bytes]] = []
    scraper: Scraper | None = None
    try:
        collector.start()
        token = collector.token()
        for agent in agents:
            text = footprint_config(agent.data_dir, collector.address, agent.name == RESOURCES_ONLY)
            agent.config.write_text(text)
            agent.enrol(collector, token, env)
        check_distinct(agents)
        for agent in agents:
            agent.start(tmp / f"{agent.data_dir.name}.log", env)
        node_port = free_port()
        node_url = f"http://127.0.0.1:{node_port}/metrics"
        node = subprocess.Popen(
            [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{node_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        floor = subprocess.Popen(
            [sys.executable, HERE / "stack_floor.py", "--collector", collector.address,
             "--interval", str(CADENCE_SECONDS)],
            env=dict(env, PYTHONPATH=os.pathsep.join(str(HERE.parent / p) for p in ("proto", "agent"))),
        )  # fmt: skip
        others = [node, floor]
        wait_for("node_exporter", lambda: answers(node_url))
        scraper = Scraper(node_url, CADENCE_SECONDS)
        scraper.start()
        time.sleep(args.warmup)
        processes = [a.process for a in agents if a.process is not None] + others
        watched = [Watched(a.name, a.process.pid) for a in agents if a.process is not None]
        watched += [Watched("node_exporter", node.pid), Watched("stack floor (stack_floor.py)", floor.pid)]
        reports, scrapes, started = collector.reports(), scraper.answered, time.monotonic()
        load = [os.getloadavg()[0]]
        measure(watched, processes, args.cycles * CADENCE_SECONDS, SAMPLE_SECONDS)
        elapsed, after = time.monotonic() - started, collector.reports()
        load.append(os.getloadavg()[0])
        for w, agent in zip(watched, agents, strict=False):
            w.cycles = after.get(agent.agent_id, 0) - reports.get(agent.agent_id, 0)
            if w.cycles < 0.8 * args.cycles:  # refused, stuck: its figures would mean nothing
                raise SystemExit(f"bench_agent_rss: {agent.name} delivered {w.cycles:.0f} reports")
        watched[-2].cycles = scraper.answered - scrapes
        watched[-1].cycles = elapsed / CADENCE_SECONDS
        runs = collector.probe_runs(agents[0].agent_id)
        mappings = footprint.mappings(watched[0].pid)
        profile_config = tmp / "profile.toml"
        profile_config.write_text(footprint_config(tmp / "profile", collector.address))
        done = subprocess.run(
            [sys.executable, HERE / "agent_profile.py", "--config", str(profile_config)],
            check=True, capture_output=True, text=True, env=env,
        )  # fmt: skip
        profile = json.loads(done.stdout)
    finally:
        if scraper is not None:
            scraper.stop()
        for process in [a.process for a in agents] + others:
            stop(process)
        stop(collector.process)
    return footprint_section(args, watched, runs, time.time(), mappings, profile, load)


def footprint_section(
    args: argparse.Namespace,
    watched: list[Watched],
    runs: dict[str, float],
    now: float,
    mappings: list[tuple[str, int, int]],
    profile: dict[str, object],
    load: list[float],
) -> str:
    agent, node = watched[0], watched[-2]
    command = (
        f"python benchmarks/bench_agent_rss.py --footprint --warmup {args.warmup} --cycles {args.cycles}"
    )
    command += "".join(f" --code {code}" for code in args.code)
    ran = ", ".join(f"{name} {now - at:.0f} s ago" for name, at in sorted(runs.items(), key=lambda r: r[1]))
    within_rss = agent.median_mib(agent.rss) <= RSS_TARGET_MIB
    resources = next(w for w in watched if w.label == RESOURCES_ONLY)
    within_cpu = {w.label: "yes" if w.cpu_ms_per_cycle <= CPU_TARGET_MS else "no" for w in (agent, resources)}
    rows = [
        *section_header("bench_agent_rss --footprint", command)[:-2],
        f"Load average (1 min) at the start and the end of the window: {load[0]:.1f}, {load[1]:.1f}.",
        "",
        *footprint.comparison(agent, node, RSS_TARGET_MIB, CPU_TARGET_MS),
        "",
        "The other processes of the same run:",
        "",
        *footprint.others(watched[1:-2] + watched[-1:]),
        "",
        "CPU per cycle by thread: grpcio's own threads, if the agent has them (its event engine's pool, "
        "lifeguard and timer; they wake a few times a second even when idle), the agent's threads alive at "
        "the end (event loop, spool, one per probe), and the threads that ended in the window (the host "
        "facts' reads, every 5 minutes):",
        "",
        "| process | grpcio's threads | alive at the end | ended |",
        "| --- | --- | --- | --- |",
        *(by_thread(w) for w in (agent, resources)),
        "",
        f"Probes' last runs at the end (fleetwatch_agent_probe_last_run_timestamp_seconds): {ran or 'none'}.",
        "",
        "Where the agent's RSS is (/proc/PID/smaps, the largest mappings):",
        "",
        *footprint.mapping_rows(mappings),
        "",
        *footprint.profile_rows(profile),
        "",
        f"Within target: RSS {'yes' if within_rss else 'no'}; CPU per resources cycle, every default "
        f"probe on ({agent.cpu_ms_per_cycle:.2f} ms) {within_cpu[agent.label]}, resources probe only "
        f"({resources.cpu_ms_per_cycle:.2f} ms) {within_cpu[resources.label]}.",
        "",
    ]
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--footprint", action="store_true", help="the steady agent beside node_exporter")
    parser.add_argument(
        "--warmup", type=int, help="seconds (cycles of 1 s without --footprint) before measuring"
    )
    parser.add_argument("--samples", type=int, default=15, help="RSS samples, one per second")
    parser.add_argument("--cycles", type=int, default=40, help="--footprint: cycles of 15 s measured")
    parser.add_argument(
        "--code", type=Path, action="append", default=[], help="--footprint: another checkout"
    )
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-append", action="store_true", help="print the section only")
    args = parser.parse_args()
    if args.footprint and not NODE_EXPORTER.exists():
        raise SystemExit(
            f"bench_agent_rss: {NODE_EXPORTER} is missing: apt-get install prometheus-node-exporter"
        )
    args.warmup = args.warmup if args.warmup is not None else (60 if args.footprint else 20)
    env = dict(os.environ, FLEETWATCH_LOOPBACK_ONLY="1")
    with tempfile.TemporaryDirectory(prefix="fw-bench-rss-") as tmp_dir:
        run = footprint_run if args.footprint else probe_delta
        text = run(args, Path(tmp_dir), env)
    print(text)
    if not args.no_append:
        append_results(args.results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
