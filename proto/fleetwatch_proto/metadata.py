"""gRPC metadata keys of the contract, written once for the agent and the collector."""

from __future__ import annotations

# The agent's identity on every Push, with its secret as "authorization: Bearer <secret>".
AGENT_ID = "x-fleetwatch-agent-id"
AUTHORIZATION = "authorization"
BEARER = "Bearer"
# Trailing metadata of a RESOURCE_EXHAUSTED answer: how long the agent waits before retrying.
RETRY_AFTER_MS = "x-fleetwatch-retry-after-ms"
