"""[snmp] of collector.toml: options and their bounds, and the collector started with them (fake SNMP)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fleetwatch_collector.config import (
    CollectorConfig,
    ServerSection,
    SnmpSection,
    SnmpTrapsSection,
    load_config,
)
from fleetwatch_collector.server import CollectorServer, ConfigurationError
from fleetwatch_proto.tomlconfig import ConfigError
from tests.collector.snmp_fakes import FakeBackend, devices_toml


def load(tmp_path: Path, text: str) -> CollectorConfig:
    path = tmp_path / "collector.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_snmp_is_off_by_default() -> None:
    snmp = CollectorConfig().snmp
    assert (snmp.devices_file, snmp.traps.listen, snmp.enabled) == ("", "", False)
    assert (snmp.interval_seconds, snmp.max_concurrent, snmp.deadline_seconds) == (60.0, 16, 10.0)


def test_a_full_snmp_section(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[snmp]\ndevices_file = "/etc/fleetwatch/snmp-devices.toml"\ninterval_seconds = 30\n'
        '[snmp.credentials.routers]\nversion = "2c"\ncommunity_file = "/etc/fleetwatch/snmp/c"\n'
        '[snmp.credentials.core]\nversion = "3"\nuser = "fw"\n'
        '[snmp.traps]\nlisten = "0.0.0.0:162"\n',
    )
    assert config.snmp.enabled and config.snmp.interval_seconds == 30.0
    assert config.snmp.credentials == {
        "routers": {"version": "2c", "community_file": "/etc/fleetwatch/snmp/c"},
        "core": {"version": "3", "user": "fw"},
    }
    assert config.snmp.traps == SnmpTrapsSection("0.0.0.0:162")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[snmp]\ninterval_seconds = 0\n", "option snmp.interval_seconds: must be from 1 to 86400"),
        ("[snmp]\nmax_concurrent = 0\n", "option snmp.max_concurrent: must be from 1 to 1024"),
        ("[snmp]\ndeadline_seconds = 7200.0\n", "option snmp.deadline_seconds: must be from 0.1 to 3600"),
        ("[snmp]\ntimeout_seconds = 0.0\n", "option snmp.timeout_seconds: must be from 0.1 to 60"),
        ("[snmp]\nretries = 11\n", "option snmp.retries: must be from 0 to 10"),
        ('[snmp]\ncredentials = "public"\n', "option snmp.credentials: expected tables"),
        ('[snmp.traps]\nlisten = "162"\n', "option snmp.traps.listen: '162' is not HOST:PORT"),
        ('[snmp]\ncommunity = "public"\n', "unknown option 'snmp.community'"),
    ],
)
def test_bad_options_are_named(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(tmp_path, text)


def snmp_config(tmp_path: Path, devices: str, listen: str = "") -> CollectorConfig:
    path = tmp_path / "devices.toml"
    path.write_text(devices, encoding="utf-8")
    return CollectorConfig(
        server=ServerSection(
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            data_dir=str(tmp_path / "data"),
            grace_seconds=1.0,
        ),
        snmp=SnmpSection(
            devices_file=str(path), credentials={"routers": {}}, traps=SnmpTrapsSection(listen=listen)
        ),
    )


def test_a_bad_devices_file_is_a_configuration_error_of_the_collector(tmp_path: Path) -> None:
    config = snmp_config(tmp_path, devices_toml(("rt-1", "xa-nowhere", "192.0.2.1")))

    async def start() -> None:
        CollectorServer(config, snmp_backend=FakeBackend().backend())

    with pytest.raises(ConfigurationError, match=r"device\[0\] \(rt-1\)\.site: 'xa-nowhere'"):
        asyncio.run(start())


def test_a_device_the_poller_refuses_is_a_configuration_error(tmp_path: Path) -> None:
    fake = FakeBackend()

    def refuse(*args: object) -> object:
        raise ValueError("device 'rt-1': address: not for this poller")

    fake.target = refuse  # type: ignore[method-assign]
    config = snmp_config(tmp_path, devices_toml(("rt-1", "xa-an-cu", "192.0.2.1")))

    async def start() -> None:
        CollectorServer(config, snmp_backend=fake.backend())

    with pytest.raises(ConfigurationError, match="device 'rt-1': address: not for this poller"):
        asyncio.run(start())


def test_the_collector_runs_its_snmp_side_and_sighup_reads_the_devices_file_again(tmp_path: Path) -> None:
    fake = FakeBackend()
    config = snmp_config(tmp_path, devices_toml(("rt-1", "xa-an-cu", "192.0.2.1")), listen="127.0.0.1:0")

    async def scenario() -> None:
        server = CollectorServer(config, snmp_backend=fake.backend())
        await server.start()
        try:
            assert server.snmp is not None and server.snmp.trap_port == 40162
            assert server.snmp.central is not None
            Path(config.snmp.devices_file).write_text(
                devices_toml(("rt-1", "xa-an-cu", "192.0.2.1"), ("rt-2", "so-y-te", "192.0.2.2")),
                encoding="utf-8",
            )
            server.reload()  # what SIGHUP does
            for _ in range(200):
                if "rt-2" in server.snmp.central.devices:
                    break
                await asyncio.sleep(0.02)
            assert sorted(server.snmp.central.devices) == ["rt-1", "rt-2"]
        finally:
            await server.shutdown()
        assert fake.trap_servers[0].closed

    asyncio.run(scenario())
