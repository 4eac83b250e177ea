"""An in-process collector on 127.0.0.1 for agent tests that need a real peer over gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc

from fleetwatch_collector import enrolment
from fleetwatch_collector.config import CollectorConfig, ServerSection, TlsSection
from fleetwatch_collector.server import CollectorServer
from fleetwatch_collector.validate import Limits
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.e2e.support import fetch_metrics, find_samples, parse_samples

DEADLINE_SECONDS = 60.0


@contextlib.asynccontextmanager
async def running_collector(
    data_dir: Path, limits: Limits | None = None, tls: TlsSection | None = None
) -> AsyncIterator[CollectorServer]:
    """A started CollectorServer on free loopback ports; shut down on exit."""
    config = CollectorConfig(
        server=ServerSection(
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            data_dir=str(data_dir),
            grace_seconds=1.0,
        ),
        limits=limits or Limits(),
        tls=tls or TlsSection(),
    )
    server = CollectorServer(config)
    await server.start()
    try:
        yield server
    finally:
        await server.shutdown()


def any_site_token(server: CollectorServer) -> str:
    return enrolment.create_token(server.store, None, time.time(), None)


def grpc_address(server: CollectorServer) -> str:
    return f"127.0.0.1:{server.grpc_port}"


async def metric_sum(server: CollectorServer, name: str) -> float:
    """The sum of every sample of ``name`` on the collector's /metrics page."""
    text = await asyncio.to_thread(fetch_metrics, f"http://127.0.0.1:{server.http_port}/metrics")
    return sum(s.value for s in find_samples(parse_samples(text), name))


async def poll(predicate: Callable[[], object], what: str, timeout: float = DEADLINE_SECONDS) -> None:
    """Wait until ``predicate()`` is truthy; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def stand_in_collector(servicer: pb_grpc.CollectorServicer) -> AsyncIterator[str]:
    """A gRPC server on 127.0.0.1 answering with ``servicer`` (a collector stand-in); its address."""
    server = grpc.aio.server()
    pb_grpc.add_CollectorServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)
