"""The agent's configuration: defaults live here, agent.example.toml mirrors them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.connectivity import ConnectivityConfig
from fleetwatch_agent.probes.resources import ResourcesConfig
from fleetwatch_proto.tomlconfig import load_file

SLUG_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$")
AGENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SiteType = Literal["department", "district", "commune"]


@dataclass(frozen=True)
class AgentSection:
    """Identity and schedule of this agent."""

    # "" derives a stable id from the machine id (/etc/machine-id, MachineGuid).
    id: str = ""
    # Where the agent keeps its state: credential, sequence numbers, spool.
    data_dir: str = "/var/lib/fleetwatch-agent"
    # Seconds between collection cycles; the first cycle starts at a random phase.
    interval_seconds: float = 15.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def validate(self) -> None:
        if self.id and not AGENT_ID_RE.fullmatch(self.id):
            raise ValueError(f"id: {self.id!r} must match {AGENT_ID_RE.pattern}")
        if not 1.0 <= self.interval_seconds <= 3600.0:
            raise ValueError("interval_seconds: must be between 1 and 3600")


@dataclass(frozen=True)
class SiteSection:
    """The site this workstation belongs to (labels site, district, site_type)."""

    slug: str = "unassigned"
    district: str = "unassigned"
    type: SiteType = "commune"
    # Display name with diacritics, shown in dashboards.
    name: str = ""

    def validate(self) -> None:
        for key in ("slug", "district"):
            value = getattr(self, key)
            if not SLUG_RE.fullmatch(value):
                raise ValueError(f"{key}: {value!r} must be an ASCII slug like 'xa-tan-my-chanh'")


@dataclass(frozen=True)
class CollectorSection:
    """How to reach the collector."""

    # host:port pairs tried in order; the agent fails over to the next on errors.
    addresses: tuple[str, ...] = ("127.0.0.1:50051",)
    # Deadline of one Push call.
    timeout_seconds: float = 10.0
    # HTTP/2 keepalive ping interval on an idle connection with calls in flight.
    keepalive_seconds: float = 60.0
    compression: Literal["gzip", "none"] = "gzip"
    # Most reports, and most bytes, sent in one Push.
    max_batch_reports: int = 100
    max_batch_bytes: int = 1024 * 1024
    # TLS: "auto" uses TLS unless every address is on loopback.
    tls: Literal["auto", "on", "off"] = "auto"
    # PEM CA bundle that signed the collector's certificate ("" = the system's roots).
    ca_file: str = ""
    # PEM client certificate and key, for collectors that require mutual TLS.
    cert_file: str = ""
    key_file: str = ""
    # Name to expect in the collector's certificate when it differs from the address.
    server_name: str = ""
    # File holding a site enrolment token: used once when the agent is not enrolled yet.
    token_file: str = ""

    def validate(self) -> None:
        if not self.addresses:
            raise ValueError("addresses: at least one address is needed")
        for address in self.addresses:
            host, sep, port = address.rpartition(":")
            if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"addresses: {address!r} is not host:port")
        if not 1 <= self.max_batch_reports <= 500:
            raise ValueError("max_batch_reports: must be between 1 and 500")
        if self.max_batch_bytes < 1024:
            raise ValueError("max_batch_bytes: must be at least 1024")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file: set both or neither")
        for name in ("timeout_seconds", "keepalive_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive")


@dataclass(frozen=True)
class SpoolSection:
    """The on-disk queue of reports not yet acknowledged (data_dir/spool.sqlite)."""

    # Bounds; when one is hit the oldest reports are dropped first, and counted.
    # The defaults hold 24 hours at the default interval.
    max_reports: int = 6000
    max_bytes: int = 64 * 1024 * 1024
    max_age_seconds: float = 86400.0

    def validate(self) -> None:
        if self.max_reports < 1 or self.max_bytes < 1024 or self.max_age_seconds <= 0:
            raise ValueError("max_reports, max_bytes, max_age_seconds: must be positive")


@dataclass(frozen=True)
class ProbesSection:
    """Per-probe settings; one table per probe in the registry."""

    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    antivirus: AntivirusConfig = field(default_factory=AntivirusConfig)
    connectivity: ConnectivityConfig = field(default_factory=ConnectivityConfig)


@dataclass(frozen=True)
class AgentConfig:
    """The whole agent configuration file."""

    agent: AgentSection = field(default_factory=AgentSection)
    site: SiteSection = field(default_factory=SiteSection)
    collector: CollectorSection = field(default_factory=CollectorSection)
    spool: SpoolSection = field(default_factory=SpoolSection)
    probes: ProbesSection = field(default_factory=ProbesSection)


def load_config(path: Path | None) -> AgentConfig:
    """Load the agent configuration; None gives the defaults."""
    if path is None:
        return AgentConfig()
    return load_file(AgentConfig, path)
