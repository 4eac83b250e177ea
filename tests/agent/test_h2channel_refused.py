"""A stream the server refuses (REFUSED_STREAM) is retried a few times, then the call fails UNAVAILABLE."""

from __future__ import annotations

import asyncio

import h2.config
import h2.connection
import h2.events
import pytest
from h2.errors import ErrorCodes

from fleetwatch_agent.grpcwire import StatusCode
from fleetwatch_agent.h2channel import REFUSED_ATTEMPTS, RpcError
from tests.agent.h2support import PEER, TIMEOUT, channel_to


class RefusingServer:
    """An HTTP/2 server on 127.0.0.1 that refuses its first ``refuse`` streams, then echoes each request."""

    def __init__(self, refuse: int) -> None:
        self.refuse = refuse
        self.streams = 0
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        connection = h2.connection.H2Connection(config)
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        bodies: dict[int, bytes] = {}
        while data := await reader.read(65536):
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    self.streams += 1
                    if self.streams <= self.refuse:
                        connection.reset_stream(event.stream_id, ErrorCodes.REFUSED_STREAM)
                    else:
                        bodies[event.stream_id] = b""
                elif isinstance(event, h2.events.DataReceived):
                    connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    if event.stream_id in bodies:
                        bodies[event.stream_id] += event.data
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id in bodies:
                    echo = bodies.pop(event.stream_id)  # a framed gRPC message: sent back as it came
                    headers = [(":status", "200"), ("content-type", "application/grpc")]
                    connection.send_headers(event.stream_id, headers)
                    connection.send_data(event.stream_id, echo)
                    connection.send_headers(event.stream_id, [("grpc-status", "0")], end_stream=True)
            writer.write(connection.data_to_send())
            await writer.drain()
        writer.close()


def call_through(refuse: int) -> tuple[bytes | RpcError, RefusingServer]:
    server = RefusingServer(refuse)

    async def scenario() -> bytes | RpcError:
        try:
            async with channel_to(await server.start()) as channel:
                try:
                    return (await channel.unary(PEER, b"report", TIMEOUT)).payload
                except RpcError as error:
                    return error
        finally:
            await server.close()

    return asyncio.run(scenario()), server


@pytest.mark.parametrize("refuse", [1, REFUSED_ATTEMPTS - 1])
def test_refused_streams_are_sent_again_on_the_same_connection(refuse: int) -> None:
    outcome, server = call_through(refuse)
    assert outcome == b"report"
    assert (server.streams, server.connections) == (refuse + 1, 1)


def test_a_call_refused_at_every_attempt_fails_unavailable() -> None:
    outcome, server = call_through(REFUSED_ATTEMPTS)
    assert isinstance(outcome, RpcError)
    assert outcome.code == StatusCode.UNAVAILABLE
    assert "did not process" in outcome.details
    assert server.streams == REFUSED_ATTEMPTS
