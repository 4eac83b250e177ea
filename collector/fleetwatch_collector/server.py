"""Assembles the collector: store, fleet state, gRPC server with auth and health, HTTP endpoint."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from fleetwatch_collector.centralstore import CentralConfigs
from fleetwatch_collector.cluster import RevokedList, load_key
from fleetwatch_collector.clusterauth import ClusterIdentity
from fleetwatch_collector.config import CallsSection, CollectorConfig, TlsSection
from fleetwatch_collector.credcache import CredentialCache
from fleetwatch_collector.enrolment import credential
from fleetwatch_collector.exposure import Membership
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.gate import Gate
from fleetwatch_collector.http import HttpServer, make_app
from fleetwatch_collector.persist import Persister
from fleetwatch_collector.remotewrite.writer import RemoteWriter
from fleetwatch_collector.scrape import MetricsPage
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.service import SERVICE_NAME, CollectorService
from fleetwatch_collector.sitedir import SiteDirectory
from fleetwatch_collector.snmpapi import SnmpBackend
from fleetwatch_collector.snmpservice import SnmpConfigError, SnmpService
from fleetwatch_collector.store import CREDENTIALS_MAX_AGE_SECONDS, Store
from fleetwatch_collector.upkeep import Upkeep
from fleetwatch_proto.addresses import is_loopback_host
from fleetwatch_proto.tomlconfig import ConfigError

log = logging.getLogger(__name__)
# The cyclic garbage collector scans its youngest generation every 700 container objects allocated
# and not freed (Python's default), and what survives moves on to be scanned again later: with 64
# Pushes in flight, each a few hundred objects, most of a call's objects were scanned two or three
# times before it ended. At 10,000 they mostly die young: a sixth less CPU per Push
# (benchmarks/RESULTS.md, bench_scale --pushes), for at most that many objects more in memory.
GC_YOUNG_THRESHOLD = 10_000
# A full collection scans every object the collector holds, its event loop stopped meanwhile: about
# 42 per agent, 1.6-1.8 s at 50,000 agents, and with every agent's state replaced once a minute
# Python's default (one full collection every 10 of the middle generation's) ran one every 60-75 s.
# At 100, none ran in a 10-minute soak of 50,000 agents and RSS did not grow: the cyclic garbage
# that lives long enough to wait for one is a few thousand objects a minute (benchmarks/RESULTS.md).
GC_OLDEST_THRESHOLD = 100
# A thread that wants the interpreter lock asks for it, and the thread holding it lets go at the
# end of this interval (Python's default 5 ms). The threads beside the event loop (the HTTP server
# compressing and writing a scrape, the store writer, gRPC's poller) ask at every zlib call, socket
# write or commit: with the loop busy, each ask waited up to 5 ms, and a gzip scrape of 50,000
# agents makes hundreds of them. At 1 ms the worst scrape fell from 1.4-1.6 s to 0.4-0.6 s
# (benchmarks/RESULTS.md, bench_scale --gzip).
SWITCH_INTERVAL_SECONDS = 0.001


def tune_interpreter() -> None:
    """Raise the GC thresholds of the young and oldest generations, shorten the switch interval."""
    young, older, oldest = gc.get_threshold()
    if young > 0:  # 0: collection disabled, left so
        gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), older, max(oldest, GC_OLDEST_THRESHOLD))
    if sys.getswitchinterval() > SWITCH_INTERVAL_SECONDS:
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


class ConfigurationError(ValueError):
    """The configuration cannot be served as it is (e.g. plaintext beyond loopback)."""


def split_listen(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def server_credentials(tls: TlsSection, listen_host: str) -> grpc.ServerCredentials | None:
    """TLS credentials, or None for plaintext, which is allowed on loopback or when asked for."""
    if not tls.cert_file:
        if is_loopback_host(listen_host) or tls.allow_insecure:
            return None
        raise ConfigurationError(
            f"listening on {listen_host} needs TLS: set tls.cert_file and tls.key_file "
            "(`fleetwatch-collector tls init` makes a first CA and certificate), "
            "or tls.allow_insecure = true"
        )
    try:
        key = Path(tls.key_file).read_bytes()
        cert = Path(tls.cert_file).read_bytes()
        client_ca = Path(tls.client_ca_file).read_bytes() if tls.client_ca_file else None
    except OSError as exc:
        raise ConfigurationError(f"tls: cannot read {exc.filename}: {exc.strerror}") from exc
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def server_options(max_message_bytes: int, calls: CallsSection | None = None) -> list[tuple[str, int]]:
    """gRPC channel arguments of the listener (docs/security.md explains each bound)."""
    calls = calls or CallsSection()
    return [
        # Twice the limit, so a message between the two is refused by us with a counter. gRPC
        # refuses a larger one from its length prefix, before reading it (counted as oversized).
        ("grpc.max_receive_message_length", 2 * max_message_bytes),
        ("grpc.max_send_message_length", 1024 * 1024),
        # Without BDP probing a stream whose message is not being read gets one initial window
        # (64 KiB) and no more: a call refused from its metadata never makes gRPC buffer its message.
        # A read in progress still opens the window to the whole message announced.
        ("grpc.http2.bdp_probe", 0),
        ("grpc.max_concurrent_streams", calls.max_streams_per_connection),
        # Calls gRPC has accepted but not yet handed to the collector (a burst of call headers):
        # beyond the first number it refuses a growing share, beyond the second all, with
        # RESOURCE_EXHAUSTED the collector never sees (its defaults, 1,000 and 3,000, are reached by
        # one burst of a few connections' streams).
        ("grpc.server.max_pending_requests", calls.max_pending_calls),
        ("grpc.server.max_pending_requests_hard_limit", 2 * calls.max_pending_calls),
        # Agents send keepalive pings every 60 s by default; allow down to 30 s.
        ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.keepalive_time_ms", int(calls.keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.max_connection_idle_ms", int(calls.max_connection_idle_seconds * 1000)),
        ("grpc.max_connection_age_ms", int(calls.max_connection_age_seconds * 1000)),
        ("grpc.max_connection_age_grace_ms", int(calls.max_connection_age_grace_seconds * 1000)),
        # A second collector on the same port must fail, not split the agents between two states.
        ("grpc.so_reuseport", 0),
    ]


class CollectorServer:
    """The running collector; ``start`` binds, ``serve`` runs until told to stop."""

    def __init__(self, config: CollectorConfig, snmp_backend: SnmpBackend | None = None) -> None:
        self.config = config
        host, port = split_listen(config.server.grpc_listen)
        credentials = server_credentials(config.tls, host)
        self.metrics = CollectorMetrics()
        # A bad inventory file refuses to start (ConfigError naming the entry).
        self.sites = SiteDirectory(Path(config.sites.file) if config.sites.file else None)
        cluster = config.cluster
        # Unreadable, open to others or short: ConfigError naming cluster.key_file, before anything opens.
        cluster_key = load_key(cluster.key_file) if cluster.key_file else None
        if len(cluster.members) > 1 and cluster_key is None:
            log.warning(
                "cluster.members without cluster.key_file: agents enrolled at other members are refused"
            )
        self.revoked = RevokedList(Path(cluster.revoked_file) if cluster.revoked_file else None)
        self.fleet = FleetState(
            config.fleet.down_after_intervals,
            sites=self.sites,
            retire_after_seconds=config.fleet.retire_after_days * 86400,
            membership=Membership.of(cluster),  # agents homed at another member leave after handover_seconds
        )
        self.remote_write = self._remote_write(config)
        self.store = Store(Path(config.server.data_dir) / "collector.sqlite")
        self.central = CentralConfigs(self.store.path)  # its own table of the same file
        self.credentials = CredentialCache(  # exact: every credential change signals it (credcache.py)
            lambda agent_id: credential(self.store, agent_id),
            self.store.credentials.value,
            CREDENTIALS_MAX_AGE_SECONDS,
            revoked=self.revoked,
        )
        self.cluster = ClusterIdentity(
            cluster_key, self.store, self.credentials, self.revoked, self.fleet.reenrolled
        )
        self.cluster.check(force=True)  # the revoked file's agents revoked in the store, so off /metrics
        self._cluster_task: asyncio.Task[None] | None = None
        restored = self.fleet.restore(self.store.load_agents())
        self.upkeep = Upkeep(self.fleet, self.store, self.sites, self.metrics, config.fleet.check_seconds)
        self.upkeep.check()  # revoked and retired agents are off /metrics from the start
        self._stop_upkeep = asyncio.Event()
        self._upkeep_task: asyncio.Task[None] | None = None
        self._central_task: asyncio.Task[None] | None = None
        if restored:
            log.info(
                "restored %d known agents from %s; they show as down until they report",
                restored,
                self.store.path,
            )
        self.persister = Persister(self.store)
        self.snmp = self._snmp_service(config, snmp_backend)
        self._health = health.aio.HealthServicer()
        self._serving = False
        mutual_tls = bool(config.tls.client_ca_file)
        # No maximum_concurrent_rpcs: gRPC would refuse beyond it without telling anyone; the gate
        # bounds calls by kind, agent and address, and counts every refusal.
        self.gate = Gate(
            config.calls,
            self.credentials,
            self.metrics,
            mutual_tls=mutual_tls,
            signed=self.cluster if cluster_key is not None else None,  # any member's signed secrets
        )
        self._grpc = grpc.aio.server(
            interceptors=[self.gate],
            options=server_options(config.limits.max_message_bytes, config.calls),
        )
        service = CollectorService(
            self.fleet,
            self.metrics,
            config.limits,
            self.store,
            self.persister,
            self.sites,
            config.enrolment,
            mutual_tls,
            self.central,
            cluster_key,
        )
        self._grpc.add_generic_rpc_handlers((service.generic_handler(),))
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._grpc)
        address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        try:
            if credentials is None:
                self.grpc_port = self._grpc.add_insecure_port(address)
            else:
                self.grpc_port = self._grpc.add_secure_port(address, credentials)
        except RuntimeError as exc:  # grpc's way of saying the bind failed
            self.persister.close()
            self.store.close()
            raise OSError(f"cannot listen for gRPC on {address}: in use or not available") from exc
        self.tls = credentials is not None
        self._http = self._http_server(config)
        self.http_port = self._http.port

    def _remote_write(self, config: CollectorConfig) -> RemoteWriter | None:
        """Late reports written to a remote write receiver when [remote_write] url is set."""
        if not config.remote_write.url:
            return None
        try:
            writer = RemoteWriter(config.remote_write, self.metrics)
        except ValueError as exc:  # an unreadable CA or credential file
            raise ConfigurationError(str(exc)) from exc
        self.fleet.backfill = writer.backfill
        return writer

    def _snmp_service(self, config: CollectorConfig, backend: SnmpBackend | None) -> SnmpService | None:
        """The central poller and trap receiver when [snmp] asks for them; closes the store when not."""
        if not config.snmp.enabled:
            return None
        try:
            return SnmpService(
                config.snmp,
                self.sites,
                self.fleet,
                self.metrics,
                self.store,
                self.persister,
                config.fleet.check_seconds,
                backend,
            )
        except (SnmpConfigError, ConfigError, ImportError) as exc:
            self.persister.close()
            self.store.close()
            if isinstance(exc, ImportError):
                raise ConfigurationError(f"snmp: fleetwatch_snmp is not installed ({exc})") from exc
            raise ConfigurationError(str(exc)) from exc

    def reload(self) -> None:
        """Read the site inventory, the revoked file and the SNMP devices file again now (SIGHUP)."""
        self.upkeep.reload_sites()
        self.cluster.reload()
        self.central.wake()
        if self.snmp is not None:
            self.snmp.reload()

    def _http_server(self, config: CollectorConfig) -> HttpServer:
        """The /metrics endpoint; closes the store when it cannot be made."""
        http_host, http_port = split_listen(config.server.http_listen)
        page = MetricsPage(self.fleet, self.metrics)
        try:
            app = make_app(
                page,
                lambda: self._serving,
                config.http,
                lambda reason: self.metrics.http_refused.labels(reason).inc(),
            )
            server = HttpServer(http_host, http_port, app, config.http, self.metrics)
        except ValueError as exc:  # unreadable credential or certificate files
            self.persister.close()
            self.store.close()
            raise ConfigurationError(str(exc)) from exc
        except OSError as exc:
            self.persister.close()
            self.store.close()
            raise OSError(f"cannot listen for HTTP on {config.server.http_listen}: {exc.strerror}") from exc
        credentials = config.http.bearer_token_file or config.http.basic_auth_username
        if credentials and not config.http.cert_file and not is_loopback_host(http_host):
            log.warning("/metrics credentials travel in plaintext: set http.cert_file and http.key_file")
        return server

    async def start(self) -> None:
        tune_interpreter()
        if self.snmp is not None:  # first: a trap port that cannot be bound stops the start
            await self.snmp.start()
        await self._grpc.start()
        self._http.start()
        self._upkeep_task = asyncio.create_task(self.upkeep.run(self._stop_upkeep))
        self._central_task = asyncio.create_task(
            self.central.run(self._stop_upkeep, self.config.fleet.check_seconds)
        )
        if self.revoked.path is not None:
            self._cluster_task = asyncio.create_task(
                self.cluster.run(self._stop_upkeep, self.config.fleet.check_seconds)
            )
        if self.remote_write is not None:
            self.remote_write.start()
        self._serving = True
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        host = split_listen(self.config.server.grpc_listen)[0]
        http_host = split_listen(self.config.server.http_listen)[0]
        log.info(
            "collector serving: gRPC on %s:%d (%s), metrics on http://%s:%d/metrics",
            host,
            self.grpc_port,
            "TLS" if self.tls else "plaintext",
            http_host,
            self.http_port,
        )

    async def serve(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down gracefully."""
        try:
            await stop.wait()
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        log.info("collector shutting down (grace %.0fs)", self.config.server.grace_seconds)
        self._serving = False
        await self._health.enter_graceful_shutdown()
        await self._grpc.stop(self.config.server.grace_seconds)
        self._stop_upkeep.set()
        if self._upkeep_task is not None:
            self.upkeep.wake()
            await self._upkeep_task
        if self._central_task is not None:
            self.central.wake()
            await self._central_task
        if self._cluster_task is not None:
            self.cluster.wake()
            await self._cluster_task
        if self.snmp is not None:
            await self.snmp.stop()
        if self.remote_write is not None:  # after gRPC: no report can come any more
            await self.remote_write.stop(self.config.server.grace_seconds)
        await asyncio.to_thread(self.persister.close)
        self._http.stop()
        self.store.close()
        self.central.close()
        log.info("collector stopped")
