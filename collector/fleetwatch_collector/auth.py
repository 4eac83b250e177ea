"""Authentication interceptor: resolves the calling agent from call metadata, never from the payload."""

from __future__ import annotations

import contextvars
import re
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

AGENT_ID_METADATA = "x-fleetwatch-agent-id"
AGENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Methods callable without an agent identity.
OPEN_METHODS = frozenset(
    {
        "/fleetwatch.v1.Collector/Enroll",
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
    }
)

current_agent: contextvars.ContextVar[str] = contextvars.ContextVar("current_agent")


def agent_id_from_metadata(metadata: Any) -> str | None:
    """The agent id claimed in the call metadata, if well formed."""
    for key, value in metadata or ():
        if key == AGENT_ID_METADATA:
            return value if isinstance(value, str) and AGENT_ID_RE.fullmatch(value) else None
    return None


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses calls without a valid identity; sets ``current_agent`` for the handler."""

    def __init__(self, on_reject: Callable[[str], None]) -> None:
        self._on_reject = on_reject

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method in OPEN_METHODS or handler.unary_unary is None:
            return handler
        agent_id = agent_id_from_metadata(handler_call_details.invocation_metadata)
        inner = handler.unary_unary
        on_reject = self._on_reject

        async def authenticated(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if agent_id is None:
                on_reject("unauthenticated")
                await context.abort(
                    grpc.StatusCode.UNAUTHENTICATED,
                    f"missing or malformed {AGENT_ID_METADATA} metadata",
                )
            token = current_agent.set(agent_id)  # type: ignore[arg-type]
            try:
                return await inner(request, context)
            finally:
                current_agent.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            authenticated,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
