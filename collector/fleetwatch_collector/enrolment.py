"""Site enrolment tokens and per-agent credentials; only SHA-256 hashes of secrets are stored.

Token text: ``fwt1.<token id>.<secret>``. An agent presents it once with Enroll and gets an
agent id and its own secret, which it sends on every Push. Secrets are 256-bit random
values, so a plain SHA-256 (no slow key derivation) is enough to make a stolen store useless.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import operator
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.dedup import AppliedSeqs
from fleetwatch_collector.store import Store, site_of
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

TOKEN_PREFIX = "fwt1"
MAX_TOKEN_CHARS = 128  # a token is about 45 characters
# An agent that reported within this many of its intervals is active: a machine enrolling
# under another host name with its machine id is then a clone, not its reinstallation.
ACTIVE_INTERVALS = 3
log = logging.getLogger(__name__)


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
    max_uses: int | None = None  # None: unlimited


@dataclass(frozen=True)
class Credential:
    secret_hash: bytes
    revoked: bool
    site: SiteLabels | None
    enrolled_at: float = 0.0
    certificate_name: str = ""  # name of the client certificate it enrolled with (mutual TLS)
    hostname: str = ""  # the host label on record


@dataclass(frozen=True)
class Enrolled:
    agent_id: str
    secret: str
    site: SiteLabels | None
    continued: bool = False  # a known machine got its agent id back
    duplicate_of: str | None = None  # another listed agent of the site already has this host name


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create_token(
    store: Store, site: SiteLabels | None, now: float, expires: float | None, max_uses: int | None = None
) -> str:
    """Store a new token for ``site`` (None: any site), good for ``max_uses`` enrolments (None:
    unlimited), and return its text, shown only once."""
    token_id = secrets.token_hex(4)
    secret = secrets.token_urlsafe(24)
    values = (site.site, site.district, site.site_type, site.site_name) if site else (None,) * 4
    with store.transaction() as db:
        db.execute(
            "INSERT INTO tokens (token_id, token_hash, site, district, site_type, site_name,"
            " created, expires, max_uses) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (token_id, _hash(secret), *values, now, expires, max_uses),
        )
    return f"{TOKEN_PREFIX}.{token_id}.{secret}"


def list_tokens(store: Store) -> list[TokenInfo]:
    rows = store.query(
        "SELECT token_id, site, district, site_type, site_name, created, expires, revoked,"
        " enrolments, max_uses FROM tokens ORDER BY created"
    )
    return [TokenInfo(r[0], site_of(r[1:5]), r[5], r[6], bool(r[7]), r[8], r[9]) for r in rows]


def revoke_token(store: Store, token_id: str) -> bool:
    with store.transaction() as db:
        return db.execute("UPDATE tokens SET revoked = 1 WHERE token_id = ?", (token_id,)).rowcount > 0


def enrol(
    store: Store,
    token: str,
    now: float,
    machine_id: str = "",
    claimed_site: str = "",
    same_site: Callable[[str, str], bool] = operator.eq,
    hostname: str = "",
    certificate_name: str = "",
) -> Enrolled:
    """Exchange a valid token for an agent id and a new secret; the host name (the host label from
    now on) and, under mutual TLS, the client certificate's name are recorded with it."""
    # A reinstalled machine (same machine_id, an unrevoked agent at the same site: the token's,
    # or claimed_site for an any-site token; same_site follows merges) gets its agent id back and
    # its old secret stops working. Without a machine id every enrolment is a new agent. An agent
    # still reporting under another host name is not taken over: that is a cloned image.
    parts = token.split(".") if len(token) <= MAX_TOKEN_CHARS else []
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        raise EnrolmentError("token_malformed", "enrolment token is malformed")
    token_id, secret = parts[1], parts[2]
    with store.transaction() as db:
        row = db.execute(
            "SELECT token_hash, revoked, expires, site, district, site_type, site_name, enrolments,"
            " max_uses FROM tokens WHERE token_id = ?",
            (token_id,),
        ).fetchone()
        if row is None or not hmac.compare_digest(row[0], _hash(secret)):
            raise EnrolmentError("token_unknown", "enrolment token is not known to this collector")
        if row[1]:
            raise EnrolmentError("token_revoked", f"enrolment token {token_id} was revoked")
        if row[2] is not None and now > row[2]:
            raise EnrolmentError("token_expired", f"enrolment token {token_id} has expired")
        if row[8] is not None and row[7] >= row[8]:
            raise EnrolmentError(
                "token_exhausted", f"enrolment token {token_id} was used for its {row[8]} enrolments"
            )
        site = site_of(row[3:7])
        machine = _hash(machine_id) if machine_id else None
        slug = site.site if site else claimed_site
        known = _same_machine(db, machine, slug, same_site, hostname, now) if machine else None
        agent_secret = secrets.token_urlsafe(32)
        names = (hostname, certificate_name)
        if known is None:
            agent_id = "a-" + secrets.token_hex(8)
            db.execute(
                "INSERT INTO agents (agent_id, secret_hash, token_id, enrolled_at, site, district,"
                " site_type, site_name, machine_hash, hostname, cert_name)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (agent_id, _hash(agent_secret), token_id, now, *row[3:7], machine, *names),
            )
        else:
            # Its sequence numbers start again at 1 (new spool); reports_total and counters go on.
            agent_id = known
            store.credentials_changed()  # its old secret stops working (credcache.py)
            db.execute(
                "UPDATE agents SET secret_hash = ?, token_id = ?, enrolled_at = ?, site = ?, district = ?,"
                " site_type = ?, site_name = ?, applied = ?, state_seq = 0, hostname = ?, cert_name = ?"
                " WHERE agent_id = ?",
                (
                    _hash(agent_secret),
                    token_id,
                    now,
                    *row[3:7],
                    AppliedSeqs().dumps(),
                    hostname,
                    certificate_name,
                    agent_id,
                ),
            )
        db.execute("UPDATE tokens SET enrolments = enrolments + 1 WHERE token_id = ?", (token_id,))
        duplicate = _same_hostname(db, agent_id, hostname, site.site if site else None) if hostname else None
    return Enrolled(agent_id, agent_secret, site, continued=known is not None, duplicate_of=duplicate)


def enroll_response(
    enrolled: Enrolled, site: SiteLabels, site_type: int, config: pb.AgentConfig | None
) -> pb.EnrollResponse:
    """What the agent gets: its id and secret, its site as recorded, and its site's central
    configuration (``config``, None: none), which it runs from its first cycle (docs/central-config.md)."""
    message = pb.EnrollResponse(
        agent_id=enrolled.agent_id,
        secret=enrolled.secret,
        site=site.site,
        district=site.district,
        site_type=cast("pb.SiteType", site_type),  # the stubs' enum type
    )
    if config is not None:
        message.config.CopyFrom(config)
    return message


def _same_hostname(db: sqlite3.Connection, agent_id: str, hostname: str, site: str | None) -> str | None:
    """Another unrevoked agent bound to the same site (any-site agents: among themselves) with this
    host name, if any: two machines would show as one host of the site."""
    row = db.execute(
        "SELECT agent_id FROM agents WHERE hostname = ? AND site IS ? AND revoked = 0 AND agent_id != ?"
        " ORDER BY enrolled_at DESC LIMIT 1",
        (hostname, site, agent_id),
    ).fetchone()
    return None if row is None else str(row[0])


def _same_machine(
    db: sqlite3.Connection,
    machine: bytes,
    slug: str,
    same_site: Callable[[str, str], bool],
    hostname: str,
    now: float,
) -> str | None:
    """The most recently seen unrevoked agent of this machine at site ``slug``, if any."""
    rows = db.execute(
        "SELECT agent_id, site, host, last_seen, interval_s FROM agents"
        " WHERE machine_hash = ? AND revoked = 0 ORDER BY last_seen DESC, enrolled_at DESC",
        (machine,),
    ).fetchall()
    for agent_id, bound, host, last_seen, interval in rows:
        info = None if host is None else pb.HostInfo.FromString(host)
        current = bound if bound is not None else (info.site if info else None)
        if current is not None and not same_site(current, slug):
            continue  # None: an any-site agent that never reported, nothing to lose
        if info and hostname and info.hostname != hostname and now - last_seen <= ACTIVE_INTERVALS * interval:
            log.warning(
                "machine id of %s is also that of %s, still reporting as %s: a cloned image? Enrolled"
                " as a new agent; give clones their own machine id or [agent] id",
                hostname,
                agent_id,
                info.hostname,
            )
            continue
        return str(agent_id)
    return None


def credential(store: Store, agent_id: str) -> Credential | None:
    rows = store.query(
        "SELECT secret_hash, revoked, site, district, site_type, site_name, enrolled_at, cert_name,"
        " hostname FROM agents WHERE agent_id = ?",
        (agent_id,),
    )
    if not rows or rows[0][0] is None:
        return None
    row = rows[0]
    return Credential(row[0], bool(row[1]), site_of(row[2:6]), row[6] or 0.0, row[7] or "", row[8] or "")


def verify(cred: Credential, secret: str) -> bool:
    return hmac.compare_digest(cred.secret_hash, _hash(secret))


def revoke_agent(store: Store, agent_id: str) -> bool:
    with store.transaction() as db:
        store.credentials_changed()
        return db.execute("UPDATE agents SET revoked = 1 WHERE agent_id = ?", (agent_id,)).rowcount > 0


def forget_agent(store: Store, agent_id: str) -> bool:
    """Delete the agent: credential and state. A running collector drops its series at its next check."""
    with store.transaction() as db:
        store.credentials_changed()
        return db.execute("DELETE FROM agents WHERE agent_id = ?", (agent_id,)).rowcount > 0


def list_agents(store: Store) -> list[tuple[str, SiteLabels | None, bool, float | None, float]]:
    """(agent id, site, revoked, enrolled at, last seen) of every enrolled agent."""
    rows = store.query(
        "SELECT agent_id, site, district, site_type, site_name, revoked, enrolled_at, last_seen"
        " FROM agents ORDER BY agent_id"
    )
    return [(r[0], site_of(r[1:5]), bool(r[5]), r[6], r[7]) for r in rows]
