"""The agent's gRPC client over h2 against real grpc.aio servers on 127.0.0.1 (a service of raw bytes)."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest

from fleetwatch_agent.grpcwire import StatusCode
from fleetwatch_agent.h2channel import RpcError
from tests.agent.h2support import (
    ECHO,
    FAIL,
    PEER,
    SERVICE,
    SLOW,
    TIMEOUT,
    Seen,
    channel_to,
    run,
    serving,
)
from tests.conftest import free_port


def test_unary_round_trip_with_metadata_both_ways() -> None:
    async def scenario() -> None:
        async with serving() as (_, address, seen), channel_to(address) as channel:
            result = await channel.unary(ECHO, b"ping", TIMEOUT, (("x-agent", "a-1"), ("x-site", "tan-my")))
            assert result.payload == b"ping"
            assert seen.metadata == [("x-agent", "a-1"), ("x-site", "tan-my")]
            assert ("x-initial", "hello") in result.initial_metadata
            assert ("x-agent", "a-1") in result.initial_metadata
            assert result.trailing_metadata == (("x-trailing", "4"),)
            empty = await channel.unary(ECHO, b"", TIMEOUT)
            assert empty.payload == b""

    run(scenario)


@pytest.mark.parametrize(
    ("code", "details"),
    [
        (StatusCode.UNAUTHENTICATED, "no credential"),
        (StatusCode.INVALID_ARGUMENT, "Báo cáo không hợp lệ: 100% sai"),
        (StatusCode.RESOURCE_EXHAUSTED, "slow down"),
        (StatusCode.PERMISSION_DENIED, ""),
    ],
)
def test_error_statuses_arrive_trailers_only_with_details_and_trailing_metadata(
    code: StatusCode, details: str
) -> None:
    """An abort before any response is one HEADERS frame with the status (trailers only)."""

    async def scenario() -> None:
        async with serving() as (_, address, _seen), channel_to(address) as channel:
            with pytest.raises(RpcError) as info:
                await channel.unary(FAIL, f"{code.name} {details}".encode(), TIMEOUT)
            assert info.value.code is code
            assert info.value.details == details
            assert ("x-fleetwatch-retry-after-ms", "1500") in info.value.trailing_metadata
            assert info.value.initial_metadata == ()
            # The connection is still good for the next call.
            assert (await channel.unary(ECHO, b"after", TIMEOUT)).payload == b"after"

    run(scenario)


def test_an_unknown_method_is_unimplemented() -> None:
    async def scenario() -> None:
        async with serving() as (_, address, _seen), channel_to(address) as channel:
            with pytest.raises(RpcError) as info:
                await channel.unary(f"/{SERVICE}/Nothing", b"", TIMEOUT)
            assert info.value.code is StatusCode.UNIMPLEMENTED

    run(scenario)


def test_a_slow_handler_ends_in_deadline_exceeded_and_the_server_sees_the_cancel() -> None:
    async def scenario() -> None:
        async with serving() as (_, address, seen), channel_to(address) as channel:
            with pytest.raises(RpcError) as info:
                await channel.unary(SLOW, b"x", 0.5)
            assert info.value.code is StatusCode.DEADLINE_EXCEEDED
            assert seen.slow_started.is_set()
            await asyncio.wait_for(seen.cancelled.wait(), TIMEOUT)
            assert (await channel.unary(ECHO, b"next", TIMEOUT)).payload == b"next"

    run(scenario)


def test_a_stopped_server_is_unavailable_and_the_channel_reconnects_when_it_returns() -> None:
    port = free_port()

    async def scenario() -> None:
        async with channel_to(f"127.0.0.1:{port}") as channel:
            with pytest.raises(RpcError) as never:
                await channel.unary(ECHO, b"a", TIMEOUT)
            assert never.value.code is StatusCode.UNAVAILABLE
            async with serving(port) as (_, _address, first):
                assert (await channel.unary(ECHO, b"b", TIMEOUT)).payload == b"b"
            with pytest.raises(RpcError) as gone:
                await channel.unary(ECHO, b"c", TIMEOUT)
            assert gone.value.code is StatusCode.UNAVAILABLE
            async with serving(port) as (_, _address, second):
                assert (await channel.unary(ECHO, b"d", TIMEOUT)).payload == b"d"
            assert first.peers and second.peers

    run(scenario)


def test_a_graceful_goaway_lets_the_call_in_flight_finish_and_the_next_uses_a_new_connection() -> None:
    """server.stop(grace): GOAWAY, the slow call still answers; the next call goes to the new server."""
    port = free_port()

    async def scenario() -> None:
        async with channel_to(f"127.0.0.1:{port}") as channel:
            seen = Seen()
            async with serving(port, seen, slow_seconds=1.0) as (server, _address, _):
                assert (await channel.unary(ECHO, b"warm", TIMEOUT)).payload == b"warm"
                in_flight = asyncio.create_task(channel.unary(SLOW, b"in flight", TIMEOUT))
                await asyncio.wait_for(seen.slow_started.wait(), TIMEOUT)
                await server.stop(10.0)
                assert (await in_flight).payload == b"in flight"
            async with serving(port) as (_, _address, again):
                assert (await channel.unary(ECHO, b"again", TIMEOUT)).payload == b"again"
                assert len(again.peers) == 1

    run(scenario)


def test_messages_larger_than_the_initial_window_go_both_ways() -> None:
    """2 MiB each way: far over the 64 KiB initial windows, so WINDOW_UPDATEs are needed both ways."""

    async def scenario() -> None:
        async with serving() as (_, address, _seen), channel_to(address) as channel:
            payload = os.urandom(2 * 1024 * 1024)
            assert (await channel.unary(ECHO, payload, TIMEOUT)).payload == payload
            small = await channel.unary(ECHO, b"small", TIMEOUT)
            assert small.payload == b"small"

    run(scenario)


def test_message_size_limits_both_ways_are_resource_exhausted() -> None:
    async def scenario() -> None:
        async with (
            serving() as (_, address, _seen),
            channel_to(address, max_send_message_bytes=100_000, max_receive_message_bytes=50_000) as channel,
        ):
            with pytest.raises(RpcError) as sent:
                await channel.unary(ECHO, b"x" * 100_001, TIMEOUT)
            assert sent.value.code is StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(RpcError) as received:
                await channel.unary(ECHO, b"x" * 60_000, TIMEOUT)
            assert received.value.code is StatusCode.RESOURCE_EXHAUSTED
            assert (await channel.unary(ECHO, b"x" * 40_000, TIMEOUT)).payload == b"x" * 40_000

    run(scenario)


class CountingProxy:
    """A TCP relay on 127.0.0.1 counting the bytes the client sent and the connections it opened."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.client_bytes = 0
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, count: bool) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    if count:
                        self.client_bytes += len(data)
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


def test_gzip_requests_are_accepted_and_travel_compressed() -> None:
    async def scenario() -> None:
        async with serving() as (_, address, _seen):
            proxy = CountingProxy(int(address.rpartition(":")[2]))
            try:
                async with channel_to(await proxy.start()) as channel:
                    payload = b"fleetwatch report " * 60_000  # about 1 MiB, very compressible
                    result = await channel.unary(ECHO, payload, TIMEOUT, compressed=True)
                    assert result.payload == payload
                    assert proxy.client_bytes < len(payload) // 20
                    # A report's size: compressed with a window of 4 KiB, read by grpc's inflater.
                    small = b"fleetwatch report " * 100
                    assert (await channel.unary(ECHO, small, TIMEOUT, compressed=True)).payload == small
            finally:
                await proxy.close()

    run(scenario)


def test_many_concurrent_calls_share_one_connection_within_the_stream_limit() -> None:
    """300 calls at once, the server allowing 16 streams: all answer, over one TCP connection."""

    async def scenario() -> None:
        options = (("grpc.max_concurrent_streams", 16),)
        async with serving(options=options) as (_, address, seen):
            proxy = CountingProxy(int(address.rpartition(":")[2]))
            try:
                async with channel_to(await proxy.start()) as channel:
                    payloads = [f"call {i}".encode() * (1 + i % 50) for i in range(300)]
                    results = await asyncio.gather(*(channel.unary(PEER, p, TIMEOUT) for p in payloads))
                    assert [r.payload for r in results] == payloads
                    assert proxy.connections == 1
                    assert len(seen.peers) == 1
            finally:
                await proxy.close()

    run(scenario)
