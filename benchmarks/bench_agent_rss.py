"""Benchmark: what the connectivity probe adds to the steady memory (RSS) of a real agent.

Starts a real collector on 127.0.0.1 and a small HTTP server on 127.0.0.1 (a thread of this
process), enrols two agents with the collector's own `token create` and `fleetwatch-agent enroll`,
and runs both `fleetwatch-agent run` processes side by side, at the same time, interval 1 s, same
probes, except that one has `[probes.connectivity] enabled = false` and the other checks these
loopback targets every cycle: the collector's TCP port (collector = true), the HTTP server as a
`tcp` target and as an `http` target, and 127.0.0.1 over ICMP. No gateway, no DNS, and
FLEETWATCH_LOOPBACK_ONLY=1 as in the tests: nothing leaves the machine.

After a warm-up of ``--warmup`` cycles both RSS are sampled with psutil once per second
``--samples`` times; the figures are the medians (USS too: the pages only that process holds).
Checks first that the collector shows both agents, the connectivity targets of one up, and none
for the other. Appends the figures, the machine and the date to benchmarks/RESULTS.md.
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
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from benchlib import append_results, free_port, section_header, stop

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TARGET_MB = 5.0  # the target, in 10**6 bytes
INTERVAL_SECONDS = 1
TARGETS = ("collector", "local-tcp", "local-http", "loopback-icmp")
UP_RE = re.compile(r"^fleetwatch_connectivity_up\{([^}]*)\} ([0-9.e+-]+)$", re.M)
REPORTS_RE = re.compile(r"^fleetwatch_agent_reports_total\{([^}]*)\} ([0-9.e+-]+)$", re.M)


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
class Agent:
    name: str
    config: Path
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    agent_id: str = ""
    rss: list[int] = field(default_factory=list)
    uss: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)


def agent_config(data_dir: Path, grpc_port: int, http_port: int, connectivity: bool) -> str:
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
data_dir = {json.dumps(str(data_dir))}
interval_seconds = {INTERVAL_SECONDS}

[collector]
addresses = ["127.0.0.1:{grpc_port}"]

{probe}"""


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def labels_of(text: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', text))


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_agent_rss: timed out waiting for {what}")
        time.sleep(0.5)


def verify(url: str, without: Agent, with_: Agent) -> dict[str, float]:
    """Both agents report; the connectivity targets of one are up, the other has none."""
    text = scrape(url)
    reports = {labels_of(m[0]).get("agent_id", ""): float(m[1]) for m in REPORTS_RE.findall(text)}
    for agent in (without, with_):
        if reports.get(agent.agent_id, 0) < 1:
            raise SystemExit(f"bench_agent_rss: agent {agent.name} ({agent.agent_id}) has no report")
    up: dict[str, float] = {}
    for raw, value in UP_RE.findall(text):
        labels = labels_of(raw)
        if labels.get("agent_id") == without.agent_id:
            raise SystemExit("bench_agent_rss: the agent without the probe reports connectivity")
        if labels.get("agent_id") == with_.agent_id:
            up[labels["target"]] = float(value)
    if sorted(up) != sorted(TARGETS) or not all(v == 1 for v in up.values()):
        raise SystemExit(f"bench_agent_rss: connectivity targets not all up: {up}")
    return reports


def enrol_agents(tmp: Path, grpc_port: int, http_port: int, token: str, env: dict[str, str]) -> list[Agent]:
    """The agent without the probe and the agent with it, each enrolled with `fleetwatch-agent enroll`."""
    agents = []
    for name, connectivity in (("without", False), ("with", True)):
        data_dir = tmp / f"agent-{name}"
        config = tmp / f"agent-{name}.toml"
        config.write_text(agent_config(data_dir, grpc_port, http_port, connectivity))
        subprocess.run(
            [BIN / "fleetwatch-agent", "enroll", "--collector", f"127.0.0.1:{grpc_port}",
             "--token", token, "--config", str(config)],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        agent = Agent(name, config, data_dir)
        agent.agent_id = json.loads((data_dir / "credential.json").read_text())["agent_id"]
        agents.append(agent)
    return agents


def sample(agents: list[Agent], samples: int) -> None:
    """RSS, USS and threads of every agent, once per second."""
    processes = []
    for agent in agents:
        if agent.process is None or agent.process.poll() is not None:
            raise SystemExit(f"bench_agent_rss: agent {agent.name} exited")
        processes.append(psutil.Process(agent.process.pid))
    for _ in range(samples):
        for agent, process in zip(agents, processes, strict=True):
            info = process.memory_full_info()
            agent.rss.append(info.rss)
            agent.uss.append(info.uss)
            agent.threads.append(process.num_threads())
        time.sleep(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warmup", type=int, default=20, help="cycles (seconds) before sampling")
    parser.add_argument("--samples", type=int, default=15, help="RSS samples, one per second")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-append", action="store_true", help="print the section only")
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    http_port = server.server_address[1]
    grpc_port, metrics_port = free_port(), free_port()
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    env = dict(os.environ, FLEETWATCH_LOOPBACK_ONLY="1")
    collector: subprocess.Popen[bytes] | None = None
    agents: list[Agent] = []
    with tempfile.TemporaryDirectory(prefix="fw-bench-rss-") as tmp_dir:
        tmp = Path(tmp_dir)
        try:
            collector = subprocess.Popen(
                [BIN / "fleetwatch-collector", "run", "--grpc-listen", f"127.0.0.1:{grpc_port}",
                 "--http-listen", f"127.0.0.1:{metrics_port}", "--data-dir", str(tmp / "collector")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            )  # fmt: skip
            wait_for("the collector", lambda: _answers(url))
            token_command = ["token", "create", "--any-site", "--data-dir", str(tmp / "collector")]
            token = subprocess.run(
                [BIN / "fleetwatch-collector", *token_command], check=True, capture_output=True, text=True
            ).stdout.strip()
            agents = enrol_agents(tmp, grpc_port, http_port, token, env)
            for agent in agents:
                with (tmp / f"agent-{agent.name}.log").open("wb") as log:
                    agent.process = subprocess.Popen(
                        [BIN / "fleetwatch-agent", "run", "--config", str(agent.config)],
                        stdout=log, stderr=log, env=env,
                    )  # fmt: skip
            without, with_ = agents
            time.sleep(args.warmup * INTERVAL_SECONDS)
            verify(url, without, with_)
            sample(agents, args.samples)
            reports = verify(url, without, with_)
        finally:
            for agent in agents:
                stop(agent.process)
            stop(collector)
            server.shutdown()
    text = section(args, without, with_, reports)
    print(text)
    if not args.no_append:
        append_results(args.results, text)
    return 0


def _answers(url: str) -> bool:
    try:
        scrape(url)
    except OSError:
        return False
    return True


def section(args: argparse.Namespace, without: Agent, with_: Agent, reports: dict[str, float]) -> str:
    mib = 2**20
    rss_without, rss_with = statistics.median(without.rss) / mib, statistics.median(with_.rss) / mib
    uss_without, uss_with = statistics.median(without.uss) / mib, statistics.median(with_.uss) / mib
    difference = rss_with - rss_without
    within = difference * mib <= TARGET_MB * 1e6
    command = f"python benchmarks/bench_agent_rss.py --warmup {args.warmup} --samples {args.samples}"

    def spread(values: list[int]) -> str:
        return f"{min(values) / mib:.1f}–{max(values) / mib:.1f} MiB"

    median_threads = f"{statistics.median(without.threads):.0f} / {statistics.median(with_.threads):.0f}"
    applied = f"{reports[without.agent_id]:.0f} / {reports[with_.agent_id]:.0f}"
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


if __name__ == "__main__":
    sys.exit(main())
