"""Authentication interceptor: the calling agent is who its credential says, never its payload."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.enrolment import Credential, verify
from fleetwatch_proto import metadata as keys
from fleetwatch_proto.limits import AGENT_ID_RE

# Methods callable without an agent credential.
OPEN_METHODS = frozenset(
    {"/fleetwatch.v1.Collector/Enroll", "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"}
)


@dataclass(frozen=True)
class Identity:
    agent_id: str
    site: SiteLabels | None


current_identity: contextvars.ContextVar[Identity] = contextvars.ContextVar("current_identity")


class AuthFailure(Exception):
    def __init__(self, code: grpc.StatusCode, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


def authenticate(metadata: Any, lookup: Callable[[str], Credential | None]) -> Identity:
    """The identity proven by the call metadata; AuthFailure says why there is none."""
    values = dict(metadata or ())
    agent_id = values.get(keys.AGENT_ID)
    authorization = values.get(keys.AUTHORIZATION, "")
    if not isinstance(agent_id, str) or not AGENT_ID_RE.fullmatch(agent_id):
        raise AuthFailure(
            grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", f"missing or malformed {keys.AGENT_ID}"
        )
    scheme, _, secret = authorization.partition(" ") if isinstance(authorization, str) else ("", "", "")
    if scheme != keys.BEARER or not secret:
        raise AuthFailure(
            grpc.StatusCode.UNAUTHENTICATED,
            "unauthenticated",
            f"missing '{keys.AUTHORIZATION}: {keys.BEARER} <secret>'",
        )
    cred = lookup(agent_id)
    if cred is None or not verify(cred, secret):
        raise AuthFailure(
            grpc.StatusCode.UNAUTHENTICATED, "bad_credential", "unknown agent or wrong secret; enrol again"
        )
    if cred.revoked:
        raise AuthFailure(grpc.StatusCode.PERMISSION_DENIED, "revoked", f"agent {agent_id} was revoked")
    return Identity(agent_id, cred.site)


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses calls without a valid credential; sets ``current_identity`` for the handler."""

    def __init__(
        self, lookup: Callable[[str], Credential | None], on_reject: Callable[[str, str], None]
    ) -> None:
        self._lookup = lookup
        self._on_reject = on_reject

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method in OPEN_METHODS or handler.unary_unary is None:
            return handler
        metadata = handler_call_details.invocation_metadata
        inner = handler.unary_unary

        async def authenticated(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                identity = authenticate(metadata, self._lookup)
            except AuthFailure as failure:
                self._on_reject(failure.reason, failure.code.name)
                await context.abort(failure.code, str(failure))
            token = current_identity.set(identity)
            try:
                return await inner(request, context)
            finally:
                current_identity.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            authenticated,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
