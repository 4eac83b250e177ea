"""The collector's configuration: defaults live here, collector.example.toml mirrors them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from fleetwatch_collector.checks import Limits
from fleetwatch_proto.tomlconfig import load_file


def _check_listen(option: str, value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:  # 0: any free port
        raise ValueError(f"{option}: {value!r} is not HOST:PORT")


@dataclass(frozen=True)
class ServerSection:
    """Where the collector listens and keeps its files."""

    # gRPC address agents push to.
    grpc_listen: str = "127.0.0.1:50051"
    # HTTP address of /metrics and /healthz.
    http_listen: str = "127.0.0.1:9464"
    # Folder of the SQLite store.
    data_dir: str = "/var/lib/fleetwatch-collector"
    # Seconds in-flight calls get to finish on shutdown.
    grace_seconds: float = 5.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def validate(self) -> None:
        _check_listen("grpc_listen", self.grpc_listen)
        _check_listen("http_listen", self.http_listen)


@dataclass(frozen=True)
class FleetSection:
    """How the fleet state is kept."""

    # An agent silent for this many of its intervals is reported down (fleetwatch_agent_up 0).
    down_after_intervals: int = 3
    # An agent silent for this many days is retired: it leaves /metrics (and so every KPI)
    # until it reports again; 0 = never.
    retire_after_days: float = 30.0
    # Seconds between checks for agents revoked or forgotten by `fleetwatch-collector agent`,
    # agents to retire, and a changed site inventory file (SIGHUP checks at once).
    check_seconds: float = 5.0

    def validate(self) -> None:
        if self.down_after_intervals < 1:
            raise ValueError("down_after_intervals: must be at least 1")
        if self.retire_after_days < 0:
            raise ValueError("retire_after_days: must be 0 (never) or positive")
        if self.check_seconds <= 0:
            raise ValueError("check_seconds: must be positive")


@dataclass(frozen=True)
class TlsSection:
    """TLS of the gRPC listener. Required when it listens beyond loopback."""

    # PEM server certificate and key ("" = plaintext, allowed on loopback only).
    cert_file: str = ""
    key_file: str = ""
    # PEM CA bundle: when set, agents must present a client certificate it signed (mutual TLS).
    client_ca_file: str = ""
    # Listen in plaintext beyond loopback anyway (a lab behind another encrypted tunnel).
    allow_insecure: bool = False

    def validate(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file: set both or neither")
        if self.client_ca_file and not self.cert_file:
            raise ValueError("client_ca_file: mutual TLS needs cert_file and key_file too")


def _check_positive(section: object) -> None:
    """Every number of ``section`` positive (these options bound something: 0 would refuse everything)."""
    for name, value in vars(section).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if value <= 0:
            raise ValueError(f"{name}: must be positive")


@dataclass(frozen=True)
class CallsSection:
    """How the gRPC listener bounds connections and calls before any handler runs (docs/security.md)."""

    # Streams one HTTP/2 connection may have open (SETTINGS_MAX_CONCURRENT_STREAMS); gRPC itself
    # refuses more with RST_STREAM, before the collector sees them.
    max_streams_per_connection: int = 256
    # Calls gRPC has accepted but not yet handed to the collector (a burst of call headers); beyond
    # this gRPC refuses a growing share, beyond twice this all, with RESOURCE_EXHAUSTED it does not
    # report to the collector (docs/security.md).
    max_pending_calls: int = 10000
    # Authenticated calls (Push) in progress at once; beyond, RESOURCE_EXHAUSTED (busy) with a
    # retry hint. Their messages may take up to this many times 2 x limits.max_message_bytes.
    max_push_calls: int = 512
    # Calls of one agent in progress at once; a new one replaces the agent's oldest call still
    # waiting for its message (evicted), else it is refused (agent_busy).
    max_calls_per_agent: int = 4
    # Seconds a Push may take to send its message after its headers (DEADLINE_EXCEEDED, request_timeout).
    push_message_seconds: float = 60.0
    # Calls without a credential (Enroll, health) waiting for or reading their message, overall and
    # from one peer address; when full, a new call replaces the oldest one still waiting.
    max_open_calls: int = 1024
    max_open_calls_per_peer: int = 128
    # Of those, how many read their message at once, newest first (each may hold up to
    # 2 x limits.max_message_bytes while it reads); a read older than open_read_grace_seconds may be
    # cancelled for a newer call, so callers that never finish their message cannot hold them.
    max_open_reads: int = 8
    open_read_grace_seconds: float = 1.0
    # Seconds a call without a credential may take to send its whole message.
    open_message_seconds: float = 10.0
    # Largest Enroll or health request, in bytes (RESOURCE_EXHAUSTED, oversized).
    max_open_message_bytes: int = 16384
    # Health Watch streams open at once, overall and per peer address; beyond, RESOURCE_EXHAUSTED.
    max_watch_streams: int = 16
    max_watch_streams_per_peer: int = 4
    # Connections idle this long are closed; older ones are asked to reconnect (GOAWAY) and get
    # max_connection_age_grace_seconds to finish their calls; the collector pings a silent
    # connection every keepalive_seconds and drops it without an answer in 20 s.
    max_connection_idle_seconds: float = 600.0
    max_connection_age_seconds: float = 3600.0
    max_connection_age_grace_seconds: float = 60.0
    keepalive_seconds: float = 300.0

    def validate(self) -> None:
        _check_positive(self)


@dataclass(frozen=True)
class EnrolmentSection:
    """Rate limits of Enroll, per peer address and overall; beyond, calls wait, then are refused."""

    # Enrolments per second from one peer address, and its burst.
    per_peer_per_second: float = 1.0
    per_peer_burst: int = 30
    # Apply the per-peer limit to loopback peers too (the simulator and a local TLS proxy connect
    # from loopback; with a proxy, every agent has the proxy's address).
    limit_loopback: bool = False
    # Enrolments per second overall, and the burst.
    per_second: float = 50.0
    burst: int = 500
    # An Enroll beyond the rate waits up to this long for its turn, else RESOURCE_EXHAUSTED
    # (enrolments_total{result="rate_limited"}) with a retry hint.
    max_wait_seconds: float = 5.0
    # Default number of enrolments of a site token (`token create --max-uses`).
    site_token_max_uses: int = 500

    def validate(self) -> None:
        _check_positive(self)


@dataclass(frozen=True)
class HttpSection:
    """The /metrics endpoint: bounded threads, timeouts, optional TLS and authentication."""

    # Connections served at once; more are closed at once (http_refused_total{reason="busy"}).
    max_connections: int = 16
    # A client must send its request within this many seconds of connecting, and read each
    # chunk of the answer within it (http_refused_total{reason="timeout"}).
    timeout_seconds: float = 10.0
    # PEM certificate and key: serve HTTPS ("" = plain HTTP).
    cert_file: str = ""
    key_file: str = ""
    # File holding a token that /metrics requires as "Authorization: Bearer <token>"
    # (Prometheus: authorization.credentials_file); "" = none.
    bearer_token_file: str = ""
    # Basic authentication for /metrics (Prometheus: basic_auth); "" = none.
    basic_auth_username: str = ""
    basic_auth_password_file: str = ""

    def validate(self) -> None:
        if self.max_connections < 1:
            raise ValueError("max_connections: must be at least 1")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds: must be positive")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file: set both or neither")
        if bool(self.basic_auth_username) != bool(self.basic_auth_password_file):
            raise ValueError("basic_auth_username and basic_auth_password_file: set both or neither")


@dataclass(frozen=True)
class SitesSection:
    """The site inventory: slugs, display names, grouping and type of every site."""

    # TOML file the operators own ("" = the built-in Tiền Giang 2023 inventory). Read at start
    # (a bad file refuses to start) and again when it changes; labels follow without restart.
    file: str = ""


@dataclass(frozen=True)
class SnmpTrapsSection:
    """The SNMP trap receiver (docs/routers.md)."""

    # UDP address to receive traps and informs on, e.g. "0.0.0.0:162" ("" = off). Port 162 needs
    # CAP_NET_BIND_SERVICE. Communities and v3 users: [snmp.credentials]; senders must be known devices.
    listen: str = ""

    def validate(self) -> None:
        if self.listen:
            _check_listen("listen", self.listen)


@dataclass(frozen=True)
class SnmpSection:
    """Routers and switches the collector polls itself, and its trap receiver (docs/routers.md)."""

    # TOML file of the devices the collector polls ([[device]] name, site, address, credential);
    # "" = no central polling. Read at start (a bad file refuses to start), then again when it changes.
    devices_file: str = ""
    # Seconds between the starts of two polls of every device.
    interval_seconds: float = 60.0
    # Devices polled at once. A v2c router of 24 interfaces costs the event loop about 3 ms of CPU
    # (v3, through pysnmp, about 10 times more); a poll's deadline runs while other answers are
    # decoded, so very many v3 polls at once can make healthy devices miss it (benchmarks/RESULTS.md,
    # bench_snmp: 200 v2c routers in 0.6-0.7 s at 16 or 32).
    max_concurrent: int = 16
    # Seconds one device's whole poll may take; then it counts as not answering (timeout).
    deadline_seconds: float = 10.0
    # Seconds to wait for each answer, and how many times a request is sent again without one.
    timeout_seconds: float = 2.0
    retries: int = 1
    # SNMP credentials by name: [snmp.credentials.NAME] with version = "2c" and community_file, or
    # version = "3", user, auth_protocol, auth_key_file, priv_protocol, priv_key_file (and engine_id
    # to receive v3 traps). Secrets only in files (relative paths: from the working directory).
    credentials: dict[str, Any] = field(default_factory=dict)
    traps: SnmpTrapsSection = field(default_factory=SnmpTrapsSection)

    def validate(self) -> None:
        if not (
            isinstance(self.credentials, dict) and all(isinstance(v, dict) for v in self.credentials.values())
        ):
            raise ValueError("credentials: expected tables [snmp.credentials.NAME]")
        for name, low, high in (
            ("interval_seconds", 1, 86400),
            ("max_concurrent", 1, 1024),
            ("deadline_seconds", 0.1, 3600),
            ("timeout_seconds", 0.1, 60),
            ("retries", 0, 10),
        ):
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"{name}: must be from {low:g} to {high:g}")

    @property
    def enabled(self) -> bool:
        return bool(self.devices_file or self.traps.listen)


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")
# Headers of the protocol and of the credentials options, which a [remote_write.headers] entry must not
# replace.
_OWN_HEADERS = frozenset(
    (
        "authorization",
        "content-encoding",
        "content-type",
        "content-length",
        "host",
        "x-prometheus-remote-write-version",
    )
)


@dataclass(frozen=True)
class RemoteWriteSection:
    """Late reports written with their collection times by Prometheus remote write (docs/remote-write.md)."""

    # Receiver URL, e.g. "http://127.0.0.1:9090/api/v1/write" (Prometheus started with
    # --web.enable-remote-write-receiver) or VictoriaMetrics' ".../api/v1/write"; "" = off.
    url: str = ""
    # Seconds to connect, and for each send and read of a request.
    timeout_seconds: float = 30.0
    # Samples waiting to be sent, at most (about 100 bytes each); a late report whose samples do not
    # fit is not written (fleetwatch_collector_remote_write_reports_total{result="queue_full"}).
    max_queue_samples: int = 200000
    # Samples per request, at most.
    batch_samples: int = 2000
    # After a failed request (connection error, 408, 429, 5xx): wait a random time up to
    # min_backoff_seconds, doubled per failure up to max_backoff_seconds, and send it again; a request
    # still failing after max_retry_seconds is given up (samples_total{result="dropped"}). Samples the
    # receiver refuses for good (4xx, "out of bounds", "too old") are counted, never retried.
    min_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_retry_seconds: float = 600.0
    # Bytes of late reports kept while older ones of the same agent are awaited (an agent draining
    # its backlog sends its newest report ahead of each batch), over all agents (1 MiB per agent).
    max_held_bytes: int = 64 * 1024 * 1024
    # File holding a token sent as "Authorization: Bearer <token>"; "" = none.
    bearer_token_file: str = ""
    # Basic authentication; "" = none.
    basic_auth_username: str = ""
    basic_auth_password_file: str = ""
    # PEM CA bundle to verify an https receiver ("" = the system's CAs).
    ca_file: str = ""
    # Labels added to every series written where it has none of that name, e.g. job = "fleetwatch-backfill".
    labels: dict[str, str] = field(default_factory=dict)
    # HTTP headers sent with every request, e.g. a tenant: "X-Scope-OrgID" (Mimir), "THANOS-TENANT".
    headers: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"url: {self.url!r} is not an http:// or https:// URL")
        if self.ca_file and not self.url.startswith("https:"):
            raise ValueError("ca_file: only for an https:// url")
        for name in ("timeout_seconds", "max_queue_samples", "batch_samples", "min_backoff_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive")
        if self.max_backoff_seconds < self.min_backoff_seconds:
            raise ValueError("max_backoff_seconds: must be at least min_backoff_seconds")
        if self.max_retry_seconds < 0 or self.max_held_bytes < 0:
            raise ValueError("max_retry_seconds and max_held_bytes: must not be negative")
        if self.batch_samples > self.max_queue_samples:
            raise ValueError("batch_samples: must not exceed max_queue_samples")
        if bool(self.basic_auth_username) != bool(self.basic_auth_password_file):
            raise ValueError("basic_auth_username and basic_auth_password_file: set both or neither")
        if self.bearer_token_file and self.basic_auth_username:
            raise ValueError("bearer_token_file and basic_auth_username: set one or neither")
        if not isinstance(self.labels, dict):
            raise ValueError("labels: expected a table [remote_write.labels]")
        for label, value in self.labels.items():
            if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"labels.{label}: not a label name")
            if not isinstance(value, str) or not value:
                raise ValueError(f"labels.{label}: expected a non-empty string")
        if not isinstance(self.headers, dict):
            raise ValueError("headers: expected a table [remote_write.headers]")
        for header, value in self.headers.items():
            if not _HEADER_NAME.fullmatch(header) or header.lower() in _OWN_HEADERS:
                raise ValueError(f"headers.{header}: not a header name the collector lets you set")
            if not isinstance(value, str) or not value.isprintable():
                raise ValueError(f"headers.{header}: expected a printable string")


@dataclass(frozen=True)
class ClusterSection:
    """Several collectors serving one fleet (docs/decisions.md, "Several collectors")."""

    # Every member's address exactly as the agents list it in collector.addresses, the same list on
    # every member; () = a single collector.
    members: tuple[str, ...] = ()
    # This collector's entry of members.
    self: str = ""
    # File of the cluster key: at least 32 random bytes, the same file on every member, mode 0600.
    # With it, agent secrets and enrolment tokens are signed: every member accepts them. "" = none.
    key_file: str = ""
    # Seconds a member still exposes an agent whose home is another member after its last report here.
    handover_seconds: float = 300.0
    # File of revoked agent ids shared by the members (one per line, '#' comments), read again when
    # it changes; `agent revoke` appends to it. "" = none.
    revoked_file: str = ""

    def validate(self) -> None:
        if len(set(self.members)) != len(self.members) or not all(m.strip() for m in self.members):
            raise ValueError("members: every entry once, none empty")
        if self.members and not self.self:
            raise ValueError("self: required with members (this collector's entry of members)")
        if self.self and self.self not in self.members:
            raise ValueError(f"self: {self.self!r} is not one of members {list(self.members)}")
        if not self.handover_seconds > 0:
            raise ValueError("handover_seconds: must be positive")


@dataclass(frozen=True)
class CollectorConfig:
    """The whole collector configuration file."""

    server: ServerSection = field(default_factory=ServerSection)
    tls: TlsSection = field(default_factory=TlsSection)
    fleet: FleetSection = field(default_factory=FleetSection)
    sites: SitesSection = field(default_factory=SitesSection)
    limits: Limits = field(default_factory=Limits)
    calls: CallsSection = field(default_factory=CallsSection)
    enrolment: EnrolmentSection = field(default_factory=EnrolmentSection)
    http: HttpSection = field(default_factory=HttpSection)
    snmp: SnmpSection = field(default_factory=SnmpSection)
    remote_write: RemoteWriteSection = field(default_factory=RemoteWriteSection)
    cluster: ClusterSection = field(default_factory=ClusterSection)


def load_config(path: Path | None) -> CollectorConfig:
    if path is None:
        return CollectorConfig()
    return load_file(CollectorConfig, path)
