"""A real collector process on loopback for the hostile-client tests, its counters, its memory,
and a well-behaved agent that must be served while the attacks run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio
import psutil

from fleetwatch_collector import enrolment
from fleetwatch_collector.store import Store
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.e2e.support import (
    CollectorProcess,
    ProcessGroup,
    auth_metadata,
    start_collector,
    toml_string,
    value_of,
)
from tests.integration.support import GIB, report

CALL_TIMEOUT_SECONDS = 10.0
PUSH = "/fleetwatch.v1.Collector/Push"
ENROLL = "/fleetwatch.v1.Collector/Enroll"
CHECK = "/grpc.health.v1.Health/Check"
WATCH = "/grpc.health.v1.Health/Watch"
Options = dict[str, dict[str, object]]


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    return repr(value)


def write_config(path: Path, options: Options) -> Path:
    """A collector configuration of ``{section: {option: value}}``."""
    lines = []
    for section, values in options.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Agent:
    agent_id: str
    secret: str
    hostname: str
    seq: int = 0

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return auth_metadata(self.agent_id, self.secret)

    def next_report(self, **fields: object) -> pb.Report:
        self.seq += 1
        message = report(self.seq, 3 * GIB, hostname=self.hostname)
        for name, value in fields.items():
            setattr(message, name, value)
        return message


@dataclass
class Lab:
    """A running collector process, a channel to it, and what the tests read of it."""

    collector: CollectorProcess
    data_dir: Path
    channel: grpc.aio.Channel
    stub: pb_grpc.CollectorStub
    agents: list[Agent] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.collector.grpc_address.rpartition(":")[2])

    @property
    def pid(self) -> int:
        return self.collector.process.popen.pid

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def threads(self) -> int:
        return int(psutil.Process(self.pid).num_threads())

    async def samples(self) -> list[object]:
        return await asyncio.to_thread(self.collector.samples)

    async def counter(self, name: str, **labels: str) -> float:
        samples = await asyncio.to_thread(self.collector.samples)
        return value_of(samples, name, **labels) or 0.0

    async def counters(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        samples = await asyncio.to_thread(self.collector.samples)
        return {tuple(sorted(s.labels.items())): s.value for s in samples if s.name == name}

    def token(self, site: object = None, max_uses: int | None = None) -> str:
        store = Store(self.data_dir / "collector.sqlite")
        try:
            return enrolment.create_token(store, site, time.time(), None, max_uses)  # type: ignore[arg-type]
        finally:
            store.close()

    async def enroll(self, token: str, hostname: str, channel: grpc.aio.Channel | None = None) -> Agent:
        stub = pb_grpc.CollectorStub(channel or self.channel)  # type: ignore[no-untyped-call]
        host = report(1, GIB, hostname=hostname).host
        response = await stub.Enroll(pb.EnrollRequest(token=token, host=host), timeout=CALL_TIMEOUT_SECONDS)
        agent = Agent(response.agent_id, response.secret, hostname)
        self.agents.append(agent)
        return agent

    async def push(self, agent: Agent, reports: list[pb.Report] | None = None, **request: object) -> int:
        """A Push as ``agent`` (its next report by default); the acked seq."""
        reports = reports or [agent.next_report()]
        # Like the agent: the lowest seq it holds is the oldest report it sends.
        request.setdefault("oldest_held_seq", min(r.seq for r in reports))
        message = pb.PushRequest(reports=reports, **request)  # type: ignore[arg-type]
        response = await self.stub.Push(message, metadata=agent.metadata, timeout=CALL_TIMEOUT_SECONDS)
        return int(response.acked_seq)


@contextlib.asynccontextmanager
async def running_lab(
    processes: ProcessGroup, tmp_path: Path, options: Options | None = None, name: str = "collector"
) -> AsyncIterator[Lab]:
    """A collector process with ``options`` and a channel to it; the process stops with ``processes``."""
    data_dir = tmp_path / f"{name}-data"
    config = write_config(tmp_path / f"{name}.toml", options or {})
    collector = await asyncio.to_thread(start_collector, processes, data_dir, name, config)
    async with grpc.aio.insecure_channel(collector.grpc_address) as channel:
        stub = pb_grpc.CollectorStub(channel)  # type: ignore[no-untyped-call]
        yield Lab(collector, data_dir, channel, stub)


class PeakMemory:
    """Samples a process's RSS every ``interval`` seconds while it runs; ``peak`` is the highest seen."""

    def __init__(self, lab: Lab, interval: float = 0.02) -> None:
        self._lab = lab
        self._interval = interval
        self.peak = lab.rss()
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, await asyncio.to_thread(self._lab.rss))
            await asyncio.sleep(self._interval)

    def __enter__(self) -> PeakMemory:
        self._task = asyncio.ensure_future(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def wait_for(predicate: object, what: str, timeout: float = 30.0, interval: float = 0.1) -> None:
    """Poll an async predicate until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {what}"
        await asyncio.sleep(interval)


@contextlib.contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Fail when the block took longer than ``seconds`` (every attack loop is bounded in time too)."""
    started = time.monotonic()
    yield
    took = time.monotonic() - started
    assert took < seconds, f"took {took:.1f}s, more than {seconds:g}s"
