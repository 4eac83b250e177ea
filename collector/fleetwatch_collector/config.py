"""The collector's configuration: defaults live here, collector.example.toml mirrors them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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


@dataclass(frozen=True)
class SitesSection:
    """The site inventory: slugs, display names, grouping and type of every site."""

    # TOML file the operators own ("" = the built-in Tiền Giang 2023 inventory). Read at start
    # (a bad file refuses to start) and again when it changes; labels follow without restart.
    file: str = ""


@dataclass(frozen=True)
class CollectorConfig:
    """The whole collector configuration file."""

    server: ServerSection = field(default_factory=ServerSection)
    tls: TlsSection = field(default_factory=TlsSection)
    fleet: FleetSection = field(default_factory=FleetSection)
    sites: SitesSection = field(default_factory=SitesSection)
    limits: Limits = field(default_factory=Limits)


def load_config(path: Path | None) -> CollectorConfig:
    if path is None:
        return CollectorConfig()
    return load_file(CollectorConfig, path)
