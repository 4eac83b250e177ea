"""The agent's configuration: defaults here and in each probe's package; agent.example.toml mirrors them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fleetwatch_agent.platformdefaults import DEFAULTS
from fleetwatch_agent.probes import PROBES, ProbeDefinition
from fleetwatch_proto.limits import AGENT_ID_RE, MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS, SLUG_RE
from fleetwatch_proto.names import SITE_TYPE
from fleetwatch_proto.tomlconfig import load_file


@dataclass(frozen=True)
class AgentSection:
    """Identity and schedule of this agent."""

    # The machine's identity sent (hashed) at enrolment, so a reinstalled machine keeps its
    # history; "" = the OS machine id (/etc/machine-id, MachineGuid). Set it on machines
    # cloned from one image without a fresh machine id.
    id: str = ""
    # Where the agent keeps its state: credential, sequence numbers, spool. By platform
    # (platformdefaults.py): /var/lib/fleetwatch-agent, or %ProgramData%\fleetwatch on Windows.
    data_dir: str = DEFAULTS.data_dir
    # Seconds between reports (the cadence the collector's liveness follows); the first at a random
    # phase. 0: the shortest interval_seconds of the enabled probes, each probe at its own. Set (as
    # configurations written before probes had intervals do): every probe runs every cycle (schedule.py).
    interval_seconds: float = 0.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def validate(self) -> None:
        if self.id and not AGENT_ID_RE.fullmatch(self.id):
            raise ValueError(f"id: {self.id!r} must match {AGENT_ID_RE.pattern}")
        interval = self.interval_seconds
        if interval != 0 and not MIN_INTERVAL_SECONDS <= interval <= MAX_INTERVAL_SECONDS:
            raise ValueError(
                f"interval_seconds: must be between {MIN_INTERVAL_SECONDS} and {MAX_INTERVAL_SECONDS}, "
                "or 0 (each probe at its own interval)"
            )


@dataclass(frozen=True)
class SiteSection:
    """The site this workstation belongs to (labels site, district, site_type)."""

    slug: str = "unassigned"
    district: str = "unassigned"
    # A site type of the contract (fleetwatch_proto.names.SITE_TYPE): department, district, commune.
    type: str = "commune"
    # Display name with diacritics, shown in dashboards.
    name: str = ""

    def validate(self) -> None:
        for key in ("slug", "district"):
            value = getattr(self, key)
            if not SLUG_RE.fullmatch(value):
                raise ValueError(f"{key}: {value!r} must be an ASCII slug like 'xa-tan-my-chanh'")
        if self.type not in SITE_TYPE.names():
            raise ValueError(f"type: {self.type!r} is not one of {list(SITE_TYPE.names())}")


@dataclass(frozen=True)
class CollectorSection:
    """How to reach the collector."""

    # host:port pairs; the agent moves to the next when one is unreachable or refuses its
    # credential (agent/README.md, "Several collector addresses").
    addresses: tuple[str, ...] = ("127.0.0.1:50051",)
    # The agent's order of the addresses: "ordered" = as written (the first is preferred);
    # "rendezvous" = ranked by a hash of the agent id and each address, so a fleet spreads evenly
    # over a cluster of collectors, each agent with its own first (its home) and failover order.
    spread: Literal["ordered", "rendezvous"] = "ordered"
    # Seconds after leaving the first address (its home) before the agent tries it again.
    failback_seconds: float = 300.0
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
        for name in ("timeout_seconds", "keepalive_seconds", "failback_seconds"):
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


def probes_section(registry: tuple[ProbeDefinition[Any, Any], ...] = PROBES) -> type:
    """The [probes] table: one field per probe of the registry, named after it, its config by default."""
    return dataclasses.make_dataclass(
        "ProbesSection",
        [(p.name, p.config_type, field(default_factory=p.config_type)) for p in registry],
        frozen=True,
        namespace={
            "__doc__": "Per-probe settings: one table per probe of the registry (probes/__init__.py).",
            "__module__": __name__,
        },
    )


if TYPE_CHECKING:

    @dataclass(frozen=True)
    class ProbesSection:
        """What the type checker knows of the section: its fields are the registry's probes."""

        def __init__(self, **probes: Any) -> None: ...

        def __getattr__(self, name: str) -> Any: ...

else:
    ProbesSection = probes_section()


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
