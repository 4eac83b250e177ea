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
from typing import Any, BinaryIO

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


@dataclass(frozen=True)
class Cluster:
    """What the members share: every member's gRPC address (the ``[cluster] members`` entries) and the
    cluster key's file."""

    members: tuple[str, ...]
    key_file: Path


def write_config(
    tmp: Path, grpc_port: int, http_port: int, name: str = "collector", cluster: Cluster | None = None
) -> Path:
    """The collector's configuration, ``tmp/<name>.toml``: its data in ``tmp/data`` (``tmp/<name>`` for
    a member of a cluster)."""
    config = tmp / f"{name}.toml"
    data = tmp / ("data" if cluster is None else name)
    text = f"""
[server]
grpc_listen = "127.0.0.1:{grpc_port}"
http_listen = "127.0.0.1:{http_port}"
data_dir = "{data}"

[enrolment]
# The benchmark enrols 50,000 agents from loopback in a minute; everything else is the default.
per_second = 5000.0
burst = 100000
"""
    if cluster is not None:
        members = ", ".join(f'"{m}"' for m in cluster.members)
        text += f"""
[cluster]
members = [{members}]
self = "127.0.0.1:{grpc_port}"
key_file = "{cluster.key_file}"
"""
    config.write_text(text)
    return config


def write_key(path: Path) -> Path:
    """A cluster key: 64 random bytes, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(os.urandom(64))
    return path


@dataclass
class Member:
    """One collector process: its gRPC address (its entry of the members list), /metrics and log."""

    address: str
    metrics_url: str
    config: Path
    log_path: Path
    log: BinaryIO
    process: subprocess.Popen[bytes]


@dataclass
class Check:
    """Every member's gzip /metrics at one moment (decompressed tails: their own metrics)."""

    scrapes: list[Scrape]

    def total(self, name: str, label: str, value: str) -> float:
        """A ``fleetwatch_collector_`` sample summed over the members."""
        return sum(s.value(name, label, value) for s in self.scrapes)

    @property
    def worst(self) -> float:
        """The slowest member's scrape, seconds."""
        return max(s.seconds for s in self.scrapes)


class Peers:
    """The collector (or ``members`` collectors of one cluster) and the Pushgateway, on loopback ports,
    with their data in ``tmp``."""

    def __init__(
        self,
        tmp: Path,
        profile: Path | None = None,
        source: Path | None = None,
        pushgateway: bool = True,
        members: int = 1,
    ) -> None:
        """``profile``: run the collector under cProfile (its main thread, the event loop), written
        there when it stops; ``source``: a folder holding another ``fleetwatch_collector`` package
        to run instead of this tree's (a baseline); ``pushgateway``: start one beside it; ``members``:
        above 1, that many collectors with one ``[cluster]`` (members list and key), each with its own
        ports, data folder and log (``member-N``); the token is made on the first, and valid on all."""
        self.tmp = tmp
        ports = [(free_port(), free_port()) for _ in range(members)]
        gateway_port = free_port()
        self.addresses = [f"127.0.0.1:{grpc}" for grpc, _ in ports]
        self.pushgateway_url = f"http://127.0.0.1:{gateway_port}"
        cluster = None
        if members > 1:
            cluster = Cluster(tuple(self.addresses), write_key(tmp / "cluster.key"))
        names = ["collector"] if members == 1 else [f"member-{n}" for n in range(members)]
        configs = [
            write_config(tmp, grpc, http, name, cluster)
            for (grpc, http), name in zip(ports, names, strict=True)
        ]
        env = dict(os.environ)
        if source is not None:  # ahead of the editable install's path entries
            env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(source), env.get("PYTHONPATH"))))
        self.token = subprocess.run(
            [BIN / "fleetwatch-collector", "token", "create", "--any-site", "--config", str(configs[0])],
            capture_output=True, text=True, check=True, env=env,
        ).stdout.strip()  # fmt: skip
        profiled = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "fleetwatch_collector"]
        self.members: list[Member] = []
        for address, (_, http_port), name, config in zip(self.addresses, ports, names, configs, strict=True):
            log_path = tmp / f"{name}.log"
            log = log_path.open("wb")
            program = profiled if profile and not self.members else [BIN / "fleetwatch-collector"]
            command = [*program, "run", "--config", str(config)]  # only the first profiled: one output
            process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
            url = f"http://127.0.0.1:{http_port}/metrics"
            self.members.append(Member(address, url, config, log_path, log, process))
        first_member = self.members[0]
        self.grpc_address, self.metrics_url = first_member.address, first_member.metrics_url
        self.collector, self.log = first_member.process, first_member.log
        self.pushgateway: subprocess.Popen[bytes] | None = None
        if pushgateway:
            self.pushgateway = subprocess.Popen(
                [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{gateway_port}",
                 f"--persistence.file={tmp / 'pushgateway.store'}", "--push.disable-consistency-check",
                 "--log.level=warn"],
                stdout=self.log, stderr=self.log,
            )  # fmt: skip
        try:
            for member in self.members:
                self._wait(member.metrics_url, member)
            if pushgateway:
                self._wait(self.pushgateway_url + "/metrics", first_member)
        except BaseException:
            self.close()
            raise

    def _wait(self, url: str, member: Member) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                scrape(url, False, timeout=5)
                return
            except OSError:
                if time.monotonic() > deadline or member.process.poll() is not None:
                    raise SystemExit(f"{url} did not answer; see {member.log_path}") from None
                time.sleep(0.2)

    def cpu(self, which: subprocess.Popen[bytes] | None) -> float:
        assert which is not None, "no such process in this run"
        times = psutil.Process(which.pid).cpu_times()
        return float(times.user + times.system)

    def rss(self, which: subprocess.Popen[bytes] | None) -> int:
        assert which is not None, "no such process in this run"
        return int(psutil.Process(which.pid).memory_info().rss)

    def check(self) -> Check:
        """Every member's gzip /metrics, one after the other, decompressed."""
        return Check([scrape(m.metrics_url, True, decompress=True) for m in self.members])

    def refusals(self) -> dict[str, int]:
        """The reasons of the Pushes the members refused, from their logs ("push from A refused (R)")."""
        reasons: dict[str, int] = {}
        for member in self.members:
            member.log.flush()
            for match in REFUSED.finditer(member.log_path.read_bytes()):
                reason = match.group(1).decode()
                reasons[reason] = reasons.get(reason, 0) + 1
        return reasons

    def tails(self, size: int = 3000) -> str:
        """The end of every member's log (to show why a run failed)."""
        return "\n".join(
            f"--- {m.log_path.name}\n" + m.log_path.read_text(errors="replace")[-size:] for m in self.members
        )

    def close(self) -> None:
        stop(self.pushgateway, grace=30)
        for member in self.members:
            stop(member.process, grace=30)
        for member in self.members:
            member.log.close()


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
                args=(n, peers.addresses, peers.pushgateway_url, total, q, self.results, self.stop),
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
