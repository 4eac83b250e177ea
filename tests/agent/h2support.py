"""The h2 client tests' test service: handlers of raw bytes on a real grpc.aio server, a channel to it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import grpc
import grpc.aio

from fleetwatch_agent.h2channel import Channel, ChannelOptions

SERVICE = "fleetwatch.test.Echo"
ECHO = f"/{SERVICE}/Echo"
SLOW = f"/{SERVICE}/Slow"
FAIL = f"/{SERVICE}/Fail"
PEER = f"/{SERVICE}/Peer"
TIMEOUT = 20.0  # generous: the machine is shared; the deadline tests use their own
SERVER_NAME = "collector.internal"


@dataclasses.dataclass
class Seen:
    """What the test service observed."""

    metadata: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    cancelled: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    slow_started: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    peers: set[str] = dataclasses.field(default_factory=set)
    client_names: list[bytes] = dataclasses.field(default_factory=list)


def handlers(seen: Seen, slow_seconds: float) -> grpc.GenericRpcHandler:
    """A service of raw bytes: Echo (metadata echoed too), Slow, Fail (status from the request), Peer."""

    async def echo(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        received = [(k, v) for k, v in context.invocation_metadata() or () if k.startswith("x-")]
        seen.metadata.extend(received)
        await context.send_initial_metadata([("x-initial", "hello"), *received])
        context.set_trailing_metadata([("x-trailing", str(len(request)))])
        seen.peers.add(context.peer())
        seen.client_names.extend(context.auth_context().get("x509_common_name", []))
        return request

    async def slow(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        seen.slow_started.set()
        try:
            await asyncio.sleep(slow_seconds)
        except asyncio.CancelledError:
            seen.cancelled.set()
            raise
        return request

    async def fail(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        code, _, details = request.decode().partition(" ")
        context.set_trailing_metadata([("x-fleetwatch-retry-after-ms", "1500")])
        await context.abort(grpc.StatusCode[code], details)
        raise AssertionError("abort returns never")

    def unary(function: Callable[..., Awaitable[bytes]]) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(function)

    return grpc.method_handlers_generic_handler(
        SERVICE, {"Echo": unary(echo), "Slow": unary(slow), "Fail": unary(fail), "Peer": unary(echo)}
    )


@contextlib.asynccontextmanager
async def serving(
    port: int = 0,
    seen: Seen | None = None,
    credentials: grpc.ServerCredentials | None = None,
    slow_seconds: float = 60.0,
    options: tuple[tuple[str, Any], ...] = (),
) -> AsyncIterator[tuple[grpc.aio.Server, str, Seen]]:
    seen = seen or Seen()
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0), *options])
    server.add_generic_rpc_handlers([handlers(seen, slow_seconds)])
    address = f"127.0.0.1:{port}"
    if credentials is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, credentials)
    await server.start()
    try:
        yield server, f"127.0.0.1:{bound}", seen
    finally:
        await server.stop(None)


@contextlib.asynccontextmanager
async def channel_to(address: str, **options: Any) -> AsyncIterator[Channel]:
    tls = options.pop("tls", None)
    channel = Channel(address, tls, ChannelOptions(**options))
    try:
        yield channel
    finally:
        await channel.close()


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())
