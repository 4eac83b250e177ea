"""The central configuration on the agent: overrides, local precedence, refusal, atomic persistence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetwatch_agent import centralstate
from fleetwatch_agent.centralconfig import overridden, resolve
from fleetwatch_agent.centralstate import CentralState
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


def central(version: str = "v1", interval: int = 0) -> pb.AgentConfig:
    message = pb.AgentConfig(version=version, interval_seconds=interval)
    message.probe_intervals["connectivity"] = 20
    message.targets.add(name="portal", kind=pb.PROBE_KIND_TCP, address="127.0.0.1:8443")
    return message


def test_central_options_apply_where_the_local_file_is_silent() -> None:
    config = resolve({}, central(interval=30))
    assert config.agent.interval_seconds == 30.0
    assert config.probes.connectivity.interval_seconds == 20.0
    assert [t.name for t in config.probes.connectivity.targets] == ["portal"]


def test_the_local_file_wins_where_the_operator_set_an_option() -> None:
    local = {"probes": {"connectivity": {"interval_seconds": 45.0, "count": 3}}}
    config = resolve(local, central())
    assert config.probes.connectivity.interval_seconds == 45.0  # local
    assert config.probes.connectivity.count == 3
    assert [t.name for t in config.probes.connectivity.targets] == ["portal"]  # central
    assert overridden(local, central()) == ["probes.connectivity.interval_seconds"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda m: m.probe_intervals.__setitem__("nosuchprobe", 5), "nosuchprobe"),
        (lambda m: m.targets.add(name="x", kind=pb.PROBE_KIND_UNSPECIFIED, address="a"), "kind"),
        (lambda m: m.targets.add(name="ns", kind=pb.PROBE_KIND_DNS, address="127.0.0.1"), "dns_name"),
        (lambda m: setattr(m, "interval_seconds", 7200), "interval_seconds"),
    ],
)
def test_invalid_for_the_agent_is_a_config_error(change: object, named: str) -> None:
    message = central()
    change(message)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=named):
        resolve({}, message)


def test_offer_applies_persists_and_refuses(tmp_path: Path) -> None:
    state = CentralState(tmp_path, {})
    assert state.load() is None
    assert state.offer(central("v1")) is not None
    assert state.offer(central("v1")) is None  # the same version: nothing to do
    bad = central("v2")
    bad.targets.add(name="ns", kind=pb.PROBE_KIND_DNS, address="127.0.0.1")
    assert state.offer(bad) is None
    assert state.version == "v1" and state.refused[0] == "v2" and "dns_name" in state.refused[1]
    report = pb.Report()
    state.stamp(report)
    assert (report.config_version, report.config_refused_version) == ("v1", "v2")
    again = CentralState(tmp_path, {})
    loaded = again.load()  # the last good one, across a restart
    assert again.version == "v1" and loaded is not None
    assert [t.name for t in loaded.probes.connectivity.targets] == ["portal"]
    assert state.offer(central("v3")) is not None and state.refused == ("", "")


def test_a_crash_mid_write_leaves_the_last_good(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = CentralState(tmp_path, {})
    state.offer(central("v1"))

    def crash(fd: int) -> None:
        raise OSError("power lost")

    monkeypatch.setattr(os, "fsync", crash)
    assert state.offer(central("v2")) is None  # not applied, not refused: offered again next Push
    assert state.version == "v1" and state.refused == ("", "")
    monkeypatch.undo()
    assert (tmp_path / centralstate.FILE_NAME).exists()
    again = CentralState(tmp_path, {})
    assert again.load() is not None and again.version == "v1"
