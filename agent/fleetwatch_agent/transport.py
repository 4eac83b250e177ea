"""gRPC transport to the collector: TLS, credentials, failover between addresses, retry classification."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
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
# Codes after which the next attempt goes to the next collector address.
FAILOVER_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class PushError(Exception):
    """A call that failed; ``retryable`` says whether the same batch may be sent again soon,
    ``permanent`` that it never can (any other failure keeps the batch and waits longer)."""

    def __init__(self, code: grpc.StatusCode, details: str, retry_after_seconds: float = 0.0):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.retryable = code in RETRYABLE_CODES
        self.permanent = code in PERMANENT_CODES
        self.credential_problem = code in CREDENTIAL_CODES
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class Identity:
    agent_id: str
    secret: str


def backoff_delay(attempt: int, rng: random.Random, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)].

    The 60 s cap spreads 4,130 reconnecting agents over a minute (~70 per second) while an
    agent is back at most a minute after its collector is."""
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

    def __init__(self, section: CollectorSection, max_message_bytes: int = 4 * 1024 * 1024) -> None:
        self._addresses = tuple(section.addresses)
        self._current = 0
        self._timeout = section.timeout_seconds
        self._options = channel_options(section.keepalive_seconds, max_message_bytes, section.server_name)
        self._credentials = channel_credentials(section)
        self._compression = (
            grpc.Compression.Gzip if section.compression == "gzip" else grpc.Compression.NoCompression
        )
        self._channels: dict[str, grpc.aio.Channel] = {}

    @property
    def address(self) -> str:
        return self._addresses[self._current]

    def _stub(self) -> pb_grpc.CollectorStub:
        address = self.address
        channel = self._channels.get(address)
        if channel is None:
            if self._credentials is None:
                channel = grpc.aio.insecure_channel(address, options=self._options)
            else:
                channel = grpc.aio.secure_channel(address, self._credentials, options=self._options)
            self._channels[address] = channel
        return pb_grpc.CollectorStub(channel)  # type: ignore[no-untyped-call]

    def _failed(self, exc: grpc.aio.AioRpcError) -> PushError:
        code = exc.code()
        if code in FAILOVER_CODES and len(self._addresses) > 1:
            previous = self.address
            self._current = (self._current + 1) % len(self._addresses)
            log.warning("collector %s: %s; failing over to %s", previous, code.name, self.address)
        return PushError(code, exc.details() or "", _retry_after(exc))

    async def push(
        self, identity: Identity, reports: Sequence[pb.Report], oldest_held_seq: int = 0
    ) -> pb.PushResponse:
        """One Push attempt; raises PushError with the status on failure."""
        request = pb.PushRequest(reports=reports, oldest_held_seq=oldest_held_seq)
        return await self.push_request(identity, request)

    async def push_request(self, identity: Identity, request: pb.PushRequest) -> pb.PushResponse:
        try:
            response: pb.PushResponse = await self._stub().Push(
                request,
                timeout=self._timeout,
                metadata=(
                    (metadata.AGENT_ID, identity.agent_id),
                    (metadata.AUTHORIZATION, f"{metadata.BEARER} {identity.secret}"),
                ),
                compression=self._compression,
            )
        except grpc.aio.AioRpcError as exc:
            raise self._failed(exc) from exc
        return response

    async def enroll(self, token: str, host: pb.HostInfo) -> pb.EnrollResponse:
        try:
            response: pb.EnrollResponse = await self._stub().Enroll(
                pb.EnrollRequest(token=token, host=host), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise self._failed(exc) from exc
        return response

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
