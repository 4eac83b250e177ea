"""Admission of gRPC calls: credentials before resources, bounded calls, deadlines for silent callers.

Every call passes the gate before its handler runs and before its request message is read.
Python's gRPC has no per-method receive limits (service configs are a client-side feature,
the server's limit is one channel argument), so the gate turns each unary-request method into
a streaming-request one and reads the single message itself, when it decides to:

- Push: the credential is checked from the call's metadata (and, under mutual TLS, against the
  client certificate) before anything is read; a call without a valid one is refused, and
  gRPC holds at most one HTTP/2 window (64 KiB, with BDP probing off) of its message, never
  the message. Then the agent's calls in progress (``calls.max_calls_per_agent``; a new call
  replaces the agent's oldest one still waiting for its message) and all authenticated calls
  (``calls.max_push_calls``) are bounded, and the message must arrive within
  ``calls.push_message_seconds``.
- Enroll and health (no credential, so nothing tells a caller from another but its address):
  bounded overall and per peer address; when full, a new call replaces the oldest one still
  waiting for its turn. Only ``calls.max_open_reads`` read at once, newest first, so their
  memory is bounded whatever sizes they announce; a read older than
  ``calls.open_read_grace_seconds`` is cancelled for a newer call, so callers that never finish
  their message cannot hold the reads. A legitimate message (a few hundred bytes, sent with
  the headers) is read at once. Requests over ``calls.max_open_message_bytes`` are refused.
- Health Watch streams are bounded overall and per peer once their request arrived.
- A call to a method the collector does not serve is refused and counted.

Every refusal is counted: Push in ``fleetwatch_collector_rejected_total{reason}`` (and
``pushes_total{code}``), the others in ``fleetwatch_collector_calls_refused_total{method,reason}``;
calls that end before an answer in ``fleetwatch_collector_calls_cancelled_total{method,phase}``.
A message gRPC refuses itself (larger than its receive limit, ``2 x limits.max_message_bytes``,
judged from the length prefix before the body is read) reaches the gate either as a read that
ended without a message (counted as ``oversized``) or, when gRPC saw the prefix before the gate
asked for the message, as a call cancelled in phase ``message``: gRPC tells the application no more.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import random
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

from fleetwatch_collector.auth import AuthFailure, Identity, SignedLookup, authenticate, current_identity
from fleetwatch_collector.callpools import (
    RESOURCE_EXHAUSTED,
    AgentCalls,
    Call,
    Evicted,
    OpenCalls,
    Refused,
    Streams,
)
from fleetwatch_collector.config import CallsSection
from fleetwatch_collector.enrolment import Credential
from fleetwatch_collector.ratelimit import RateLimiter
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_proto import metadata as keys

log = logging.getLogger(__name__)

PUSH = "/fleetwatch.v1.Collector/Push"
ENROLL = "/fleetwatch.v1.Collector/Enroll"
CHECK = "/grpc.health.v1.Health/Check"
WATCH = "/grpc.health.v1.Health/Watch"
# The method label of the gate's counters: a fixed set, whatever methods callers invent.
METHOD_LABELS = {PUSH: "Push", ENROLL: "Enroll", CHECK: "Check", WATCH: "Watch"}
OPEN_METHODS = frozenset({ENROLL, CHECK, WATCH})
LOG_LINES_PER_SECOND, LOG_BURST = 2.0, 20  # refusal log lines per reason
# Where the current call is, for the cancellation counter: waiting for or reading its message
# ("message"), or in its handler ("handling").
_phase: contextvars.ContextVar[str] = contextvars.ContextVar("call_phase", default="message")


def peer_host(peer: str) -> str:
    """The address of a gRPC peer string: "ipv4:10.0.0.5:51234" -> "10.0.0.5", "ipv6:[::1]:1" -> "::1"."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        host = rest.rpartition(":")[0]
        return host.strip("[]") or rest
    return peer


Lookup = Callable[[str], Credential | None]


class Gate(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """The server interceptor: wraps every method handler (see the module docstring)."""

    def __init__(
        self,
        calls: CallsSection,
        lookup: Lookup,
        metrics: CollectorMetrics,
        mutual_tls: bool = False,
        clock: Callable[[], float] = time.monotonic,
        signed: SignedLookup | None = None,  # a cluster's signed secrets (clusterauth.py)
    ) -> None:
        self._calls = calls
        self._lookup = lookup
        self._signed = signed
        self._metrics = metrics
        self._mutual_tls = mutual_tls
        self._clock = clock
        self.pushes = AgentCalls(calls.max_push_calls, calls.max_calls_per_agent)
        self.open = OpenCalls(
            calls.max_open_calls,
            calls.max_open_calls_per_peer,
            calls.max_open_reads,
            calls.open_read_grace_seconds,
            clock,
        )
        self.watches = Streams(calls.max_watch_streams, calls.max_watch_streams_per_peer)
        self._log_budget = RateLimiter(LOG_LINES_PER_SECOND, LOG_BURST, clock)
        in_progress = metrics.calls_in_progress
        in_progress.labels("push").set_function(lambda: self.pushes.count)
        in_progress.labels("open_waiting").set_function(lambda: self.open.waiting)
        in_progress.labels("open_reading").set_function(lambda: self.open.reading)
        in_progress.labels("watch").set_function(lambda: self.watches.count)

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None:
            return grpc.stream_unary_rpc_method_handler(self._unknown(method))
        if handler.request_streaming:
            return handler  # none served; nothing to bound before a message
        call_metadata = handler_call_details.invocation_metadata
        if method == PUSH:
            behavior = self._push(handler, call_metadata)
        elif method in OPEN_METHODS:
            behavior = self._open(method, handler)
        else:
            return grpc.stream_unary_rpc_method_handler(self._unknown(method))
        if handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(
                behavior, response_serializer=handler.response_serializer
            )
        return grpc.stream_unary_rpc_method_handler(behavior, response_serializer=handler.response_serializer)

    # --- refusals -------------------------------------------------------------------------

    async def _refuse(self, context: grpc.aio.ServicerContext, method: str, refused: Refused) -> None:
        label = METHOD_LABELS.get(method, "other")
        if method == PUSH:
            self._metrics.push_refused(refused.reason, refused.code.name)
        else:
            self._metrics.calls_refused.labels(label, refused.reason).inc()
        # A flood of refusals must not become a flood of log lines: a few per reason per second
        # (the counters have the totals).
        if self._log_budget.acquire(refused.reason) == 0:
            log.info("%s from %s refused (%s): %s", label, context.peer(), refused.reason, refused)
        if refused.retry_after > 0:
            hint = refused.retry_after * random.uniform(1.0, 3.0)  # spread the retries
            context.set_trailing_metadata(((keys.RETRY_AFTER_MS, str(int(hint * 1000))),))
        await context.abort(refused.code, str(refused))

    def _unknown(self, method: str) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]]:
        async def unknown(requests: Any, context: grpc.aio.ServicerContext) -> None:
            await self._refuse(
                context,
                method,
                Refused(grpc.StatusCode.UNIMPLEMENTED, "unknown_method", "no such method"),
            )

        return unknown

    # --- reading the one request message ---------------------------------------------------

    async def _read(
        self, context: grpc.aio.ServicerContext, method: str, call: Call, deadline: float, limit: int
    ) -> bytes:
        """The request message, read within ``deadline``; refuses (aborts) when it cannot be had."""
        # The read runs in the handler's own task, under a timeout: no task of its own and no wait
        # set, which cost an event-loop turn and several callbacks per call. An eviction cancels the
        # task while it reads (``call.reading``; callpools.py), which ends up here as evicted.
        task = asyncio.current_task()
        call.reading = task
        message: Any = None
        timed_out = False
        try:
            async with asyncio.timeout(max(0.0, deadline - self._clock())):
                message = await context.read()
        except TimeoutError:
            timed_out = True
        except asyncio.CancelledError:
            if not call.evicted:
                raise
            if task is not None:
                task.uncancel()  # the eviction's cancellation is handled: the refusal below
        finally:
            call.reading = None
        if call.evicted:
            await self._refuse(context, method, _evicted())
        if timed_out:
            await self._refuse(context, method, _timeout())
        if not isinstance(message, bytes):  # EOF: gRPC refused an oversized message, or none came
            await self._refuse(
                context,
                method,
                Refused(
                    RESOURCE_EXHAUSTED,
                    "oversized",
                    "no request message: larger than the collector's receive limit, or none sent",
                ),
            )
            raise AssertionError("unreachable: abort raises")
        if len(message) > limit:
            await self._refuse(
                context,
                method,
                Refused(RESOURCE_EXHAUSTED, "oversized", f"request of {len(message)} bytes exceeds {limit}"),
            )
        _phase.set("handling")
        return message

    # --- Push ------------------------------------------------------------------------------

    def _push(self, handler: Any, call_metadata: Any) -> Callable[..., Awaitable[Any]]:
        inner = handler.unary_unary

        async def push(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                identity = self._identify(call_metadata, context)
                call = self.pushes.admit(identity.agent_id, self._clock())
            except Refused as refused:
                await self._refuse(context, PUSH, refused)
                raise AssertionError("unreachable: abort raises") from None
            try:
                deadline = call.started + self._calls.push_message_seconds
                # gRPC refuses beyond its own limit; the handler counts what lies between.
                raw = await self._read(context, PUSH, call, deadline, 1 << 62)
                call.phase = "handling"
                token = current_identity.set(identity)
                try:
                    return await inner(raw, context)
                finally:
                    current_identity.reset(token)
            finally:
                self.pushes.release(call)

        return self._guarded("Push", push)

    def _guarded(
        self, label: str, body: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        """``body`` with its ends accounted for: cancellations counted, and the frames of a refused
        call emptied at once. gRPC keeps the abort exception with the call, whose traceback holds
        the handlers' frames and so the request bytes and the decoded message: a reference cycle
        only the garbage collector would free, seconds or minutes later, megabytes each."""

        async def guarded(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            _phase.set("message")
            try:
                return await body(requests, context)
            except grpc.aio.AbortError as error:
                traceback.clear_frames(error.__traceback__)
                raise
            except asyncio.CancelledError as error:
                self._metrics.calls_cancelled.labels(label, _phase.get()).inc()
                traceback.clear_frames(error.__traceback__)
                raise

        return guarded

    def _identify(self, call_metadata: Any, context: grpc.aio.ServicerContext) -> Identity:
        try:
            identity = authenticate(call_metadata, self._lookup, self._signed)
        except AuthFailure as failure:
            raise Refused(failure.code, failure.reason, str(failure)) from None
        if self._mutual_tls:
            names = certificate_names(context.auth_context())
            if not certificate_matches(names, identity):
                shown = ", ".join(sorted(names)) or "none"
                raise Refused(
                    grpc.StatusCode.PERMISSION_DENIED,
                    "certificate_mismatch",
                    f"the client certificate ({shown}) does not name agent {identity.agent_id}",
                )
        return identity

    # --- Enroll and health -----------------------------------------------------------------

    def _open(self, method: str, handler: Any) -> Callable[..., Any]:
        label = METHOD_LABELS[method]
        streaming = handler.response_streaming
        inner = handler.unary_stream if streaming else handler.unary_unary
        deserialize = handler.request_deserializer

        async def behavior(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            peer = peer_host(context.peer())
            try:
                call = self.open.admit(peer, self._clock())
            except Refused as refused:
                await self._refuse(context, method, refused)
                raise AssertionError("unreachable: abort raises") from None
            deadline = call.started + self._calls.open_message_seconds
            try:
                try:
                    await self.open.turn(call, deadline)
                except Evicted:
                    await self._refuse(context, method, _evicted())
                except TimeoutError:
                    await self._refuse(context, method, _timeout())
                limit = self._calls.max_open_message_bytes
                raw = await self._read(context, method, call, deadline, limit)
            finally:
                self.open.done_reading(call)
            request: Any = raw
            if deserialize is not None:
                try:
                    request = deserialize(raw)
                except Exception:  # any decoding error of the request's message type
                    await self._refuse(
                        context,
                        method,
                        Refused(grpc.StatusCode.INVALID_ARGUMENT, "malformed", "request does not decode"),
                    )
            if not streaming:
                return await inner(request, context)
            try:
                self.watches.enter(peer)
            except Refused as refused:
                await self._refuse(context, method, refused)
            try:
                result = inner(request, context)
                if inspect.isasyncgen(result):
                    async for response in result:
                        await context.write(response)
                else:
                    await result
            finally:
                self.watches.leave(peer)
            return None

        return self._guarded(label, behavior)


def _evicted() -> Refused:
    return Refused(
        RESOURCE_EXHAUSTED,
        "evicted",
        "replaced by a newer call before this one sent its message",
        1.0,
    )


def _timeout() -> Refused:
    return Refused(
        grpc.StatusCode.DEADLINE_EXCEEDED, "request_timeout", "request message not received in time"
    )


AGENT_URN = "urn:fleetwatch:agent:"


def certificate_names(auth_context: dict[str, list[bytes]]) -> set[str]:
    """The names a client certificate gives: its common name and subject alternative names."""
    names: set[str] = set()
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        for value in auth_context.get(key, ()):
            names.add(value.decode(errors="replace"))
    return names


def certificate_matches(names: set[str], identity: Identity) -> bool:
    """A certificate names the agent: its id (CN or SAN, or the SAN URI ``urn:fleetwatch:agent:ID``),
    or the name of the certificate it enrolled with under mutual TLS."""
    agent_id = identity.agent_id
    if agent_id in names or AGENT_URN + agent_id in names:
        return True
    return bool(identity.certificate_name) and identity.certificate_name in names
