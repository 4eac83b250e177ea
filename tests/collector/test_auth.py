"""auth.authenticate: who the call metadata proves the caller to be, or why it proves nobody."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.auth import AuthFailure, Identity, authenticate
from fleetwatch_collector.enrolment import Credential
from fleetwatch_collector.store import Store

SITE = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")
AGENT = "a-0123456789abcdef"
SECRET = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


class Lookup:
    """Credentials by agent id, remembering which ids were looked up."""

    def __init__(self, credentials: dict[str, Credential]) -> None:
        self.credentials = credentials
        self.asked: list[str] = []

    def __call__(self, agent_id: str) -> Credential | None:
        self.asked.append(agent_id)
        return self.credentials.get(agent_id)


def cred(secret: str = SECRET, revoked: bool = False, site: SiteLabels | None = SITE) -> Credential:
    return Credential(hashlib.sha256(secret.encode()).digest(), revoked, site)


def lookup(revoked: bool = False, site: SiteLabels | None = SITE) -> Lookup:
    return Lookup({AGENT: cred(revoked=revoked, site=site)})


def metadata(
    agent_id: str | None = AGENT, authorization: str | None = f"Bearer {SECRET}"
) -> list[tuple[str, str]]:
    pairs = [("user-agent", "grpc-python/1.0")]
    if agent_id is not None:
        pairs.append(("x-fleetwatch-agent-id", agent_id))
    if authorization is not None:
        pairs.append(("authorization", authorization))
    return pairs


def failure(meta: object, credentials: Callable[[str], Credential | None]) -> AuthFailure:
    with pytest.raises(AuthFailure) as info:
        authenticate(meta, credentials)
    return info.value


def test_valid_credential_gives_the_identity_with_the_credential_site() -> None:
    credentials = lookup()
    assert authenticate(metadata(), credentials) == Identity(AGENT, SITE)
    assert credentials.asked == [AGENT]


def test_any_site_credential_gives_site_none() -> None:
    assert authenticate(metadata(), lookup(site=None)) == Identity(AGENT, None)


@pytest.mark.parametrize("meta", [None, (), metadata(agent_id=None)], ids=["none", "empty", "no-id"])
def test_missing_agent_id(meta: object) -> None:
    credentials = lookup()
    error = failure(meta, credentials)
    assert (error.code, error.reason) == (UNAUTHENTICATED, "unauthenticated")
    assert str(error) == "missing or malformed x-fleetwatch-agent-id"
    assert credentials.asked == []  # garbage never reaches the store


@pytest.mark.parametrize(
    "agent_id",
    ["", "-a", ".a", "a" * 65, "a b", "a/b", "a\nb", "máy", "a;drop"],
    ids=["empty", "dash", "dot", "long", "space", "slash", "newline", "non-ascii", "semicolon"],
)
def test_malformed_agent_id(agent_id: str) -> None:
    credentials = lookup()
    error = failure(metadata(agent_id=agent_id), credentials)
    assert (error.code, error.reason) == (UNAUTHENTICATED, "unauthenticated")
    assert "x-fleetwatch-agent-id" in str(error)
    assert credentials.asked == []


def test_longest_agent_id_is_well_formed() -> None:
    agent_id = "a" * 64
    credentials = Lookup({agent_id: cred()})
    assert authenticate(metadata(agent_id=agent_id), credentials) == Identity(agent_id, SITE)


@pytest.mark.parametrize(
    "authorization",
    [None, "", SECRET, f"Basic {SECRET}", "Bearer", "Bearer ", f"bearer {SECRET}", f"Token {SECRET}"],
    ids=["absent", "empty", "no-scheme", "basic", "bearer-alone", "bearer-space", "lowercase", "token"],
)
def test_missing_or_wrong_bearer(authorization: str | None) -> None:
    credentials = lookup()
    error = failure(metadata(authorization=authorization), credentials)
    assert (error.code, error.reason) == (UNAUTHENTICATED, "unauthenticated")
    assert str(error) == "missing 'authorization: Bearer <secret>'"
    assert credentials.asked == []


def test_unknown_agent() -> None:
    error = failure(metadata(agent_id="a-ffffffffffffffff"), lookup())
    assert (error.code, error.reason) == (UNAUTHENTICATED, "bad_credential")
    assert "enrol again" in str(error)


@pytest.mark.parametrize("secret", [SECRET + "x", SECRET[:-1], SECRET.upper(), "x"])
def test_wrong_secret(secret: str) -> None:
    error = failure(metadata(authorization=f"Bearer {secret}"), lookup())
    assert (error.code, error.reason) == (UNAUTHENTICATED, "bad_credential")
    assert SECRET not in str(error) and secret not in str(error)


def test_revoked_agent_is_permission_denied() -> None:
    error = failure(metadata(), lookup(revoked=True))
    assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "revoked")
    assert str(error) == f"agent {AGENT} was revoked"


def test_revoked_agent_with_a_wrong_secret_learns_nothing_more() -> None:
    error = failure(metadata(authorization="Bearer guessed"), lookup(revoked=True))
    assert (error.code, error.reason) == (UNAUTHENTICATED, "bad_credential")


def test_against_the_real_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "collector.sqlite")
    try:
        agent = enrolment.enrol(store, enrolment.create_token(store, SITE, 0.0, None), 0.0)

        def from_store(agent_id: str) -> Credential | None:
            return enrolment.credential(store, agent_id)

        meta = metadata(agent.agent_id, f"Bearer {agent.secret}")
        assert authenticate(meta, from_store) == Identity(agent.agent_id, SITE)
        enrolment.revoke_agent(store, agent.agent_id)
        error = failure(meta, from_store)  # the credential is read again on every call
        assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "revoked")
    finally:
        store.close()
