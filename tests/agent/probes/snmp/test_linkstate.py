"""Link states as cursors: encoding, tolerant decoding, changes only against a known earlier state."""

from __future__ import annotations

from fleetwatch_agent.probes.snmp.linkstate import CURSOR_PREFIX, decode, encode, track
from fleetwatch_agent.probes.snmp.model import LinkChange
from tests.agent.probes.snmp.devices_support import device, unreachable


def test_encode_is_sorted_by_ifindex_and_decodes_back() -> None:
    states = {10: True, 2: False, 1001: True}
    assert encode(states) == "2:0,10:1,1001:1"
    assert decode(encode(states)) == states
    assert decode("") == {}


def test_decode_leaves_out_what_does_not_parse() -> None:
    assert decode("1:1,x:1,2:7,3,4:0,:1") == {1: True, 4: False}


def test_track_compares_with_the_committed_states_only() -> None:
    committed = {CURSOR_PREFIX + "r1": "1:1,2:1", CURSOR_PREFIX + "r2": "1:0"}
    polled = [
        (device("r1", {"wan": True, "lan": False, "new": False}), 1000),
        (unreachable("r2"), 2000),
        (device("r3", {"wan": True}), 3000),
    ]
    changes, updates = track(committed, polled, ["r1", "r2", "r3"])
    assert changes == [LinkChange("r1", "lan", False, 2, 1000)]
    assert updates == {CURSOR_PREFIX + "r1": "1:1,2:0,3:0", CURSOR_PREFIX + "r3": "1:1"}


def test_track_writes_nothing_when_nothing_changed() -> None:
    committed = {CURSOR_PREFIX + "r1": "1:1"}
    assert track(committed, [(device("r1", {"wan": True}), 5)], ["r1"]) == ([], {})


def test_a_reachable_poll_with_an_error_class_keeps_the_states() -> None:
    partial = device("r1", {"wan": False}, error="ifXTable walk failed", error_class=4)
    committed = {CURSOR_PREFIX + "r1": "1:1"}
    assert track(committed, [(partial, 5)], ["r1"]) == ([], {})


def test_cursors_of_devices_gone_from_the_configuration_are_cleared_once() -> None:
    committed = {CURSOR_PREFIX + "gone": "1:1", CURSOR_PREFIX + "cleared": "", "outage:gateway": "17"}
    assert track(committed, [], []) == ([], {CURSOR_PREFIX + "gone": ""})
