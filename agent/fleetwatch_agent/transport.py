"""gRPC transport to the collector: TLS, credentials, failover between addresses, retry classification."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from fleetwatch_agent import __version__
from fleetwatch_agent.config import CollectorSection
from fleetwatch_agent.failover import Route, address_order
from fleetwatch_agent.grpcwire import Metadata, StatusCode
from fleetwatch_agent.h2channel import Channel, ChannelOptions, RpcError, tls_context
from fleetwatch_proto import metadata
from fleetwatch_proto.addresses import is_loopback_host
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

MessageT = TypeVar("MessageT", bound=Message)

log = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset(
    {
        StatusCode.UNAVAILABLE,
        StatusCode.DEADLINE_EXCEEDED,
        StatusCode.RESOURCE_EXHAUSTED,
        StatusCode.ABORTED,
    }
)
# The collector judged the batch itself invalid: sending it again cannot succeed.
PERMANENT_CODES = frozenset({StatusCode.INVALID_ARGUMENT, StatusCode.OUT_OF_RANGE})
# The reports are fine but this agent may not deliver them now: keep them, retry slowly.
CREDENTIAL_CODES = frozenset({StatusCode.UNAUTHENTICATED, StatusCode.PERMISSION_DENIED})
# Codes after which the next attempt goes to the next collector address: that collector is
# unreachable, or it does not accept this agent (a credential belongs to one collector database).
FAILOVER_CODES = frozenset(
    {
        StatusCode.UNAVAILABLE,
        StatusCode.DEADLINE_EXCEEDED,
        StatusCode.UNAUTHENTICATED,
        StatusCode.PERMISSION_DENIED,
    }
)


class PushError(Exception):
    """A call that failed, classified: retryable soon, permanent (never), or a credential problem."""

    # Any other failure keeps the batch and waits longer.

    def __init__(self, code: StatusCode, details: str, retry_after_seconds: float = 0.0):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.retryable = code in RETRYABLE_CODES
        self.permanent = code in PERMANENT_CODES
        self.credential_problem = code in CREDENTIAL_CODES
        self.retry_after_seconds = retry_after_seconds
        # Set by the transport: the next call goes to an address not tried since the last
        # success, so it may be made at once.
        self.failed_over = False


@dataclass(frozen=True)
class Identity:
    agent_id: str
    secret: str


def backoff_delay(attempt: int, rng: random.Random, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    # The 60 s cap spreads 4,130 reconnecting agents over a minute (~70 per second) while an
    # agent is back at most a minute after its collector is.
    return rng.uniform(0.0, min(cap, base * (2 ** min(attempt, 30))))


def is_loopback_address(address: str) -> bool:
    """Whether a host:port address is on loopback."""
    return is_loopback_host(address.rpartition(":")[0].strip("[]"))


def channel_options(keepalive_seconds: float, max_message_bytes: int, server_name: str) -> ChannelOptions:
    """The channel's settings: keepalive while calls are in flight, largest message sent, server name."""
    return ChannelOptions(
        keepalive_seconds=keepalive_seconds,
        keepalive_timeout_seconds=20.0,
        max_send_message_bytes=max_message_bytes,
        server_name=server_name,
        user_agent=f"fleetwatch-agent/{__version__}",
    )


def channel_credentials(section: CollectorSection) -> ssl.SSLContext | None:
    """The TLS context per the configuration, None for plaintext."""
    use_tls = section.tls == "on" or (
        section.tls == "auto" and not all(is_loopback_address(a) for a in section.addresses)
    )
    if not use_tls:
        return None
    for option in ("ca_file", "cert_file", "key_file"):
        path = getattr(section, option)
        try:
            if path:
                open(path, "rb").close()  # readable now, or the OS says why
        except OSError as exc:
            raise ConfigError(f"option collector.{option}: cannot read {path}: {exc.strerror}") from exc
    try:
        return tls_context(section.ca_file, section.cert_file, section.key_file)
    except ssl.SSLError as exc:
        files = ", ".join(f for f in (section.ca_file, section.cert_file, section.key_file) if f)
        raise ConfigError(f"option collector.ca_file, cert_file, key_file: {files}: {exc}") from exc


def _retry_after(trailing: Metadata) -> float:
    for key, value in trailing:
        if key == metadata.RETRY_AFTER_MS:
            try:
                return max(0.0, int(value) / 1000.0)
            except ValueError:
                return 0.0
    return 0.0


def _method(name: str) -> str:
    """The HTTP/2 path of a method of the contract's Collector service."""
    return f"/{pb.DESCRIPTOR.services_by_name['Collector'].full_name}/{name}"


PUSH_METHOD = _method("Push")
ENROLL_METHOD = _method("Enroll")


def _parse(message_type: type[MessageT], payload: bytes) -> MessageT:
    """The response message; a payload that is not one is INTERNAL, as gRPC reports it."""
    try:
        return message_type.FromString(payload)
    except DecodeError as exc:
        raise PushError(StatusCode.INTERNAL, f"cannot parse the {message_type.__name__}: {exc}") from exc


class Transport:
    """Calls the collector for one or many agents over shared channels, failing over between addresses."""

    # Each agent tries the addresses in its order (failover.address_order: as written, or ranked by
    # rendezvous hashing of its id), along which a Route fails over (a code of FAILOVER_CODES) and
    # back. The agents of one order share its Route: n addresses make at most n! of them.

    def __init__(
        self,
        section: CollectorSection,
        max_message_bytes: int = 4 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._addresses = tuple(section.addresses)
        self._spread = section.spread
        self._failback_seconds = section.failback_seconds
        self._clock = clock
        self._orders: dict[str, tuple[str, ...]] = {}  # key -> its order (rendezvous)
        self._routes: dict[tuple[str, ...], Route] = {}  # order -> its failover state
        self._last = self._route("")  # the route of the latest call
        self._timeout = section.timeout_seconds
        self._options = channel_options(section.keepalive_seconds, max_message_bytes, section.server_name)
        self._credentials = channel_credentials(section)
        self._compress = section.compression == "gzip"
        self._channels: dict[str, Channel] = {}

    @property
    def addresses(self) -> tuple[str, ...]:
        return self._addresses

    @property
    def address(self) -> str:
        """The current address of the latest call's agent (of the first order before any call)."""
        return self._last.address

    def order(self, key: str) -> tuple[str, ...]:
        """The addresses as the agent of ``key`` tries them: its agent id, or before it has one its
        machine id or host name ("" = as written)."""
        order = self._orders.get(key)
        if order is None:
            order = address_order(self._addresses, self._spread, key)
            if self._spread == "rendezvous":
                self._orders[key] = order
        return order

    def _route(self, key: str) -> Route:
        order = self.order(key)
        route = self._routes.get(order)
        if route is None:
            route = self._routes[order] = Route(order, self._failback_seconds, self._clock)
        self._last = route
        return route

    def _channel(self, address: str) -> Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = Channel(address, self._credentials, self._options)
        return channel

    async def _call(
        self,
        address: str,
        method: str,
        request: bytes,
        call_metadata: Metadata = (),
        compressed: bool = False,
    ) -> bytes:
        """One unary call to ``address``; PushError with the status unless OK."""
        try:
            result = await self._channel(address).unary(
                method, request, self._timeout, call_metadata, compressed
            )
        except RpcError as exc:
            raise PushError(exc.code, exc.details, _retry_after(exc.trailing_metadata)) from exc
        return result.payload

    def _failed(self, route: Route, address: str, error: PushError) -> PushError:
        current = route.address
        error.failed_over = route.failed(address, error.code in FAILOVER_CODES)
        if route.address != current:
            log.warning("collector %s: %s; moving to %s", address, error.code.name, route.address)
        return error

    def _call_metadata(self, identity: Identity | None) -> Metadata:
        if identity is None:
            return ()
        return (
            (metadata.AGENT_ID, identity.agent_id),
            (metadata.AUTHORIZATION, f"{metadata.BEARER} {identity.secret}"),
        )

    async def push(
        self, identity: Identity, reports: Sequence[pb.Report], oldest_held_seq: int = 0
    ) -> pb.PushResponse:
        """One Push attempt; raises PushError with the status on failure."""
        request = pb.PushRequest(reports=reports, oldest_held_seq=oldest_held_seq)
        return await self.push_request(identity, request)

    async def push_request(self, identity: Identity, request: pb.PushRequest) -> pb.PushResponse:
        route = self._route(identity.agent_id)
        address = route.pick()
        try:
            response = await self._push_at(address, identity, request)
        except PushError as exc:
            raise self._failed(route, address, exc) from exc.__cause__
        route.succeeded(address)
        return response

    async def _push_at(
        self, address: str, identity: Identity | None, request: pb.PushRequest
    ) -> pb.PushResponse:
        payload = await self._call(
            address, PUSH_METHOD, request.SerializeToString(), self._call_metadata(identity), self._compress
        )
        return _parse(pb.PushResponse, payload)

    async def probe(self, index: int, identity: Identity | None) -> pb.PushResponse:
        """An empty Push to one address, without failover: OK proves the address accepts ``identity``."""
        # An empty Push stores nothing and lists nobody at the collector. Without an identity the
        # answer UNAUTHENTICATED still proves the collector reachable.
        return await self._push_at(self._addresses[index], identity, pb.PushRequest())

    async def enroll(self, token: str, host: pb.HostInfo, machine_id: str = "") -> pb.EnrollResponse:
        """Enrol at the first address of the order of ``machine_id`` (else of the host name)."""
        route = self._route(machine_id or host.hostname)
        address = route.pick()
        request = pb.EnrollRequest(token=token, host=host, machine_id=machine_id)
        try:
            response = _parse(
                pb.EnrollResponse, await self._call(address, ENROLL_METHOD, request.SerializeToString())
            )
        except PushError as exc:
            raise self._failed(route, address, exc) from exc.__cause__
        route.succeeded(address)
        return response

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()


@dataclass(frozen=True)
class CollectorVerdict:
    """What one collector address said to an empty Push, and the gRPC status and message."""

    # status: ok, refused, not_enrolled, unreachable or error.

    address: str
    status: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def verdict(address: str, identity: Identity | None, error: PushError | None) -> CollectorVerdict:
    """Classify the answer of an empty Push: reachable or not, credential accepted or not."""
    if error is None:
        status = "ok" if identity is not None else "not_enrolled"
        return CollectorVerdict(address, status, "OK")
    if error.code in (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED):
        status = "unreachable"
    elif error.credential_problem:
        status = "refused" if identity is not None else "not_enrolled"
    elif error.code is StatusCode.RESOURCE_EXHAUSTED and identity is not None:
        status = "ok"  # busy, after the credential was checked
    else:
        status = "error"
    return CollectorVerdict(address, status, str(error))


async def check_collectors(section: CollectorSection, identity: Identity | None) -> list[CollectorVerdict]:
    """An empty Push to every configured address at once, each classified (``verdict``)."""
    transport = Transport(section)

    async def one(index: int) -> CollectorVerdict:
        try:
            await transport.probe(index, identity)
        except PushError as exc:
            return verdict(transport.addresses[index], identity, exc)
        return verdict(transport.addresses[index], identity, None)

    try:
        return list(await asyncio.gather(*(one(i) for i in range(len(transport.addresses)))))
    finally:
        await transport.close()
