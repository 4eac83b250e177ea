"""One identity for every member: two stores sharing a cluster key accept each other's agents and tokens,
refuse older secrets and revoked ids, and a member without the key refuses them as before."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from fleetwatch_collector import enrolment, signedcred
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.auth import AuthFailure, Identity, authenticate
from fleetwatch_collector.cluster import RevokedList
from fleetwatch_collector.clusterauth import ClusterIdentity
from fleetwatch_collector.credcache import CredentialCache
from fleetwatch_collector.enrolment import Credential, EnrolmentError
from fleetwatch_collector.store import Store

KEY = bytes(range(100, 164))
SITE = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")
MACHINE = "7c" * 32
HOST = "pc-ke-toan-01"
NOW = 1_760_000_000.0


@dataclass
class Member:
    """One collector's store, credential cache and cluster identity, as server.py wires them."""

    store: Store
    cache: CredentialCache
    cluster: ClusterIdentity
    revoked: RevokedList
    loads: list[str] = field(default_factory=list)
    reenrolled: list[str] = field(default_factory=list)

    def auth(self, agent_id: str, secret: str, signed: bool = True) -> Identity:
        metadata = [("x-fleetwatch-agent-id", agent_id), ("authorization", f"Bearer {secret}")]
        return authenticate(metadata, self.cache, self.cluster if signed else None)

    def refusal(self, agent_id: str, secret: str, signed: bool = True) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(AuthFailure) as info:
            self.auth(agent_id, secret, signed)
        return info.value.code, info.value.reason


def member(path: Path, key: bytes | None = KEY, revoked_file: Path | None = None) -> Member:
    store = Store(path / "collector.sqlite")
    revoked = RevokedList(revoked_file)
    loads: list[str] = []

    def load(agent_id: str) -> Credential | None:
        loads.append(agent_id)
        return enrolment.credential(store, agent_id)

    cache = CredentialCache(load, store.credentials.value, 300.0, revoked=revoked)
    reenrolled: list[str] = []
    cluster = ClusterIdentity(
        key, store, cache, revoked, lambda agent_id, site, hostname: reenrolled.append(agent_id)
    )
    return Member(store, cache, cluster, revoked, loads, reenrolled)


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    return tmp_path / "revoked.txt"


@pytest.fixture
def a(tmp_path: Path, shared: Path) -> Iterator[Member]:
    (tmp_path / "a").mkdir()
    m = member(tmp_path / "a", revoked_file=shared)
    yield m
    m.store.close()


@pytest.fixture
def b(tmp_path: Path, shared: Path) -> Iterator[Member]:
    (tmp_path / "b").mkdir()
    m = member(tmp_path / "b", revoked_file=shared)
    yield m
    m.store.close()


def enrol_at(m: Member, now: float = NOW, machine: str = MACHINE) -> enrolment.Enrolled:
    """Enrol at ``m`` with a signed site token made there (the same machine: the same agent)."""
    token = enrolment.create_token(m.store, SITE, now, None, None, KEY)
    return enrolment.enrol(m.store, token, now, machine, hostname=HOST, key=KEY)


def test_an_agent_enrolled_at_one_member_is_accepted_by_another_with_its_identity(
    a: Member, b: Member
) -> None:
    agent = enrol_at(a)
    assert signedcred.is_signed(agent.secret)
    assert a.auth(agent.agent_id, agent.secret) == Identity(agent.agent_id, SITE, NOW, "", HOST)
    assert enrolment.credential(b.store, agent.agent_id) is None
    assert b.auth(agent.agent_id, agent.secret) == Identity(agent.agent_id, SITE, NOW, "", HOST)
    # Recorded at its first contact, as if it had enrolled there: listed, and its machine known.
    assert [row[:3] for row in enrolment.list_agents(b.store)] == [(agent.agent_id, SITE, False)]
    stored = enrolment.credential(b.store, agent.agent_id)
    assert stored is not None and enrolment.verify(stored, agent.secret)
    # Kept in memory from then on: the next Pushes read nothing.
    reads = len(b.loads)
    for _ in range(3):
        b.auth(agent.agent_id, agent.secret)
    assert len(b.loads) == reads


def test_the_member_that_enrolled_it_still_stores_its_hash(a: Member) -> None:
    agent = enrol_at(a)
    stored = enrolment.credential(a.store, agent.agent_id)
    assert stored is not None
    assert stored.secret_hash == hashlib.sha256(agent.secret.encode()).digest()
    assert a.auth(agent.agent_id, agent.secret, signed=False).agent_id == agent.agent_id


def test_what_the_signed_path_refuses(a: Member, b: Member, tmp_path: Path) -> None:
    agent = enrol_at(a)
    other = enrol_at(a, machine="")  # another machine
    forged = signedcred.issue(bytes(64), signedcred.AgentClaim(agent.agent_id, SITE, NOW + 5))
    token = enrolment.create_token(a.store, SITE, NOW, None, None, KEY)
    bad = grpc.StatusCode.UNAUTHENTICATED, "bad_credential"
    assert b.refusal(agent.agent_id, forged) == bad  # another key
    assert b.refusal("a-someone-else", agent.secret) == bad  # a claim for another agent id
    assert b.refusal(agent.agent_id, token) == bad  # a token is no agent secret
    assert b.refusal(agent.agent_id, agent.secret[:-2]) == bad
    assert b.refusal(other.agent_id, other.secret, signed=False) == bad  # a member without the key
    (tmp_path / "nokey").mkdir()
    keyless = member(tmp_path / "nokey", key=None)
    try:
        assert keyless.refusal(agent.agent_id, agent.secret) == bad
    finally:
        keyless.store.close()
    assert enrolment.list_agents(b.store) == []


def test_an_agent_enrolled_again_elsewhere_replaces_its_old_secret(a: Member, b: Member) -> None:
    first = enrol_at(a)
    b.auth(first.agent_id, first.secret)  # b knows it now, machine included
    again = enrol_at(b, now=NOW + 60)  # reinstalled: enrols at b with the same machine
    assert again.agent_id == first.agent_id and again.continued
    bad = grpc.StatusCode.UNAUTHENTICATED, "bad_credential"
    assert b.refusal(first.agent_id, first.secret) == bad
    # a learns the newer secret from the agent itself: its sequence numbers start again there.
    assert a.auth(first.agent_id, again.secret).enrolled_at == NOW + 60
    assert a.reenrolled == [first.agent_id]
    assert a.refusal(first.agent_id, first.secret) == bad
    assert a.auth(first.agent_id, again.secret).agent_id == first.agent_id


def test_an_older_secret_never_replaces_a_newer_one(a: Member, b: Member) -> None:
    first = enrol_at(a)
    again = enrol_at(a, now=NOW + 60)
    assert again.agent_id == first.agent_id
    b.auth(first.agent_id, again.secret)  # b meets the agent by its new secret first
    assert b.refusal(first.agent_id, first.secret) == (grpc.StatusCode.UNAUTHENTICATED, "bad_credential")
    stored = enrolment.credential(b.store, first.agent_id)
    assert stored is not None and stored.enrolled_at == NOW + 60
    assert b.reenrolled == []


def test_revoked_in_the_store_stays_revoked_whatever_secret_comes(a: Member, b: Member) -> None:
    first = enrol_at(a)
    b.auth(first.agent_id, first.secret)
    assert enrolment.revoke_agent(b.store, first.agent_id)
    denied = grpc.StatusCode.PERMISSION_DENIED, "revoked"
    assert b.refusal(first.agent_id, first.secret) == denied
    again = enrol_at(a, now=NOW + 60)
    assert b.refusal(first.agent_id, again.secret) == denied
    assert a.auth(first.agent_id, again.secret).agent_id == first.agent_id  # a was not told


def test_the_revoked_file_reaches_every_member_at_its_next_check(a: Member, b: Member, shared: Path) -> None:
    known = enrol_at(a)
    unknown = enrol_at(a, machine="")
    a.auth(known.agent_id, known.secret)
    b.auth(known.agent_id, known.secret)
    shared.write_text(f"# stolen\n{known.agent_id}\n{unknown.agent_id}  # never seen at b\n")
    assert a.auth(known.agent_id, known.secret).agent_id == known.agent_id  # until it checks
    denied = grpc.StatusCode.PERMISSION_DENIED, "revoked"
    a.revoked.check()  # the list is read: refused at once, before the store is written
    assert a.refusal(known.agent_id, known.secret) == denied
    assert b.cluster.check() == [known.agent_id]  # revoked in its store as well
    assert a.cluster.check(force=True) == sorted([known.agent_id, unknown.agent_id])
    for m in (a, b):
        assert m.refusal(known.agent_id, known.secret) == denied
        assert m.refusal(unknown.agent_id, unknown.secret) == denied
    assert enrolment.credential(b.store, unknown.agent_id) is None, "a revoked agent is not recorded"
    assert [revoked for agent_id, _, revoked, *_ in enrolment.list_agents(b.store)] == [True]


def test_a_member_first_contact_stays_exact_under_changes_from_the_command_line(
    a: Member, b: Member, tmp_path: Path
) -> None:
    agent = enrol_at(a)
    b.auth(agent.agent_id, agent.secret)
    cli = Store(b.store.path)  # `fleetwatch-collector agent revoke` in its own process
    try:
        assert enrolment.revoke_agent(cli, agent.agent_id)
    finally:
        cli.close()
    assert b.refusal(agent.agent_id, agent.secret) == (grpc.StatusCode.PERMISSION_DENIED, "revoked")


def test_a_signed_token_enrols_at_any_member_uses_counted_by_each(a: Member, b: Member) -> None:
    token = enrolment.create_token(a.store, SITE, NOW, NOW + 3600, 1, KEY)
    assert signedcred.is_signed(token)
    at_a = enrolment.enrol(a.store, token, NOW, hostname="pc-1", key=KEY)
    at_b = enrolment.enrol(b.store, token, NOW, hostname="pc-2", key=KEY)
    assert at_a.site == at_b.site == SITE
    for m in (a, b):
        with pytest.raises(EnrolmentError) as info:
            enrolment.enrol(m.store, token, NOW, hostname="pc-3", key=KEY)
        assert info.value.reason == "token_exhausted"
    [listed] = enrolment.list_tokens(b.store)
    assert (listed.site, listed.enrolments, listed.max_uses, listed.expires) == (SITE, 1, 1, NOW + 3600)


def test_signed_token_refusals(a: Member, b: Member) -> None:
    token = enrolment.create_token(a.store, None, NOW, NOW + 60, None, KEY)
    with pytest.raises(EnrolmentError) as info:
        enrolment.enrol(b.store, token, NOW + 61, key=KEY)
    assert info.value.reason == "token_expired"
    with pytest.raises(EnrolmentError) as info:
        enrolment.enrol(b.store, token, NOW)  # a member without the key does not know it
    assert info.value.reason == "token_unknown"
    with pytest.raises(EnrolmentError) as info:
        enrolment.enrol(b.store, token, NOW, key=bytes(64))
    assert info.value.reason == "token_unknown"
    # Revoked at b before b ever saw it: refused at b, still good at a until revoked there too.
    token_id = enrolment.list_tokens(a.store)[0].token_id
    assert enrolment.revoke_token(b.store, token_id, NOW)
    with pytest.raises(EnrolmentError) as info:
        enrolment.enrol(b.store, token, NOW, key=KEY)
    assert info.value.reason == "token_revoked"
    assert enrolment.enrol(a.store, token, NOW, key=KEY).site is None
    assert not enrolment.revoke_token(b.store, "nope!", NOW)


def test_without_a_key_nothing_changes(tmp_path: Path) -> None:
    m = member(tmp_path, key=None)
    try:
        token = enrolment.create_token(m.store, SITE, NOW, None)
        assert token.startswith("fwt1.")
        agent = enrolment.enrol(m.store, token, NOW)
        assert not signedcred.is_signed(agent.secret)
        assert m.auth(agent.agent_id, agent.secret).site == SITE
        assert not enrolment.revoke_token(m.store, "0badcafe")  # unknown stays unknown
    finally:
        m.store.close()
