"""The Collector gRPC service: thin handlers that decode, validate and hand off to the fleet state."""

from __future__ import annotations

import logging
import time

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

from fleetwatch_collector.auth import current_agent
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.validate import Limits, Rejection, validate_push
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

log = logging.getLogger(__name__)
SERVICE_NAME = "fleetwatch.v1.Collector"


class CollectorService:
    """Handlers of fleetwatch.v1.Collector; requests arrive as raw bytes so decoding errors are ours."""

    def __init__(self, fleet: FleetState, metrics: CollectorMetrics, limits: Limits) -> None:
        self._fleet = fleet
        self._metrics = metrics
        self._limits = limits

    async def _refuse(self, context: grpc.aio.ServicerContext, rejection: Rejection) -> None:
        self._metrics.rejected.labels(rejection.reason).inc()
        self._metrics.pushes.labels(rejection.code.name).inc()
        log.info("push from %s refused (%s): %s", current_agent.get("?"), rejection.reason, rejection)
        await context.abort(rejection.code, str(rejection))

    def _decode(self, raw: bytes) -> pb.PushRequest:
        if len(raw) > self._limits.max_message_bytes:
            raise Rejection(
                "oversized",
                f"PushRequest of {len(raw)} bytes exceeds {self._limits.max_message_bytes} bytes",
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            )
        try:
            return pb.PushRequest.FromString(raw)
        except DecodeError as exc:
            raise Rejection("malformed", f"PushRequest does not decode: {exc}") from exc

    async def push(self, raw: bytes, context: grpc.aio.ServicerContext) -> pb.PushResponse:
        started = time.perf_counter()
        agent_id = current_agent.get()
        try:
            request = self._decode(raw)
            validate_push(request, int(time.time() * 1000), self._limits)
        except Rejection as rejection:
            await self._refuse(context, rejection)
            raise AssertionError("unreachable: abort raises") from None
        result = self._fleet.apply(agent_id, request.reports)
        self._metrics.applied.inc(result.applied)
        if result.duplicates:
            self._metrics.duplicates.inc(result.duplicates)
        self._metrics.pushes.labels("OK").inc()
        self._metrics.push_duration.observe(time.perf_counter() - started)
        return pb.PushResponse(acked_seq=result.acked_seq)

    async def enroll(self, raw: bytes, context: grpc.aio.ServicerContext) -> pb.EnrollResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "enrolment is not enabled on this collector")
        raise AssertionError("unreachable: abort raises")

    def generic_handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Push": grpc.unary_unary_rpc_method_handler(
                    self.push, response_serializer=pb.PushResponse.SerializeToString
                ),
                "Enroll": grpc.unary_unary_rpc_method_handler(
                    self.enroll, response_serializer=pb.EnrollResponse.SerializeToString
                ),
            },
        )
