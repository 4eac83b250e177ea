"""Scripted NetworkDevice messages and a fake poller, for the snmp probe's tests without a network."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetwatch_agent.probes.snmp.collect import PlannedDevice
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


def device(name: str, states: Mapping[str, bool], reachable: bool = True, **extra: Any) -> pb.NetworkDevice:
    """A reachable device whose interfaces (ifIndex 1, 2, ... in order) are up or not."""
    nics = [
        pb.DeviceInterface(index=i, name=nic, oper_up=up, oper_status=1 if up else 2, type=6)
        for i, (nic, up) in enumerate(states.items(), 1)
    ]
    return pb.NetworkDevice(name=name, reachable=reachable, interfaces=nics if reachable else [], **extra)


def unreachable(name: str) -> pb.NetworkDevice:
    return pb.NetworkDevice(name=name, reachable=False, error="no answer", error_class=pb.SNMP_ERROR_TIMEOUT)


@dataclass
class FakeTarget:
    name: str


@dataclass
class FakePoller:
    """Answers each target with the next scripted message of its device; may hang or raise for one."""

    script: dict[str, list[pb.NetworkDevice]]
    hang: set[str] = field(default_factory=set)
    fail: set[str] = field(default_factory=set)
    polled: list[str] = field(default_factory=list)
    closed: bool = False

    async def poll(self, target: Any) -> pb.NetworkDevice:
        name = target.name
        self.polled.append(name)
        if name in self.hang:
            await asyncio.sleep(3600)
        if name in self.fail:
            raise RuntimeError(f"poller bug for {name} (community s3cret-community)")
        answer = pb.NetworkDevice()
        answer.CopyFrom(self.script[name].pop(0))
        return answer

    def close(self) -> None:
        self.closed = True


def planned(names: Iterable[str]) -> list[PlannedDevice]:
    return [PlannedDevice(name, f"127.0.0.1:{1160 + i}", FakeTarget(name)) for i, name in enumerate(names)]
