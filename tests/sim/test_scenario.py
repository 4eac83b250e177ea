"""Scenarios: incidents parsed with errors naming the entry, effects at the right hosts and times."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch_proto.sites import load_inventory
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_sim.scenario import load_scenario, parse_duration, parse_scenario


def test_the_demo_scenario_names_only_sites_of_the_inventory() -> None:
    scenario = load_scenario(None)
    inventory = load_inventory()
    assert scenario.incidents
    assert all(inventory.site(slug) is not None for slug in scenario.sites())
    kinds = {i.kind for i in scenario.incidents}
    assert kinds >= {"site_dark", "antivirus", "threat", "signatures_stale", "disk_filling", "wan_degraded"}


def test_site_dark_silences_every_host_of_the_site_while_active() -> None:
    scenario = parse_scenario(
        {"incidents": [{"kind": "site_dark", "site": "a", "start": "1m", "duration": "2m"}]}
    )
    assert not scenario.effects("a", 0, 59).silent
    assert scenario.effects("a", 0, 60).silent
    assert scenario.effects("a", 41, 179).silent
    assert not scenario.effects("a", 0, 180).silent
    assert not scenario.effects("b", 0, 90).silent


def test_hosts_limits_an_incident_to_the_first_hosts_of_the_site() -> None:
    scenario = parse_scenario(
        {"incidents": [{"kind": "antivirus", "state": "disabled", "site": "a", "hosts": 2}]}
    )
    assert [scenario.effects("a", i, 10).antivirus_state for i in range(3)] == ["disabled", "disabled", ""]


def test_disk_fill_progresses_over_the_duration() -> None:
    scenario = parse_scenario({"incidents": [{"kind": "disk_filling", "start": "0s", "duration": "100s"}]})
    assert scenario.effects("x", 0, 0).disk_fill == 0.0
    assert scenario.effects("x", 0, 50).disk_fill == pytest.approx(0.5)
    assert scenario.effects("x", 0, 100).disk_fill is None  # over: the disk was cleaned


def test_a_threat_stays_known_after_it_started_so_the_fleet_reports_it_once() -> None:
    scenario = parse_scenario({"incidents": [{"kind": "threat", "site": "a", "hosts": 1, "start": "30s"}]})
    assert scenario.effects("a", 0, 29).threats_started == []
    assert len(scenario.effects("a", 0, 31).threats_started) == 1
    assert len(scenario.effects("a", 0, 3000).threats_started) == 1
    assert scenario.effects("a", 1, 31).threats_started == []


@pytest.mark.parametrize(
    ("incident", "message"),
    [
        ({"kind": "meteor"}, "incidents[0].kind: 'meteor' is not one of"),
        ({"kind": "site_dark"}, "kind site_dark needs a site"),
        ({"kind": "antivirus", "state": "sleepy"}, "incidents[0].state: 'sleepy'"),
        ({"kind": "threat", "start": "soon"}, "incidents[0].start: 'soon' is not a duration"),
        ({"kind": "wan_degraded", "site": "a", "loss": 2}, "incidents[0].loss: must be between 0 and 1"),
        ({"kind": "threat", "latency_ms": 3}, "unknown key 'latency_ms' for kind threat"),
        ({"kind": "host_silent", "hosts": -1}, "incidents[0].hosts: must be a non-negative integer"),
    ],
)
def test_bad_incidents_are_refused_naming_the_entry(incident: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario({"incidents": [incident]}, "s.toml")
    assert message in str(caught.value)


def test_durations() -> None:
    assert parse_duration("90s", "x") == 90
    assert parse_duration("2m", "x") == 120
    assert parse_duration("1.5h", "x") == 5400
    with pytest.raises(ConfigError):
        parse_duration(5, "x")


def test_scenario_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("incidents = [")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML"):
        load_scenario(bad)
