"""Device targets: address forms, validation errors naming the field, interface filter options."""

from __future__ import annotations

import pytest

from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.target import DeviceTarget, InterfaceFilter, parse_address

CREDENTIAL = Credential("lab", "2c", community="public")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.0.2.1", ("192.0.2.1", 161)),
        ("192.0.2.1:1161", ("192.0.2.1", 1161)),
        ("router.example", ("router.example", 161)),
        ("router.example:16100", ("router.example", 16100)),
        ("[2001:db8::1]:1161", ("2001:db8::1", 1161)),
        ("[2001:db8::1]", ("2001:db8::1", 161)),
        ("2001:db8::1", ("2001:db8::1", 161)),
        (" 127.0.0.1:162 ", ("127.0.0.1", 162)),
    ],
)
def test_address_forms(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("", "expected host"),
        ("host:", "port number is missing"),
        ("host:0", "port '0' is not a number in 1-65535"),
        ("host:65536", "not a number in 1-65535"),
        ("host:snmp", "not a number"),
        ("[2001:db8::1", "write an IPv6 address as"),
        ("[2001:db8::1]1161", "write an IPv6 address as"),
        ("[router]:161", "not an IPv6 address"),
        ("1:2:3", "not an IPv6 address"),
        ("a b", "expected host"),
        ("host\n", "expected host"),
        (":161", "the host is missing"),
    ],
)
def test_bad_addresses(address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_address(address)


def test_a_target_knows_its_host_and_port() -> None:
    target = DeviceTarget("r1", "[2001:db8::1]:1161", CREDENTIAL)
    assert (target.host, target.port, target.is_ipv6) == ("2001:db8::1", 1161, True)
    assert not DeviceTarget("r1", "127.0.0.1", CREDENTIAL).is_ipv6
    assert target.interfaces == InterfaceFilter()
    assert (target.timeout_seconds, target.retries, target.deadline_seconds, target.max_repetitions) == (
        2.0,
        1,
        10.0,
        25,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "device '': name"),
        ({"name": "has space"}, "name"),
        ({"address": "h:99999"}, "device 'r1': address: .*1-65535"),
        ({"timeout_seconds": 0}, "device 'r1': timeout_seconds"),
        ({"timeout_seconds": float("nan")}, "timeout_seconds: expected a number"),
        ({"retries": -1}, "device 'r1': retries"),
        ({"deadline_seconds": "10"}, "deadline_seconds: expected a number"),
        ({"max_repetitions": 0}, "max_repetitions"),
        ({"credential": "lab"}, "credential: expected a Credential"),
        ({"interfaces": {}}, "interfaces: expected an InterfaceFilter"),
    ],
)
def test_bad_targets_name_the_field(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"name": "r1", "address": "127.0.0.1", "credential": CREDENTIAL, **kwargs}
    with pytest.raises(ValueError, match=message):
        DeviceTarget(**options)  # type: ignore[arg-type]


def test_the_filter_defaults_and_matching() -> None:
    default = InterfaceFilter()
    assert default.exclude_types == frozenset({24, 53, 131, 135, 1})
    assert default.max_interfaces == 256
    assert default.excludes(24, ("lo",))
    assert not default.excludes(6, ("Gi0/1",))
    named = InterfaceFilter(exclude_types=frozenset(), exclude_names=("^Null", "loopback"))
    assert named.excludes(6, ("", "Null0"))
    assert named.excludes(6, ("Loopback0", "my loopback"))
    assert not named.excludes(24, ("Gi0/1", "GigabitEthernet0/1"))
    assert InterfaceFilter(exclude_names=["x"]) == InterfaceFilter(exclude_names=("x",))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exclude_names": ("(",)}, "exclude_names: '\\(' is not a regular expression"),
        ({"max_interfaces": 0}, "max_interfaces: 0 is not in 1..512"),
        ({"max_interfaces": 513}, "max_interfaces"),
        ({"exclude_types": frozenset({-1})}, "exclude_types"),
    ],
)
def test_bad_filters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InterfaceFilter(**kwargs)  # type: ignore[arg-type]
