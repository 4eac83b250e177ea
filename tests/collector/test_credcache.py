"""The credential cache: read once from the store, forgotten whenever any process changes a credential."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.changesignal import ChangeSignal
from fleetwatch_collector.credcache import CredentialCache
from fleetwatch_collector.enrolment import Credential
from fleetwatch_collector.store import Store, StoreError

SITE = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")
MACHINE = "9f" * 32
NOW = 1_760_000_000.0
MAX_AGE = 300.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "collector.sqlite")
    yield s
    s.close()


@pytest.fixture
def other(tmp_path: Path, store: Store) -> Iterator[Store]:
    """The same file opened again, as `fleetwatch-collector agent ...` does from its own process."""
    s = Store(tmp_path / "collector.sqlite")
    yield s
    s.close()


class Counting:
    """The store's credential look-up, counting its reads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads = 0

    def __call__(self, agent_id: str) -> Credential | None:
        self.reads += 1
        return enrolment.credential(self.store, agent_id)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cache_of(store: Store, clock: Clock | None = None) -> tuple[CredentialCache, Counting]:
    load = Counting(store)
    return CredentialCache(load, store.credentials.value, MAX_AGE, clock or Clock()), load


def enrolled(store: Store, machine: str = "") -> enrolment.Enrolled:
    return enrolment.enrol(store, enrolment.create_token(store, SITE, NOW, None), NOW, machine)


def accepts(cache: CredentialCache, agent_id: str, secret: str) -> bool:
    cred = cache(agent_id)
    return cred is not None and not cred.revoked and enrolment.verify(cred, secret)


def test_a_known_agent_is_read_once(store: Store) -> None:
    agent = enrolled(store)
    cache, load = cache_of(store)
    for _ in range(5):
        assert accepts(cache, agent.agent_id, agent.secret)
    assert load.reads == 1
    assert len(cache) == 1


def test_unknown_agents_are_never_kept(store: Store) -> None:
    cache, load = cache_of(store)
    for n in range(3):
        assert cache(f"a-{n:016x}") is None
        assert cache(f"a-{n:016x}") is None
    assert (load.reads, len(cache)) == (6, 0)


def test_revoked_in_another_process_is_refused_at_the_next_look_up(store: Store, other: Store) -> None:
    agent = enrolled(store)
    cache, load = cache_of(store)
    assert accepts(cache, agent.agent_id, agent.secret)
    assert enrolment.revoke_agent(other, agent.agent_id)
    cred = cache(agent.agent_id)
    assert cred is not None and cred.revoked
    assert load.reads == 2
    cache(agent.agent_id)  # revoked agents are kept too: their refusals stay cheap
    assert load.reads == 2


def test_forgotten_in_another_process_is_unknown_at_the_next_look_up(store: Store, other: Store) -> None:
    agent = enrolled(store)
    cache, _ = cache_of(store)
    assert accepts(cache, agent.agent_id, agent.secret)
    assert enrolment.forget_agent(other, agent.agent_id)
    assert cache(agent.agent_id) is None


def test_enrolling_again_retires_the_old_secret_at_once(store: Store) -> None:
    first = enrolled(store, MACHINE)
    cache, _ = cache_of(store)
    assert accepts(cache, first.agent_id, first.secret)
    again = enrolled(store, MACHINE)
    assert (again.agent_id, again.continued) == (first.agent_id, True)
    assert not accepts(cache, first.agent_id, first.secret)
    assert accepts(cache, again.agent_id, again.secret)


def test_a_new_agent_enrolling_keeps_the_others(store: Store) -> None:
    agent = enrolled(store)
    cache, load = cache_of(store)
    assert accepts(cache, agent.agent_id, agent.secret)
    newcomer = enrolled(store)
    assert accepts(cache, newcomer.agent_id, newcomer.secret)
    assert accepts(cache, agent.agent_id, agent.secret)
    assert load.reads == 2


def test_a_change_that_rolls_back_changes_nothing_kept(store: Store) -> None:
    agent = enrolled(store)
    cache, _ = cache_of(store)
    assert accepts(cache, agent.agent_id, agent.secret)
    with pytest.raises(StoreError), store.transaction() as db:
        store.credentials_changed()
        db.execute("UPDATE agents SET revoked = 1 WHERE agent_id = ?", (agent.agent_id,))
        db.execute("INSERT INTO no_such_table VALUES (1)")
    assert accepts(cache, agent.agent_id, agent.secret)


def test_everything_is_read_again_after_max_age(store: Store) -> None:
    """The backstop for a change made around the collector's code, which signals nothing."""
    agent = enrolled(store)
    clock = Clock()
    cache, load = cache_of(store, clock)
    assert accepts(cache, agent.agent_id, agent.secret)
    with store.transaction() as db:  # a hand edit of the store
        db.execute("UPDATE agents SET revoked = 1 WHERE agent_id = ?", (agent.agent_id,))
    clock.now = MAX_AGE - 1
    assert accepts(cache, agent.agent_id, agent.secret)
    clock.now = MAX_AGE
    assert not accepts(cache, agent.agent_id, agent.secret)
    assert load.reads == 2


def test_without_a_signal_nothing_is_kept(store: Store) -> None:
    agent = enrolled(store)
    load = Counting(store)
    cache = CredentialCache(load, lambda: None, MAX_AGE)
    for _ in range(3):
        assert accepts(cache, agent.agent_id, agent.secret)
    assert (load.reads, len(cache)) == (3, 0)


def test_the_signal_changes_only_when_bumped(tmp_path: Path) -> None:
    signal = ChangeSignal(tmp_path / "signal")
    signal.create()
    seen = signal.value()
    assert seen is not None and len(seen) == 8
    signal.create()  # opening it again keeps its bytes
    assert signal.value() == seen
    ChangeSignal(tmp_path / "signal").bump()
    assert signal.value() not in (None, seen)
    signal.close()


def test_an_unreadable_signal_reads_as_none(tmp_path: Path) -> None:
    signal = ChangeSignal(tmp_path / "missing")
    assert signal.value() is None


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_root_makes_the_signal_file_the_stores_owners(tmp_path: Path) -> None:
    database = tmp_path / "collector.sqlite"
    database.write_bytes(b"")
    os.chown(database, 4321, 4321)
    signal = ChangeSignal(tmp_path / "collector.sqlite-credentials", database)
    signal.create()
    assert (signal.path.stat().st_uid, signal.path.stat().st_gid) == (4321, 4321)


def test_a_store_that_cannot_signal_refuses_to_open(tmp_path: Path) -> None:
    (tmp_path / "collector.sqlite-credentials").mkdir()  # in the way of the file
    with pytest.raises(StoreError, match="credential change signal"):
        Store(tmp_path / "collector.sqlite")
