"""Enrolment tokens and agent credentials on a real SQLite store: only hashes are kept."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.enrolment import EnrolmentError
from fleetwatch_collector.store import Store

SITE = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")
NOW = 1_760_000_000.0
TOKEN_RE = re.compile(r"fwt1\.([0-9a-f]{8})\.([A-Za-z0-9_-]{32})")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "collector.sqlite")
    yield s
    s.close()


def sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def refused(store: Store, token: str, now: float = NOW) -> EnrolmentError:
    with pytest.raises(EnrolmentError) as info:
        enrolment.enrol(store, token, now)
    return info.value


def test_token_text_format(store: Store) -> None:
    tokens = [enrolment.create_token(store, SITE, NOW, None) for _ in range(3)]
    for token in tokens:
        assert TOKEN_RE.fullmatch(token), token
    assert len({TOKEN_RE.fullmatch(t).group(1) for t in tokens}) == 3  # type: ignore[union-attr]


def test_enrol_gives_an_agent_a_credential_of_its_token_site(store: Store) -> None:
    token = enrolment.create_token(store, SITE, NOW, NOW + 3600)
    first = enrolment.enrol(store, token, NOW + 10)
    second = enrolment.enrol(store, token, NOW + 20)  # one site token enrols every PC of the site
    assert first.agent_id != second.agent_id
    assert first.secret != second.secret
    assert re.fullmatch(r"a-[0-9a-f]{16}", first.agent_id)
    assert len(first.secret) >= 40  # 256 random bits, URL-safe base64
    assert first.site == second.site == SITE

    cred = enrolment.credential(store, first.agent_id)
    assert cred is not None
    assert (cred.revoked, cred.site) == (False, SITE)
    assert enrolment.verify(cred, first.secret)
    assert not enrolment.verify(cred, second.secret)
    assert not enrolment.verify(cred, first.secret + "x")
    assert not enrolment.verify(cred, "")


def test_only_hashes_are_stored(store: Store, tmp_path: Path) -> None:
    token = enrolment.create_token(store, SITE, NOW, None)
    token_id, token_secret = token.split(".")[1:]
    agent = enrolment.enrol(store, token, NOW)

    with sqlite3.connect(tmp_path / "collector.sqlite") as db:
        cells = [
            cell
            for table in ("tokens", "agents")
            for row in db.execute(f"SELECT * FROM {table}")
            for cell in row
        ]
        (token_hash,) = db.execute("SELECT token_hash FROM tokens WHERE token_id = ?", (token_id,)).fetchone()
        (secret_hash,) = db.execute(
            "SELECT secret_hash FROM agents WHERE agent_id = ?", (agent.agent_id,)
        ).fetchone()
    assert token_id in cells and agent.agent_id in cells  # the rows are there
    for secret in (token_secret, agent.secret, token):
        for cell in cells:
            text = cell.decode("latin-1") if isinstance(cell, bytes) else str(cell)
            assert secret not in text
            assert secret.encode() != cell
    assert token_hash == sha256(token_secret)
    assert secret_hash == sha256(agent.secret)
    files = [p for p in tmp_path.iterdir() if p.name.startswith("collector.sqlite")]
    for path in files:  # nor in the WAL or anywhere else on disk
        data = path.read_bytes()
        assert token_secret.encode() not in data, path
        assert agent.secret.encode() not in data, path


def test_unknown_token(store: Store) -> None:
    enrolment.create_token(store, SITE, NOW, None)
    error = refused(store, "fwt1.deadbeef.notasecretnotasecretnotasecret00")
    assert error.reason == "token_unknown"
    assert "not known" in str(error)


def test_wrong_secret_of_a_known_token_is_unknown(store: Store) -> None:
    token = enrolment.create_token(store, SITE, NOW, None)
    error = refused(store, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert error.reason == "token_unknown"


@pytest.mark.parametrize(
    "token",
    ["", "fwt1", "fwt1.abc", "fwt2.0011aabb.secret", "fwt1.a.b.c", "token", " fwt1.a.b"],
)
def test_malformed_token(store: Store, token: str) -> None:
    error = refused(store, token)
    assert error.reason == "token_malformed"
    assert str(error) == "enrolment token is malformed"


def test_expired_token(store: Store) -> None:
    token = enrolment.create_token(store, SITE, NOW, NOW + 60)
    assert enrolment.enrol(store, token, NOW + 60).site == SITE  # still valid at its expiry time
    error = refused(store, token, NOW + 60.5)
    assert error.reason == "token_expired"
    token_id = token.split(".")[1]
    assert str(error) == f"enrolment token {token_id} has expired"


def test_revoked_token(store: Store) -> None:
    token = enrolment.create_token(store, SITE, NOW, None)
    token_id = token.split(".")[1]
    agent = enrolment.enrol(store, token, NOW)
    assert enrolment.revoke_token(store, token_id)
    error = refused(store, token)
    assert error.reason == "token_revoked"
    assert token_id in str(error)
    cred = enrolment.credential(store, agent.agent_id)  # agents enrolled before keep working
    assert cred is not None
    assert not cred.revoked


def test_revoking_an_unknown_token_says_so(store: Store) -> None:
    assert not enrolment.revoke_token(store, "00000000")


def test_refused_enrolment_creates_no_agent(store: Store) -> None:
    token = enrolment.create_token(store, SITE, NOW, NOW + 1)
    refused(store, token, NOW + 2)
    assert enrolment.list_agents(store) == []
    assert [t.enrolments for t in enrolment.list_tokens(store)] == [0]


def test_revoke_agent(store: Store) -> None:
    token = enrolment.create_token(store, SITE, NOW, None)
    agent = enrolment.enrol(store, token, NOW)
    other = enrolment.enrol(store, token, NOW)
    assert enrolment.revoke_agent(store, agent.agent_id)
    cred = enrolment.credential(store, agent.agent_id)
    assert cred is not None
    assert cred.revoked
    assert enrolment.verify(cred, agent.secret)  # the secret still matches: revocation is separate
    other_cred = enrolment.credential(store, other.agent_id)
    assert other_cred is not None
    assert not other_cred.revoked
    assert not enrolment.revoke_agent(store, "a-0000000000000000")
    listed = {agent_id: revoked for agent_id, _, revoked, _, _ in enrolment.list_agents(store)}
    assert listed == {agent.agent_id: True, other.agent_id: False}


def test_unknown_agent_has_no_credential(store: Store) -> None:
    assert enrolment.credential(store, "a-0000000000000000") is None


def test_list_tokens_counts_enrolments(store: Store) -> None:
    site_token = enrolment.create_token(store, SITE, NOW, NOW + 86400)
    any_token = enrolment.create_token(store, None, NOW + 1, None)
    for _ in range(3):
        enrolment.enrol(store, site_token, NOW + 5)
    enrolment.enrol(store, any_token, NOW + 5)
    enrolment.revoke_token(store, any_token.split(".")[1])
    tokens = enrolment.list_tokens(store)
    assert [(t.token_id, t.site, t.created, t.expires, t.revoked, t.enrolments) for t in tokens] == [
        (site_token.split(".")[1], SITE, NOW, NOW + 86400, False, 3),
        (any_token.split(".")[1], None, NOW + 1, None, True, 1),
    ]


def test_any_site_token_gives_site_none(store: Store) -> None:
    token = enrolment.create_token(store, None, NOW, None)
    agent = enrolment.enrol(store, token, NOW)
    assert agent.site is None
    cred = enrolment.credential(store, agent.agent_id)
    assert cred is not None
    assert cred.site is None
    ((agent_id, site, revoked, enrolled_at, last_seen),) = enrolment.list_agents(store)
    assert (agent_id, site, revoked, enrolled_at, last_seen) == (agent.agent_id, None, False, NOW, 0.0)


def test_site_without_a_name_round_trips(store: Store) -> None:
    site = SiteLabels("so-y-te", "tp-my-tho", "department")
    agent = enrolment.enrol(store, enrolment.create_token(store, site, NOW, None), NOW)
    cred = enrolment.credential(store, agent.agent_id)
    assert cred is not None
    assert agent.site == cred.site == SiteLabels("so-y-te", "tp-my-tho", "department", "")
