"""Central configuration documents: validation, merge of scopes, versions, the store and `config` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetwatch_collector.centralconfig import merge, parse_scope, to_message, validate_document, version_of
from fleetwatch_collector.centralstore import CentralConfigs
from fleetwatch_collector.cli import main
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"interval": 5}, "'interval'"),
        ({"interval_seconds": "30"}, "'interval_seconds': expected an integer"),
        ({"interval_seconds": 7200}, "'interval_seconds': 7200 is not between 0 and 3600"),
        ({"probe_intervals": {"connectivity": 0}}, "'probe_intervals.connectivity'"),
        ({"probe_intervals": {"Bad Name": 5}}, "'probe_intervals.Bad Name'"),
        ({"targets": [{"name": "a", "kind": "smtp", "address": "x"}]}, "'targets[0].kind'"),
        ({"targets": [{"name": "a", "kind": "icmp"}]}, "'targets[0].address': missing"),
        ({"targets": [{"name": "a", "kind": "icmp", "address": "x", "port": 1}]}, "'targets[0].port'"),
        ({"snmp_devices": [{"name": "R1", "address": "x", "credential": "c"}]}, "'snmp_devices[0].name'"),
        ({"antivirus_outdated_after_days": -1}, "'antivirus_outdated_after_days'"),
    ],
)
def test_invalid_documents_name_the_key(data: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        validate_document(data)
    assert named in str(caught.value)


def test_the_most_specific_scope_wins_key_by_key() -> None:
    everyone = {
        "interval_seconds": 60,
        "probe_intervals": {"resources": 30, "connectivity": 60},
        "targets": [{"name": "a", "kind": "icmp", "address": "127.0.0.1"}],
    }
    district = {"probe_intervals": {"connectivity": 20}}
    site = {"targets": [{"name": "b", "kind": "tcp", "address": "127.0.0.1:80"}]}
    merged = merge([everyone, district, site])
    assert merged["interval_seconds"] == 60
    assert merged["probe_intervals"] == {"resources": 30, "connectivity": 20}
    assert merged["targets"] == site["targets"]  # replaced whole, not joined
    assert version_of(merged) == version_of(json.loads(json.dumps(merged)))
    assert version_of(merged) != version_of(merge([everyone]))


def test_wire_form() -> None:
    doc = validate_document(
        {
            "interval_seconds": 30,
            "probe_intervals": {"connectivity": 10},
            "targets": [{"name": "portal", "kind": "http", "address": "http://127.0.0.1/"}],
        }
    )
    message = to_message(doc, "v1")
    assert message.version == "v1" and message.interval_seconds == 30
    assert dict(message.probe_intervals) == {"connectivity": 10}
    assert message.targets[0].kind == pb.PROBE_KIND_HTTP


@pytest.mark.parametrize("scope", ["everyone", "site:", "site:Bad Slug", "region:x"])
def test_bad_scopes(scope: str) -> None:
    with pytest.raises(ConfigError):
        parse_scope(scope)


def test_store_serves_the_newest_document_of_each_scope(tmp_path: Path) -> None:
    central = CentralConfigs(tmp_path / "c.sqlite")
    assert central.for_site("s1", "d1") is None
    central.set("all", {"interval_seconds": 60}, 1.0)
    central.set("district:d1", {"interval_seconds": 30}, 2.0)
    assert central.for_site("s1", "d1") is None  # cached until refresh: no SQL on the Push path
    assert central.refresh()
    first = central.for_site("s1", "d1")
    assert first is not None and first.document == {"interval_seconds": 30}
    other = central.for_site("s2", "d2")
    assert other is not None and other.document == {"interval_seconds": 60}
    central.set("district:d1", {"interval_seconds": 45}, 3.0)
    assert central.refresh() and not central.refresh()
    newer = central.for_site("s1", "d1")
    assert newer is not None and newer.version != first.version
    assert len(central.history()) == 3  # every version kept
    central.close()


def test_config_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "all.toml"
    doc.write_text(
        'interval_seconds = 30\n[[targets]]\nname = "portal"\nkind = "tcp"\naddress = "127.0.0.1:443"\n'
    )
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["config", "set", "--scope", "all", str(doc), *data]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("interval_seconds = 99999\n")
    assert main(["config", "set", "--scope", "site:s1", str(bad), *data]) == 2
    assert "'interval_seconds': 99999 is not between" in capsys.readouterr().err
    assert main(["config", "show", "--site", "s1", "--district", "d1", "--format", "json", *data]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config"]["interval_seconds"] == 30 and shown["scopes"] == ["all"]
    assert main(["config", "show", *data]) == 0
    text = capsys.readouterr().out
    assert f"# version {shown['version']}" in text and "[[targets]]" in text
