"""The agent's gRPC client over h2: TLS and mutual TLS, the real collector's flow control, keepalive."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Literal

import grpc
import grpc.aio
import pytest

from fleetwatch_agent.config import CollectorSection
from fleetwatch_agent.grpcwire import StatusCode, encode_message, request_headers
from fleetwatch_agent.h2channel import MIN_KEEPALIVE_SECONDS, RpcError, tls_context
from fleetwatch_agent.h2connection import CallFailed, Connection
from fleetwatch_agent.transport import Identity, PushError, Transport
from fleetwatch_collector import tlsinit
from fleetwatch_collector.server import server_options
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.failover_support import enrol_at, reports_of
from tests.agent.h2support import (
    ECHO,
    SERVER_NAME,
    TIMEOUT,
    channel_to,
    run,
    serving,
)
from tests.agent.inprocess import grpc_address, running_collector


def issue_pki(directory: Path) -> tuple[tlsinit.IssuedFiles, tlsinit.IssuedFiles]:
    server = tlsinit.issue(directory, "server", SERVER_NAME, [SERVER_NAME], server=True)
    client = tlsinit.issue(directory, "client", "pc-tls-01", [], server=False)
    return server, client


def server_credentials(files: tlsinit.IssuedFiles, client_ca: Path | None = None) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(files.key.read_bytes(), files.cert.read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca else None,
        require_client_auth=client_ca is not None,
    )


def test_tls_with_the_ca_file_and_server_name_and_a_wrong_ca_refused(tmp_path: Path) -> None:
    server_files, _ = issue_pki(tmp_path / "pki")
    other_ca, _ = tlsinit.init_ca(tmp_path / "other")

    async def scenario() -> None:
        async with serving(credentials=server_credentials(server_files)) as (_, address, _seen):
            trusted = tls_context(str(server_files.ca_cert))
            async with channel_to(address, tls=trusted, server_name=SERVER_NAME) as channel:
                assert (await channel.unary(ECHO, b"secret", TIMEOUT)).payload == b"secret"
            async with channel_to(address, tls=trusted) as channel:  # 127.0.0.1 is not in the certificate
                with pytest.raises(RpcError) as wrong_name:
                    await channel.unary(ECHO, b"x", TIMEOUT)
                assert wrong_name.value.code is StatusCode.UNAVAILABLE
            async with channel_to(
                address, tls=tls_context(str(other_ca)), server_name=SERVER_NAME
            ) as channel:
                with pytest.raises(RpcError) as wrong_ca:
                    await channel.unary(ECHO, b"x", TIMEOUT)
                assert wrong_ca.value.code is StatusCode.UNAVAILABLE
                assert "certificate verify failed" in wrong_ca.value.details
            async with channel_to(address) as channel:  # plaintext to a TLS port
                with pytest.raises(RpcError) as plaintext:
                    await channel.unary(ECHO, b"x", TIMEOUT)
                assert plaintext.value.code is StatusCode.UNAVAILABLE

    run(scenario)


def test_mutual_tls_presents_the_client_certificate(tmp_path: Path) -> None:
    server_files, client_files = issue_pki(tmp_path / "pki")

    async def scenario() -> None:
        credentials = server_credentials(server_files, client_ca=server_files.ca_cert)
        async with serving(credentials=credentials) as (_, address, seen):
            with_cert = tls_context(str(server_files.ca_cert), str(client_files.cert), str(client_files.key))
            async with channel_to(address, tls=with_cert, server_name=SERVER_NAME) as channel:
                assert (await channel.unary(ECHO, b"mtls", TIMEOUT)).payload == b"mtls"
            assert seen.client_names == [b"pc-tls-01"]
            without = tls_context(str(server_files.ca_cert))
            async with channel_to(address, tls=without, server_name=SERVER_NAME) as channel:
                with pytest.raises(RpcError) as refused:
                    await channel.unary(ECHO, b"x", TIMEOUT)
                assert refused.value.code is StatusCode.UNAVAILABLE

    run(scenario)


def resources_report(seq: int) -> pb.Report:
    message = pb.Report(seq=seq, collected_unix_ms=int(time.time() * 1000), interval_seconds=60)
    message.host.CopyFrom(
        pb.HostInfo(hostname="pc-h2-01", os_family="linux", agent_version="0.1.0", site="xa-tan-my-chanh",
                    district="tp-my-tho", site_type=pb.SITE_TYPE_COMMUNE, site_name="Xã Tân Mỹ Chánh")
    )  # fmt: skip
    message.probes.add(name="resources", success=True, duration_seconds=0.01)
    message.resources.cpu_count = 4
    message.resources.memory_total_bytes = 8 << 30
    message.resources.memory_available_bytes = (4 << 30) + seq
    for i in range(8):
        message.resources.filesystems.add(mountpoint=f"/srv/data-{i:02}", fstype="ext4", size_bytes=100 << 30)
    return message


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_the_collector_takes_a_batch_larger_than_the_initial_window(
    tmp_path: Path, compression: Literal["none", "gzip"]
) -> None:
    """The real collector reads a message only after the credential (one 64 KiB window until then)."""

    async def scenario() -> None:
        async with running_collector(tmp_path / "collector") as server:
            identity = enrol_at(server)
            section = CollectorSection(addresses=(grpc_address(server),), compression=compression)
            transport = Transport(section)
            try:
                reports = [resources_report(seq) for seq in range(1, 201)]
                assert sum(r.ByteSize() for r in reports) > 64 * 1024
                response = await transport.push(identity, reports, oldest_held_seq=1)
                assert response.acked_seq == 200
                assert reports_of(server, identity.agent_id) == 200
                with pytest.raises(PushError) as refused:
                    await transport.push(Identity(identity.agent_id, "wrong"), reports, oldest_held_seq=1)
                assert refused.value.code is StatusCode.UNAUTHENTICATED
                assert refused.value.credential_problem
            finally:
                await transport.close()

    run(scenario)


def test_a_server_that_stops_answering_pings_is_dropped_by_the_keepalive() -> None:
    """A peer that sent its SETTINGS and then went silent: the call in flight fails UNAVAILABLE."""
    settings_frame = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # empty SETTINGS, stream 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(settings_frame)
        with contextlib.suppress(OSError):
            while await reader.read(65536):
                pass  # never a PING ack, never an answer
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connection = Connection(reader, writer, "silent", keepalive_seconds=0.2,
                                keepalive_timeout_seconds=0.3, max_receive_bytes=1024)  # fmt: skip
        try:
            await asyncio.wait_for(connection.ready(), TIMEOUT)
            headers = request_headers(f"127.0.0.1:{port}", ECHO, tls=False, timeout=None)
            with pytest.raises(CallFailed) as info:
                await asyncio.wait_for(connection.call(headers, encode_message(b"x")), TIMEOUT)
            assert info.value.code is StatusCode.UNAVAILABLE
            assert "keepalive" in info.value.details
            assert not connection.alive
        finally:
            await connection.close()
            server.close()

    run(scenario)


def test_the_keepalive_never_pings_faster_than_the_collector_allows() -> None:
    assert MIN_KEEPALIVE_SECONDS == 30.0  # the collector's grpc.http2.min_ping_interval_without_data_ms
    options = dict(server_options(4 * 1024 * 1024))
    assert options["grpc.http2.min_ping_interval_without_data_ms"] <= MIN_KEEPALIVE_SECONDS * 1000
