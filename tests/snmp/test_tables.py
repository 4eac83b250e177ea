"""IF-MIB cells -> interface rows -> messages: counter width, names, speed, filters, malformed rows, text."""

from __future__ import annotations

from fleetwatch_proto.limits import MAX_TEXT_BYTES
from fleetwatch_snmp import oids, tables
from fleetwatch_snmp.oids import Oid
from fleetwatch_snmp.target import InterfaceFilter
from fleetwatch_snmp.values import Missing, Value


def columns(rows: dict[int, dict[Oid, Value]]) -> dict[Oid, dict[Oid, Value]]:
    """Cells by column from cells by ifIndex, as a walk gives them."""
    result: dict[Oid, dict[Oid, Value]] = {}
    for index, cells in rows.items():
        for column, value in cells.items():
            result.setdefault(column, {})[(index,)] = value
    return result


def if_row(index: int, **extra: Value) -> dict[Oid, Value]:
    """An up ethernet ifTable row with 32-bit counters; ``extra`` adds columns by oids.* name."""
    cells: dict[Oid, Value] = {
        oids.IF_DESCR: f"eth{index}".encode(),
        oids.IF_TYPE: 6,
        oids.IF_SPEED: 100_000_000,
        oids.IF_ADMIN_STATUS: 1,
        oids.IF_OPER_STATUS: 1,
        oids.IF_IN_OCTETS: 1000,
        oids.IF_OUT_OCTETS: 2000,
        oids.IF_IN_UCAST_PKTS: 10,
        oids.IF_OUT_UCAST_PKTS: 20,
        oids.IF_IN_ERRORS: 1,
        oids.IF_OUT_ERRORS: 2,
        oids.IF_IN_DISCARDS: 3,
        oids.IF_OUT_DISCARDS: 4,
    }
    for name, value in extra.items():
        cells[getattr(oids, name)] = value
    return cells


def hc(**extra: Value) -> dict[str, Value]:
    """ifXTable cells with 64-bit counters."""
    return {
        "IF_NAME": b"Gi0/1",
        "IF_HC_IN_OCTETS": 2**40,
        "IF_HC_OUT_OCTETS": 2**41,
        "IF_HC_IN_UCAST_PKTS": 2**33,
        "IF_HC_OUT_UCAST_PKTS": 2**34,
        "IF_HIGH_SPEED": 10_000,
        "IF_ALIAS": b"WAN to province",
        **extra,
    }


def read_one(cells: dict[Oid, Value]) -> tables.InterfaceRow:
    table = tables.read_interfaces(columns({1: cells}))
    assert table.malformed == 0, table.problems
    (row,) = table.rows
    return row


def test_hc_counters_are_used_where_the_device_has_them() -> None:
    row = read_one(if_row(1, **hc()))
    assert row.counter_bits == 64
    assert row.counters["in_octets"] == (2**40, 64)
    assert row.counters["out_unicast_packets"] == (2**34, 64)
    assert row.counters["in_errors"] == (1, 32)  # ifTable only: always 32-bit, extended
    assert row.name == "Gi0/1"
    assert row.alias == "WAN to province"
    assert row.speed_bits_per_second == 10_000 * 10**6


def test_without_ifxtable_the_32_bit_counters_and_ifdescr_are_used() -> None:
    row = read_one(if_row(3))
    assert row.counter_bits == 32
    assert row.counters["in_octets"] == (1000, 32)
    assert row.counters["out_unicast_packets"] == (20, 32)
    assert row.name == "eth3"
    assert row.alias == ""
    assert row.speed_bits_per_second == 100_000_000


def test_an_ifxtable_without_hc_counters_gives_32_bit_counters() -> None:
    row = read_one(if_row(1, IF_NAME=b"fc0", IF_HIGH_SPEED=0))
    assert (row.counter_bits, row.name, row.speed_bits_per_second) == (32, "fc0", 100_000_000)


def test_hc_counters_stuck_at_zero_while_iftable_counts_are_not_used() -> None:
    row = read_one(if_row(1, **hc(IF_HC_IN_OCTETS=0, IF_HC_OUT_OCTETS=0)))
    assert row.counter_bits == 32
    assert row.counters["in_octets"] == (1000, 32)


def test_an_idle_interface_with_hc_counters_at_zero_keeps_them() -> None:
    row = read_one(if_row(1, IF_IN_OCTETS=0, IF_OUT_OCTETS=0, **hc(IF_HC_IN_OCTETS=0, IF_HC_OUT_OCTETS=0)))
    assert row.counter_bits == 64


def test_hc_octets_without_hc_packets_take_the_32_bit_packets() -> None:
    cells = if_row(1, **hc())
    del cells[oids.IF_HC_IN_UCAST_PKTS]
    row = read_one(cells)
    assert row.counters["in_unicast_packets"] == (10, 32)
    assert row.counters["in_octets"] == (2**40, 64)


def test_an_empty_ifname_falls_back_to_ifdescr_and_then_to_the_index() -> None:
    assert read_one(if_row(1, IF_NAME=b"")).name == "eth1"
    cells = if_row(7, IF_NAME=b"\x00", IF_DESCR=b"")
    table = tables.read_interfaces(columns({7: cells}))
    assert table.rows[0].name == "ifIndex7"


def test_text_is_utf8_without_control_characters_and_cut_to_the_limit() -> None:
    row = read_one(if_row(1, IF_NAME=b"Gi0/1\xff\r\n\x00", IF_ALIAS=("ă" * 300).encode()))
    assert row.name == "Gi0/1\ufffd"
    assert len(row.alias.encode()) <= MAX_TEXT_BYTES
    assert row.alias == "ă" * (MAX_TEXT_BYTES // 2)


def test_rows_without_status_or_with_wrong_types_are_skipped() -> None:
    no_status = if_row(2)
    del no_status[oids.IF_OPER_STATUS]
    table = tables.read_interfaces(
        columns(
            {
                1: if_row(1),
                2: no_status,
                3: if_row(3, IF_ADMIN_STATUS=b"up"),
                4: if_row(4, IF_IN_OCTETS=2**32),
                5: if_row(5, IF_ALIAS=5),
                6: if_row(6, IF_TYPE=-1),
            }
        )
    )
    assert [row.index for row in table.rows] == [1]
    assert table.malformed == 5
    assert "ifIndex 2: ifOperStatus missing" in table.problems
    assert "ifIndex 3: ifAdminStatus is bytes, not a number" in table.problems


def test_cells_outside_the_iftable_or_missing_values_are_ignored() -> None:
    cells = columns({1: if_row(1), 2: {oids.IF_NAME: b"only-in-ifxtable"}})
    cells[oids.IF_ALIAS] = {(1,): Missing.NO_SUCH_INSTANCE, (1, 2): b"two sub-identifiers"}
    table = tables.read_interfaces(cells)
    assert [(row.index, row.alias) for row in table.rows] == [(1, "")]
    assert table.malformed == 0


def rows_of(count: int, **types: int) -> list[tables.InterfaceRow]:
    table = tables.read_interfaces(
        columns({index: if_row(index, IF_TYPE=types.get(f"if{index}", 6)) for index in range(1, count + 1)})
    )
    return table.rows


def test_the_default_filter_leaves_out_loopback_and_virtual_types() -> None:
    rows = rows_of(6, if1=24, if2=53, if3=131, if4=135, if5=1)
    kept, omitted = tables.select(rows, InterfaceFilter())
    assert [row.index for row in kept] == [6]
    assert omitted == 0


def test_name_patterns_match_ifname_or_ifdescr() -> None:
    rows = tables.read_interfaces(
        columns({1: if_row(1, IF_NAME=b"Null0"), 2: if_row(2, IF_NAME=b"Gi0/2"), 3: if_row(3)})
    ).rows
    kept, _omitted = tables.select(rows, InterfaceFilter(exclude_names=("^Null", "^eth3$")))
    assert [row.name for row in kept] == ["Gi0/2"]


def test_the_cap_keeps_the_lowest_indexes_and_counts_the_others() -> None:
    rows = rows_of(10, if2=24)
    kept, omitted = tables.select(list(reversed(rows)), InterfaceFilter(max_interfaces=4))
    assert [row.index for row in kept] == [1, 3, 4, 5]
    assert omitted == 5  # 9 left after the filter, 4 kept


def test_messages_carry_the_extended_counts_and_the_row() -> None:
    row = read_one(if_row(1, IF_OPER_STATUS=7, IF_TYPE=117, **hc()))
    counts = {(1, counter): number for number, counter in enumerate(row.counters, start=100)}
    (message,) = tables.messages([row], counts)
    assert (message.index, message.name, message.alias, message.type) == (1, "Gi0/1", "WAN to province", 117)
    assert (message.admin_up, message.oper_up, message.oper_status) == (True, False, 7)
    assert message.counter_bits == 64
    assert message.in_octets == 100
    assert message.out_discards == counts[(1, "out_discards")]
    assert tables.samples([row])[(1, "in_octets")] == (2**40, 64)
