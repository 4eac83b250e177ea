"""[probes.snmp]: off by default, devices and credentials read from TOML, every mistake named by option."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fleetwatch_agent import cli
from fleetwatch_agent.config import AgentConfig, load_config
from fleetwatch_agent.probes.snmp import SnmpConfig
from fleetwatch_agent.probes.snmp.devices import DeviceConfig, split_address
from fleetwatch_proto.tomlconfig import ConfigError

COMMUNITY = "c0mmunity-Secret"
AUTH_KEY = "auth-key-Secret-1"
PRIV_KEY = "priv-key-Secret-2"
DEVICES = """
[[probes.snmp.devices]]
name = "r1"
address = "127.0.0.1:1161"
credential = "site-v2c"
exclude_names = ["^Null"]

[[probes.snmp.devices]]
name = "core-sw.2"
address = "[::1]:1162"
credential = "site-v3"
max_interfaces = 64
"""


def secret_file(folder: Path, name: str, value: str, mode: int = 0o600) -> Path:
    path = folder / name
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def snmp_toml(folder: Path, body: str = DEVICES, settings: str = "", enabled: bool = True) -> str:
    secret_file(folder, "v2c.community", COMMUNITY)
    secret_file(folder, "v3.auth", AUTH_KEY)
    secret_file(folder, "v3.priv", PRIV_KEY)
    return f"""
[probes.snmp]
enabled = {str(enabled).lower()}
credentials_dir = "{folder}"
{settings}
[probes.snmp.credentials.site-v2c]
version = "2c"
community_file = "v2c.community"

[probes.snmp.credentials.site-v3]
version = "3"
user = "monitor"
auth_protocol = "sha"
auth_key_file = "v3.auth"
priv_protocol = "aes"
priv_key_file = "{folder / "v3.priv"}"
{body}"""


def load(tmp_path: Path, text: str) -> AgentConfig:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    message = str(info.value)
    for secret in (COMMUNITY, AUTH_KEY, PRIV_KEY):
        assert secret not in message
    return message


def test_off_by_default_with_nothing_to_poll() -> None:
    config = AgentConfig().probes.snmp
    assert config == SnmpConfig()
    assert (config.enabled, config.devices, dict(config.credentials)) == (False, (), {})


def test_devices_and_credentials_are_read(tmp_path: Path) -> None:
    config = load(tmp_path, snmp_toml(tmp_path, settings="max_concurrent = 2\nretries = 0\n")).probes.snmp
    assert config.enabled and config.max_concurrent == 2 and config.retries == 0
    assert config.devices == (
        DeviceConfig("r1", "127.0.0.1:1161", "site-v2c", ("^Null",)),
        DeviceConfig("core-sw.2", "[::1]:1162", "site-v3", (), 64),
    )
    assert config.credentials["site-v3"]["auth_key_file"] == "v3.auth"
    with pytest.raises(TypeError):
        config.credentials["site-v3"]["user"] = "other"  # read-only


def test_secrets_stay_out_of_the_configurations_repr(tmp_path: Path) -> None:
    config = load(tmp_path, snmp_toml(tmp_path))
    for secret in (COMMUNITY, AUTH_KEY, PRIV_KEY):
        assert secret not in repr(config)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('credential = "site-v2c"', 'credential = "core"'),
         "option probes.snmp.devices[0].credential: 'core' is not a credential (known: site-v2c, site-v3)"),
        (('name = "core-sw.2"', 'name = "r1"'),
         "option probes.snmp.devices[1].name: 'r1' is already the name of devices[0]"),
        (('"127.0.0.1:1161"', '"127.0.0.1:snmp"'), "option probes.snmp.devices[0].address: '127.0.0.1:snmp'"),
        (('"127.0.0.1:1161"', '"127.0.0.1:70000"'), "port '70000' must be a number from 1 to 65535"),
        (('"[::1]:1162"', '"[::1:1162"'), "option probes.snmp.devices[1].address: '[::1:1162'"),
        (('"127.0.0.1:1161"', '"router 1"'), "option probes.snmp.devices[0].address: 'router 1'"),
        (('"^Null"', '"(unclosed"'), "option probes.snmp.devices[0].exclude_names[0]: '(unclosed'"),
        (("max_interfaces = 64", "max_interfaces = 0"), "option probes.snmp.devices[1].max_interfaces"),
        (('name = "r1"', 'name = "r 1"'), "option probes.snmp.devices[0].name: 'r 1'"),
        (('name = "r1"', 'name = "r1"\nport = 161'), "unknown option 'probes.snmp.devices[0].port'"),
        (('credential = "site-v2c"\n', ""), "option probes.snmp.devices[0].credential: missing"),
    ],
)  # fmt: skip
def test_device_mistakes_are_named(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = snmp_toml(tmp_path, DEVICES.replace(*change, 1))
    assert expected in error_of(tmp_path, text)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("deadline_seconds = 11.0\n",
         "option probes.snmp.deadline_seconds: 11 does not fit in the probe's budget, 90% of timeout_"),
        ("timeout_seconds = 0.0\n", "option probes.snmp.timeout_seconds: must be positive"),
        ("request_timeout_seconds = 10.5\ndeadline_seconds = 10.0\n",
         "request_timeout_seconds: must not be above"),
        ("retries = 11\n", "option probes.snmp.retries"),
        ("max_concurrent = 0\n", "option probes.snmp.max_concurrent"),
        ('timeout_seconds = "12"\n', "'probes.snmp.timeout_seconds': expected float"),
    ],
)  # fmt: skip
def test_time_limits_must_fit(tmp_path: Path, settings: str, expected: str) -> None:
    assert expected in error_of(tmp_path, snmp_toml(tmp_path, settings=settings))


def test_credentials_must_be_tables(tmp_path: Path) -> None:
    assert "option probes.snmp.credentials: expected tables" in error_of(
        tmp_path, "[probes.snmp]\ncredentials = 5\n"
    )
    text = "[probes.snmp]\ncredentials = { site = 5 }\n"
    assert "option probes.snmp.credentials.site: expected a table" in error_of(tmp_path, text)


def test_enabled_without_devices_is_an_error_disabled_is_not(tmp_path: Path) -> None:
    assert "option probes.snmp.devices: enabled = true needs at least one" in error_of(
        tmp_path, "[probes.snmp]\nenabled = true\n"
    )
    assert load(tmp_path, "[probes.snmp]\nenabled = false\n").probes.snmp == SnmpConfig()


def test_at_most_sixteen_devices(tmp_path: Path) -> None:
    many = "".join(
        f'[[probes.snmp.devices]]\nname = "r{i}"\naddress = "127.0.0.1:{2000 + i}"\ncredential = "site-v2c"\n'
        for i in range(17)
    )
    assert "option probes.snmp.devices: at most 16 devices" in error_of(tmp_path, snmp_toml(tmp_path, many))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('community_file = "v2c.community"', f'community = "{COMMUNITY}"'),
         "option probes.snmp.credentials.site-v2c.community: secrets are not written in the configuration"),
        (('user = "monitor"', 'username = "monitor"'),
         "option probes.snmp.credentials.site-v3.username: unknown option"),
        (('version = "2c"', "version = 2"),
         "option probes.snmp.credentials.site-v2c.version: expected a string"),
        (('auth_protocol = "sha"', 'auth_protocol = "sha3"'), "credential 'site-v3': auth_protocol"),
        (('community_file = "v2c.community"', 'community_file = "absent.community"'),
         "option probes.snmp.credentials.site-v2c.community_file:"),
    ],
)  # fmt: skip
def test_credential_mistakes_are_named_without_the_secret(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    text = snmp_toml(tmp_path).replace(*change, 1)
    assert expected in error_of(tmp_path, text)


def test_a_relative_secret_file_needs_credentials_dir(tmp_path: Path) -> None:
    text = snmp_toml(tmp_path).replace(f'credentials_dir = "{tmp_path}"', 'credentials_dir = ""')
    assert "credentials.site-v2c.community_file: 'v2c.community' is relative" in error_of(tmp_path, text)


def test_a_short_v3_key_is_refused_naming_the_credential(tmp_path: Path) -> None:
    text = snmp_toml(tmp_path)
    secret_file(tmp_path, "v3.auth", "short")
    message = error_of(tmp_path, text)
    assert "credential 'site-v3': auth_key: shorter than 8 characters" in message
    assert "short\n" not in message


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_a_secret_file_every_user_can_read_is_refused(tmp_path: Path) -> None:
    text = snmp_toml(tmp_path)
    (tmp_path / "v2c.community").chmod(0o644)
    message = error_of(tmp_path, text)
    assert "credentials.site-v2c.community_file" in message and "mode 644 lets every user read" in message
    (tmp_path / "v2c.community").chmod(0o640)  # the agent's group may
    assert load(tmp_path, text).probes.snmp.enabled


def test_disabled_devices_are_still_checked_but_secret_files_are_not_read(tmp_path: Path) -> None:
    text = snmp_toml(tmp_path, enabled=False)
    (tmp_path / "v2c.community").unlink()
    assert load(tmp_path, text).probes.snmp.devices[0].name == "r1"
    bad = snmp_toml(
        tmp_path, DEVICES.replace('credential = "site-v2c"', 'credential = "nope"'), enabled=False
    )
    assert "devices[0].credential: 'nope'" in error_of(tmp_path, bad)


@pytest.mark.parametrize("package", ["pysnmp", "fleetwatch_snmp"])
def test_enabled_without_the_snmp_extra_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], package: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed
    text = snmp_toml(tmp_path)
    message = error_of(tmp_path, text)
    assert f"option probes.snmp.enabled: the snmp probe needs {package}" in message
    assert "pip install 'fleetwatch[agent,snmp]'" in message
    code = cli.main(["check", "--no-collector", "--config", str(tmp_path / "agent.toml")])
    assert code == 2
    assert "pip install 'fleetwatch[agent,snmp]'" in capsys.readouterr().err
    # Disabled, nothing is needed.
    assert not load(tmp_path, snmp_toml(tmp_path, enabled=False)).probes.snmp.enabled


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.1.2.3", ("10.1.2.3", 161)),
        ("router-1.site.lan:1161", ("router-1.site.lan", 1161)),
        ("[fd00::1]:162", ("fd00::1", 162)),
        ("[fd00::1]", ("fd00::1", 161)),
        ("fe80::1%eth0", ("fe80::1%eth0", 161)),
    ],
)
def test_addresses(address: str, expected: tuple[str, int]) -> None:
    assert split_address(address) == expected
