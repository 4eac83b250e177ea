"""Assembles the collector: store, fleet state, gRPC server with health, HTTP endpoint, flushing."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from fleetwatch_agent.aiotools import sleep_unless
from fleetwatch_collector.auth import AuthInterceptor
from fleetwatch_collector.config import CollectorConfig
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.http import HttpServer, MetricsPage, make_app
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.service import SERVICE_NAME, CollectorService
from fleetwatch_collector.store import Store

log = logging.getLogger(__name__)


def split_listen(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def server_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        # Twice the limit, so a message between the two is refused by us with a counter.
        ("grpc.max_receive_message_length", 2 * max_message_bytes),
        ("grpc.max_send_message_length", 1024 * 1024),
        # Agents send keepalive pings every 60 s by default; allow down to 30 s.
        ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.max_connection_idle_ms", 10 * 60_000),
    ]


class CollectorServer:
    """The running collector; ``start`` binds, ``serve`` runs until told to stop."""

    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self.metrics = CollectorMetrics()
        self.fleet = FleetState(config.fleet.down_after_intervals)
        self.store = Store(Path(config.server.data_dir) / "collector.sqlite")
        restored = self.fleet.restore(self.store.load_agents())
        if restored:
            log.info("restored %d known agents from %s", restored, self.store.path)
        self._health = health.aio.HealthServicer()
        self._serving = False
        self._grpc = grpc.aio.server(
            interceptors=[AuthInterceptor(lambda reason: self.metrics.rejected.labels(reason).inc())],
            options=server_options(config.limits.max_message_bytes),
        )
        self._grpc.add_generic_rpc_handlers(
            (CollectorService(self.fleet, self.metrics, config.limits).generic_handler(),)
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._grpc)
        host, port = split_listen(config.server.grpc_listen)
        self.grpc_port = self._grpc.add_insecure_port(f"{host}:{port}")
        if self.grpc_port == 0:
            raise OSError(f"cannot listen for gRPC on {config.server.grpc_listen}")
        http_host, http_port = split_listen(config.server.http_listen)
        page = MetricsPage(self.fleet, self.metrics)
        self._http = HttpServer(http_host, http_port, make_app(page, lambda: self._serving))
        self.http_port = self._http.port

    async def start(self) -> None:
        await self._grpc.start()
        self._http.start()
        self._serving = True
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        host = split_listen(self.config.server.grpc_listen)[0]
        http_host = split_listen(self.config.server.http_listen)[0]
        log.info(
            "collector serving: gRPC on %s:%d, metrics on http://%s:%d/metrics",
            host,
            self.grpc_port,
            http_host,
            self.http_port,
        )

    async def flush(self) -> None:
        snapshots = self.fleet.take_dirty()
        if snapshots:
            await asyncio.to_thread(self.store.save_agents, snapshots)

    async def serve(self, stop: asyncio.Event) -> None:
        """Flush changed agents periodically until ``stop`` is set, then shut down gracefully."""
        try:
            while not await sleep_unless(stop, self.config.fleet.flush_seconds):
                await self.flush()
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        log.info("collector shutting down (grace %.0fs)", self.config.server.grace_seconds)
        self._serving = False
        await self._health.enter_graceful_shutdown()
        await self._grpc.stop(self.config.server.grace_seconds)
        await self.flush()
        self._http.stop()
        self.store.close()
        log.info("collector stopped")
