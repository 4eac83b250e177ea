"""The central SNMP poller: the devices file's routers polled every interval, rendered as device series.

Runs in the collector's event loop: at most ``max_concurrent`` polls at once, each within its
deadline; each result is rendered as it arrives (into the fleet's cached families, under a key
that is no agent id), so a scrape never renders anything and gRPC ingest goes on between packets.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.config import SnmpSection
from fleetwatch_collector.devicesfile import DeviceEntry, address_host, load_devices
from fleetwatch_collector.devrender import render_device
from fleetwatch_collector.devstate import DeviceTrap, DeviceView, apply_trap, new_counters, take_poll
from fleetwatch_collector.exposition import Chunks
from fleetwatch_collector.filesig import Signature, signature
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.sitedir import SiteDirectory
from fleetwatch_collector.snmpapi import Poller, SnmpBackend
from fleetwatch_collector.textformat import label_pairs
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

log = logging.getLogger(__name__)
KEY_PREFIX = "\0central/"  # the fleet's families key a central device's lines by this + its name
# Beyond its deadline a poll is abandoned this much later (the poller keeps its own deadline).
DEADLINE_SLACK_SECONDS = 5.0


def ip_of(host: str) -> str | None:
    """``host`` as a normalized IP address (IPv4-mapped IPv6 as IPv4); None when it is no address."""
    try:
        address = ipaddress.ip_address(host.split("%", maxsplit=1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def resolve(host: str) -> tuple[str, ...]:
    """The IP addresses of a device's host, to know its traps: itself, or what the resolver says."""
    ip = ip_of(host)
    if ip is not None:
        return (ip,)
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError as exc:
        log.warning("SNMP device host %s does not resolve (%s): its traps will not be recognised", host, exc)
        return ()
    return tuple(dict.fromkeys(ip for info in infos if (ip := ip_of(str(info[4][0]))) is not None))


@dataclass
class CentralDevice:
    entry: DeviceEntry
    target: Any  # fleetwatch_snmp DeviceTarget
    view: DeviceView
    ips: tuple[str, ...]  # addresses its traps come from


class CentralPoller:
    """The devices of ``section.devices_file``, their views, their polls, their rendered lines."""

    def __init__(
        self,
        section: SnmpSection,
        sites: SiteDirectory,
        fleet: FleetState,
        metrics: CollectorMetrics,
        backend: SnmpBackend,
        credentials: Mapping[str, Any],
        saved: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(section.devices_file)
        self._section = section
        self._sites = sites
        self._fleet = fleet
        self._metrics = metrics
        self._backend = backend
        self._credentials = credentials
        self._saved = dict(saved or {})  # counters of an earlier run, by device name (JSON)
        self._clock = clock
        self._poller: Poller | None = None
        self.devices: dict[str, CentralDevice] = {}
        self._by_ip: dict[str, CentralDevice] = {}
        self._signature = self._stat()
        self._apply(self._read())  # ConfigError: the collector does not start

    def _stat(self) -> Signature:
        return signature(self.path)

    def _read(self) -> list[tuple[DeviceEntry, tuple[str, ...]]]:
        """The file's devices with the addresses of their hosts (may ask the resolver: not in the loop)."""
        entries = load_devices(self.path, self._sites.inventory, self._credentials)
        return [(entry, resolve(address_host(entry.address))) for entry in entries]

    def _apply(self, entries: list[tuple[DeviceEntry, tuple[str, ...]]]) -> None:
        """Take a new device list: new devices are polled at the next cycle, gone ones leave /metrics."""
        targets = {}
        for entry, _ips in entries:  # all or nothing: a device the poller refuses keeps the old list
            try:
                targets[entry.name] = self._backend.target(
                    entry, self._credentials[entry.credential], self._section
                )
            except ValueError as exc:
                raise ConfigError(f"devices file {self.path}: device {entry.name!r}: {exc}") from exc
        previous, self.devices = self.devices, {}
        for entry, ips in entries:
            target = targets[entry.name]
            known = previous.pop(entry.name, None)
            if known is not None:
                known.entry, known.target, known.ips = entry, target, ips
                self.devices[entry.name] = known
                continue
            counters = new_counters()
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                counters.update(json.loads(self._saved.get(entry.name, "{}")))
            view = DeviceView(entry.name, "central", counters=counters)
            self.devices[entry.name] = CentralDevice(entry, target, view, ips)
        for gone in previous:
            self._fleet.drop_lines(KEY_PREFIX + gone)
        self._by_ip = {}
        for device in self.devices.values():
            for ip in device.ips:
                first = self._by_ip.setdefault(ip, device)
                if first is not device:
                    log.warning(
                        "SNMP devices %s and %s share the address %s: its traps go to %s",
                        first.entry.name, device.entry.name, ip, first.entry.name,
                    )  # fmt: skip
        self._metrics.snmp_devices.set(len(self.devices))

    async def check(self, force: bool = False) -> bool:
        """Read the file again if it changed; a bad file keeps the previous devices. True: reloaded."""
        before = self._stat()
        if before == self._signature and not force:
            return False
        try:
            self._apply(await asyncio.to_thread(self._read))
        except ConfigError as exc:
            if self._stat() == before:  # else it was being written: read it again next time
                self._signature = before
                self._metrics.snmp_reload_errors.inc()
                log.error("SNMP devices file not reloaded, keeping the previous devices: %s", exc)
            return False
        self._signature = before
        log.info("SNMP devices file %s reloaded: %d devices", self.path, len(self.devices))
        return True

    def device_at(self, ip: str) -> CentralDevice | None:
        """The device (first in the file) whose address is ``ip``."""
        return self._by_ip.get(ip)

    def labels(self, device: CentralDevice) -> str:
        """Its site labels: the inventory's for its site (or alias), now."""
        site, _known = self._sites.labels(SiteLabels(device.entry.site, "", ""))
        return label_pairs((("district", site.district), ("site", site.site), ("site_type", site.site_type)))

    def render(self, device: CentralDevice) -> None:
        if device.view.device is None or self.devices.get(device.entry.name) is not device:
            return  # not polled yet, or removed from the file meanwhile
        chunks = Chunks(self.labels(device))
        render_device(chunks, device.view)
        self._fleet.set_lines(KEY_PREFIX + device.entry.name, chunks.done())

    def apply_traps(self, device: CentralDevice, traps: list[DeviceTrap]) -> None:
        for trap in traps:
            apply_trap(device.view, trap)
        self.render(device)

    async def _poll(self, poller: Poller, device: CentralDevice, gate: asyncio.Semaphore) -> None:
        async with gate:
            started = time.monotonic()
            try:
                polled = await asyncio.wait_for(
                    poller.poll(device.target), self._section.deadline_seconds + DEADLINE_SLACK_SECONDS
                )
            except TimeoutError:
                polled = self._failed(device, pb.SNMP_ERROR_TIMEOUT, "poll overran its deadline", started)
            except Exception as exc:  # the poller reports failures in the result; this is a bug
                log.exception("SNMP poll of %s failed", device.entry.name)
                polled = self._failed(device, pb.SNMP_ERROR_OTHER, f"poll failed: {exc}"[:200], started)
        polled.name = device.entry.name
        take_poll(device.view, polled, self._clock())
        self.render(device)

    @staticmethod
    def _failed(device: CentralDevice, error: pb.SnmpError, text: str, started: float) -> pb.NetworkDevice:
        return pb.NetworkDevice(
            name=device.entry.name,
            reachable=False,
            error=text,
            error_class=error,
            poll_duration_seconds=time.monotonic() - started,
            address=device.entry.address,
        )

    async def poll_all(self) -> None:
        """One cycle: every device once, ``max_concurrent`` at a time; each rendered when polled."""
        if self._poller is None:
            self._poller = self._backend.poller(self._section.max_concurrent)
        gate = asyncio.Semaphore(self._section.max_concurrent)
        started = time.monotonic()
        devices = list(self.devices.values())
        await asyncio.gather(*(self._poll(self._poller, device, gate) for device in devices))
        self._metrics.snmp_poll_cycle.set(time.monotonic() - started)

    def counters(self) -> dict[str, str]:
        """Each device's counters as JSON, for the store."""
        return {name: json.dumps(device.view.counters) for name, device in self.devices.items()}

    def close(self) -> None:
        if self._poller is not None:
            self._poller.close()
            self._poller = None
