"""A machine enrolling again at its site gets its agent id back; otherwise enrolment makes a new agent."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.dedup import AppliedSeqs
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.sitedir import SiteDirectory
from fleetwatch_collector.store import SCHEMA_VERSION, Store
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import full_report, host_info

SITE = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")
OTHER = SiteLabels("xa-an-huu", "h-cai-be", "commune", "Xã An Hữu")
MACHINE = "9f" * 32  # what an agent sends: a hex digest, never the raw machine id
NOW = 1_760_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "collector.sqlite")
    yield s
    s.close()


def token(store: Store, site: SiteLabels | None = SITE) -> str:
    return enrolment.create_token(store, site, NOW, None)


def report_once(store: Store, agent_id: str, bound: SiteLabels | None, **host: object) -> None:
    """The agent's first reports, stored as the collector stores them."""
    fleet = FleetState(clock=lambda: NOW + 60)
    fleet.apply(agent_id, [full_report(1, **host), full_report(2, **host)], 1, bound)
    store.save_agents([fleet.snapshot(agent_id)])


def test_same_machine_same_token_gets_its_agent_id_back_with_a_new_secret(store: Store) -> None:
    site_token = token(store)
    first = enrolment.enrol(store, site_token, NOW, MACHINE)
    report_once(store, first.agent_id, SITE)
    again = enrolment.enrol(store, site_token, NOW + 3600, MACHINE)
    assert (again.agent_id, again.continued, first.continued) == (first.agent_id, True, False)
    cred = enrolment.credential(store, first.agent_id)
    assert cred is not None
    assert enrolment.verify(cred, again.secret) and not enrolment.verify(cred, first.secret)
    ((snap, site),) = store.load_agents()
    # Its history goes on; its sequence numbers start again with the new spool.
    assert (snap.reports_total, snap.state_seq, AppliedSeqs.loads(snap.applied)) == (2, 0, AppliedSeqs())
    assert site == SITE
    assert len(enrolment.list_agents(store)) == 1


def test_any_token_of_the_same_site_continues_the_agent(store: Store) -> None:
    first = enrolment.enrol(store, token(store), NOW, MACHINE)
    again = enrolment.enrol(store, token(store), NOW + 10, MACHINE)
    assert again.agent_id == first.agent_id


def test_the_store_keeps_only_a_hash_of_the_machine_id(store: Store) -> None:
    enrolment.enrol(store, token(store), NOW, MACHINE)
    with sqlite3.connect(store.path) as db:
        dump = "\n".join(db.iterdump())
    assert MACHINE not in dump


@pytest.mark.parametrize(
    ("second_site", "second_machine", "revoke_first"),
    [
        (OTHER, MACHINE, False),  # moved to another site: a new agent there
        (SITE, "ab" * 32, False),  # another machine
        (SITE, "", False),  # no machine id: always a new agent
        (SITE, MACHINE, True),  # a revoked agent stays revoked
    ],
    ids=["other-site", "other-machine", "no-machine-id", "revoked"],
)
def test_otherwise_enrolment_makes_a_new_agent(
    store: Store, second_site: SiteLabels, second_machine: str, revoke_first: bool
) -> None:
    first = enrolment.enrol(store, token(store), NOW, MACHINE)
    if revoke_first:
        enrolment.revoke_agent(store, first.agent_id)
    again = enrolment.enrol(store, token(store, second_site), NOW + 10, second_machine)
    assert again.agent_id != first.agent_id and not again.continued
    cred = enrolment.credential(store, first.agent_id)
    assert cred is not None and enrolment.verify(cred, first.secret)  # the first one is untouched


def test_a_clone_does_not_take_over_an_agent_still_reporting_as_another_host(store: Store) -> None:
    """Images cloned with the same machine id: the second machine must not cut off the first."""
    first = enrolment.enrol(store, token(store), NOW, MACHINE, hostname="pc-ke-01")
    report_once(store, first.agent_id, SITE)  # pc-ke-01 reported at NOW + 60, every 15 s
    clone = enrolment.enrol(store, token(store), NOW + 61, MACHINE, hostname="pc-ke-02")
    assert clone.agent_id != first.agent_id
    same_host = enrolment.enrol(store, token(store), NOW + 62, MACHINE, hostname="pc-ke-01")
    assert same_host.agent_id == first.agent_id  # reinstalled right away: same name, continues
    # Silent for an hour, then back under a new name: a reinstallation that renamed the PC.
    report_once(store, first.agent_id, SITE)
    renamed = enrolment.enrol(store, token(store), NOW + 3600, MACHINE, hostname="pc-ke-99")
    assert renamed.agent_id == first.agent_id


def test_without_machine_ids_each_enrolment_is_a_new_agent(store: Store) -> None:
    site_token = token(store)
    ids = {enrolment.enrol(store, site_token, NOW).agent_id for _ in range(3)}
    assert len(ids) == 3


def test_any_site_tokens_match_the_site_the_agent_claimed(store: Store) -> None:
    any_site = token(store, None)
    first = enrolment.enrol(store, any_site, NOW, MACHINE, "xa-an-cu")
    report_once(store, first.agent_id, None, site="xa-an-cu")
    assert enrolment.enrol(store, any_site, NOW + 1, MACHINE, "xa-an-cu").agent_id == first.agent_id
    elsewhere = enrolment.enrol(store, any_site, NOW + 2, MACHINE, "xa-an-huu")
    assert elsewhere.agent_id != first.agent_id


def test_a_site_merged_into_another_is_the_same_site(store: Store, tmp_path: Path) -> None:
    """Enrolled at xa-an-cu, reinstalled after xa-an-cu was merged into xa-an-moi: same agent."""
    inventory = tmp_path / "sites.toml"
    inventory.write_text(
        '[[sites]]\nslug = "xa-an-moi"\nname = "Xã An Mới"\ngroup = "g"\ntype = "commune"\n'
        'aliases = ["xa-an-cu"]\n',
        encoding="utf-8",
    )
    sites = SiteDirectory(inventory)
    first = enrolment.enrol(store, token(store), NOW, MACHINE)
    merged = SiteLabels("xa-an-moi", "g", "commune", "Xã An Mới")
    again = enrolment.enrol(store, token(store, merged), NOW + 10, MACHINE, same_site=sites.same_site)
    assert again.agent_id == first.agent_id
    cred = enrolment.credential(store, first.agent_id)
    assert cred is not None and cred.site == merged  # bound to the site of its new token


def test_forget_deletes_credential_and_state(store: Store) -> None:
    agent = enrolment.enrol(store, token(store), NOW, MACHINE)
    report_once(store, agent.agent_id, SITE)
    assert enrolment.forget_agent(store, agent.agent_id)
    assert enrolment.credential(store, agent.agent_id) is None
    assert store.load_agents() == [] and store.agent_ids() == {}
    assert not enrolment.forget_agent(store, agent.agent_id)
    # The machine can enrol again, as a new agent: its history was forgotten.
    assert enrolment.enrol(store, token(store), NOW + 10, MACHINE).agent_id != agent.agent_id


def test_agent_ids_say_which_are_revoked(store: Store) -> None:
    kept = enrolment.enrol(store, token(store), NOW, MACHINE).agent_id
    revoked = enrolment.enrol(store, token(store), NOW).agent_id
    enrolment.revoke_agent(store, revoked)
    assert store.agent_ids() == {kept: False, revoked: True}


def test_a_store_without_machine_column_gains_it(tmp_path: Path) -> None:
    """A store made by the previous collector (schema 2) opens, and re-enrolment works on it."""
    path = tmp_path / "collector.sqlite"
    old = Store(path)
    old.close()
    with sqlite3.connect(path) as db:
        db.executescript(
            "DROP INDEX agents_by_machine; ALTER TABLE agents DROP COLUMN machine_hash;"
            " PRAGMA user_version=2;"
        )
    store = Store(path)
    try:
        first = enrolment.enrol(store, token(store), NOW, MACHINE)
        assert enrolment.enrol(store, token(store), NOW, MACHINE).agent_id == first.agent_id
        assert store.query("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    finally:
        store.close()


def test_host_info_of_a_reinstalled_agent_is_kept_until_it_reports(store: Store) -> None:
    first = enrolment.enrol(store, token(store), NOW, MACHINE)
    report_once(store, first.agent_id, SITE)
    enrolment.enrol(store, token(store), NOW + 10, MACHINE)
    ((snap, _),) = store.load_agents()
    assert pb.HostInfo.FromString(snap.host) == host_info()
