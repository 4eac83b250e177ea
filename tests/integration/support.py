"""An in-process collector on 127.0.0.1:0 with enrolled agents, driven over real gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio
import pytest
from prometheus_client.samples import Sample

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.config import CollectorConfig, ServerSection
from fleetwatch_collector.enrolment import Enrolled
from fleetwatch_collector.server import CollectorServer
from fleetwatch_collector.validate import Limits
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.e2e.support import enrolled_identity, fetch_metrics, identity_metadata, parse_samples, value_of

GOOD = "good"  # name of the well-behaved agent in the harness
GOOD_HOST = "good-host"
GIB = 1024**3
PUSH_METHOD = "/fleetwatch.v1.Collector/Push"
CALL_TIMEOUT_SECONDS = 10.0
Metadata = tuple[tuple[str, str], ...]


def report(
    seq: int, memory_available: int, hostname: str = GOOD_HOST, site: str = "xa-tan-my-chanh"
) -> pb.Report:
    """A valid report, as a well-behaved agent sends it."""
    message = pb.Report(
        seq=seq,
        collected_unix_ms=int(time.time() * 1000),
        interval_seconds=60,  # stays up for the whole test
        host=pb.HostInfo(
            hostname=hostname,
            os_family="linux",
            os_name="Debian GNU/Linux 12 (bookworm)",
            agent_version="0.1.0",
            site=site,
            district="tp-my-tho",
            site_type=pb.SITE_TYPE_COMMUNE,
            site_name="Xã Tân Mỹ Chánh",
        ),
        resources=pb.Resources(
            cpu_utilization_ratio=0.25,
            cpu_count=4,
            memory_total_bytes=8 * GIB,
            memory_available_bytes=memory_available,
        ),
    )
    message.probes.add(name="resources", success=True, duration_seconds=0.01)
    message.resources.filesystems.add(
        mountpoint="/", fstype="ext4", size_bytes=100 * GIB, used_bytes=40 * GIB, free_bytes=60 * GIB
    )
    message.resources.interfaces.add(name="eth0", up=True, receive_bytes=1000, transmit_bytes=500)
    return message


@dataclass
class Harness:
    """An in-process collector, a real gRPC channel to it, and agents enrolled by name."""

    server: CollectorServer
    channel: grpc.aio.Channel
    agents: dict[str, Enrolled] = field(default_factory=dict)

    def enrol(self, name: str, site: SiteLabels | None = None) -> Enrolled:
        """Enrol agent ``name`` with a token for ``site`` (None: an any-site token)."""
        self.agents[name] = enrolled_identity(self.server, site)
        return self.agents[name]

    def agent_id(self, name: str) -> str:
        return self.agents[name].agent_id

    def metadata(self, who: str | None) -> Metadata:
        return () if who is None else identity_metadata(self.agents[who])

    async def push(
        self,
        reports: Sequence[pb.Report],
        who: str | None = GOOD,
        compression: grpc.Compression | None = None,
        metadata: Metadata | None = None,
        oldest_held_seq: int = 0,
    ) -> pb.PushResponse:
        """A Push as agent ``who`` (None: without credential), or with explicit ``metadata``."""
        stub = pb_grpc.CollectorStub(self.channel)  # type: ignore[no-untyped-call]
        response: pb.PushResponse = await stub.Push(
            pb.PushRequest(reports=reports, oldest_held_seq=oldest_held_seq),
            metadata=self.metadata(who) if metadata is None else metadata,
            timeout=CALL_TIMEOUT_SECONDS,
            compression=compression,
        )
        return response

    async def push_raw(self, raw: bytes, who: str | None) -> bytes:
        call = self.channel.unary_unary(PUSH_METHOD, request_serializer=None, response_deserializer=None)
        response: bytes = await call(raw, metadata=self.metadata(who), timeout=CALL_TIMEOUT_SECONDS)
        return response

    async def enroll(self, token: str, host: pb.HostInfo | None = None) -> pb.EnrollResponse:
        stub = pb_grpc.CollectorStub(self.channel)  # type: ignore[no-untyped-call]
        request = pb.EnrollRequest(token=token, host=host or report(1, GIB).host)
        response: pb.EnrollResponse = await stub.Enroll(request, timeout=CALL_TIMEOUT_SECONDS)
        return response

    async def text(self) -> str:
        return await asyncio.to_thread(fetch_metrics, f"http://127.0.0.1:{self.server.http_port}/metrics")

    async def samples(self) -> list[Sample]:
        return parse_samples(await self.text())

    async def counter(self, name: str, **labels: str) -> float:
        """A collector counter's value, 0 when it has no sample yet."""
        return value_of(await self.samples(), name, **labels) or 0.0

    async def rejected(self, reason: str) -> float:
        return await self.counter("fleetwatch_collector_rejected_total", reason=reason)

    async def refused(self, call: Awaitable[object], code: grpc.StatusCode) -> grpc.aio.AioRpcError:
        """Await a call that must fail with ``code``; returns the error."""
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == code, f"{info.value.code()}: {info.value.details()}"
        return info.value

    async def refused_with_counter(
        self, call: Awaitable[object], code: grpc.StatusCode, reason: str, *fragments: str
    ) -> str:
        """A refusal with ``code``, counted once under ``reason``, whose message contains ``fragments``."""
        before = await self.rejected(reason)
        pushes_before = await self.counter("fleetwatch_collector_pushes_total", code=code.name)
        details = (await self.refused(call, code)).details() or ""
        for fragment in fragments:
            assert fragment in details, f"{fragment!r} not in {details!r}"
        assert await self.rejected(reason) == before + 1, (
            f"rejected_total{{reason={reason!r}}} not counted once"
        )
        pushes_after = await self.counter("fleetwatch_collector_pushes_total", code=code.name)
        assert pushes_after == pushes_before + 1, f"pushes_total{{code={code.name}}} not counted once"
        return details


def agent_series(samples: list[Sample], agent_id: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every series of one agent, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for s in samples
        if s.labels.get("agent_id") == agent_id
    }


def collector_config(data_dir: Path, limits: Limits) -> CollectorConfig:
    # Port 0: the kernel picks free ports at bind time, so there is no race with other tests.
    return CollectorConfig(
        server=ServerSection(
            grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0", data_dir=str(data_dir), grace_seconds=1.0
        ),
        limits=limits,
    )


@contextlib.asynccontextmanager
async def running_collector(
    data_dir: Path, limits: Limits | None = None, agents: Sequence[str] = (GOOD,)
) -> AsyncIterator[Harness]:
    """A started collector with ``agents`` enrolled (any-site tokens); shut down on exit."""
    server = CollectorServer(collector_config(data_dir, limits or Limits()))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            harness = Harness(server, channel)
            for name in agents:
                harness.enrol(name)
            yield harness
    finally:
        await server.shutdown()
