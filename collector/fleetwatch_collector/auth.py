"""Authentication: the calling agent is who its credential says, never its payload (gate.py calls it).

The credential is the store's (``lookup``); in a cluster, a secret signed with the cluster key that
the store does not hold is judged by ``signed`` (clusterauth.py), which records it when it is valid.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.enrolment import Credential, verify
from fleetwatch_collector.signedcred import is_signed
from fleetwatch_proto import metadata as keys
from fleetwatch_proto.limits import AGENT_ID_RE


@dataclass(frozen=True)
class Identity:
    agent_id: str
    site: SiteLabels | None
    enrolled_at: float = 0.0  # when it enrolled (collector clock): nothing it reports happened long before
    certificate_name: str = ""  # the client certificate's name it enrolled with under mutual TLS
    hostname: str = ""  # the host label on record (enrolment, or a change applied since)


current_identity: contextvars.ContextVar[Identity] = contextvars.ContextVar("current_identity")


class AuthFailure(Exception):
    def __init__(self, code: grpc.StatusCode, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


Lookup = Callable[[str], Credential | None]
# (agent id, secret) -> the credential a signed secret proves, None: none (clusterauth.py).
SignedLookup = Callable[[str, str], Credential | None]


def authenticate(metadata: Any, lookup: Lookup, signed: SignedLookup | None = None) -> Identity:
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
    if (cred is None or not verify(cred, secret)) and signed is not None and is_signed(secret):
        cred = signed(agent_id, secret)
    if cred is None or not verify(cred, secret):
        raise AuthFailure(
            grpc.StatusCode.UNAUTHENTICATED, "bad_credential", "unknown agent or wrong secret; enrol again"
        )
    if cred.revoked:
        raise AuthFailure(grpc.StatusCode.PERMISSION_DENIED, "revoked", f"agent {agent_id} was revoked")
    return Identity(agent_id, cred.site, cred.enrolled_at, cred.certificate_name, cred.hostname)
