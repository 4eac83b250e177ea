"""The snmp probe against a real net-snmp snmpd on 127.0.0.1: v2c and v3, link changes, `check`, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetwatch_agent import cli
from fleetwatch_agent.config import load_config
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.probes.snmp import SnmpConfig, make_collector, wire
from fleetwatch_agent.probes.snmp.model import SnmpResult
from tests.agent.probes.snmp.snmpd import AUTH_KEY, COMMUNITY, PRIV_KEY, V3_USER, Snmpd, free_udp_port

pytestmark = pytest.mark.peer("snmpd")
SECRETS = (COMMUNITY, AUTH_KEY, PRIV_KEY)
FAST = "timeout_seconds = 4.0\ndeadline_seconds = 3.0\nrequest_timeout_seconds = 0.5\nretries = 1\n"


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[Snmpd]:
    daemon = Snmpd(tmp_path / "snmpd")
    daemon.start(lo_up=True)
    try:
        yield daemon
    finally:
        daemon.stop()


def write_secret(folder: Path, name: str, value: str) -> None:
    (folder / name).write_text(value + "\n", encoding="utf-8")
    (folder / name).chmod(0o600)


def agent_toml(tmp_path: Path, devices: list[tuple[str, str, str]], settings: str = FAST) -> Path:
    """An agent configuration polling ``devices`` (name, address, credential); only the snmp probe on."""
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    write_secret(secrets, "v2c.community", COMMUNITY)
    write_secret(secrets, "wrong.community", "not-the-community")
    write_secret(secrets, "v3.auth", AUTH_KEY)
    write_secret(secrets, "v3.priv", PRIV_KEY)
    entries = "".join(
        f'[[probes.snmp.devices]]\nname = "{name}"\naddress = "{address}"\ncredential = "{credential}"\n'
        for name, address, credential in devices
    )
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[agent]
data_dir = "{tmp_path / "data"}"
[probes.resources]
enabled = false
[probes.antivirus]
enabled = false
[probes.connectivity]
enabled = false
[probes.snmp]
enabled = true
credentials_dir = "{secrets}"
{settings}
[probes.snmp.credentials.v2c]
version = "2c"
community_file = "v2c.community"
[probes.snmp.credentials.wrong]
version = "2c"
community_file = "wrong.community"
[probes.snmp.credentials.v3]
version = "3"
user = "{V3_USER}"
auth_protocol = "sha"
auth_key_file = "v3.auth"
priv_protocol = "aes"
priv_key_file = "v3.priv"
{entries}""",
        encoding="utf-8",
    )
    return path


def snmp_config(path: Path) -> SnmpConfig:
    config: SnmpConfig = load_config(path).probes.snmp
    return config


def test_v2c_and_v3_polls_read_the_router_and_its_interfaces(tmp_path: Path, snmpd: Snmpd) -> None:
    config = snmp_config(agent_toml(tmp_path, [("r1", snmpd.address, "v2c"), ("r1-v3", snmpd.address, "v3")]))
    result = make_collector(config, ProbeContext(tmp_path))()
    assert [d.name for d in result.devices] == ["r1", "r1-v3"]
    for device in result.devices:
        assert device.reachable, device.error
        assert (device.error_class, device.error) == (0, "")
        assert device.sys_name == "snmpd-site-router"
        assert device.address == snmpd.address
        assert device.uptime_seconds >= 0 and device.poll_duration_seconds > 0
        lo = [nic for nic in device.interfaces if nic.index == 1]
        assert lo and lo[0].name == "lo" and lo[0].oper_up and lo[0].type == 6
    assert result.link_changes == ()
    assert set(result.cursors) == {"snmp-links:r1", "snmp-links:r1-v3"}


def test_an_interface_taken_down_on_the_router_is_one_link_change(tmp_path: Path, snmpd: Snmpd) -> None:
    config = snmp_config(agent_toml(tmp_path, [("r1", snmpd.address, "v2c")]))
    cursors: dict[str, str] = {}
    collect = make_collector(config, ProbeContext(tmp_path, cursors=cursors))

    def cycle() -> SnmpResult:
        result = collect()
        cursors.update(result.cursors)  # what the agent does when it spools the report
        return result

    assert cycle().link_changes == ()
    snmpd.restart(lo_up=False)
    down = cycle()
    assert [(c.device, c.interface, c.if_index, c.up) for c in down.link_changes] == [("r1", "lo", 1, False)]
    assert cycle().link_changes == ()
    snmpd.restart(lo_up=True)
    assert [(c.interface, c.up) for c in cycle().link_changes] == [("lo", True)]


def test_a_wrong_community_and_a_closed_port_are_timeouts_the_others_still_polled(
    tmp_path: Path, snmpd: Snmpd
) -> None:
    closed = f"127.0.0.1:{free_udp_port()}"
    devices = [("wrong", snmpd.address, "wrong"), ("closed", closed, "v2c"), ("r1", snmpd.address, "v2c")]
    result = make_collector(snmp_config(agent_toml(tmp_path, devices)), ProbeContext(tmp_path))()
    wrong, shut, r1 = result.devices
    for device in (wrong, shut):
        assert not device.reachable
        assert wire.error_class_name(device) == "timeout", device.error
        assert "not-the-community" not in device.error
    assert r1.reachable


def test_a_device_off_loopback_is_not_polled_under_loopback_only(tmp_path: Path, snmpd: Snmpd) -> None:
    # tests/conftest.py sets FLEETWATCH_LOOPBACK_ONLY=1: no packet leaves the machine.
    devices = [("far", "192.0.2.1", "v2c"), ("r1", snmpd.address, "v2c")]
    far, r1 = make_collector(snmp_config(agent_toml(tmp_path, devices)), ProbeContext(tmp_path))().devices
    assert (far.reachable, wire.error_class_name(far)) == (False, "other")
    assert "FLEETWATCH_LOOPBACK_ONLY=1" in far.error
    assert r1.reachable


def test_check_prints_the_devices_and_never_a_secret(
    tmp_path: Path, snmpd: Snmpd, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "CHECK_WARMUP_SECONDS", 0.0)
    config = agent_toml(tmp_path, [("r1", snmpd.address, "v3"), ("wrong", snmpd.address, "wrong")])
    code = cli.main(["check", "--no-collector", "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    document = json.loads(out)
    r1, wrong = document["results"]["snmp"]["devices"]
    assert (r1["name"], r1["sys_name"], r1["reachable"]) == ("r1", "snmpd-site-router", True)
    assert any(nic["name"] == "lo" and nic["oper_up"] for nic in r1["interfaces"])
    assert (wrong["reachable"], wrong["error_class"]) == (False, "SNMP_ERROR_TIMEOUT")
    assert "snmp: 2 devices, 1 reachable, 1 not" in err
    assert f"  - r1 ({snmpd.address}): reachable, sysName snmpd-site-router," in err
    assert f"  - wrong ({snmpd.address}): UNREACHABLE (timeout" in err
    for secret in (*SECRETS, "not-the-community"):
        assert secret not in out and secret not in err


def test_more_rounds_of_deadlines_than_the_budget_holds_are_warned_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    devices = [(f"r{i}", f"127.0.0.1:{2000 + i}", "v2c") for i in range(3)]
    settings = "timeout_seconds = 4.0\ndeadline_seconds = 3.0\nmax_concurrent = 1\n"
    config = snmp_config(agent_toml(tmp_path, devices, settings))
    with caplog.at_level(logging.WARNING):
        make_collector(config, ProbeContext(tmp_path))
    (record,) = [r for r in caplog.records if "probe snmp" in r.getMessage()]
    assert (
        "3 devices, 1 at a time, deadline_seconds 3: a cycle where none answers takes 9 s"
        in record.getMessage()
    )
    caplog.clear()
    make_collector(
        snmp_config(agent_toml(tmp_path, devices, settings.replace("= 1\n", "= 3\n"))), ProbeContext(tmp_path)
    )
    assert not [r for r in caplog.records if "probe snmp" in r.getMessage()]
