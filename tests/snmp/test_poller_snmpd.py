"""The poller against net-snmp snmpd: v1, v2c and v3 authPriv read; each credential mistake classed right."""

from __future__ import annotations

import asyncio
import logging

import pytest

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.poller import Poller
from fleetwatch_snmp.target import DeviceTarget, InterfaceFilter
from tests.snmp.peers import (
    SNMPD_AUTH_KEY,
    SNMPD_COMMUNITY,
    SNMPD_PRIV_KEY,
    SNMPD_SYS_NAME,
    SNMPD_USER,
    Snmpd,
    free_udp_port,
)

pytestmark = pytest.mark.peer("snmpd")

FAST = {"timeout_seconds": 0.5, "retries": 0}
EVERY_TYPE = InterfaceFilter(exclude_types=frozenset())
SECRETS = (SNMPD_COMMUNITY, SNMPD_AUTH_KEY, SNMPD_PRIV_KEY, "c0mmunity-x1", "auth-k3y-x1", "priv-k3y-x1")


def poll(*targets: DeviceTarget) -> list[pb.NetworkDevice]:
    async def run() -> list[pb.NetworkDevice]:
        poller = Poller()
        try:
            return await poller.poll_many(targets)
        finally:
            poller.close()

    return asyncio.run(run())


def assert_read(device: pb.NetworkDevice) -> None:
    assert device.reachable, device.error
    assert device.error_class == pb.SNMP_ERROR_NONE
    assert device.error == ""
    assert device.sys_name == SNMPD_SYS_NAME
    assert device.sys_descr
    assert device.sys_object_id.startswith("1.3.6.1.4.1.8072.")  # net-snmp's enterprise
    assert device.uptime_seconds > 0
    assert device.poll_duration_seconds > 0


def test_v2c_reads_the_system_group_and_the_interfaces_without_loopback(snmpd: Snmpd) -> None:
    default, every = poll(snmpd.target(), snmpd.target(name="every", interfaces=EVERY_TYPE))
    assert_read(default)
    assert default.name == "snmpd" and default.address == snmpd.address
    lo = [interface for interface in every.interfaces if interface.name == "lo"]
    assert len(lo) == 1 and lo[0].type == 24  # softwareLoopback
    assert lo[0].oper_up and lo[0].admin_up and lo[0].oper_status == 1
    assert lo[0].counter_bits == 64  # snmpd has ifHC* counters
    assert lo[0].in_octets > 0 and lo[0].out_unicast_packets > 0
    assert "lo" not in [interface.name for interface in default.interfaces]
    expected = [
        interface.index for interface in every.interfaces if interface.type not in (24, 53, 131, 135, 1)
    ]
    assert [interface.index for interface in default.interfaces] == expected
    assert default.interfaces_omitted == 0


def test_v3_auth_priv_sha_aes(snmpd: Snmpd) -> None:
    (device,) = poll(snmpd.target(snmpd.v3(), interfaces=EVERY_TYPE))
    assert_read(device)
    assert "lo" in [interface.name for interface in device.interfaces]


def test_v1_reads_32_bit_counters(snmpd: Snmpd) -> None:
    (device,) = poll(
        snmpd.target(Credential("snmpd-v1", "1", community=SNMPD_COMMUNITY), interfaces=EVERY_TYPE)
    )
    assert_read(device)
    assert device.interfaces
    assert {interface.counter_bits for interface in device.interfaces} == {32}


def test_the_cap_keeps_the_lowest_indexes(snmpd: Snmpd) -> None:
    every, capped = poll(
        snmpd.target(interfaces=EVERY_TYPE),
        snmpd.target(name="capped", interfaces=InterfaceFilter(exclude_types=frozenset(), max_interfaces=1)),
    )
    assert [interface.index for interface in capped.interfaces] == [every.interfaces[0].index]
    assert capped.interfaces_omitted == len(every.interfaces) - 1


def test_credential_mistakes_are_classed_and_never_show_a_secret(
    snmpd: Snmpd, caplog: pytest.LogCaptureFixture
) -> None:
    closed = free_udp_port()
    targets = [
        snmpd.target(snmpd.v2c(community="c0mmunity-x1"), name="wrong-community", **FAST),
        snmpd.target(snmpd.v3(auth_key="auth-k3y-x1"), name="wrong-auth", **FAST),
        snmpd.target(snmpd.v3(priv_key="priv-k3y-x1"), name="wrong-priv", **FAST),
        snmpd.target(snmpd.v3(user="nobody"), name="unknown-user", **FAST),
        DeviceTarget("closed-port", f"127.0.0.1:{closed}", snmpd.v2c(), **FAST),  # type: ignore[arg-type]
        snmpd.target(
            Credential("no-priv", "3", user=SNMPD_USER, auth_protocol="sha", auth_key=SNMPD_AUTH_KEY),
            name="no-priv",
            **FAST,
        ),
    ]
    with caplog.at_level(logging.DEBUG):
        devices = poll(*targets)
    classes = {device.name: device.error_class for device in devices}
    assert classes == {
        "wrong-community": pb.SNMP_ERROR_TIMEOUT,  # an agent never answers a wrong community
        "wrong-auth": pb.SNMP_ERROR_AUTH,
        "wrong-priv": pb.SNMP_ERROR_TIMEOUT,  # net-snmp drops what it cannot decrypt
        "unknown-user": pb.SNMP_ERROR_AUTH,
        "closed-port": pb.SNMP_ERROR_TIMEOUT,
        "no-priv": pb.SNMP_ERROR_AUTH,  # the user needs privacy: authorizationError
    }
    for device in devices:
        assert not device.reachable
        assert device.error
        assert not device.interfaces and not device.sys_name
        for secret in SECRETS:
            assert secret not in device.error
    assert "wrong digest" in devices[1].error
    assert "unknown user" in devices[3].error
    for secret in SECRETS:
        assert secret not in caplog.text


def test_results_come_in_the_order_of_the_targets(snmpd: Snmpd) -> None:
    names = [f"d{number}" for number in range(12)]

    async def run() -> list[str]:
        poller = Poller(max_concurrent=3)
        try:
            devices = await poller.poll_many([snmpd.target(name=name) for name in reversed(names)])
            assert all(device.reachable for device in devices)
            assert not poller.uses_getnext("d1")  # snmpd answers GETBULK
            return [device.name for device in devices]
        finally:
            poller.close()

    assert asyncio.run(run()) == list(reversed(names))


def test_one_user_name_with_other_keys_never_borrows_the_right_ones(snmpd: Snmpd) -> None:
    # Same v3 user name, other keys, polled at the same time: each poll must use its own keys (one
    # pysnmp engine would hold one set of keys per user name and let the wrong credential pass).
    good = snmpd.target(snmpd.v3(), name="good", **FAST)
    wrong = snmpd.target(snmpd.v3(name="other-keys", auth_key="auth-k3y-x1"), name="wrong", **FAST)
    for devices in (poll(good, wrong, good), poll(wrong, good)):
        classes = {device.name: device.error_class for device in devices}
        assert classes == {"good": pb.SNMP_ERROR_NONE, "wrong": pb.SNMP_ERROR_AUTH}
