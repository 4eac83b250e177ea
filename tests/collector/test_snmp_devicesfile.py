"""The central poller's devices file: entries checked against the inventory and the credentials."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from fleetwatch_collector.devicesfile import (
    DeviceEntry,
    address_host,
    address_problem,
    load_devices,
    parse_devices,
)
from fleetwatch_proto.sites import load_inventory, parse_inventory
from fleetwatch_proto.tomlconfig import ConfigError
from tests.conftest import REPO_ROOT

INVENTORY = load_inventory()  # the built-in one
CREDENTIALS = {"routers-v2c", "routers-v3"}
GOOD = """
[[device]]
name = "rt-xa-an-cu"
site = "xa-an-cu"
address = "192.0.2.10"
credential = "routers-v2c"

[[device]]
name = "rt-so-y-te"
site = "so-y-te"
address = "[2001:db8::1]:1161"
credential = "routers-v3"
exclude_types = [24, 131]
exclude_names = ["^Null", "^Vlan"]
max_interfaces = 64
"""


def parse(text: str) -> tuple[DeviceEntry, ...]:
    return parse_devices(tomllib.loads(text), "devices.toml", INVENTORY, CREDENTIALS)


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


def entry(**changes: object) -> str:
    """One [[device]] table: the first of GOOD with ``changes`` (None removes a key)."""
    keys: dict[str, object] = {
        "name": "rt-1",
        "site": "xa-an-cu",
        "address": "192.0.2.10",
        "credential": "routers-v2c",
    }
    keys.update(changes)
    lines = [f"{k} = {v!r}".replace("'", '"') for k, v in keys.items() if v is not None]
    return "[[device]]\n" + "\n".join(lines) + "\n"


def test_a_good_file() -> None:
    first, second = parse(GOOD)
    assert first == DeviceEntry("rt-xa-an-cu", "xa-an-cu", "192.0.2.10", "routers-v2c")
    assert second.exclude_types == (24, 131)
    assert second.exclude_names == ("^Null", "^Vlan")
    assert second.max_interfaces == 64
    assert first.exclude_types is None and first.max_interfaces is None  # the poller's defaults


def test_an_empty_file_has_no_devices() -> None:
    assert parse("") == ()


def test_load_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "devices.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert [d.name for d in load_devices(path, INVENTORY, CREDENTIALS)] == ["rt-xa-an-cu", "rt-so-y-te"]
    with pytest.raises(ConfigError, match=r"devices file .*missing\.toml"):
        load_devices(tmp_path / "missing.toml", INVENTORY, CREDENTIALS)
    path.write_text("[[device]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_devices(path, INVENTORY, CREDENTIALS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (entry(site="xa-nowhere"), "device[0] (rt-1).site: 'xa-nowhere' is not a site of the inventory"),
        (entry(credential="other"), "device[0] (rt-1).credential: 'other' is not in [snmp.credentials]"),
        (entry(name="rt 1"), "device[0].name: 'rt 1' is not a device name"),
        (entry(name=None), "device[0]: missing key 'name'"),
        (entry(address=None), "device[0]: missing key 'address'"),
        (entry(address="192.0.2.1:99999"), "address: '192.0.2.1:99999': port 99999 out of 1-65535"),
        (entry(address="192.0.2.1:snmp"), "not host:port"),
        (entry(address="[2001:db8::1"), "not [IPv6]:port"),
        (entry(address="2001:db8::zz"), "not an IPv6 address"),
        (entry(community="public"), "unknown key 'community'"),
        (entry(exclude_types=["24"]), "exclude_types: expected a list of IANAifType numbers"),
        (entry(exclude_names=["(unclosed"]), "exclude_names: '(unclosed'"),
        (entry(max_interfaces=0), "max_interfaces: expected a number from 1 to 512"),
        (entry(max_interfaces=513), "max_interfaces: expected a number from 1 to 512"),
        (entry() + entry(), "device 'rt-1' appears twice"),
        ("[device]\nname = 'x'\n", "'device' must be a list of tables"),
        ("[[routers]]\nname = 'x'\n", "unknown key 'routers'"),
    ],
)
def test_errors_name_the_entry_and_the_key(text: str, expected: str) -> None:
    message = error(text)
    assert message.startswith("devices.toml: ")
    assert expected in message, message


def test_a_merged_sites_old_slug_is_accepted() -> None:
    inventory = parse_inventory(
        {
            "sites": [
                {
                    "slug": "xa-moi",
                    "name": "Xã Mới",
                    "group": "h-cai-be",
                    "type": "commune",
                    "aliases": ["xa-cu"],
                }
            ]
        }
    )
    (device,) = parse_devices(tomllib.loads(entry(site="xa-cu")), "devices.toml", inventory, CREDENTIALS)
    assert device.site == "xa-cu"


@pytest.mark.parametrize(
    ("address", "host"),
    [("192.0.2.1", "192.0.2.1"), ("192.0.2.1:1161", "192.0.2.1"), ("[2001:db8::1]:161", "2001:db8::1"),
     ("2001:db8::1", "2001:db8::1"), ("rt.example", "rt.example"), ("rt.example:161", "rt.example")],
)  # fmt: skip
def test_address_host(address: str, host: str) -> None:
    assert address_host(address) == host
    assert address_problem(address) is None


def test_the_example_of_docs_routers_md_is_a_good_devices_file() -> None:
    text = (REPO_ROOT / "docs" / "routers.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(# .*? devices_file\n.*?)```", text, re.S)
    assert example is not None
    names = [d.name for d in parse_devices(tomllib.loads(example.group(1)), "doc", INVENTORY, CREDENTIALS)]
    assert names == ["rt-so-y-te", "rt-ubnd-h-cai-be"]
