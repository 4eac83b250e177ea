"""The poller against snmpsim recordings of real devices: no ifHC*, no ifXTable, 91 interfaces, a wrap."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_snmp.counters import WRAP
from fleetwatch_snmp.poller import Poller
from fleetwatch_snmp.target import DEFAULT_EXCLUDED_TYPES, DeviceTarget, InterfaceFilter
from tests.snmp.peers import SIM_RECORDINGS, WRAP_RATE, WRAPPING, Snmpsim, read_recording

pytestmark = pytest.mark.peer("snmpsim")

EVERY_TYPE = InterfaceFilter(exclude_types=frozenset())
IF_TYPE = "1.3.6.1.2.1.2.2.1.3."


def poll(*targets: DeviceTarget) -> list[pb.NetworkDevice]:
    async def run() -> list[pb.NetworkDevice]:
        poller = Poller()
        try:
            return await poller.poll_many(targets)
        finally:
            poller.close()

    return asyncio.run(run())


def recorded_types(community: str) -> dict[int, int]:
    """ifIndex -> ifType as the recording has them (the oracle, read independently of the poller)."""
    types = {}
    for line in read_recording(SIM_RECORDINGS[community]):
        if line.startswith(IF_TYPE):
            oid, _tag, value = line.split("|", 2)
            types[int(oid.removeprefix(IF_TYPE))] = int(value)
    return types


def test_a_device_without_hc_counters_gets_extended_32_bit_counters(snmpsim: Snmpsim) -> None:
    (device,) = poll(snmpsim.target("no-hc-counters", interfaces=EVERY_TYPE))
    assert device.reachable, device.error
    assert [interface.index for interface in device.interfaces] == sorted(recorded_types("no-hc-counters"))
    assert {interface.counter_bits for interface in device.interfaces} == {32}
    assert any(interface.in_octets > 0 for interface in device.interfaces)
    assert device.sys_name


def test_a_device_without_ifxtable_is_named_by_ifdescr(snmpsim: Snmpsim) -> None:
    (device,) = poll(snmpsim.target("no-ifxtable"))
    assert device.reachable, device.error
    names = [interface.name for interface in device.interfaces]
    assert "eth0" in names and "lo" not in names  # lo is softwareLoopback
    assert {interface.counter_bits for interface in device.interfaces} == {32}
    assert {interface.alias for interface in device.interfaces} == {""}
    eth0 = device.interfaces[names.index("eth0")]
    assert eth0.speed_bits_per_second == 100_000_000  # ifSpeed: no ifHighSpeed
    assert device.sys_name == "Kotelinaya-to-Pat"


def test_every_interface_of_a_large_device_up_to_the_cap(snmpsim: Snmpsim) -> None:
    types = recorded_types("many-interfaces")
    assert len(types) > 60
    every, default, capped = poll(
        snmpsim.target("many-interfaces", interfaces=EVERY_TYPE),
        snmpsim.target("many-interfaces", name="default"),
        snmpsim.target("many-interfaces", name="capped", interfaces=InterfaceFilter(max_interfaces=40)),
    )
    for device in (every, default, capped):
        assert device.reachable, device.error
    assert [interface.index for interface in every.interfaces] == sorted(types)
    assert [interface.type for interface in every.interfaces] == [types[index] for index in sorted(types)]
    kept = sorted(index for index, if_type in types.items() if if_type not in DEFAULT_EXCLUDED_TYPES)
    assert [interface.index for interface in default.interfaces] == kept
    assert default.interfaces_omitted == 0
    assert [interface.index for interface in capped.interfaces] == kept[:40]
    assert capped.interfaces_omitted == len(kept) - 40
    assert {interface.counter_bits for interface in every.interfaces} == {64}
    assert all(interface.name for interface in every.interfaces)


def test_a_wrapping_32_bit_counter_gives_the_right_rate(snmpsim: Snmpsim) -> None:
    target = snmpsim.target(WRAPPING)

    async def run() -> list[tuple[float, int]]:
        poller = Poller()
        readings: list[tuple[float, int]] = []
        try:
            # Every 0.5 s (far less than one wrap, 2**32 / WRAP_RATE = 4.3 s, between polls) until
            # the extended count went past a wrap and at least 2 s passed.
            while len(readings) < 30:
                started = time.monotonic()
                device = await poller.poll(target)
                assert device.reachable, device.error
                (interface,) = device.interfaces
                assert interface.counter_bits == 32
                # The elapsed time by the device's clock (sysUpTime), as the counter was read.
                readings.append((device.uptime_seconds, interface.in_octets))
                if interface.in_octets > WRAP and readings[-1][0] - readings[0][0] >= 2.0:
                    return readings
                await asyncio.sleep(0.5 - (time.monotonic() - started))
            return readings
        finally:
            poller.close()

    readings = asyncio.run(run())
    (first_time, first), (last_time, last) = readings[0], readings[-1]
    assert first < WRAP < last, readings
    assert all(later >= earlier for (_t1, earlier), (_t2, later) in itertools.pairwise(readings))
    rate = (last - first) / (last_time - first_time)
    assert rate == pytest.approx(WRAP_RATE, rel=0.03), readings
