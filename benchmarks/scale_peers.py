"""bench_scale.py's processes and scrapes: the collector and Pushgateway under test, the load generators,
and a /metrics reader that streams bodies of hundreds of megabytes without keeping them."""

from __future__ import annotations

import asyncio
import http.client
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from benchlib import free_port, stop
from scale_load import Stats, enrol, generator

BIN = Path(sys.executable).parent
PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"
TAIL_BYTES = 256 * 1024
HOST_SERIES = re.compile(rb"\n(?!fleetwatch_collector_)fleetwatch_[a-z_]+[{ ]")
REFUSED = re.compile(rb"push from \S+ refused \(([a-z_]+)\)", re.I)
RENDER = re.compile(rb"^fleetwatch_collector_render_duration_seconds ([0-9.e+-]+)$", re.M)
COLLECTOR_VALUE = r'^fleetwatch_collector_{}\{{{}="{}"\}} ([0-9.e+]+)$'


@dataclass
class Scrape:
    seconds: float
    size: int  # bytes on the wire
    series: int  # fleetwatch_ host series (plain bodies only)
    tail: bytes  # the end of the (decompressed) body: the collector's own metrics

    def value(self, name: str, label: str, value: str) -> float:
        match = re.search(COLLECTOR_VALUE.format(name, label, value).encode(), self.tail, re.M)
        return float(match.group(1)) if match else 0.0

    @property
    def render_seconds(self) -> float:
        """The collector's own account of this scrape: its render, without the writing to the socket."""
        match = RENDER.search(self.tail)
        return float(match.group(1)) if match else float("nan")


def scrape(url: str, gzip: bool, timeout: float = 600.0, decompress: bool = False) -> Scrape:
    """GET /metrics, timed to its last byte; the body is streamed (counted, its tail kept), and a gzip
    body is decompressed only when asked (after the timing)."""
    host, _, port = url.removeprefix("http://").partition("/")[0].rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    started = time.perf_counter()
    connection.request("GET", "/metrics", headers={"Accept-Encoding": "gzip" if gzip else "identity"})
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit(f"GET {url}: HTTP {response.status}")
    encoded = response.getheader("Content-Encoding") == "gzip"
    size = series = 0
    carry = b"\n"
    kept: list[bytes] = []
    while chunk := response.read(1 << 20):
        size += len(chunk)
        if encoded:
            kept.append(chunk)  # compressed bodies are small enough to keep
            continue
        data = carry + chunk
        cut = data.rfind(b"\n")  # the lines before it are whole; the rest waits for the next chunk
        series += len(HOST_SERIES.findall(data, 0, cut))
        carry = data[cut:]
        kept = [*kept[-1:], chunk][-2:]
    seconds = time.perf_counter() - started
    connection.close()
    tail = b"".join(kept)[-TAIL_BYTES:]
    if encoded and decompress:
        tail = gunzip_tail(b"".join(kept))
    return Scrape(seconds, size, series, tail)


def gunzip_tail(body: bytes) -> bytes:
    """The end of what a gzip stream of many members decompresses to, fed in pieces (no quadratic copy)."""
    tail = b""
    inflater = zlib.decompressobj(31)
    for start in range(0, len(body), 1 << 16):
        piece = body[start : start + (1 << 16)]
        while piece:
            tail = (tail + inflater.decompress(piece))[-TAIL_BYTES:]
            piece = b""
            if inflater.eof:
                piece, inflater = inflater.unused_data, zlib.decompressobj(31)
    return tail


@dataclass
class Timings:
    scrapes: list[Scrape] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.scrapes) if self.scrapes else float("nan")

    @property
    def worst(self) -> float:
        return max((s.seconds for s in self.scrapes), default=float("nan"))

    @property
    def render(self) -> float:
        return statistics.median(s.render_seconds for s in self.scrapes) if self.scrapes else float("nan")

    @property
    def size(self) -> int:
        return self.scrapes[-1].size if self.scrapes else 0


def write_config(tmp: Path, grpc_port: int, http_port: int) -> Path:
    config = tmp / "collector.toml"
    config.write_text(
        f"""
[server]
grpc_listen = "127.0.0.1:{grpc_port}"
http_listen = "127.0.0.1:{http_port}"
data_dir = "{tmp / "data"}"

[enrolment]
# The benchmark enrols 50,000 agents from loopback in a minute; everything else is the default.
per_second = 5000.0
burst = 100000
"""
    )
    return config


class Peers:
    """The collector and the Pushgateway, on loopback ports, with their data in ``tmp``."""

    def __init__(
        self,
        tmp: Path,
        profile: Path | None = None,
        source: Path | None = None,
        pushgateway: bool = True,
    ) -> None:
        """``profile``: run the collector under cProfile (its main thread, the event loop), written
        there when it stops; ``source``: a folder holding another ``fleetwatch_collector`` package
        to run instead of this tree's (a baseline); ``pushgateway``: start one beside it."""
        self.tmp = tmp
        grpc_port, http_port, gateway_port = free_port(), free_port(), free_port()
        self.grpc_address = f"127.0.0.1:{grpc_port}"
        self.metrics_url = f"http://127.0.0.1:{http_port}/metrics"
        self.pushgateway_url = f"http://127.0.0.1:{gateway_port}"
        config = write_config(tmp, grpc_port, http_port)
        env = dict(os.environ)
        if source is not None:  # ahead of the editable install's path entries
            env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(source), env.get("PYTHONPATH"))))
        self.token = subprocess.run(
            [BIN / "fleetwatch-collector", "token", "create", "--any-site", "--config", str(config)],
            capture_output=True, text=True, check=True, env=env,
        ).stdout.strip()  # fmt: skip
        self.log = (tmp / "collector.log").open("wb")
        profiled = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "fleetwatch_collector"]
        command = [*(profiled if profile else [BIN / "fleetwatch-collector"]), "run", "--config", str(config)]
        self.collector = subprocess.Popen(command, stdout=self.log, stderr=self.log, env=env)
        self.pushgateway: subprocess.Popen[bytes] | None = None
        if pushgateway:
            self.pushgateway = subprocess.Popen(
                [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{gateway_port}",
                 f"--persistence.file={tmp / 'pushgateway.store'}", "--push.disable-consistency-check",
                 "--log.level=warn"],
                stdout=self.log, stderr=self.log,
            )  # fmt: skip
        self._wait(self.metrics_url)
        if pushgateway:
            self._wait(self.pushgateway_url + "/metrics")

    def _wait(self, url: str) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                scrape(url, False, timeout=5)
                return
            except OSError:
                if time.monotonic() > deadline or self.collector.poll() is not None:
                    raise SystemExit(f"{url} did not answer; see {self.tmp / 'collector.log'}") from None
                time.sleep(0.2)

    def cpu(self, which: subprocess.Popen[bytes] | None) -> float:
        assert which is not None, "no such process in this run"
        times = psutil.Process(which.pid).cpu_times()
        return float(times.user + times.system)

    def rss(self, which: subprocess.Popen[bytes] | None) -> int:
        assert which is not None, "no such process in this run"
        return int(psutil.Process(which.pid).memory_info().rss)

    def refusals(self) -> dict[str, int]:
        """The reasons of the Pushes the collector refused, from its log ("push from A refused (R)")."""
        self.log.flush()
        reasons: dict[str, int] = {}
        with (self.tmp / "collector.log").open("rb") as log:
            for match in REFUSED.finditer(log.read()):
                reason = match.group(1).decode()
                reasons[reason] = reasons.get(reason, 0) + 1
        return reasons

    def close(self) -> None:
        stop(self.pushgateway, grace=30)
        stop(self.collector, grace=30)
        self.log.close()


class Generators:
    """Load-generator processes (scale_load.generator) and the commands they run together."""

    def __init__(self, count: int, peers: Peers, total: int) -> None:
        context = multiprocessing.get_context("spawn")  # grpc does not survive fork
        self.results: Any = context.Queue()
        self.stop: Any = context.Event()
        self.queues = [context.Queue() for _ in range(count)]
        self.processes = [
            context.Process(
                target=generator,
                args=(n, peers.grpc_address, peers.pushgateway_url, total, q, self.results, self.stop),
            )
            for n, q in enumerate(self.queues)
        ]
        for process in self.processes:
            process.start()

    def send(self, command: str, arguments: list[Any]) -> None:
        for q, argument in zip(self.queues, arguments, strict=True):
            q.put((command, argument))

    def gather(self, timeout: float = 3600) -> Stats:
        """Wait for every generator's answer; their Stats summed (seconds: the longest)."""
        total = Stats()
        for _ in self.processes:
            kind, number, value = self.results.get(timeout=timeout)
            if kind != "done":
                raise SystemExit(f"load generator {number} failed: {value}")
            total.ok += value.ok
            total.retry_after += value.retry_after
            total.late += value.late
            total.cpu_seconds += value.cpu_seconds
            total.seconds = max(total.seconds, value.seconds)
            for code, n in value.refused.items():
                total.refused[code] = total.refused.get(code, 0) + n
            for code, details in value.details.items():
                total.details.setdefault(code, details)
            for message, n in value.messages.items():
                total.messages[message] = total.messages.get(message, 0) + n
        return total

    def run(self, command: str, argument: Any) -> Stats:
        self.send(command, [argument] * len(self.queues))
        return self.gather()

    def close(self) -> None:
        self.stop.set()
        self.send("quit", [None] * len(self.queues))
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.kill()


def split(items: list[tuple[int, str, str]], parts: int) -> list[list[tuple[int, str, str]]]:
    return [items[n::parts] for n in range(parts)]


def grow(peers: Peers, generators: Generators, order: list[int], done: int, agents: int) -> float:
    """Enrol the agents ``order[done:agents]`` and hand them to the generators; seconds of enrolment."""
    started = time.perf_counter()
    identities = asyncio.run(enrol(peers.grpc_address, len(order), order[done:agents], peers.token))
    seconds = time.perf_counter() - started
    generators.send("add", split(identities, len(generators.processes)))
    generators.gather()
    return seconds
