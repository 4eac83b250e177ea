"""A gRPC channel for unary calls over HTTP/2 (h2, asyncio streams, ssl): what the agent needs of grpcio."""

# One connection per channel (per collector address), opened on the first call, kept open and shared
# by concurrent calls, opened again on the next call after it was closed (GOAWAY, keepalive, reset,
# error). A call the server never processed (refused, or above the last stream id of its GOAWAY) is made
# again, as gRPC's transparent retry does: on a new connection after a GOAWAY, after a short pause on
# the same one after a REFUSED_STREAM (the server still counts a stream we saw end, and refuses beyond
# its limit). Deadlines cover connecting and the retries too.

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from fleetwatch_agent.grpcwire import (
    Metadata,
    StatusCode,
    WireError,
    content_type_ok,
    decode_messages,
    encode_message,
    header,
    request_headers,
    response_status,
    user_metadata,
)
from fleetwatch_agent.h2connection import CallFailed, Connection, Refused, Response
from fleetwatch_proto.addresses import host_of

MIB = 1024 * 1024
# The collector refuses PINGs more often than every 30 s on a connection without data (its
# grpc.http2.min_ping_interval_without_data_ms), with GOAWAY too_many_pings: never ping faster.
MIN_KEEPALIVE_SECONDS = 30.0
# Attempts of a call the server did not process, and the pause before each retry on the same
# connection (times the attempt's number).
REFUSED_ATTEMPTS = 4
REFUSED_PAUSE_SECONDS = 0.01


@dataclass(frozen=True)
class ChannelOptions:
    """What grpcio's channel arguments said: keepalive, message size limits, expected server name."""

    # PING every keepalive_seconds while calls are in flight (none on an idle connection); the
    # connection is dropped when the answer takes longer than keepalive_timeout_seconds.
    keepalive_seconds: float = 60.0
    keepalive_timeout_seconds: float = 20.0
    max_send_message_bytes: int = 4 * MIB
    max_receive_message_bytes: int = 4 * MIB
    # Name for SNI, the certificate's check and :authority when it differs from the address's host.
    server_name: str = ""
    user_agent: str = "fleetwatch-agent"


@dataclass(frozen=True)
class UnaryResult:
    """The answer of a call that ended OK: the response message's bytes and both metadata."""

    payload: bytes
    initial_metadata: Metadata
    trailing_metadata: Metadata


class RpcError(Exception):
    """A call that did not end OK: its status code and message, and what metadata came."""

    def __init__(
        self, code: StatusCode, details: str, initial: Metadata = (), trailing: Metadata = ()
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.initial_metadata = initial
        self.trailing_metadata = trailing


def tls_context(ca_file: str = "", cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    """A client TLS context offering h2 by ALPN: the CA file (or the system's roots), a client certificate."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    if cert_file:
        context.load_cert_chain(cert_file, key_file or None)
    return context


def split_address(address: str) -> tuple[str, int]:
    """host and port of "host:port" or "[v6]:port"."""
    _, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    return host_of(address), int(port)


class Channel:
    """Unary gRPC calls to one address over one HTTP/2 connection at a time."""

    def __init__(self, address: str, tls: ssl.SSLContext | None, options: ChannelOptions | None = None):
        self.address = address
        self._host, self._port = split_address(address)
        self._tls = tls
        self._options = options or ChannelOptions()
        self._authority = (
            f"{options.server_name}:{self._port}" if options and options.server_name else address
        )
        self._connection: Connection | None = None
        self._draining: set[Connection] = set()
        self._dialing = asyncio.Lock()

    async def unary(
        self,
        method: str,
        request: bytes,
        timeout: float | None,
        metadata: Metadata = (),
        compressed: bool = False,
    ) -> UnaryResult:
        """Call ``method`` ("/package.Service/Method") with a serialized request; RpcError unless OK."""
        limit = self._options.max_send_message_bytes
        if len(request) > limit:
            raise RpcError(
                StatusCode.RESOURCE_EXHAUSTED, f"Sent message larger than max ({len(request)} vs. {limit})"
            )
        body = encode_message(request, compressed)
        headers = request_headers(
            self._authority, method, tls=self._tls is not None, timeout=timeout, metadata=metadata,
            compressed=compressed, user_agent=self._options.user_agent,
        )  # fmt: skip
        try:
            async with asyncio.timeout(timeout):
                response = await self._call(headers, body)
        except TimeoutError:
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except CallFailed as exc:
            raise RpcError(exc.code, exc.details) from None
        return self._result(response)

    async def _call(self, headers: list[tuple[str, str]], body: bytes) -> Response:
        for attempt in range(1, REFUSED_ATTEMPTS + 1):
            connection = await self._connect()
            try:
                return await connection.call(headers, body)
            except Refused as exc:
                if attempt == REFUSED_ATTEMPTS:
                    raise CallFailed(StatusCode.UNAVAILABLE, str(exc)) from None
            finally:
                if not connection.accepting and connection is self._connection:
                    self._connection = None
                    if connection.alive:
                        self._draining.add(connection)
            if connection.accepting:
                await asyncio.sleep(REFUSED_PAUSE_SECONDS * attempt)
        raise AssertionError("unreachable")

    async def _connect(self) -> Connection:
        async with self._dialing:
            current = self._connection
            if current is not None and current.accepting:
                return current
            if current is not None and current.alive:
                self._draining.add(current)
            self._draining = {c for c in self._draining if c.alive}
            self._connection = None
            self._connection = await self._open()
            return self._connection

    async def _open(self) -> Connection:
        options = self._options
        try:
            reader, writer = await asyncio.open_connection(
                self._host, self._port, ssl=self._tls,
                server_hostname=(options.server_name or self._host) if self._tls else None,
            )  # fmt: skip
        except (OSError, ssl.SSLError) as exc:
            raise CallFailed(StatusCode.UNAVAILABLE, f"failed to connect to {self.address}: {exc}") from None
        if self._tls is not None:
            tls_object = writer.get_extra_info("ssl_object")
            protocol = tls_object.selected_alpn_protocol() if tls_object is not None else None
            if protocol != "h2":
                writer.close()
                raise CallFailed(
                    StatusCode.UNAVAILABLE,
                    f"{self.address}: the server did not choose h2 by ALPN ({protocol})",
                )
        connection = Connection(
            reader, writer, self.address,
            keepalive_seconds=max(MIN_KEEPALIVE_SECONDS, options.keepalive_seconds),
            keepalive_timeout_seconds=options.keepalive_timeout_seconds,
            max_receive_bytes=options.max_receive_message_bytes,
        )  # fmt: skip
        try:
            await connection.ready()
        except BaseException:
            await connection.close()
            raise
        return connection

    def _result(self, response: Response) -> UnaryResult:
        if response.trailers:
            initial, trailing = user_metadata(response.headers), user_metadata(response.trailers)
        else:  # trailers only: the one HEADERS frame holds the trailing metadata
            initial, trailing = (), user_metadata(response.headers)
        code, details = response_status(response.headers, response.trailers)
        if code != StatusCode.OK:
            raise RpcError(code, details, initial, trailing)
        if not content_type_ok(response.headers):
            raise RpcError(StatusCode.UNKNOWN, f"content-type {header(response.headers, 'content-type')!r}")
        encoding = header(response.headers, "grpc-encoding") or "identity"
        try:
            messages = decode_messages(response.data, encoding, self._options.max_receive_message_bytes)
        except WireError as exc:
            raise RpcError(exc.code, exc.details, initial, trailing) from None
        if len(messages) != 1:
            raise RpcError(StatusCode.INTERNAL, f"{len(messages)} response messages to a unary call")
        return UnaryResult(messages[0], initial, trailing)

    async def close(self) -> None:
        connections = [c for c in (self._connection, *self._draining) if c is not None]
        self._connection, self._draining = None, set()
        for connection in connections:
            await connection.close()
