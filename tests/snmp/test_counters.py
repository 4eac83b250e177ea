"""The 32-bit counter extension: wraps, restarts, width changes, forgetting; exact for any increments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetwatch_snmp.counters import WRAP, CounterExtender

KEY = (1, "in_octets")


def extend(
    counters: CounterExtender, raw: int, bits: int = 32, uptime: int | None = 1000, now: float = 0.0
) -> int:
    return counters.extend("r1", uptime, now, {KEY: (raw, bits)})[KEY]


def test_the_first_value_is_exported_as_read() -> None:
    assert extend(CounterExtender(), 12345) == 12345


def test_a_lower_value_is_one_wrap() -> None:
    counters = CounterExtender()
    assert extend(counters, WRAP - 100) == WRAP - 100
    assert extend(counters, 50) == WRAP + 50
    assert extend(counters, 60) == WRAP + 60
    assert extend(counters, 10) == 2 * WRAP + 10


def test_an_unchanged_value_is_no_wrap() -> None:
    counters = CounterExtender()
    extend(counters, 7)
    assert extend(counters, 7) == 7


def test_a_device_restart_starts_the_count_again() -> None:
    counters = CounterExtender()
    extend(counters, WRAP - 10, uptime=5000)
    assert extend(counters, 5, uptime=6000) == WRAP + 5
    # sysUpTime went down: the device restarted, its counters restarted too.
    assert extend(counters, 3, uptime=100) == 3
    assert extend(counters, 9, uptime=200) == 9


def test_without_uptime_a_restart_cannot_be_seen() -> None:
    counters = CounterExtender()
    extend(counters, 100, uptime=None)
    assert extend(counters, 40, uptime=None) == WRAP + 40


def test_a_missing_uptime_keeps_the_last_one_for_the_next_poll() -> None:
    counters = CounterExtender()
    extend(counters, 100, uptime=5000)
    extend(counters, 200, uptime=None)
    assert extend(counters, 10, uptime=10) == 10  # 10 < 5000: a restart


def test_64_bit_counters_are_exported_as_read() -> None:
    counters = CounterExtender()
    assert extend(counters, 2**40, bits=64) == 2**40
    assert extend(counters, 5, bits=64) == 5  # a counter reset: Prometheus sees it as one


def test_switching_width_starts_the_count_again() -> None:
    counters = CounterExtender()
    extend(counters, WRAP - 1)
    assert extend(counters, 10) == WRAP + 10
    assert extend(counters, 2**35, bits=64) == 2**35
    # Back to 32 bits: no wrap is counted from the 64-bit value.
    assert extend(counters, 20) == 20
    assert extend(counters, 30) == 30


def test_counters_are_kept_per_device_interface_and_counter() -> None:
    counters = CounterExtender()
    first = counters.extend("r1", 1, 0.0, {(1, "in_octets"): (100, 32), (2, "in_octets"): (100, 32)})
    assert first == {(1, "in_octets"): 100, (2, "in_octets"): 100}
    counters.extend("r2", 1, 0.0, {(1, "in_octets"): (5, 32)})
    second = counters.extend(
        "r1", 2, 0.0, {(1, "in_octets"): (50, 32), (2, "in_octets"): (150, 32), (1, "out_octets"): (1, 32)}
    )
    assert second == {(1, "in_octets"): WRAP + 50, (2, "in_octets"): 150, (1, "out_octets"): 1}
    assert counters.extend("r2", 2, 0.0, {(1, "in_octets"): (6, 32)}) == {(1, "in_octets"): 6}


def test_interfaces_missing_from_a_poll_are_forgotten() -> None:
    counters = CounterExtender()
    counters.extend("r1", 1, 0.0, {(1, "in_octets"): (WRAP - 1, 32), (2, "in_octets"): (WRAP - 1, 32)})
    counters.extend("r1", 2, 0.0, {(1, "in_octets"): (1, 32)})
    assert counters.tracked("r1") == 1
    # Interface 2 is back: its count starts from its raw value, no wrap from the old one.
    assert counters.extend("r1", 3, 0.0, {(2, "in_octets"): (5, 32)}) == {(2, "in_octets"): 5}


def test_idle_devices_are_forgotten() -> None:
    counters = CounterExtender()
    counters.extend("old", 1, 10.0, {KEY: (1, 32)})
    counters.extend("new", 1, 100.0, {KEY: (1, 32)})
    assert counters.forget_idle(50.0) == ["old"]
    assert counters.devices() == ["new"]
    counters.forget("new")
    assert counters.devices() == []


@pytest.mark.parametrize(("raw", "bits"), [(WRAP, 32), (-1, 32), (2**64, 64), (1, 16)])
def test_values_that_do_not_fit_are_refused(raw: int, bits: int) -> None:
    with pytest.raises(ValueError, match="r1"):
        CounterExtender().extend("r1", 1, 0.0, {KEY: (raw, bits)})


@given(
    start=st.integers(min_value=0, max_value=WRAP - 1),
    increments=st.lists(st.integers(min_value=0, max_value=WRAP - 1), max_size=60),
)
def test_the_extension_is_the_true_count_for_any_increments_below_one_wrap(
    start: int, increments: list[int]
) -> None:
    counters = CounterExtender()
    true_count = start
    previous = extend(counters, start)
    assert previous == start
    for uptime, increment in enumerate(increments, start=1001):
        true_count += increment
        exported = extend(counters, true_count % WRAP, uptime=uptime)
        assert exported == true_count
        assert exported >= previous
        previous = exported
