"""A real collector and real agents on 127.0.0.1 for the agent benchmarks: start, enrol, scrape, stop."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import free_port

BIN = Path(sys.executable).parent
REPORTS_RE = re.compile(r"^fleetwatch_agent_reports_total\{([^}]*)\} ([0-9.e+-]+)$", re.M)
LAST_RUN_RE = re.compile(r"^fleetwatch_agent_probe_last_run_timestamp_seconds\{([^}]*)\} ([0-9.e+-]+)$", re.M)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def answers(url: str) -> bool:
    try:
        scrape(url)
    except OSError:
        return False
    return True


def labels_of(text: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', text))


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_agent_rss: timed out waiting for {what}")
        time.sleep(0.5)


@dataclass
class Collector:
    """A `fleetwatch-collector run` process and what the agents need to reach it."""

    data_dir: Path
    env: dict[str, str]
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [BIN / "fleetwatch-collector", "run", "--grpc-listen", self.address,
             "--http-listen", f"127.0.0.1:{self.metrics_port}", "--data-dir", str(self.data_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env,
        )  # fmt: skip
        wait_for("the collector", lambda: answers(self.url))

    def token(self) -> str:
        command = ["token", "create", "--any-site", "--data-dir", str(self.data_dir)]
        done = subprocess.run(
            [BIN / "fleetwatch-collector", *command], check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    def reports(self) -> dict[str, float]:
        """fleetwatch_agent_reports_total by agent id."""
        text = scrape(self.url)
        return {labels_of(m[0]).get("agent_id", ""): float(m[1]) for m in REPORTS_RE.findall(text)}

    def probe_runs(self, agent_id: str) -> dict[str, float]:
        """fleetwatch_agent_probe_last_run_timestamp_seconds of one agent, by probe."""
        runs = {}
        for raw, value in LAST_RUN_RE.findall(scrape(self.url)):
            labels = labels_of(raw)
            if labels.get("agent_id") == agent_id:
                runs[labels["probe"]] = float(value)
        return runs


def agent_command(code: Path | None) -> list[str]:
    """`fleetwatch-agent` of this tree, or the same entry point from another checkout (``code``)."""
    if code is None:
        return [str(BIN / "fleetwatch-agent")]
    paths = [str(code / "agent"), str(code / "proto")]
    entry = f"import sys; sys.path[:0] = {paths!r}; from fleetwatch_agent.cli import main; sys.exit(main())"
    return [sys.executable, "-c", entry]


def check_distinct(agents: list[Agent]) -> None:
    """Agents enrolled from one machine share its identity, hence its agent id (the collector gives a
    machine enrolling again its id back): each configuration sets `[agent] id` of its own."""
    if len({agent.agent_id for agent in agents}) != len(agents):
        raise SystemExit(f"bench_agent_rss: agents share an id: {[a.agent_id for a in agents]}")


@dataclass
class Agent:
    """A `fleetwatch-agent run` process with its own configuration, data folder and credential."""

    name: str
    config: Path
    data_dir: Path
    code: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    agent_id: str = ""

    def enrol(self, collector: Collector, token: str, env: dict[str, str]) -> None:
        command = ["enroll", "--collector", collector.address, "--token", token, "--config", str(self.config)]
        subprocess.run([*agent_command(self.code), *command], check=True, capture_output=True, env=env)
        self.agent_id = json.loads((self.data_dir / "credential.json").read_text())["agent_id"]

    def start(self, log: Path, env: dict[str, str]) -> None:
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*agent_command(self.code), "run", "--config", str(self.config)],
                stdout=out,
                stderr=out,
                env=env,
            )


class Scraper(threading.Thread):
    """Scrapes one URL every ``every`` seconds, as Prometheus would; counts the answers."""

    def __init__(self, url: str, every: float) -> None:
        super().__init__(name="scraper", daemon=True)
        self.url, self.every, self.answered = url, every, 0
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                scrape(self.url)
                self.answered += 1
            except OSError:
                pass
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
