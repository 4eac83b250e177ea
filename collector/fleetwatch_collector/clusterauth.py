"""One identity for every member of a cluster: signed secrets admitted at first contact, shared revocation.

A member that does not know an agent, or knows it by an older secret, accepts a secret signed with
the cluster key whose claim names the calling agent id (signedcred.py), and records the claim in
its own store, as if the agent had enrolled here. A claim older than the one on record (the agent
enrolled again since, here or at another member) is refused, as is any id revoked in this store or
listed in ``cluster.revoked_file``; the ids of that file are revoked in the store too when it is
read, so their series leave /metrics at the next upkeep and their machines enrol as new agents.

::

    Push(agent id, secret)      the store's credential verifies? -- yes --> as for one collector
                                     | no, and the secret is signed
                                claim valid for this id, not revoked, newer than the one on record?
                                     | yes: INSERT (first contact) or UPDATE (enrolled again: its
                                     |      sequence numbers start again), then as for one collector
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable

import grpc

from fleetwatch_collector import enrolment, signedcred
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.auth import AuthFailure
from fleetwatch_collector.cluster import RevokedList
from fleetwatch_collector.credcache import CredentialCache
from fleetwatch_collector.dedup import AppliedSeqs
from fleetwatch_collector.enrolment import Credential
from fleetwatch_collector.sitedir import Reload
from fleetwatch_collector.store import Store, StoreError

log = logging.getLogger(__name__)
Reenrolled = Callable[[str, SiteLabels | None, str], None]
_COLUMNS = (
    "secret_hash = ?, token_id = ?, enrolled_at = ?, site = ?, district = ?, site_type = ?,"
    " site_name = ?, hostname = ?, cert_name = ?, machine_hash = ?"
)


def _values(claim: signedcred.AgentClaim, secret_hash: bytes) -> tuple[object, ...]:
    site = claim.site
    labels = (site.site, site.district, site.site_type, site.site_name) if site else (None,) * 4
    try:
        machine: bytes | None = bytes.fromhex(claim.machine_hash) if claim.machine_hash else None
    except ValueError:
        machine = None
    return (
        secret_hash,
        claim.token_id or None,
        claim.enrolled_at,
        *labels,
        claim.hostname or None,
        claim.certificate_name or None,
        machine,
    )


def record_first_contact(store: Store, claim: signedcred.AgentClaim, secret_hash: bytes) -> bool:
    """Add an agent this store does not have; False when a row appeared meanwhile (nothing written).
    No change signal: no reader can have kept a credential for an id the store did not have."""
    with store.transaction() as db:
        return (
            db.execute(
                "INSERT INTO agents (secret_hash, token_id, enrolled_at, site, district, site_type,"
                " site_name, hostname, cert_name, machine_hash, agent_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO NOTHING",
                (*_values(claim, secret_hash), claim.agent_id),
            ).rowcount
            > 0
        )


def record_newer(store: Store, claim: signedcred.AgentClaim, secret_hash: bytes) -> bool:
    """Replace the credential of an unrevoked agent enrolled before ``claim``; its sequence numbers
    start again (a new spool), its counters go on. False when nothing older was there to replace."""
    with store.transaction() as db:
        changed = db.execute(
            f"UPDATE agents SET {_COLUMNS}, applied = ?, state_seq = 0"
            " WHERE agent_id = ? AND revoked = 0 AND COALESCE(enrolled_at, 0) < ?",
            (*_values(claim, secret_hash), AppliedSeqs().dumps(), claim.agent_id, claim.enrolled_at),
        ).rowcount
        if changed:
            store.credentials_changed()  # the secret it replaces stops working here
    return changed > 0


class ClusterIdentity:
    """The ``signed`` look-up of auth.authenticate (with a cluster ``key``; without, it proves nothing),
    and the upkeep of the shared revoked file."""

    def __init__(
        self,
        key: bytes | None,
        store: Store,
        cache: CredentialCache,
        revoked: RevokedList,
        reenrolled: Reenrolled,
    ) -> None:
        self._key = key
        self._store = store
        self._cache = cache
        self.revoked = revoked
        self._reenrolled = reenrolled
        self._wake = asyncio.Event()
        self._force = False

    def __call__(self, agent_id: str, secret: str) -> Credential | None:
        """The credential a signed ``secret`` proves for ``agent_id``, recorded in the store when it is
        new here; None when it proves nothing (authenticate then refuses it as a bad credential)."""
        if self._key is None:
            return None
        claim = signedcred.verify(self._key, secret)
        if not isinstance(claim, signedcred.AgentClaim) or claim.agent_id != agent_id:
            return None
        names = (claim.enrolled_at, claim.certificate_name, claim.hostname)
        credential = Credential(enrolment.secret_hash(secret), False, claim.site, *names)
        known = self._cache(agent_id)  # what the store holds, revoked by the file included
        if agent_id in self.revoked or (known is not None and known.revoked):
            return dataclasses.replace(credential, revoked=True)
        if known is not None and claim.enrolled_at <= known.enrolled_at:
            return None  # an older secret: the agent enrolled again since
        try:
            if known is None:
                if not record_first_contact(self._store, claim, credential.secret_hash):
                    return None  # enrolled here meanwhile: its next Push finds the row
                self._cache.keep(agent_id, credential)
                log.info("agent %s enrolled at another member: first report here", agent_id)
            else:
                if not record_newer(self._store, claim, credential.secret_hash):
                    return None
                self._reenrolled(agent_id, claim.site, claim.hostname)
                log.info("agent %s enrolled again at another member: its old secret is refused", agent_id)
        except StoreError as exc:
            log.error("cannot record agent %s: %s", agent_id, exc)
            raise AuthFailure(
                grpc.StatusCode.UNAVAILABLE, "store_error", "collector cannot store reports now"
            ) from exc
        return credential

    def reload(self) -> None:
        """Read the revoked file again now, changed or not (SIGHUP)."""
        self._force = True
        self._wake.set()

    def check(self, force: bool = False) -> list[str]:
        """Reload a changed revoked file and revoke its ids in the store; the ids revoked now."""
        outcome = self.revoked.check(force)
        if outcome is not Reload.RELOADED and not force:
            return []
        revoked = enrolment.revoke_listed(self._store, self.revoked.ids)
        if revoked:
            log.info("revoked by cluster.revoked_file: %s", ", ".join(revoked[:20]))
        return revoked

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Check every ``interval`` seconds until ``stop`` is set; errors are logged, then tried again."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            if stop.is_set():
                break
            force, self._force = self._force, False
            try:
                await asyncio.to_thread(self.check, force)
            except StoreError as exc:
                log.error("cluster.revoked_file: %s", exc)
            except Exception:  # the loop must outlive any one failure
                log.exception("cluster.revoked_file check failed")

    def wake(self) -> None:
        self._wake.set()
