"""`config show` on a real store: the agents per version they run and those refusing their site's version,
as the collector stored them from the agents' Pushes."""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path

import pytest

from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.centralconfig import merge, version_of
from fleetwatch_collector.centralstore import CentralConfigs
from fleetwatch_collector.cli import main
from fleetwatch_collector.store import Store
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

S1 = SiteLabels("s1", "d1", "commune")
S2 = SiteLabels("s2", "d2", "commune")
EVERYONE = {"interval_seconds": 60}
S1_ONLY = {"targets": [{"name": "resolver", "kind": "dns", "address": "127.0.0.1"}]}


def said(version: str, refused: str = "", reason: str = "") -> pb.PushRequest:
    return pb.PushRequest(
        config_version=version, config_refused_version=refused, config_refused_reason=reason
    )


def enrol_at(store: Store, site: SiteLabels, name: str) -> str:
    token = enrolment.create_token(store, site, time.time(), None)
    return enrolment.enrol(store, token, time.time(), hostname=name).agent_id


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A store with five agents, two documents, and what the agents said in their latest Pushes."""
    data = tmp_path / "data"
    data.mkdir()
    store = Store(data / "collector.sqlite")
    a1, a2, a3 = (enrol_at(store, S1, f"pc-s1-{i}") for i in range(3))
    b1, b2 = (enrol_at(store, S2, f"pc-s2-{i}") for i in range(2))
    enrolment.revoke_agent(store, b2)
    store.close()
    central = CentralConfigs(data / "collector.sqlite")
    try:
        central.set("all", EVERYONE, time.time())
        old = version_of(merge([EVERYONE]))
        central.set("site:s1", S1_ONLY, time.time())
        central.refresh()
        s1 = central.for_site("s1", "d1")
        assert s1 is not None
        central.note(a1, S1, said(s1.version))
        central.note(
            a2, S1, said(old, s1.version, "option 'probes.connectivity.targets[0]': dns_name missing")
        )
        central.note(a3, S1, said(""))
        central.note(b1, S2, said(old, "0123456789abcdef", "an older refusal"))  # not its site's version
        central.note(b2, S2, said(old))  # revoked: not listed
        assert central.save() == 5
        assert central.save() == 0  # nothing new
        central.note(a3, S1, said(""))  # the same word again: nothing to store
        assert central.save() == 0
    finally:
        central.close()
    (tmp_path / "ids.json").write_text(json.dumps({"a1": a1, "a2": a2, "a3": a3, "b1": b1, "s1": s1.version}))
    return data


def ids(data_dir: Path) -> dict[str, str]:
    return dict(json.loads((data_dir.parent / "ids.json").read_text()))


def test_show_lists_the_agents_refusing_their_sites_version_and_counts_versions(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known = ids(data_dir)
    old = version_of(merge([EVERYONE]))
    assert main(["config", "show", "--site", "s1", "--district", "d1", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    tomllib.loads(out)  # the agents' part is comments: the output stays a document
    lines = out.splitlines()
    assert "# agents by the version they run (3 agents):" in lines
    assert f"#   {known['s1']}  1" in lines and f"#   {old}  1" in lines
    assert "#   (none: the local file alone)  1" in lines
    assert "# agents refusing their site's version: 1" in lines
    assert (
        f"#   {known['a2']}  site s1  version {known['s1']}: "
        "option 'probes.connectivity.targets[0]': dns_name missing"
    ) in lines

    # The whole fleet: b1's refusal is of a version its site does not serve; the revoked agent is gone.
    assert main(["config", "show", "--format", "json", "--data-dir", str(data_dir)]) == 0
    agents = json.loads(capsys.readouterr().out)["agents"]
    assert agents["running"] == {old: 2, known["s1"]: 1, "": 1}
    assert agents["refusing"] == [
        {
            "agent_id": known["a2"],
            "site": "s1",
            "version": known["s1"],
            "reason": "option 'probes.connectivity.targets[0]': dns_name missing",
        }
    ]


def test_an_agent_that_moves_on_is_stored_again(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    known = ids(data_dir)
    central = CentralConfigs(data_dir / "collector.sqlite")  # a restarted collector: reads what is stored
    try:
        central.note(known["a3"], S1, said(""))
        assert central.save() == 0
        central.note(known["a2"], S1, said(known["s1"]))  # it runs it now
        assert central.save() == 1
    finally:
        central.close()
    assert main(["config", "show", "--site", "s1", "--district", "d1", "--data-dir", str(data_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "# agents refusing their site's version: 0" in lines
    assert f"#   {known['s1']}  2" in lines
