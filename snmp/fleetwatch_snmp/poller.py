"""The poller: devices read over SNMP (system group, IF-MIB) into `NetworkDevice` messages, bounded in time.

One poll of a device: a GET of sysDescr, sysObjectID, sysUpTime, sysName and ifNumber, then a walk of
the 20 IF-MIB columns the messages need, all columns side by side in every request (GETBULK; GETNEXT
for SNMPv1 and for devices that mishandle GETBULK). Measured on a loaded 2-core machine, one walk
with max-repetitions 25 (snmp/README.md has the details):

    net-snmp snmpd, 4 interfaces       side by side:  1 request,  8 ms
                                       whole ifTable + ifXTable:  7 requests, 17 ms
                                       one column at a time: 20 requests, 44 ms
    snmpsim recording, 91 interfaces   side by side: 31 requests, 0.8-1.0 s
    (answers <= 64 variables)          whole tables: 148 requests, twice the variables, 0.9-1.4 s
                                       one column at a time: 80 requests, 0.55-1.7 s

The poller's CPU follows the variables decoded (~2 µs each with ber.py, ~60 µs with pysnmp's pyasn1
for v3), so whole tables (41 columns for 20) cost twice as much; side by side takes the fewest round
trips, which counts most over a WAN link.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_snmp import errors, oids, tables
from fleetwatch_snmp.community import CommunitySession
from fleetwatch_snmp.counters import CounterExtender
from fleetwatch_snmp.errors import PollError
from fleetwatch_snmp.oids import Oid
from fleetwatch_snmp.target import DeviceTarget
from fleetwatch_snmp.values import Answer, Missing, Value, text
from fleetwatch_snmp.walk import ColumnWalk

if TYPE_CHECKING:
    from fleetwatch_snmp.engines import Engines

log = logging.getLogger(__name__)

# Devices not polled for this long are forgotten (counter bases, the GETNEXT decision): twice the
# longest polling interval the configuration allows.
FORGET_AFTER_SECONDS = 7200.0
# Forgetting scans every device: done at most once per this many seconds, not once per poll.
FORGET_EVERY_SECONDS = 60.0


class _Requests(Protocol):
    """A device's session: community.py (SNMPv1/v2c) or session.py (SNMPv3, pysnmp)."""

    async def get(self, oids: Sequence[Oid]) -> Answer: ...

    async def next(self, oids: Sequence[Oid]) -> Answer: ...

    async def bulk(self, oids: Sequence[Oid], max_repetitions: int) -> Answer: ...


@dataclass(frozen=True)
class _Reading:
    """What one complete poll read: the system group's values and the interface columns' cells."""

    system: dict[Oid, Value]
    columns: dict[Oid, dict[Oid, Value]]


class Poller:
    """Polls devices; keeps each device's counter extension state by name.

    SNMPv1/v2c devices are asked over a UDP socket per poll with our own codec (community.py); SNMPv3
    ones through pysnmp engines (session.py, engines.py), imported at the first v3 poll only.
    """

    def __init__(
        self,
        max_concurrent: int = 32,
        *,
        forget_after_seconds: float = FORGET_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent: {max_concurrent} is not at least 1")
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self._engines: Engines | None = None
        self._counters = CounterExtender()
        self._getnext: dict[str, float] = {}  # devices walked with GETNEXT: name -> last poll
        self._forget_after = forget_after_seconds
        self._forgot_at = -math.inf
        self._clock = clock
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def poll_many(self, targets: Iterable[DeviceTarget]) -> list[pb.NetworkDevice]:
        """Every target polled, at most ``max_concurrent`` at once; results in the order of ``targets``."""
        return list(await asyncio.gather(*(self.poll(target) for target in targets)))

    async def poll(self, target: DeviceTarget) -> pb.NetworkDevice:
        """One poll of ``target``; a failure is in the message (``error``, ``error_class``), never raised."""
        if self._closed:
            raise RuntimeError("the poller is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("a Poller polls in the event loop of its first poll only")
        async with self._semaphore:
            return await self._poll(target)

    def close(self) -> None:
        """Close the engines' sockets; the poller cannot poll any more."""
        self._closed = True
        if self._engines is not None:
            self._engines.close()

    def uses_getnext(self, name: str) -> bool:
        """Whether the device named so is walked with GETNEXT (SNMPv1 aside): it mishandled GETBULK."""
        return name in self._getnext

    async def _poll(self, target: DeviceTarget) -> pb.NetworkDevice:
        started = self._clock()
        self._forget_idle(started)
        device = pb.NetworkDevice(name=target.name, address=target.address)
        error: PollError | None = None
        try:
            async with asyncio.timeout(target.deadline_seconds) as deadline:
                reading = await self._read(target)
        except TimeoutError:
            if deadline.expired():
                error = PollError(
                    errors.TIMEOUT, f"the poll did not finish within {target.deadline_seconds:g} s"
                )
            else:
                error = PollError(errors.TIMEOUT, "no answer in time")
        except PollError as exc:
            error = exc
        except Exception as exc:  # pysnmp, pyasn1 or the socket: the device's failure, never the caller's
            error = errors.from_exception(exc)
            log.debug("polling %s: %r", target.name, errors.scrub(repr(exc), target.credential.secrets()))
        if error is None:
            error = self._fill(device, target, reading, started)
        if error is not None:
            if error.error_class not in (errors.MALFORMED, errors.NO_SUCH_OBJECT):
                device = pb.NetworkDevice(name=target.name, address=target.address)
            device.reachable = error.error_class in (errors.MALFORMED, errors.NO_SUCH_OBJECT)
            device.error_class = error.number  # type: ignore[assignment]
            device.error = text(errors.scrub(error.text, target.credential.secrets()))
            log.debug(
                "polling %s at %s: %s: %s", target.name, target.address, error.error_class, device.error
            )
        device.poll_duration_seconds = max(0.0, self._clock() - started)
        return device

    def _fill(
        self, device: pb.NetworkDevice, target: DeviceTarget, reading: _Reading, now: float
    ) -> PollError | None:
        """Put a complete reading into ``device``; the error of a reading with nothing usable."""
        system = reading.system
        device.reachable = True
        device.sys_descr = _text_value(system.get(oids.SYS_DESCR))
        device.sys_name = _text_value(system.get(oids.SYS_NAME))
        object_id = system.get(oids.SYS_OBJECT_ID)
        device.sys_object_id = text(object_id) if isinstance(object_id, str) else ""
        uptime = system.get(oids.SYS_UPTIME)
        uptime_ticks = uptime if isinstance(uptime, int) and uptime >= 0 else None
        device.uptime_seconds = uptime_ticks / 100 if uptime_ticks is not None else 0.0
        table = tables.read_interfaces(reading.columns)
        if table.malformed and not table.rows:  # the counter state stays as it was
            return PollError(errors.MALFORMED, "no readable interface: " + "; ".join(table.problems))
        if not system and not table.rows:
            return PollError(
                errors.NO_SUCH_OBJECT, "the device has none of the system group and IF-MIB objects"
            )
        if table.malformed:
            log.debug("polling %s: %d interfaces skipped: %s", target.name, table.malformed, table.problems)
        rows, omitted = tables.select(table.rows, target.interfaces)
        counts = self._counters.extend(target.name, uptime_ticks, now, tables.samples(rows))
        device.interfaces.extend(tables.messages(rows, counts))
        device.interfaces_omitted = omitted
        return None

    async def _read(self, target: DeviceTarget) -> _Reading:
        if target.credential.version != "3":
            community = await CommunitySession.open(target)
            try:
                return await self._read_with(community, target)
            finally:
                community.close()
        from fleetwatch_snmp.engines import Engines  # pysnmp: only for SNMPv3
        from fleetwatch_snmp.session import Session

        if self._engines is None:
            self._engines = Engines()
        slot = self._engines.acquire(target.credential)
        try:
            return await self._read_with(await Session.create(slot, target), target)
        finally:
            self._engines.release(target.credential, slot)

    async def _read_with(self, session: _Requests, target: DeviceTarget) -> _Reading:
        system = await _get_scalars(session)
        if_number = system.get(oids.IF_NUMBER)
        rows = if_number if isinstance(if_number, int) and if_number > 0 else None
        return _Reading(system, await self._walk_interfaces(session, target, rows))

    async def _walk_interfaces(
        self, session: _Requests, target: DeviceTarget, rows: int | None
    ) -> dict[Oid, dict[Oid, Value]]:
        if target.credential.version == "1" or target.name in self._getnext:
            if target.name in self._getnext:
                self._getnext[target.name] = self._clock()
            return await _walk(session, target, bulk=False)
        try:
            return await _walk(session, target, bulk=True, rows=rows)
        except PollError as exc:
            if exc.error_class == errors.AUTH:
                raise
            bulk_error = exc
        # The device answered the GET: a GETBULK that fails after it is the device's GETBULK.
        columns = await _walk(session, target, bulk=False)
        log.info("%s mishandles GETBULK (%s): walked with GETNEXT from now on", target.name, bulk_error.text)
        self._getnext[target.name] = self._clock()
        return columns

    def _forget_idle(self, now: float) -> None:
        if now - self._forgot_at < min(FORGET_EVERY_SECONDS, self._forget_after):
            return
        self._forgot_at = now
        before = now - self._forget_after
        self._counters.forget_idle(before)
        for name in [name for name, seen in self._getnext.items() if seen < before]:
            del self._getnext[name]


async def _get_scalars(session: _Requests) -> dict[Oid, Value]:
    """The scalars the device has; a noSuchName (SNMPv1, some v2c agents) drops that one, asks again."""
    asked = list(oids.SCALARS)
    while asked:
        answer = await session.get(asked)
        if answer.error is not None:
            raise answer.error
        if answer.status == errors.NO_SUCH_NAME and 0 < answer.index <= len(asked):
            del asked[answer.index - 1]
            continue
        if answer.status:
            raise errors.from_status(answer.status, answer.index)
        return {oid: value for oid, value in answer.varbinds if not isinstance(value, Missing)}
    return {}


async def _walk(
    session: _Requests, target: DeviceTarget, bulk: bool, rows: int | None = None
) -> dict[Oid, dict[Oid, Value]]:
    """The interface columns walked with GETBULK or GETNEXT; ``rows`` is ifNumber when the device gave it.

    Each GETBULK asks for as many repetitions as ifNumber leaves rows to read, plus one to see every
    column's end, at most ``max_repetitions``: a device with 4 interfaces answers 5 rows per column,
    not 25 of which 21 belong to the next column (and would be decoded for nothing).
    """
    walk = ColumnWalk(oids.INTERFACE_COLUMNS)
    while not walk.done:
        columns, request = walk.request()
        if bulk:
            left = rows - walk.fewest_rows() if rows is not None else 0
            repetitions = min(target.max_repetitions, left + 1) if left > 0 else target.max_repetitions
            answer = await session.bulk(request, repetitions)
        else:
            answer = await session.next(request)
        if answer.error is not None:
            raise answer.error
        if answer.status:
            if not bulk and answer.status == errors.NO_SUCH_NAME and 0 < answer.index <= len(columns):
                walk.finish(columns[answer.index - 1])  # SNMPv1: past the last object
                continue
            raise errors.from_status(answer.status, answer.index)
        walk.feed(columns, answer.varbinds)
    return walk.cells


def _text_value(value: Value | None) -> str:
    return text(value) if isinstance(value, bytes | str) else ""
