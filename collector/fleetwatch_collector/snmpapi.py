"""What the collector uses of fleetwatch_snmp (poller, trap server, credentials), behind one seam for tests.

Only ``real_backend`` imports fleetwatch_snmp (lazily: a collector without SNMP configured never
loads it, nor pysnmp); the rest of the collector sees the protocols below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fleetwatch_collector.config import SnmpSection
from fleetwatch_collector.devicesfile import DeviceEntry
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


class Poller(Protocol):
    async def poll(self, target: Any) -> pb.NetworkDevice: ...

    def close(self) -> None: ...


class TrapEvent(Protocol):
    """An accepted notification (fleetwatch_snmp.traps.TrapEvent)."""

    @property
    def sender(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def if_index(self) -> int | None: ...

    @property
    def if_name(self) -> str | None: ...

    @property
    def received_unix(self) -> float: ...


class TrapServer(Protocol):
    @property
    def port(self) -> int: ...

    async def start(self) -> None: ...

    def close(self) -> None: ...

    def rejected(self) -> dict[str, int]: ...


OnTrap = Callable[[TrapEvent], None]


@dataclass(frozen=True)
class SnmpBackend:
    """Makers of the SNMP pieces: fleetwatch_snmp's (``real_backend``) or a test's fakes."""

    # load_credentials(table, base_dir) -> {name: Credential}; ValueError names the credential.
    load_credentials: Callable[[Mapping[str, Any], Path], Mapping[str, Any]]
    # Poller(max_concurrent)
    poller: Callable[[int], Poller]
    # target(entry, credential, section) -> DeviceTarget
    target: Callable[[DeviceEntry, Any, SnmpSection], Any]
    # TrapServer(host, port, credentials, on_trap)
    trap_server: Callable[[str, int, list[Any], OnTrap], TrapServer]


def real_backend() -> SnmpBackend:
    """fleetwatch_snmp's poller, trap server and credentials."""
    credentials = importlib.import_module("fleetwatch_snmp.credentials")
    target_module = importlib.import_module("fleetwatch_snmp.target")
    poller_module = importlib.import_module("fleetwatch_snmp.poller")
    trapserver = importlib.import_module("fleetwatch_snmp.trapserver")

    def target(entry: DeviceEntry, credential: Any, section: SnmpSection) -> Any:
        options: dict[str, Any] = {"exclude_names": entry.exclude_names}
        if entry.exclude_types is not None:
            options["exclude_types"] = entry.exclude_types
        if entry.max_interfaces is not None:
            options["max_interfaces"] = entry.max_interfaces
        return target_module.DeviceTarget(
            name=entry.name,
            address=entry.address,
            credential=credential,
            timeout_seconds=section.timeout_seconds,
            retries=section.retries,
            deadline_seconds=section.deadline_seconds,
            interfaces=target_module.InterfaceFilter(**options),
        )

    return SnmpBackend(
        load_credentials=credentials.load_credentials,
        poller=lambda max_concurrent: poller_module.Poller(max_concurrent=max_concurrent),
        target=target,
        trap_server=trapserver.TrapServer,
    )
