"""Site enrolment tokens and per-agent credentials; only SHA-256 hashes of secrets are stored.

Token text: ``fwt1.<token id>.<secret>``. An agent presents it once with Enroll and gets an
agent id and its own secret, which it sends on every Push. Secrets are 256-bit random
values, so a plain SHA-256 (no slow key derivation) is enough to make a stolen store useless.
With a cluster key (``[cluster] key_file``) tokens and agent secrets are signed instead
(signedcred.py), so every member of the cluster accepts them; their hashes are stored as well.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import operator
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from fleetwatch_collector import signedcred
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.dedup import AppliedSeqs
from fleetwatch_collector.store import Store, site_of
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

TOKEN_PREFIX = "fwt1"
TOKEN_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
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


def secret_hash(secret: str) -> bytes:
    """What the store keeps of an agent secret."""
    return _hash(secret)


def _columns(site: SiteLabels | None) -> tuple[str | None, ...]:
    return (site.site, site.district, site.site_type, site.site_name) if site else (None,) * 4


def _insert_token(db: sqlite3.Connection, claim: signedcred.TokenClaim, token_hash: bytes) -> None:
    db.execute(
        "INSERT INTO tokens (token_id, token_hash, site, district, site_type, site_name,"
        " created, expires, max_uses) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (claim.token_id, token_hash, *_columns(claim.site), claim.created, claim.expires, claim.max_uses),
    )


def create_token(
    store: Store,
    site: SiteLabels | None,
    now: float,
    expires: float | None,
    max_uses: int | None = None,
    key: bytes | None = None,
) -> str:
    """Store a new token for ``site`` (None: any site), good for ``max_uses`` enrolments (None:
    unlimited), and return its text, shown only once. With a cluster ``key`` it is signed: every
    member accepts it, and each counts its own uses."""
    claim = signedcred.TokenClaim(secrets.token_hex(4), site, now, expires, max_uses)
    if key is not None:
        text = signedcred.issue(key, claim)
        token_hash = _hash(text)
    else:
        secret = secrets.token_urlsafe(24)
        text, token_hash = f"{TOKEN_PREFIX}.{claim.token_id}.{secret}", _hash(secret)
    with store.transaction() as db:
        _insert_token(db, claim, token_hash)
    return text


def list_tokens(store: Store) -> list[TokenInfo]:
    rows = store.query(
        "SELECT token_id, site, district, site_type, site_name, created, expires, revoked,"
        " enrolments, max_uses FROM tokens ORDER BY created"
    )
    return [TokenInfo(r[0], site_of(r[1:5]), r[5], r[6], bool(r[7]), r[8], r[9]) for r in rows]


def revoke_token(store: Store, token_id: str, now: float | None = None) -> bool:
    """Revoke a token of this store. With ``now`` (a cluster key is set), a token this member has not
    seen (signed on another one) is recorded as revoked, so it cannot enrol here either."""
    with store.transaction() as db:
        if db.execute("UPDATE tokens SET revoked = 1 WHERE token_id = ?", (token_id,)).rowcount > 0:
            return True
        if now is None or not TOKEN_ID_RE.fullmatch(token_id):
            return False
        db.execute(
            "INSERT INTO tokens (token_id, token_hash, created, revoked) VALUES (?, ?, ?, 1)",
            (token_id, b"", now),
        )
        return True


def _token_row(db: sqlite3.Connection, token: str, key: bytes | None) -> tuple[str, tuple[Any, ...]] | None:
    """(token id, its row) for a token this member accepts, None for an unknown one; a signed token
    seen for the first time is recorded here, with a use count of its own."""
    if signedcred.is_signed(token):
        claim = signedcred.verify(key, token) if key is not None else None
        if not isinstance(claim, signedcred.TokenClaim):
            return None
        token_id, token_hash = claim.token_id, _hash(token)
    else:
        parts = token.split(".") if len(token) <= MAX_TOKEN_CHARS else []
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
            raise EnrolmentError("token_malformed", "enrolment token is malformed")
        claim, token_id, token_hash = None, parts[1], _hash(parts[2])
    query = (
        "SELECT token_hash, revoked, expires, site, district, site_type, site_name, enrolments,"
        " max_uses FROM tokens WHERE token_id = ?"
    )
    row = db.execute(query, (token_id,)).fetchone()
    if row is None and claim is not None:
        _insert_token(db, claim, token_hash)
        row = db.execute(query, (token_id,)).fetchone()
    if row is None or not (hmac.compare_digest(row[0], token_hash) or (claim is not None and row[1])):
        return None  # a signed token revoked here before it was seen has no hash: still revoked
    return token_id, tuple(row)


def enrol(
    store: Store,
    token: str,
    now: float,
    machine_id: str = "",
    claimed_site: str = "",
    same_site: Callable[[str, str], bool] = operator.eq,
    hostname: str = "",
    certificate_name: str = "",
    key: bytes | None = None,
) -> Enrolled:
    """Exchange a valid token for an agent id and a new secret; the host name (the host label from
    now on) and, under mutual TLS, the client certificate's name are recorded with it. With a
    cluster ``key`` the secret is signed (any member accepts it) and signed tokens are accepted."""
    # A reinstalled machine (same machine_id, an unrevoked agent at the same site: the token's,
    # or claimed_site for an any-site token; same_site follows merges) gets its agent id back and
    # its old secret stops working. Without a machine id every enrolment is a new agent. An agent
    # still reporting under another host name is not taken over: that is a cloned image.
    with store.transaction() as db:
        found = _token_row(db, token, key)
        if found is None:
            raise EnrolmentError("token_unknown", "enrolment token is not known to this collector")
        token_id, row = found
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
        agent_id = known or "a-" + secrets.token_hex(8)
        if known is not None:  # strictly newer than the secret it replaces, whatever the clock did
            previous = db.execute("SELECT enrolled_at FROM agents WHERE agent_id = ?", (known,)).fetchone()
            now = max(now, (previous[0] or 0.0) + 0.001)
        if key is None:
            agent_secret = secrets.token_urlsafe(32)
        else:
            claim = signedcred.AgentClaim(
                agent_id, site, now, hostname, certificate_name, machine.hex() if machine else "", token_id
            )
            agent_secret = signedcred.issue(key, claim)
        names = (hostname, certificate_name)
        if known is None:
            db.execute(
                "INSERT INTO agents (agent_id, secret_hash, token_id, enrolled_at, site, district,"
                " site_type, site_name, machine_hash, hostname, cert_name)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (agent_id, _hash(agent_secret), token_id, now, *row[3:7], machine, *names),
            )
        else:
            # Its sequence numbers start again at 1 (new spool); reports_total and counters go on.
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


def revoke_listed(store: Store, agent_ids: Iterable[str]) -> list[str]:
    """Revoke the agents of this store among ``agent_ids`` not revoked yet (the cluster's revoked
    file); returns them. Their series leave /metrics at the next upkeep, as with `agent revoke`."""
    wanted = sorted(set(agent_ids))
    if not wanted:
        return []
    with store.transaction() as db:
        revoked: list[str] = []
        for start in range(0, len(wanted), 500):  # SQLite's bound on parameters
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            where = f"WHERE revoked = 0 AND agent_id IN ({marks})"
            revoked.extend(str(r[0]) for r in db.execute(f"SELECT agent_id FROM agents {where}", chunk))
            db.execute(f"UPDATE agents SET revoked = 1 {where}", chunk)
        if revoked:
            store.credentials_changed()
    return sorted(revoked)


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
