"""gRPC transport to the collector: TLS, credentials, failover between addresses, retry classification."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio

from fleetwatch_agent.config import CollectorSection
from fleetwatch_proto import metadata
from fleetwatch_proto.addresses import is_loopback_host
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)
# The collector judged the batch itself invalid: sending it again cannot succeed.
PERMANENT_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE})
# The reports are fine but this agent may not deliver them now: keep them, retry slowly.
CREDENTIAL_CODES = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
# Codes after which the next attempt goes to the next collector address: that collector is
# unreachable, or it does not accept this agent (a credential belongs to one collector database).
FAILOVER_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    }
)


class PushError(Exception):
    """A call that failed, classified: retryable soon, permanent (never), or a credential problem."""

    # Any other failure keeps the batch and waits longer.

    def __init__(self, code: grpc.StatusCode, details: str, retry_after_seconds: float = 0.0):
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


def channel_options(
    keepalive_seconds: float, max_message_bytes: int, server_name: str
) -> list[tuple[str, object]]:
    options: list[tuple[str, object]] = [
        ("grpc.keepalive_time_ms", int(keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.enable_retries", 0),  # retries are the agent's, with its own backoff
    ]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return options


def channel_credentials(section: CollectorSection) -> grpc.ChannelCredentials | None:
    """TLS credentials per the configuration, None for plaintext."""
    use_tls = section.tls == "on" or (
        section.tls == "auto" and not all(is_loopback_address(a) for a in section.addresses)
    )
    if not use_tls:
        return None

    def read(option: str, path: str) -> bytes | None:
        if not path:
            return None
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"option collector.{option}: cannot read {path}: {exc.strerror}") from exc

    return grpc.ssl_channel_credentials(
        root_certificates=read("ca_file", section.ca_file),
        private_key=read("key_file", section.key_file),
        certificate_chain=read("cert_file", section.cert_file),
    )


def _retry_after(call_error: grpc.aio.AioRpcError) -> float:
    for key, value in call_error.trailing_metadata() or ():
        if key == metadata.RETRY_AFTER_MS:
            try:
                return max(0.0, int(value) / 1000.0)
            except ValueError:
                return 0.0
    return 0.0


class Transport:
    """Calls the collector for one or many agents over shared channels, failing over between addresses."""

    # Calls go to the current address, the first at start. A call that fails with a code of
    # FAILOVER_CODES moves the current address to the next one (round robin). Once the first
    # address has been left, it is tried again after ``failback_seconds``.

    def __init__(
        self,
        section: CollectorSection,
        max_message_bytes: int = 4 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._addresses = tuple(section.addresses)
        self._current = 0
        self._failback_seconds = section.failback_seconds
        self._failback_at = math.inf
        self._failures = 0  # calls failed in a row since the last success
        self._clock = clock
        self._timeout = section.timeout_seconds
        self._options = channel_options(section.keepalive_seconds, max_message_bytes, section.server_name)
        self._credentials = channel_credentials(section)
        self._compression = (
            grpc.Compression.Gzip if section.compression == "gzip" else grpc.Compression.NoCompression
        )
        self._channels: dict[str, grpc.aio.Channel] = {}

    @property
    def addresses(self) -> tuple[str, ...]:
        return self._addresses

    @property
    def address(self) -> str:
        return self._addresses[self._current]

    def _pick(self) -> int:
        """The address index of the next call: the current one, or the first again when its time came."""
        if self._current != 0 and self._clock() >= self._failback_at:
            log.info("trying the first collector address %s again", self._addresses[0])
            self._current = 0
            self._failback_at = math.inf
        return self._current

    def _stub(self, index: int) -> pb_grpc.CollectorStub:
        address = self._addresses[index]
        channel = self._channels.get(address)
        if channel is None:
            if self._credentials is None:
                channel = grpc.aio.insecure_channel(address, options=self._options)
            else:
                channel = grpc.aio.secure_channel(address, self._credentials, options=self._options)
            self._channels[address] = channel
        return pb_grpc.CollectorStub(channel)  # type: ignore[no-untyped-call]

    def _failed(self, index: int, exc: grpc.aio.AioRpcError) -> PushError:
        code = exc.code()
        error = PushError(code, exc.details() or "", _retry_after(exc))
        self._failures += 1
        # Only the first failure of a call made at the current address moves it (calls of
        # many agents may fail together).
        if code in FAILOVER_CODES and len(self._addresses) > 1 and index == self._current:
            self._current = (index + 1) % len(self._addresses)
            if index == 0:
                self._failback_at = self._clock() + self._failback_seconds
            error.failed_over = self._failures < len(self._addresses)
            log.warning("collector %s: %s; moving to %s", self._addresses[index], code.name, self.address)
        return error

    def _succeeded(self, index: int) -> None:
        if self._failures:
            log.info("collector %s answered", self._addresses[index])
        self._failures = 0

    def _call_metadata(self, identity: Identity | None) -> tuple[tuple[str, str], ...]:
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
        index = self._pick()
        try:
            response = await self._push_at(index, identity, request)
        except grpc.aio.AioRpcError as exc:
            raise self._failed(index, exc) from exc
        self._succeeded(index)
        return response

    async def _push_at(
        self, index: int, identity: Identity | None, request: pb.PushRequest
    ) -> pb.PushResponse:
        response: pb.PushResponse = await self._stub(index).Push(
            request,
            timeout=self._timeout,
            metadata=self._call_metadata(identity),
            compression=self._compression,
        )
        return response

    async def probe(self, index: int, identity: Identity | None) -> pb.PushResponse:
        """An empty Push to one address, without failover: OK proves the address accepts ``identity``."""
        # An empty Push stores nothing and lists nobody at the collector. Without an identity the
        # answer UNAUTHENTICATED still proves the collector reachable.
        try:
            return await self._push_at(index, identity, pb.PushRequest())
        except grpc.aio.AioRpcError as exc:
            raise PushError(exc.code(), exc.details() or "", _retry_after(exc)) from exc

    async def enroll(self, token: str, host: pb.HostInfo, machine_id: str = "") -> pb.EnrollResponse:
        index = self._pick()
        try:
            response: pb.EnrollResponse = await self._stub(index).Enroll(
                pb.EnrollRequest(token=token, host=host, machine_id=machine_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise self._failed(index, exc) from exc
        self._succeeded(index)
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
    if error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        status = "unreachable"
    elif error.credential_problem:
        status = "refused" if identity is not None else "not_enrolled"
    elif error.code is grpc.StatusCode.RESOURCE_EXHAUSTED and identity is not None:
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
