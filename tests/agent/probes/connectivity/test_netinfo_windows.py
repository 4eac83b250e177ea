"""DNS servers and the default gateway from the IP Helper API, walked over buffers hand-built in the tests."""

# The buffers are HAND-BUILT from the documented layouts (iphlpapi_fakes), never recorded on Windows.

from __future__ import annotations

import ctypes
from collections.abc import Callable

import pytest

from fleetwatch_agent.probes.connectivity import netinfo, netinfo_windows
from fleetwatch_agent.probes.connectivity.iphlpapi_types import (
    AF_UNSPEC,
    ERROR_NO_DATA,
    GAA_FLAG_SKIP_ANYCAST,
    GAA_FLAG_SKIP_MULTICAST,
    IP_ADAPTER_ADDRESSES_LH,
    MIB_IPFORWARD_ROW2,
    MIB_IPFORWARD_TABLE2,
)
from fleetwatch_agent.probes.connectivity.iphlpapi_walk import (
    MAX_ADAPTERS,
    Adapter,
    Route,
    default_gateway,
    walk_adapters,
)
from fleetwatch_agent.probes.connectivity.model import ConnectivityResult
from fleetwatch_agent.probes.connectivity.netinfo_windows import IpHelper, read_adapters, read_default_routes
from fleetwatch_agent.probes.connectivity.summary import lines
from tests.agent.probes.connectivity.iphlpapi_fakes import (
    AdapterSpec,
    FakeGetAdaptersAddresses,
    FakeRouteTable,
    RouteSpec,
    write_adapters,
)

ETHERNET = AdapterSpec(
    "{4D36E972-E325-11CE-BFC1-08002BE10318}",
    7,
    up=True,
    ipv4_metric=35,
    dns=("192.0.2.53", "2001:db8::53", "fe80::1%7", "fec0:0:0:ffff::1"),  # the last: Windows's placeholder
)
WIFI = AdapterSpec(
    "{6B29FC40-CA47-1067-B31D-00DD010662DA}", 12, up=False, ipv4_metric=5, dns=("198.51.100.53",)
)
VPN = AdapterSpec(
    "{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}", 9, up=True, ipv4_metric=25, dns=("192.0.2.53", "203.0.113.53")
)
ADAPTERS = [ETHERNET, WIFI, VPN]
ROUTES = [
    RouteSpec("0.0.0.0/0", "192.0.2.1", 7, 0),  # Ethernet: 0 + 35
    RouteSpec("192.0.2.0/24", "0.0.0.0", 7, 256),  # not a default route
    RouteSpec("0.0.0.0/0", "203.0.113.1", 9, 0),  # VPN: 0 + 25, the lowest
    RouteSpec("0.0.0.0/0", "198.51.100.1", 12, 0),  # Wi-Fi is down
    RouteSpec("0.0.0.0/0", "0.0.0.0", 9, 0),  # on-link: no gateway
    RouteSpec("::/0", "fe80::1", 7, 0),  # IPv6: the gateway checked is the IPv4 one
]


def helper(adapters: list[AdapterSpec] = ADAPTERS, routes: list[RouteSpec] = ROUTES) -> IpHelper:
    get_adapters, table = FakeGetAdaptersAddresses(adapters), FakeRouteTable(routes)
    return IpHelper(lambda: read_adapters(get_adapters), lambda: read_default_routes(table.get, table.free))


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="the offsets below are the 64-bit ones")
def test_the_layouts_are_those_of_64_bit_windows() -> None:
    assert ctypes.sizeof(IP_ADAPTER_ADDRESSES_LH) == 448
    offsets = {
        name: getattr(IP_ADAPTER_ADDRESSES_LH, name).offset
        for name in ("FirstDnsServerAddress", "OperStatus")
    }
    assert offsets == {"FirstDnsServerAddress": 48, "OperStatus": 104}
    assert (IP_ADAPTER_ADDRESSES_LH.Ipv4Metric.offset, IP_ADAPTER_ADDRESSES_LH.Luid.offset) == (216, 224)
    assert ctypes.sizeof(MIB_IPFORWARD_ROW2) == 104
    assert (MIB_IPFORWARD_ROW2.NextHop.offset, MIB_IPFORWARD_ROW2.Metric.offset) == (44, 84)
    assert MIB_IPFORWARD_TABLE2.Table.offset == 8


def test_adapters_and_their_dns_servers_are_walked() -> None:
    get_adapters = FakeGetAdaptersAddresses(ADAPTERS)
    adapters = read_adapters(get_adapters)
    assert [(a.name, a.if_index, a.up, a.ipv4_metric) for a in adapters] == [
        (ETHERNET.name, 7, True, 35),
        (WIFI.name, 12, False, 5),
        (VPN.name, 9, True, 25),
    ]
    assert adapters[0].dns_servers == ("192.0.2.53", "2001:db8::53", "fe80::1%7", "fec0:0:0:ffff::1")
    assert get_adapters.calls == [(AF_UNSPEC, GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST, 15_000)]


def test_dns_servers_of_the_adapters_up_once_each_without_placeholders() -> None:
    reader = netinfo.Reader("iphlpapi", api=helper())
    assert reader.dns_servers(1.0) == ["192.0.2.53", "2001:db8::53", "fe80::1%7", "203.0.113.53"]


def test_default_routes_and_the_gateway_of_the_lowest_metric_over_an_interface_up() -> None:
    table = FakeRouteTable(ROUTES)
    routes = read_default_routes(table.get, table.free)
    assert routes == [
        Route(4, "192.0.2.1", 7, 0),
        Route(4, "203.0.113.1", 9, 0),
        Route(4, "198.51.100.1", 12, 0),
        Route(4, "0.0.0.0", 9, 0),
        Route(6, "fe80::1", 7, 0),
    ]
    assert table.tables == {} and table.families == [AF_UNSPEC]  # the table went back to FreeMibTable
    assert netinfo.Reader("iphlpapi", api=helper()).default_gateway(1.0) == "203.0.113.1"


def test_the_route_metric_counts_with_the_interface_metric() -> None:
    adapters = [Adapter("a", 7, 7, True, 35, 35, ()), Adapter("b", 9, 9, True, 25, 25, ())]
    assert (
        default_gateway([Route(4, "192.0.2.1", 7, 0), Route(4, "203.0.113.1", 9, 20)], adapters)
        == "192.0.2.1"
    )
    assert (
        default_gateway([Route(4, "192.0.2.1", 7, 0), Route(4, "203.0.113.1", 9, 5)], adapters)
        == "203.0.113.1"
    )
    assert default_gateway([Route(6, "2001:db8::1", 7, 0)], adapters) is None


def test_a_short_buffer_is_grown_to_the_size_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netinfo_windows, "INITIAL_BUFFER_BYTES", 64)
    get_adapters = FakeGetAdaptersAddresses(ADAPTERS)
    assert len(read_adapters(get_adapters)) == 3
    assert [offered for _, _, offered in get_adapters.calls] == [64, get_adapters.needed()]


def test_call_failures() -> None:
    assert read_adapters(FakeGetAdaptersAddresses([], error=ERROR_NO_DATA)) == []  # no adapter at all
    with pytest.raises(OSError, match="GetAdaptersAddresses failed with error 87"):
        read_adapters(FakeGetAdaptersAddresses(ADAPTERS, error=87))
    table = FakeRouteTable(ROUTES, error=1168)
    with pytest.raises(OSError, match="GetIpForwardTable2 failed with error 1168"):
        read_default_routes(table.get, table.free)


def test_a_list_looping_on_itself_is_walked_a_bounded_number_of_times() -> None:
    buffer = ctypes.create_string_buffer(4096)
    write_adapters(buffer, [ETHERNET])
    first = ctypes.cast(buffer, ctypes.POINTER(IP_ADAPTER_ADDRESSES_LH))
    first.contents.Next = first
    assert len(walk_adapters(first)) == MAX_ADAPTERS


# --- Choosing the reader, once ------------------------------------------------------------------------


def failing() -> list[Adapter]:
    raise OSError(50, "GetAdaptersAddresses failed with error 50")


@pytest.mark.parametrize(
    ("setting", "opened", "source", "note"),
    [
        ("auto", "works", "iphlpapi", ""),
        ("auto", "no dll", "commands", "IP Helper API unavailable at start: iphlpapi.dll: not found"),
        (
            "auto",
            "fails",
            "commands",
            "IP Helper API unavailable at start: [Errno 50] GetAdaptersAddresses failed",
        ),
        (
            "iphlpapi",
            "fails",
            "iphlpapi",
            "IP Helper API unavailable: [Errno 50] GetAdaptersAddresses failed",
        ),
        ("commands", "works", "commands", 'windows_source = "commands"'),
    ],
)
def test_choose_reader_on_windows(
    setting: netinfo.SourceSetting, opened: str, source: str, note: str
) -> None:
    calls: list[str] = []

    def open_api() -> IpHelper | str:
        calls.append(opened)
        if opened == "no dll":
            return "iphlpapi.dll: not found"
        return helper() if opened == "works" else IpHelper(failing, lambda: [])

    reader = netinfo.choose_reader(setting, open_api, windows=True)
    assert (reader.source, reader.note.split(" with error")[0]) == (source, note)
    assert (reader.api is not None) == (source == "iphlpapi" and opened == "works")
    assert calls == ([] if setting == "commands" else [opened])


def test_asked_for_the_ip_helper_api_without_it_there_is_no_gateway_and_no_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(netinfo, "_run", lambda command, timeout: pytest.fail(f"{command} was started"))
    reader = netinfo.choose_reader("iphlpapi", lambda: "iphlpapi.dll: not found", windows=True)
    assert (reader.default_gateway(1.0), reader.dns_servers(1.0)) == (None, [])


def test_off_windows_the_files_are_read_and_the_api_is_not_opened() -> None:
    def open_api() -> IpHelper | str:
        raise AssertionError("the IP Helper API was opened off Windows")

    assert netinfo.choose_reader("auto", open_api, windows=False).source == "files"
    assert isinstance(netinfo_windows.open_api(), str)  # here: the reason there is none


def test_the_choice_is_logged_once_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger=netinfo.__name__)
    netinfo.choose_reader("auto", helper, windows=True)
    (record,) = [r for r in caplog.records if r.name == netinfo.__name__]
    assert record.levelname == "INFO" and "the IP Helper API, in-process" in record.getMessage()


@pytest.mark.parametrize(
    ("source", "note", "line"),
    [
        ("iphlpapi", "", "  gateway and DNS servers read from the IP Helper API, in-process"),
        (
            "commands",
            "IP Helper API unavailable at start: x",
            "  gateway and DNS servers read from `route print` and PowerShell, a process each per cycle"
            " (IP Helper API unavailable at start: x)",
        ),
    ],
)
def test_check_shows_the_source(source: str, note: str, line: str) -> None:
    result = ConnectivityResult((), network_source=source, network_source_note=note)
    assert line in lines(result, 0.0)


def test_no_source_no_line() -> None:
    summarize: Callable[[ConnectivityResult, float], list[str]] = lines
    assert not any("read from" in line for line in summarize(ConnectivityResult(()), 0.0))
