"""Transport TLS choice: plaintext only on loopback unless told otherwise; server_name override."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from pathlib import Path
from typing import Any, Literal

import pytest

from fleetwatch_agent.config import CollectorSection
from fleetwatch_agent.grpcwire import StatusCode
from fleetwatch_agent.transport import (
    PushError,
    Transport,
    channel_credentials,
    channel_options,
    is_loopback_address,
)
from fleetwatch_collector import tlsinit
from fleetwatch_collector.config import TlsSection
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.inprocess import any_site_token, grpc_address, running_collector

LOOPBACK = ("127.0.0.1:1", "localhost:2", "[::1]:3")
SERVER_NAME = "collector.internal"


def section(tls: Literal["auto", "on", "off"], *addresses: str, **fields: Any) -> CollectorSection:
    return dataclasses.replace(CollectorSection(), tls=tls, addresses=addresses or LOOPBACK, **fields)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("127.8.9.10:1", True),
        ("localhost:50051", True),
        ("[::1]:50051", True),
        ("10.0.0.5:50051", False),
        ("0.0.0.0:50051", False),
        ("192.168.1.10:443", False),
        ("collector.example:443", False),
        ("localhost.example:443", False),
        ("[2001:db8::1]:443", False),
        ("[::]:443", False),
    ],
)
def test_is_loopback_address(address: str, loopback: bool) -> None:
    """Only addresses that cannot leave the machine count as loopback."""
    assert is_loopback_address(address) is loopback


@pytest.mark.parametrize(
    "addresses",
    [("10.0.0.5:50051",), ("collector.example:443",), (*LOOPBACK,)],
)
def test_tls_off_is_plaintext_everywhere(addresses: tuple[str, ...]) -> None:
    """tls = "off" never builds credentials."""
    assert channel_credentials(section("off", *addresses)) is None


def test_tls_auto_is_plaintext_when_every_address_is_loopback() -> None:
    """The default needs no certificate for a collector on the same machine."""
    assert channel_credentials(section("auto", *LOOPBACK)) is None


@pytest.mark.parametrize(
    "addresses",
    [
        ("10.0.0.5:50051",),
        ("collector.example:443",),
        ("127.0.0.1:50051", "collector.example:443"),
        ("collector.example:443", "localhost:50051"),
    ],
)
def test_tls_auto_uses_tls_as_soon_as_one_address_is_not_loopback(addresses: tuple[str, ...]) -> None:
    """A single remote address is enough to require TLS for all."""
    assert isinstance(channel_credentials(section("auto", *addresses)), ssl.SSLContext)


def test_tls_on_uses_tls_even_on_loopback() -> None:
    """tls = "on" with the system roots, nothing read from disk."""
    assert isinstance(channel_credentials(section("on", *LOOPBACK)), ssl.SSLContext)


def test_tls_credentials_read_the_configured_files(tmp_path: Path) -> None:
    """CA, client certificate and key are read from the configured PEM files."""
    client = tlsinit.issue(tmp_path, "client-pc", "pc", [], server=False)
    configured = section(
        "on",
        ca_file=str(client.ca_cert),
        cert_file=str(client.cert),
        key_file=str(client.key),
        server_name=SERVER_NAME,
    )
    assert isinstance(channel_credentials(configured), ssl.SSLContext)
    Transport(configured)  # builds its options and credentials; connects only on the first call


def test_a_missing_ca_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    """A typo in collector.ca_file fails at start, not on every push."""
    missing = tmp_path / "absent-ca.pem"
    with pytest.raises(ConfigError) as info:
        channel_credentials(section("on", ca_file=str(missing)))
    assert str(missing) in str(info.value)
    assert "collector.ca_file" in str(info.value)


def test_channel_options_carry_the_server_name_only_when_set() -> None:
    """The expected server name is the address's host unless server_name is set."""
    plain = channel_options(60.0, 4 * 1024 * 1024, "")
    assert plain.server_name == ""
    assert plain.keepalive_seconds == 60.0
    assert plain.keepalive_timeout_seconds == 20.0
    assert plain.max_send_message_bytes == 4 * 1024 * 1024
    named = channel_options(60.0, 4 * 1024 * 1024, SERVER_NAME)
    assert named.server_name == SERVER_NAME
    assert dataclasses.replace(named, server_name="") == plain


def test_the_tls_context_offers_h2_and_checks_the_name(tmp_path: Path) -> None:
    """TLS 1.2 at least, the certificate and its name checked (grpcio's defaults)."""
    context = channel_credentials(section("on", *LOOPBACK))
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_a_ca_file_that_is_not_pem_is_an_error_naming_the_option(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as info:
        channel_credentials(section("on", ca_file=str(garbage)))
    assert "collector.ca_file" in str(info.value)


async def enroll_over(configured: CollectorSection, token: str) -> pb.EnrollResponse:
    transport = Transport(configured)
    try:
        return await transport.enroll(token, pb.HostInfo(hostname="pc-tls-01", agent_version="0.1.0"))
    finally:
        await transport.close()


def test_tls_to_a_real_collector_checks_the_server_name(tmp_path: Path) -> None:
    """Over 127.0.0.1 the certificate for collector.internal is accepted only with server_name."""
    server_files = tlsinit.issue(tmp_path / "pki", "server", SERVER_NAME, [SERVER_NAME], server=True)
    tls = TlsSection(cert_file=str(server_files.cert), key_file=str(server_files.key))

    async def scenario() -> None:
        async with running_collector(tmp_path / "data", tls=tls) as server:
            token = any_site_token(server)
            address = grpc_address(server)
            trusted = section("on", address, ca_file=str(server_files.ca_cert), timeout_seconds=5.0)
            response = await enroll_over(dataclasses.replace(trusted, server_name=SERVER_NAME), token)
            assert response.agent_id.startswith("a-")
            with pytest.raises(PushError) as wrong_name:
                await enroll_over(trusted, token)
            assert wrong_name.value.code is StatusCode.UNAVAILABLE
            with pytest.raises(PushError) as plaintext:
                await enroll_over(section("auto", address, timeout_seconds=5.0), token)
            assert plaintext.value.code is StatusCode.UNAVAILABLE

    asyncio.run(scenario())
