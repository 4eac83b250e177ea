"""The Collector gRPC service: thin handlers that decode, validate and hand off."""

from __future__ import annotations

import asyncio
import logging
import operator
import random
import time

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.auth import current_identity
from fleetwatch_collector.centralstore import CentralConfigs
from fleetwatch_collector.checks import Limits, Rejection
from fleetwatch_collector.config import EnrolmentSection
from fleetwatch_collector.enrolment import EnrolmentError, enrol, enroll_response
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.gate import peer_host
from fleetwatch_collector.persist import Persister
from fleetwatch_collector.ratelimit import RateLimiter
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.shedding import Shedder
from fleetwatch_collector.sitedir import SiteDirectory
from fleetwatch_collector.store import Store, StoreError
from fleetwatch_collector.validate import validate_host, validate_push
from fleetwatch_proto import metadata
from fleetwatch_proto.addresses import is_loopback_host
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
        enrolment: EnrolmentSection | None = None,
        mutual_tls: bool = False,
        central: CentralConfigs | None = None,
        cluster_key: bytes | None = None,  # [cluster] key_file: secrets are signed (enrolment.py)
    ) -> None:
        self._cluster_key = cluster_key
        self._central = central
        self._refusals_logged: dict[str, str] = {}  # agent id -> the refused version last logged
        self._sites = sites
        self._enrolment = enrolment = enrolment or EnrolmentSection()
        self._mutual_tls = mutual_tls
        self._enrol_per_peer = RateLimiter(enrolment.per_peer_per_second, enrolment.per_peer_burst)
        self._enrol_overall = RateLimiter(enrolment.per_second, enrolment.burst)
        fleet.max_age_ms = limits.max_age_seconds * 1000
        self._fleet = fleet
        self._metrics = metrics
        self._limits = limits
        self._store = store
        self._persister = persister
        self._rate = RateLimiter(limits.pushes_per_second_per_agent, limits.push_burst)
        self._shedder = Shedder(
            limits.store_wait_target_seconds, limits.store_wait_interval_seconds, limits.max_pending_pushes
        )

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
            request = pb.PushRequest.FromString(raw)
        except DecodeError as exc:
            raise Rejection("malformed", f"PushRequest does not decode: {exc}") from exc
        # Fields this collector does not know would be kept by every copy and store of a section.
        request.DiscardUnknownFields()
        return request

    def _admit(self, agent_id: str) -> tuple[Rejection, float] | None:
        """Load shedding first (the collector's health), then the agent's own rate."""
        now = time.monotonic()
        persister = self._persister
        if self._shedder.overloaded(persister.pending, persister.oldest_wait(now), now):
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
            # Nothing it reports can have happened long before it could run: its enrolment, less
            # the age of the oldest report the collector accepts at all (it may spool before enrolling).
            not_before_ms = int(identity.enrolled_at * 1000) - self._limits.max_age_seconds * 1000
            validate_push(request, int(time.time() * 1000), self._limits, not_before_ms)
            result = self._fleet.apply(
                identity.agent_id,
                request.reports,
                request.oldest_held_seq,
                identity.site,
                identity.hostname,
            )
        except Rejection as rejection:
            await self._refuse(context, rejection)
            raise AssertionError("unreachable: abort raises") from None
        if result.hostname_change is not None:
            self._metrics.hostname_changes.labels(result.hostname_change).inc()
            log.warning(
                "agent %s reports host name %r instead of %r: %s",
                identity.agent_id,
                result.reported_hostname,
                result.previous_hostname,
                "its host label follows"
                if result.hostname_change == "applied"
                else "another agent of its site has that name, its host label stays",
            )
        if result.seq_restart:
            self._metrics.seq_restarts.inc()
            log.warning("agent %s restarted its sequence numbers at its clock", identity.agent_id)
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
        response = pb.PushResponse(acked_seq=result.acked_seq)
        self._offer_config(identity.agent_id, identity.site, request, response)
        return response

    def _offer_config(
        self, agent_id: str, site: SiteLabels | None, request: pb.PushRequest, response: pb.PushResponse
    ) -> None:
        """The site's central configuration into ``response`` when the agent runs another version
        (a dictionary look-up: centralstore.py); a refusal the agent reports is logged."""
        if self._central is None:
            return
        entry = self._fleet.get(agent_id)
        labels = entry.labels() if entry is not None else site
        self._central.note(agent_id, labels, request)  # for `config show`
        effective = self._central.for_labels(labels)
        if effective is None or effective.version == request.config_version:
            return
        if request.config_refused_version == effective.version:  # it has it, and cannot run it
            if self._refusals_logged.get(agent_id) != effective.version:  # once per agent and version
                self._refusals_logged[agent_id] = effective.version
                log.info(
                    "agent %s refuses central configuration %s: %s",
                    agent_id,
                    effective.version,
                    request.config_refused_reason or "(no reason given)",
                )
            return
        response.config.CopyFrom(effective.message)

    def _pace(self, peer: str) -> float | None:
        """Seconds this enrolment waits for its turn (per peer, then overall), None: refused."""
        limits = self._enrolment
        per_peer = limits.limit_loopback or not is_loopback_host(peer)
        wait = self._enrol_per_peer.reserve(peer, limits.max_wait_seconds) if per_peer else 0.0
        if wait is None:
            return None
        overall = self._enrol_overall.reserve("", limits.max_wait_seconds - wait)
        if overall is None:
            if per_peer:
                self._enrol_per_peer.refund(peer)
            return None
        return max(wait, overall)

    async def enroll(self, raw: bytes, context: grpc.aio.ServicerContext) -> pb.EnrollResponse:
        peer = peer_host(context.peer())
        wait = self._pace(peer)
        if wait is None:
            self._metrics.enrolments.labels("rate_limited").inc()
            log.info("enrolment from %s refused: more enrolments than the rate limits allow", peer)
            delay = self._enrolment.max_wait_seconds * random.uniform(1.0, 3.0)
            context.set_trailing_metadata(((metadata.RETRY_AFTER_MS, str(int(delay * 1000))),))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many enrolments, retry later")
        if wait:
            await asyncio.sleep(wait)
        try:
            request = pb.EnrollRequest.FromString(raw)
            request.DiscardUnknownFields()
            validate_host("host", request.host)
            if request.machine_id and not MACHINE_ID_RE.fullmatch(request.machine_id):
                raise Rejection("invalid_label", "machine_id: not a hex digest of the machine id")
        except (DecodeError, Rejection) as exc:
            self._metrics.enrolments.labels("invalid_request").inc()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid EnrollRequest: {exc}")
            raise AssertionError("unreachable: abort raises") from None
        sites = self._sites
        certificate = ""
        if self._mutual_tls:  # the certificate it enrols with names it from now on (gate.py)
            common_names = context.auth_context().get("x509_common_name", [])
            certificate = common_names[0].decode(errors="replace") if common_names else ""
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
                certificate,
                self._cluster_key,
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
        if enrolled.duplicate_of is not None:
            self._metrics.duplicate_hostnames.inc()
            log.warning(
                "%s enrolled as %s with the host name of %s at the same site: two machines, one name?"
                " Rename one, or `agent forget` the one that is gone",
                request.host.hostname,
                enrolled.agent_id,
                enrolled.duplicate_of,
            )
        if enrolled.continued:
            self._fleet.reenrolled(enrolled.agent_id, enrolled.site, request.host.hostname)
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
        effective = self._central.for_labels(site) if self._central is not None else None
        return enroll_response(enrolled, site, site_type, effective.message if effective else None)

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
