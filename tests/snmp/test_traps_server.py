"""TrapServer against net-snmp's snmptrap and snmpinform: v1/v2c/v3 TRAPs, INFORMs, and what it refuses."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.trapserver import REJECT_REASONS, TrapServer
from tests.snmp.traps_harness import SYS_NAME, Harness, Senders

pytestmark = pytest.mark.peer("snmptrap")

V1_COMMUNITY = "fw-v1-community"
V2C_COMMUNITY = "fw-v2c-community"
ENGINE = "80001f8880a1b2c3d4e5f60718"  # the sending router's snmpEngineID
OTHER_ENGINE = "80001f8880a1b2c3d4e5f60799"
AUTH_ENGINE = "80001f8880a1b2c3d4e5f60720"
AUTH_KEY, PRIV_KEY = "fw-auth-key-1", "fw-priv-key-1"
CREDENTIALS = (
    Credential("site-v1", "1", community=V1_COMMUNITY),
    Credential("site-v2c", "2c", community=V2C_COMMUNITY),
    Credential(
        "router-priv",
        "3",
        user="fwtrap",
        auth_protocol="sha",
        auth_key=AUTH_KEY,
        priv_protocol="aes",
        priv_key=PRIV_KEY,
        engine_id=ENGINE,
    ),
    Credential(
        "router-auth",
        "3",
        user="fwauth",
        auth_protocol="sha",
        auth_key="fw-auth-key-2",
        engine_id=AUTH_ENGINE,
    ),
    Credential("router-open", "3", user="fwopen", engine_id=OTHER_ENGINE),  # noAuthNoPriv
    # AES-192 with SHA-1: the key needs extending, the way Cisco does (net-snmp's AES192C), as the poller.
    Credential(
        "router-aes192",
        "3",
        user="fw192",
        auth_protocol="sha",
        auth_key=AUTH_KEY,
        priv_protocol="aes192",
        priv_key=PRIV_KEY,
    ),
)


def usm(user: str, auth_key: str = "", priv_key: str = "", priv: str = "AES") -> tuple[str, ...]:
    """snmptrap/snmpinform options of a v3 user (SHA); the level follows from the keys given."""
    level = "authPriv" if priv_key else "authNoPriv" if auth_key else "noAuthNoPriv"
    auth = ("-a", "SHA", "-A", auth_key) if auth_key else ()
    privacy = ("-x", priv, "-X", priv_key) if priv_key else ()
    return ("-v3", "-u", user, "-l", level, *auth, *privacy)


PRIV = usm("fwtrap", AUTH_KEY, PRIV_KEY)
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"


@pytest.fixture(scope="module")
def senders(tmp_path_factory: pytest.TempPathFactory) -> Senders:
    return Senders(tmp_path_factory.mktemp("net-snmp"))


@pytest.fixture(scope="module")
def harness(senders: Senders) -> Iterator[Harness]:
    running = Harness(CREDENTIALS)
    yield running
    running.close()


def target(harness: Harness) -> str:
    return f"127.0.0.1:{harness.port}"


def interface(index: int, name: str) -> tuple[str, ...]:
    return (
        f"{IF_INDEX}.{index}",
        "i",
        str(index),
        f"{IF_DESCR}.{index}",
        "s",
        name,
        f"{IF_OPER}.{index}",
        "i",
        "2",
    )


def barrier(harness: Harness, senders: Senders, tag: str) -> None:
    """Datagrams to one socket are processed in order: once this trap arrived, all sent before it were."""
    senders.trap("-v2c", "-c", V2C_COMMUNITY, target(harness), "", LINK_UP, SYS_NAME, "s", tag)
    harness.wait_event(tag)


def test_v1_link_down(harness: Harness, senders: Senders) -> None:
    # enterprise, agent-addr, generic-trap 2 (linkDown), specific-trap 0, time-stamp (now)
    v1_header = ("1.3.6.1.4.1.8072", "127.0.0.1", "2", "0", "")
    link = (f"{IF_INDEX}.11", "i", "11")
    senders.trap("-v1", "-c", V1_COMMUNITY, target(harness), *v1_header, *link, SYS_NAME, "s", "v1-down")
    event = harness.wait_event("v1-down")
    assert (event.kind, event.version, event.if_index, event.inform) == ("link_down", "1", 11, False)
    assert (event.sender, event.trap_oid) == ("127.0.0.1", LINK_DOWN)
    assert ("1.3.6.1.6.3.1.1.4.3.0", "1.3.6.1.4.1.8072") in event.varbinds  # snmpTrapEnterprise.0
    assert ("1.3.6.1.6.3.18.1.3.0", "127.0.0.1") in event.varbinds  # snmpTrapAddress.0
    assert not any(V1_COMMUNITY in text for _, text in event.varbinds)


@pytest.mark.parametrize(
    ("trap_oid", "kind", "if_index"),
    [
        (LINK_DOWN, "link_down", 21),
        (LINK_UP, "link_up", 22),
        ("1.3.6.1.6.3.1.1.5.1", "cold_start", None),
        ("1.3.6.1.6.3.1.1.5.5", "authentication_failure", None),
        ("1.3.6.1.4.1.9.9.41.2.0.1", "other", None),
    ],
)
def test_v2c_traps(
    harness: Harness, senders: Senders, trap_oid: str, kind: str, if_index: int | None
) -> None:
    tag = f"v2c-{kind}"
    link = interface(if_index, f"Gi0/{if_index}") if if_index else ()
    senders.trap("-v2c", "-c", V2C_COMMUNITY, target(harness), "", trap_oid, *link, SYS_NAME, "s", tag)
    event = harness.wait_event(tag)
    assert (event.kind, event.version, event.if_index, event.inform) == (kind, "2c", if_index, False)
    assert event.trap_oid == trap_oid
    assert event.if_name == (f"Gi0/{if_index}" if if_index else None)


def test_v2c_inform_is_answered(harness: Harness, senders: Senders) -> None:
    link = interface(31, "ge-0/0/31")
    done = senders.inform(
        "-v2c", "-c", V2C_COMMUNITY, target(harness), "", LINK_UP, *link, SYS_NAME, "s", "v2c-inform"
    )
    assert done.returncode == 0, done.stderr
    event = harness.wait_event("v2c-inform")
    assert (event.kind, event.version, event.if_index, event.inform) == ("link_up", "2c", 31, True)
    assert event.if_name == "ge-0/0/31"


def test_v3_trap_auth_priv_with_the_senders_engine_id(harness: Harness, senders: Senders) -> None:
    link = interface(41, "Gi0/41")
    senders.trap(*PRIV, "-e", f"0x{ENGINE}", target(harness), "", LINK_DOWN, *link, SYS_NAME, "s", "v3-trap")
    event = harness.wait_event("v3-trap")
    assert (event.kind, event.version, event.if_index, event.inform) == ("link_down", "3", 41, False)


def test_v3_trap_auth_no_priv(harness: Harness, senders: Senders) -> None:
    auth = (*usm("fwauth", "fw-auth-key-2"), "-e", f"0x{AUTH_ENGINE}")
    senders.trap(*auth, target(harness), "", "1.3.6.1.6.3.1.1.5.2", SYS_NAME, "s", "v3-auth")
    event = harness.wait_event("v3-auth")
    assert (event.kind, event.version, event.if_index, event.inform) == ("warm_start", "3", None, False)


def test_v3_trap_no_auth_no_priv_user(harness: Harness, senders: Senders) -> None:
    senders.trap(
        *usm("fwopen"), "-e", f"0x{OTHER_ENGINE}", target(harness), "", LINK_UP, SYS_NAME, "s", "v3-open"
    )
    event = harness.wait_event("v3-open")
    assert (event.kind, event.version, event.inform) == ("link_up", "3", False)


def test_v3_inform_auth_priv_needs_no_engine_id(harness: Harness, senders: Senders) -> None:
    before = harness.rejected()
    done = senders.inform(
        *PRIV, target(harness), "", LINK_UP, *interface(51, "Gi0/51"), SYS_NAME, "s", "v3-inform"
    )
    assert done.returncode == 0, done.stderr
    event = harness.wait_event("v3-inform")
    assert (event.kind, event.version, event.if_index, event.inform) == ("link_up", "3", 51, True)
    # The sender's engine-id discovery (a Report is its answer) is not a rejected notification.
    assert harness.rejected() == before


def test_v3_inform_aes192_with_sha(harness: Harness, senders: Senders) -> None:
    aes192 = usm("fw192", AUTH_KEY, PRIV_KEY, priv="AES192C")
    done = senders.inform(
        *aes192, target(harness), "", LINK_DOWN, *interface(52, "Gi0/52"), SYS_NAME, "s", "aes192"
    )
    assert done.returncode == 0, done.stderr
    event = harness.wait_event("aes192")
    assert (event.kind, event.version, event.if_index, event.inform) == ("link_down", "3", 52, True)


WRONG_AUTH = usm("fwtrap", "not-the-auth-key", PRIV_KEY)
WRONG_PRIV = usm("fwtrap", AUTH_KEY, "not-the-priv-key")
STRANGER = usm("stranger", AUTH_KEY, PRIV_KEY)
NO_AUTH = usm("fwtrap")


@pytest.mark.parametrize(
    ("name", "tool", "args", "reason"),
    [
        ("v2c-wrong-community", "trap", ("-v2c", "-c", "not-the-community"), "bad_community"),
        ("v1-wrong-community", "trap", ("-v1", "-c", "not-the-community"), "bad_community"),
        ("v3-wrong-auth-key", "trap", (*WRONG_AUTH, "-e", f"0x{ENGINE}"), "wrong_digest"),
        ("v3-wrong-priv-key", "trap", (*WRONG_PRIV, "-e", f"0x{ENGINE}"), "decryption_error"),
        ("v3-unknown-user", "trap", (*STRANGER, "-e", f"0x{ENGINE}"), "unknown_user"),
        ("v3-unknown-engine", "trap", (*PRIV, "-e", f"0x{OTHER_ENGINE}"), "unknown_engine_id"),
        # A user's name and engine id travel in clear text: without its keys, no notification.
        ("v3-no-auth", "trap", (*NO_AUTH, "-e", f"0x{ENGINE}"), "unsupported_security_level"),
        ("v3-inform-wrong-auth-key", "inform", WRONG_AUTH, "wrong_digest"),
        ("v3-inform-wrong-priv-key", "inform", WRONG_PRIV, "decryption_error"),
        ("v3-inform-unknown-user", "inform", STRANGER, "unknown_user"),
    ],
)
def test_refused_notifications_are_counted_by_reason(
    harness: Harness, senders: Senders, name: str, tool: str, args: tuple[str, ...], reason: str
) -> None:
    before = harness.rejected()
    assert set(before) == set(REJECT_REASONS)
    notification: tuple[str, ...]
    if args[0] == "-v1":
        notification = ("1.3.6.1.4.1.8072", "127.0.0.1", "2", "0", "", f"{IF_INDEX}.61", "i", "61")
    else:
        notification = ("", LINK_DOWN, f"{IF_INDEX}.61", "i", "61")
    command = (*args, target(harness), *notification, SYS_NAME, "s", name)
    if tool == "trap":
        senders.trap(*command)
    else:
        done = senders.send(senders.snmpinform, "-t", "2", "-r", "0", *command)
        assert done.returncode != 0, "the sender was told its INFORM did not arrive"
    barrier(harness, senders, f"after-{name}")
    after = harness.rejected()
    assert {key: after[key] - before[key] for key in after if after[key] != before[key]} == {reason: 1}
    assert harness.events(name) == []


def test_port_zero_binds_a_port_and_rejected_starts_at_zero(harness: Harness) -> None:
    assert harness.port > 0
    fresh = Harness([CREDENTIALS[1]])
    try:
        assert fresh.port not in (0, harness.port)
        assert fresh.rejected() == dict.fromkeys(REJECT_REASONS, 0)
    finally:
        fresh.close()


def test_a_port_in_use_fails_start_and_a_server_starts_once() -> None:
    async def scenario() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind(("127.0.0.1", 0))
            blocked = TrapServer("127.0.0.1", taken.getsockname()[1], CREDENTIALS, lambda event: None)
            with pytest.raises(OSError):
                await blocked.start()
        server = TrapServer("127.0.0.1", 0, CREDENTIALS, lambda event: None)
        await server.start()
        with pytest.raises(RuntimeError):
            await server.start()
        server.close()
        server.close()
        with pytest.raises(RuntimeError):
            await server.start()

    asyncio.run(scenario())


def test_close_releases_the_socket() -> None:
    fresh = Harness([CREDENTIALS[1]])
    port = fresh.port
    fresh.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))
