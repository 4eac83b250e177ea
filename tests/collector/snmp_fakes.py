"""A fake SNMP backend (poller, trap server, credentials) for the collector's SNMP tests without devices."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetwatch_collector.config import SnmpSection
from fleetwatch_collector.devicesfile import DeviceEntry
from fleetwatch_collector.snmpapi import OnTrap, SnmpBackend
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.kinds.netdev_reports import device

Answer = Callable[[str], pb.NetworkDevice] | pb.NetworkDevice


@dataclass(frozen=True)
class FakeTarget:
    name: str
    address: str
    credential: Any
    deadline_seconds: float


@dataclass(frozen=True)
class FakeTrap:
    """What fleetwatch_snmp's TrapEvent carries that the collector reads."""

    sender: str
    kind: str
    if_index: int | None = None
    version: str = "2c"
    if_name: str | None = None
    received_unix: float = 1_760_000_100.0


class FakePoller:
    """Answers each device by name: a NetworkDevice, or a function of the name; a delay first."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.delay = 0.0
        self.polls: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self.closed = False

    async def poll(self, target: FakeTarget) -> pb.NetworkDevice:
        self.polls.append(target.name)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.delay)
            answer = self.answers.get(target.name) or device(target.name)
            result = answer(target.name) if callable(answer) else answer
        finally:
            self.running -= 1
        result = pb.NetworkDevice.FromString(result.SerializeToString())
        result.name, result.address = target.name, target.address
        return result

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeTrapServer:
    host: str
    port: int
    credentials: list[Any]
    on_trap: OnTrap
    started: bool = False
    closed: bool = False
    counts: dict[str, int] = field(default_factory=lambda: {"bad_community": 0, "wrong_digest": 0})

    async def start(self) -> None:
        if self.port == 1:
            raise PermissionError(13, "Permission denied")
        self.started = True
        self.port = self.port or 40162

    def close(self) -> None:
        self.closed = True

    def rejected(self) -> dict[str, int]:
        return dict(self.counts)


@dataclass
class FakeBackend:
    poller: FakePoller = field(default_factory=FakePoller)
    trap_servers: list[FakeTrapServer] = field(default_factory=list)

    def load_credentials(self, table: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
        for name, options in table.items():
            if "community_file" in options and not (base_dir / options["community_file"]).exists():
                raise ValueError(f"credential {name!r}: community_file: no such file")
        return {name: f"credential {name}" for name in table}

    def target(self, entry: DeviceEntry, credential: Any, section: SnmpSection) -> FakeTarget:
        return FakeTarget(entry.name, entry.address, credential, section.deadline_seconds)

    def trap_server(self, host: str, port: int, credentials: list[Any], on_trap: OnTrap) -> FakeTrapServer:
        server = FakeTrapServer(host, port, credentials, on_trap)
        self.trap_servers.append(server)
        return server

    def backend(self) -> SnmpBackend:
        return SnmpBackend(self.load_credentials, lambda _n: self.poller, self.target, self.trap_server)


INVENTORY = """
name = "test"
[[groups]]
slug = "h-cai-be"
[[groups]]
slug = "tp-my-tho"
[[sites]]
slug = "xa-an-cu"
name = "Xã An Cư"
group = "h-cai-be"
type = "commune"
aliases = ["xa-an-cu-cu"]
[[sites]]
slug = "so-y-te"
name = "Sở Y tế"
group = "tp-my-tho"
type = "department"
"""


def devices_toml(*devices: tuple[str, str, str]) -> str:
    """[[device]] tables of (name, site, address), all with the credential "routers"."""
    return "".join(
        f'[[device]]\nname = "{name}"\nsite = "{site}"\naddress = "{address}"\ncredential = "routers"\n\n'
        for name, site, address in devices
    )
