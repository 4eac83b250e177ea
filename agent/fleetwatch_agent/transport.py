"""gRPC transport to the collector: one channel per address, failover, retry classification."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

import grpc
import grpc.aio

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

AGENT_ID_METADATA = "x-fleetwatch-agent-id"
RETRY_AFTER_METADATA = "x-fleetwatch-retry-after-ms"
RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)
# Codes after which the next attempt goes to the next collector address.
FAILOVER_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class PushError(Exception):
    """A Push that failed; ``retryable`` says whether the same batch may be sent again."""

    def __init__(self, code: grpc.StatusCode, details: str, retry_after_seconds: float = 0.0):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.retryable = code in RETRYABLE_CODES
        self.retry_after_seconds = retry_after_seconds


def backoff_delay(attempt: int, rng: random.Random, base: float = 1.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap, base * (2 ** min(attempt, 30))))


def channel_options(keepalive_seconds: float, max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.keepalive_time_ms", int(keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.enable_retries", 0),  # retries are the agent's, with its own backoff
    ]


def _retry_after(call_error: grpc.aio.AioRpcError) -> float:
    for key, value in call_error.trailing_metadata() or ():
        if key == RETRY_AFTER_METADATA:
            try:
                return max(0.0, int(value) / 1000.0)
            except ValueError:
                return 0.0
    return 0.0


class Transport:
    """Pushes batches for one or many agent ids over shared channels, failing over between addresses."""

    def __init__(
        self,
        addresses: Sequence[str],
        timeout_seconds: float = 10.0,
        keepalive_seconds: float = 60.0,
        compression: str = "gzip",
        max_message_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        if not addresses:
            raise ValueError("at least one collector address is needed")
        self._addresses = tuple(addresses)
        self._current = 0
        self._timeout = timeout_seconds
        self._options = channel_options(keepalive_seconds, max_message_bytes)
        self._compression = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        self._channels: dict[str, grpc.aio.Channel] = {}

    @property
    def address(self) -> str:
        return self._addresses[self._current]

    def _stub(self) -> pb_grpc.CollectorStub:
        address = self.address
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=self._options)
            self._channels[address] = channel
        return pb_grpc.CollectorStub(channel)  # type: ignore[no-untyped-call]

    async def push(
        self, agent_id: str, reports: Sequence[pb.Report], config_version: str = ""
    ) -> pb.PushResponse:
        """One Push attempt; raises PushError with the status on failure."""
        request = pb.PushRequest(reports=reports, config_version=config_version)
        try:
            response: pb.PushResponse = await self._stub().Push(
                request,
                timeout=self._timeout,
                metadata=((AGENT_ID_METADATA, agent_id),),
                compression=self._compression,
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code in FAILOVER_CODES and len(self._addresses) > 1:
                previous = self.address
                self._current = (self._current + 1) % len(self._addresses)
                log.warning("collector %s: %s; failing over to %s", previous, code.name, self.address)
            raise PushError(code, exc.details() or "", _retry_after(exc)) from exc
        return response

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
