"""Engines of a poller: one for every poll unless v3 keys of one user name clash; every protocol mapped."""

from __future__ import annotations

from fleetwatch_snmp import credentials
from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.engines import AUTH_PROTOCOLS, MP_MODELS, PRIV_PROTOCOLS, Engines

V2C = Credential("a", "2c", community="c0mm-xyz")
V1 = Credential("b", "1", community="two")
V3 = Credential(
    "c",
    "3",
    user="mon",
    auth_protocol="sha",
    auth_key="key-one-1",
    priv_protocol="aes",
    priv_key="priv-one-1",
)
V3_SAME = Credential(
    "d",
    "3",
    user="mon",
    auth_protocol="sha",
    auth_key="key-one-1",
    priv_protocol="aes",
    priv_key="priv-one-1",
)
V3_OTHER_KEYS = Credential("e", "3", user="mon", auth_protocol="sha", auth_key="key-two-2")
V3_OTHER_USER = Credential("f", "3", user="ops", auth_protocol="md5", auth_key="key-two-2")


class FakeEngine:
    closed = False

    def close_dispatcher(self) -> None:
        self.closed = True


def engines() -> Engines:
    return Engines(factory=FakeEngine)


def test_communities_and_users_share_one_engine() -> None:
    pool = engines()
    first = pool.acquire(V2C)
    for credential in (V1, V3, V3_SAME, V3_OTHER_USER):
        assert pool.acquire(credential) is first
    assert len(pool) == 1


def test_a_user_name_with_other_keys_in_use_takes_another_engine() -> None:
    pool = engines()
    first = pool.acquire(V3)
    second = pool.acquire(V3_OTHER_KEYS)
    assert second is not first
    assert pool.acquire(V3_OTHER_KEYS) is second
    assert pool.acquire(V3_SAME) is first  # the same keys share
    pool.release(V3, first)
    pool.release(V3_SAME, first)
    # No poll uses the first engine's "mon" any more: other keys may take it (its user is replaced).
    third = pool.acquire(Credential("g", "3", user="mon", auth_protocol="sha256", auth_key="key-three"))
    assert third is first
    assert len(pool) == 2
    pool.close()
    assert first.engine.closed and second.engine.closed
    assert len(pool) == 0


def test_every_protocol_and_version_a_credential_accepts_is_mapped() -> None:
    assert set(AUTH_PROTOCOLS) == set(credentials.AUTH_PROTOCOLS)
    assert set(PRIV_PROTOCOLS) == set(credentials.PRIV_PROTOCOLS)
    assert set(MP_MODELS) == set(credentials.VERSIONS)
