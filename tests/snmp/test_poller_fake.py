"""The poller against a small agent: GETBULK fallback, deadline, no objects, bad rows, counter state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from pysnmp.proto.api import v2c

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_snmp.counters import WRAP
from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.poller import Poller
from fleetwatch_snmp.target import DeviceTarget
from tests.snmp.fakeagent import FakeAgent, router_objects

T = TypeVar("T")
CREDENTIAL = Credential("fake", "2c", community="fake")
IF_IN_OCTETS_1 = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 1)
IF_OPER_STATUS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
IF_NUMBER = (1, 3, 6, 1, 2, 1, 2, 1, 0)


def target(agent: FakeAgent, name: str = "fake", **options: int | float) -> DeviceTarget:
    return DeviceTarget(name, agent.address, CREDENTIAL, timeout_seconds=0.5, retries=0, **options)  # type: ignore[arg-type]


def with_poller(body: Callable[[Poller], Awaitable[T]]) -> T:
    async def run() -> T:
        poller = Poller()
        try:
            return await body(poller)
        finally:
            poller.close()

    return asyncio.run(run())


@pytest.mark.parametrize("bulk", ["error", "garbage", "empty", "ignore"])
def test_a_device_that_mishandles_getbulk_is_walked_with_getnext(bulk: str) -> None:
    with FakeAgent(router_objects(), bulk=bulk) as agent:

        async def body(poller: Poller) -> tuple[pb.NetworkDevice, pb.NetworkDevice]:
            first = await poller.poll(target(agent))
            assert poller.uses_getnext("fake")
            return first, await poller.poll(target(agent))

        first, second = with_poller(body)
    for device in (first, second):
        assert device.reachable, device.error
        assert device.error_class == pb.SNMP_ERROR_NONE
        assert [interface.name for interface in device.interfaces] == ["Gi0/1", "Gi0/2", "Gi0/3"]
        assert device.interfaces[1].in_octets == 10**12 + 2
        assert device.sys_name == "fake-router"
    assert agent.requests["getbulk"] == 1  # the decision is remembered: the second poll walks with GETNEXT
    assert agent.requests["getnext"] > 0


def test_a_device_that_answers_getbulk_is_walked_with_getbulk_sized_by_ifnumber() -> None:
    with FakeAgent(router_objects(), bulk="answer") as agent:

        async def body(poller: Poller) -> pb.NetworkDevice:
            device = await poller.poll(target(agent))
            assert not poller.uses_getnext("fake")
            return device

        device = with_poller(body)
    assert len(device.interfaces) == 3
    assert agent.requests == {"get": 1, "getbulk": 1}  # 3 interfaces x 20 columns in one GETBULK
    assert agent.repetitions == [4]  # ifNumber 3, and one row more to see each column end


@pytest.mark.parametrize("if_number", [None, 1, 1000])
def test_a_wrong_or_missing_ifnumber_only_changes_the_request_sizes(if_number: int | None) -> None:
    objects = router_objects(30)
    if if_number is None:
        del objects[IF_NUMBER]
    else:
        objects[IF_NUMBER] = v2c.Integer(if_number)
    with FakeAgent(objects) as agent:
        device = with_poller(lambda poller: poller.poll(target(agent, max_repetitions=10)))
    assert [interface.index for interface in device.interfaces] == list(range(1, 31))
    assert max(agent.repetitions) <= 10


def test_the_deadline_bounds_a_poll_of_a_device_that_never_answers() -> None:
    with FakeAgent(router_objects(), silent=True) as silent, FakeAgent(router_objects()) as answering:

        async def body(poller: Poller) -> list[pb.NetworkDevice]:
            slow = DeviceTarget(
                "silent", silent.address, CREDENTIAL, timeout_seconds=1.0, retries=5, deadline_seconds=1.5
            )
            return await poller.poll_many([slow, target(answering)])

        started = time.monotonic()
        stuck, answered = with_poller(body)
        elapsed = time.monotonic() - started
    assert stuck.error_class == pb.SNMP_ERROR_TIMEOUT
    assert not stuck.reachable
    assert "did not finish within 1.5 s" in stuck.error
    assert 1.5 <= stuck.poll_duration_seconds < 2.0
    assert elapsed < 2.5  # 1.0 s x 6 tries would be 6 s
    assert not stuck.interfaces and not stuck.sys_name
    assert silent.requests["ignored"] >= 1
    assert answered.reachable and len(answered.interfaces) == 3


def test_a_device_with_none_of_the_objects() -> None:
    with FakeAgent({}) as agent:
        device = with_poller(lambda poller: poller.poll(target(agent)))
    assert device.error_class == pb.SNMP_ERROR_NO_SUCH_OBJECT
    assert device.reachable
    assert not device.interfaces


def test_a_get_refused_with_nosuchname_is_asked_again_without_the_missing_objects() -> None:
    objects = router_objects()
    del objects[(1, 3, 6, 1, 2, 1, 1, 1, 0)]  # sysDescr
    del objects[IF_NUMBER]
    with FakeAgent(objects, v1_style=True) as agent:
        device = with_poller(lambda poller: poller.poll(target(agent)))
    assert device.reachable and device.error_class == pb.SNMP_ERROR_NONE, device.error
    assert (device.sys_name, device.sys_descr) == ("fake-router", "")
    assert len(device.interfaces) == 3
    assert agent.requests["get"] == 3  # both missing objects dropped one after the other


def test_a_device_without_interfaces_is_no_error() -> None:
    objects = {oid: value for oid, value in router_objects().items() if oid[:7] == (1, 3, 6, 1, 2, 1, 1)}
    with FakeAgent(objects) as agent:
        device = with_poller(lambda poller: poller.poll(target(agent)))
    assert device.reachable and device.error_class == pb.SNMP_ERROR_NONE
    assert device.sys_name == "fake-router" and device.uptime_seconds == pytest.approx(123.45)
    assert device.sys_object_id == "1.3.6.1.4.1.99999.1"
    assert not device.interfaces


def test_unreadable_rows_are_skipped_and_none_readable_is_malformed() -> None:
    some = router_objects()
    some[(*IF_OPER_STATUS, 2)] = v2c.OctetString(b"up")
    every = router_objects()
    for index in (1, 2, 3):
        every[(*IF_OPER_STATUS, index)] = v2c.OctetString(b"up")
    with FakeAgent(some) as agent_some, FakeAgent(every) as agent_every:
        partly, none = with_poller(
            lambda poller: poller.poll_many([target(agent_some, "some"), target(agent_every, "every")])
        )
    assert partly.error_class == pb.SNMP_ERROR_NONE
    assert [interface.index for interface in partly.interfaces] == [1, 3]
    assert none.error_class == pb.SNMP_ERROR_MALFORMED
    assert none.reachable and not none.interfaces
    assert "ifIndex 1: ifOperStatus is bytes" in none.error


def test_counters_are_extended_across_polls_and_restart_with_the_device() -> None:
    objects = {oid: value for oid, value in router_objects(1).items() if oid[6] != 31}  # no ifXTable
    with FakeAgent(objects) as agent:

        async def body(poller: Poller) -> list[int]:
            counts = []
            for raw, uptime in ((WRAP - 100, 1000), (50, 2000), (70, 3000), (10, 500)):
                objects[IF_IN_OCTETS_1] = v2c.Counter32(raw)
                objects[SYS_UPTIME] = v2c.TimeTicks(uptime)
                device = await poller.poll(target(agent))
                assert device.interfaces[0].counter_bits == 32
                counts.append(device.interfaces[0].in_octets)
            return counts

        counts = with_poller(body)
    # wrapped once, counted on; then sysUpTime went down: the device restarted, the count too.
    assert counts == [WRAP - 100, WRAP + 50, WRAP + 70, 10]


def test_a_poller_stays_in_its_event_loop_and_refuses_polls_once_closed() -> None:
    with FakeAgent(router_objects()) as agent:
        poller = Poller()
        assert asyncio.run(poller.poll(target(agent))).reachable
        with pytest.raises(RuntimeError, match="event loop"):
            asyncio.run(poller.poll(target(agent)))
        poller.close()
        with pytest.raises(RuntimeError, match="closed"):
            asyncio.run(poller.poll(target(agent)))
