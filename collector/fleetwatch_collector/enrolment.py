"""Site enrolment tokens and per-agent credentials; only SHA-256 hashes of secrets are stored.

Token text: ``fwt1.<token id>.<secret>``. An agent presents it once with Enroll and gets an
agent id and its own secret, which it sends on every Push. Secrets are 256-bit random
values, so a plain SHA-256 (no slow key derivation) is enough to make a stolen store useless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.store import Store, site_of

TOKEN_PREFIX = "fwt1"


class EnrolmentError(Exception):
    """A token that cannot enrol: ``reason`` is a counter label, the message is for the agent."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    site: SiteLabels | None
    created: float
    expires: float | None
    revoked: bool
    enrolments: int


@dataclass(frozen=True)
class Credential:
    secret_hash: bytes
    revoked: bool
    site: SiteLabels | None


@dataclass(frozen=True)
class Enrolled:
    agent_id: str
    secret: str
    site: SiteLabels | None


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create_token(store: Store, site: SiteLabels | None, now: float, expires: float | None) -> str:
    """Store a new token for ``site`` (None: any site) and return its text, shown only once."""
    token_id = secrets.token_hex(4)
    secret = secrets.token_urlsafe(24)
    values = (site.site, site.district, site.site_type, site.site_name) if site else (None,) * 4
    with store.transaction() as db:
        db.execute(
            "INSERT INTO tokens (token_id, token_hash, site, district, site_type, site_name,"
            " created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (token_id, _hash(secret), *values, now, expires),
        )
    return f"{TOKEN_PREFIX}.{token_id}.{secret}"


def list_tokens(store: Store) -> list[TokenInfo]:
    rows = store.query(
        "SELECT token_id, site, district, site_type, site_name, created, expires, revoked,"
        " enrolments FROM tokens ORDER BY created"
    )
    return [TokenInfo(r[0], site_of(r[1:5]), r[5], r[6], bool(r[7]), r[8]) for r in rows]


def revoke_token(store: Store, token_id: str) -> bool:
    with store.transaction() as db:
        return db.execute("UPDATE tokens SET revoked = 1 WHERE token_id = ?", (token_id,)).rowcount > 0


def enrol(store: Store, token: str, now: float) -> Enrolled:
    """Exchange a valid token for a new agent id and secret."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        raise EnrolmentError("token_malformed", "enrolment token is malformed")
    token_id, secret = parts[1], parts[2]
    with store.transaction() as db:
        row = db.execute(
            "SELECT token_hash, revoked, expires, site, district, site_type, site_name"
            " FROM tokens WHERE token_id = ?",
            (token_id,),
        ).fetchone()
        if row is None or not hmac.compare_digest(row[0], _hash(secret)):
            raise EnrolmentError("token_unknown", "enrolment token is not known to this collector")
        if row[1]:
            raise EnrolmentError("token_revoked", f"enrolment token {token_id} was revoked")
        if row[2] is not None and now > row[2]:
            raise EnrolmentError("token_expired", f"enrolment token {token_id} has expired")
        site = site_of(row[3:7])
        agent_id = "a-" + secrets.token_hex(8)
        agent_secret = secrets.token_urlsafe(32)
        db.execute(
            "INSERT INTO agents (agent_id, secret_hash, token_id, enrolled_at, site, district,"
            " site_type, site_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (agent_id, _hash(agent_secret), token_id, now, *row[3:7]),
        )
        db.execute("UPDATE tokens SET enrolments = enrolments + 1 WHERE token_id = ?", (token_id,))
    return Enrolled(agent_id, agent_secret, site)


def credential(store: Store, agent_id: str) -> Credential | None:
    rows = store.query(
        "SELECT secret_hash, revoked, site, district, site_type, site_name FROM agents WHERE agent_id = ?",
        (agent_id,),
    )
    if not rows or rows[0][0] is None:
        return None
    row = rows[0]
    return Credential(row[0], bool(row[1]), site_of(row[2:6]))


def verify(cred: Credential, secret: str) -> bool:
    return hmac.compare_digest(cred.secret_hash, _hash(secret))


def revoke_agent(store: Store, agent_id: str) -> bool:
    with store.transaction() as db:
        return db.execute("UPDATE agents SET revoked = 1 WHERE agent_id = ?", (agent_id,)).rowcount > 0


def list_agents(store: Store) -> list[tuple[str, SiteLabels | None, bool, float | None, float]]:
    """(agent id, site, revoked, enrolled at, last seen) of every enrolled agent."""
    rows = store.query(
        "SELECT agent_id, site, district, site_type, site_name, revoked, enrolled_at, last_seen"
        " FROM agents ORDER BY agent_id"
    )
    return [(r[0], site_of(r[1:5]), bool(r[5]), r[6], r[7]) for r in rows]
