"""The Collector gRPC service: thin handlers that decode, validate and hand off."""

from __future__ import annotations

import asyncio
import logging
import operator
import random
import time
from typing import cast

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.auth import current_identity
from fleetwatch_collector.checks import Limits, Rejection
from fleetwatch_collector.enrolment import EnrolmentError, enrol
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.persist import Persister
from fleetwatch_collector.ratelimit import RateLimiter
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.sitedir import SiteDirectory
from fleetwatch_collector.store import Store, StoreError
from fleetwatch_collector.validate import validate_host, validate_push
from fleetwatch_proto import metadata
from fleetwatch_proto.limits import MACHINE_ID_RE
from fleetwatch_proto.names import SITE_TYPE
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

log = logging.getLogger(__name__)
SERVICE_NAME = "fleetwatch.v1.Collector"


class CollectorService:
    """Handlers of fleetwatch.v1.Collector; requests arrive as raw bytes so decoding errors are ours."""

    def __init__(
        self,
        fleet: FleetState,
        metrics: CollectorMetrics,
        limits: Limits,
        store: Store,
        persister: Persister,
        sites: SiteDirectory | None = None,
    ) -> None:
        self._sites = sites
        self._fleet = fleet
        self._metrics = metrics
        self._limits = limits
        self._store = store
        self._persister = persister
        self._rate = RateLimiter(limits.pushes_per_second_per_agent, limits.push_burst)

    async def _refuse(
        self, context: grpc.aio.ServicerContext, rejection: Rejection, retry_after: float = 0
    ) -> None:
        self._metrics.rejected.labels(rejection.reason).inc()
        self._metrics.pushes.labels(rejection.code.name).inc()
        identity = current_identity.get(None)
        log.info(
            "push from %s refused (%s): %s",
            identity.agent_id if identity else "?",
            rejection.reason,
            rejection,
        )
        if retry_after > 0:
            context.set_trailing_metadata(((metadata.RETRY_AFTER_MS, str(int(retry_after * 1000))),))
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

    def _admit(self, agent_id: str) -> tuple[Rejection, float] | None:
        """Load shedding first (the collector's health), then the agent's own rate."""
        if self._persister.pending >= self._limits.max_pending_pushes:
            delay = self._limits.retry_after_seconds * random.uniform(1.0, 3.0)
            return Rejection(
                "overloaded", "collector busy, retry later", grpc.StatusCode.RESOURCE_EXHAUSTED
            ), delay
        wait = self._rate.acquire(agent_id)
        if wait > 0:
            message = f"more than {self._limits.pushes_per_second_per_agent:g} pushes/s from this agent"
            return Rejection("rate_limited", message, grpc.StatusCode.RESOURCE_EXHAUSTED), wait
        return None

    async def push(self, raw: bytes, context: grpc.aio.ServicerContext) -> pb.PushResponse:
        started = time.perf_counter()
        identity = current_identity.get()
        refusal = self._admit(identity.agent_id)
        if refusal is not None:
            await self._refuse(context, *refusal)
        try:
            request = self._decode(raw)
            validate_push(request, int(time.time() * 1000), self._limits)
        except Rejection as rejection:
            await self._refuse(context, rejection)
            raise AssertionError("unreachable: abort raises") from None
        result = self._fleet.apply(identity.agent_id, request.reports, request.oldest_held_seq, identity.site)
        # Saved even when every report was a duplicate: after a failed save the state in
        # memory is ahead of the store, and this resend is what makes it durable.
        if request.reports:
            try:
                await self._persister.save(self._fleet.snapshot(identity.agent_id))
            except StoreError:
                await self._refuse(
                    context,
                    Rejection(
                        "store_error", "collector cannot store reports now", grpc.StatusCode.UNAVAILABLE
                    ),
                    self._limits.retry_after_seconds,
                )
        self._metrics.applied.inc(result.applied)
        if result.duplicates:
            self._metrics.duplicates.inc(result.duplicates)
        self._metrics.pushes.labels("OK").inc()
        self._metrics.push_duration.observe(time.perf_counter() - started)
        return pb.PushResponse(acked_seq=result.acked_seq)

    async def enroll(self, raw: bytes, context: grpc.aio.ServicerContext) -> pb.EnrollResponse:
        try:
            request = pb.EnrollRequest.FromString(raw)
            validate_host("host", request.host)
            if request.machine_id and not MACHINE_ID_RE.fullmatch(request.machine_id):
                raise Rejection("invalid_label", "machine_id: not a hex digest of the machine id")
        except (DecodeError, Rejection) as exc:
            self._metrics.enrolments.labels("invalid_request").inc()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid EnrollRequest: {exc}")
            raise AssertionError("unreachable: abort raises") from None
        sites = self._sites
        try:
            enrolled = await asyncio.to_thread(
                enrol,
                self._store,
                request.token,
                time.time(),
                request.machine_id,
                request.host.site,
                sites.same_site if sites else operator.eq,
                request.host.hostname,
            )
        except EnrolmentError as exc:
            self._metrics.enrolments.labels(exc.reason).inc()
            log.info("enrolment of %s refused (%s): %s", request.host.hostname, exc.reason, exc)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            raise AssertionError("unreachable: abort raises") from None
        site = enrolled.site or SiteLabels(
            request.host.site,
            request.host.district,
            SITE_TYPE.name(request.host.site_type, ""),
            request.host.site_name,
        )
        if sites is not None:
            site = sites.labels(site)[0]
        if enrolled.continued:
            self._fleet.reenrolled(enrolled.agent_id, enrolled.site)
            self._metrics.enrolments.labels("reenrolled").inc()
        else:
            self._metrics.enrolments.labels("ok").inc()
        log.info(
            "%s %s as %s at site %s",
            "re-enrolled" if enrolled.continued else "enrolled",
            request.host.hostname,
            enrolled.agent_id,
            site.site or "?",
        )
        site_type = SITE_TYPE.number(site.site_type) or request.host.site_type
        return pb.EnrollResponse(
            agent_id=enrolled.agent_id,
            secret=enrolled.secret,
            site=site.site,
            district=site.district,
            site_type=cast("pb.SiteType", site_type),  # the stubs' enum type
        )

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
