"""Counters owned by the agent: a report with totals sets the threat, outage and LAN counters (the
newest by seq wins), never adds; a report without totals is counted by its events; totals are
validated like labels and counts."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.store import Store
from fleetwatch_proto.limits import MAX_TOTALS_KEYS
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import NOW_MS, accepted, full_report, refused, register, value_of

THREATS = "fleetwatch_antivirus_threats_detected_total"
OUTAGES = "fleetwatch_connectivity_outages_total"
OUTAGE_SECONDS = "fleetwatch_connectivity_outage_seconds_total"
LAN_NEW = "fleetwatch_lan_new_devices_total"


def numbered(seq: int, *events: pb.Event, totals: pb.Totals | None = None) -> pb.Report:
    """Report ``seq``, collected 15 s after the one before, with these events and totals."""
    r = full_report(seq, NOW_MS - 3_600_000 + seq * 15_000)
    r.events.extend(events)
    if totals is not None:
        r.totals.CopyFrom(totals)
    return r


def threat(product: str = "ClamAV") -> pb.Event:
    return pb.Event(time_unix_ms=NOW_MS - 4_000_000, threat=pb.ThreatDetected(product=product))


def outage(target: str, seconds: int) -> pb.Event:
    start = NOW_MS - 4_000_000
    return pb.Event(
        time_unix_ms=start,
        outage=pb.Outage(target=target, start_unix_ms=start, end_unix_ms=start + seconds * 1000),
    )


def threats(count: int, product: str = "ClamAV") -> pb.Totals:
    return pb.Totals(threats={product: count})


def fleet() -> FleetState:
    return FleetState(clock=lambda: NOW_MS / 1000)


def shown(state: FleetState, name: str = THREATS, **labels: str) -> float:
    text = state.render()[0].decode()
    return value_of(text, name, **({"product": "ClamAV"} | labels if name == THREATS else labels))


def test_totals_set_the_counters_instead_of_adding_the_events() -> None:
    state = fleet()
    state.apply("a1", [numbered(1, threat(), totals=threats(41))])  # counted before, elsewhere
    assert shown(state) == 41
    state.apply("a1", [numbered(2, totals=threats(41))])
    assert shown(state) == 41
    state.apply("a1", [numbered(3, threat(), threat(), totals=threats(43))])
    assert shown(state) == 43


def test_a_resend_of_the_same_batch_changes_nothing(tmp_path: Path) -> None:
    batch = [numbered(3, threat(), totals=threats(3)), numbered(1, threat(), totals=threats(1))]
    batch.append(numbered(2, threat(), totals=threats(2)))
    state = fleet()
    state.apply("a1", batch, oldest_held_seq=1)
    state.apply("a1", batch, oldest_held_seq=1)  # the ack was lost
    assert shown(state) == 3
    store = register(Store(tmp_path / "collector.sqlite"), "a1")
    try:
        store.save_agents([state.snapshot("a1")])
        restarted = fleet()
        restarted.restore(store.load_agents())
    finally:
        store.close()
    assert shown(restarted) == 3
    restarted.apply("a1", batch, oldest_held_seq=1)
    assert shown(restarted) == 3
    restarted.apply("a1", [numbered(4, threat(), totals=threats(4))])
    assert shown(restarted) == 4


def test_the_newest_report_by_seq_wins_whatever_the_order_of_arrival() -> None:
    state = fleet()
    state.apply("a1", [numbered(9, totals=threats(9)), numbered(5, threat(), totals=threats(5))])
    assert shown(state) == 9
    state.apply("a1", [numbered(7, threat(), totals=threats(7))])  # the backlog, late
    assert shown(state) == 9
    state.apply("a1", [numbered(10, totals=threats(9))])
    assert shown(state) == 9


def test_an_older_agent_without_totals_is_counted_by_its_events() -> None:
    state = fleet()
    state.apply("a1", [numbered(2, threat(), outage("gateway", 30)), numbered(1, threat())])
    state.apply("a1", [numbered(3, threat("Defender"), outage("gateway", 12))])
    assert shown(state) == 2 and shown(state, product="Defender") == 1
    assert shown(state, OUTAGES, target="gateway") == 2
    assert shown(state, OUTAGE_SECONDS, target="gateway") == 42


def test_an_agent_upgraded_midway_has_its_totals_take_over(tmp_path: Path) -> None:
    state = fleet()
    state.apply("a1", [numbered(1, threat()), numbered(2, threat())])
    assert shown(state) == 2
    # Upgraded: its totals start with its new spool; the backlog of its old version came first.
    upgraded = numbered(5, threat(), totals=threats(1))
    state.apply("a1", [upgraded, numbered(3, threat())])
    assert shown(state) == 1
    # More of the old version's backlog, in a later Push: counted in no totals, it adds nothing.
    state.apply("a1", [numbered(4, threat())])
    assert shown(state) == 1
    store = register(Store(tmp_path / "collector.sqlite"), "a1")
    try:
        store.save_agents([state.snapshot("a1")])
        restarted = fleet()
        restarted.restore(store.load_agents())
    finally:
        store.close()
    restarted.apply("a1", [numbered(6, totals=threats(1))])
    assert shown(restarted) == 1
    # Downgraded again: its events count on top of the last totals, in the same Push too.
    restarted.apply("a1", [numbered(8, threat()), numbered(7, threat(), totals=threats(2))])
    assert shown(restarted) == 3


def test_totals_lower_than_the_shown_ones_are_a_counter_reset() -> None:
    state = fleet()
    state.apply("a1", [numbered(1, totals=threats(50))])
    state.apply("a1", [numbered(2, threat(), totals=threats(1))])  # a new spool (reinstalled agent)
    assert shown(state) == 1


def test_connectivity_counters_come_from_the_totals() -> None:
    state = fleet()
    totals = pb.Totals(
        outages={"gateway": 4, "other": 2},
        outage_seconds={"gateway": 120.5, "other": 30.0},
        lan_new_devices=17,
    )
    state.apply("a1", [numbered(1, outage("gateway", 99), totals=totals)])
    assert shown(state, OUTAGES, target="gateway") == 4
    assert shown(state, OUTAGE_SECONDS, target="gateway") == 120.5
    assert shown(state, OUTAGES, target="other") == 2
    assert shown(state, LAN_NEW) == 17
    newest = pb.Totals(outages={"dns-1": 1}, outage_seconds={"dns-1": 3.0}, lan_new_devices=18)
    state.apply("a1", [numbered(2, outage("dns-1", 3), totals=newest)])
    text = state.render()[0].decode()
    assert value_of(text, OUTAGES, target="dns-1") == 1
    assert 'target="gateway"' not in text  # what the newest totals say, nothing else
    assert value_of(text, OUTAGE_SECONDS, target="dns-1") == 3
    assert value_of(text, LAN_NEW) == 18


def test_totals_at_the_bound_are_accepted() -> None:
    keys = {f"t{i}": i for i in range(MAX_TOTALS_KEYS)}
    totals = pb.Totals(threats=keys, outages=keys, outage_seconds={k: float(v) for k, v in keys.items()})
    accepted(numbered(1, totals=totals))


Change = Callable[[pb.Totals], None]


def more_keys(field: str) -> Change:
    def change(totals: pb.Totals) -> None:
        counts = getattr(totals, field)
        for i in range(MAX_TOTALS_KEYS + 1):
            counts[f"k{i}"] = 1

    return change


def seconds(value: float) -> Change:
    def change(totals: pb.Totals) -> None:
        totals.outage_seconds["gateway"] = value

    return change


def outage_key(name: str) -> Change:
    def change(totals: pb.Totals) -> None:
        totals.outages[name] = 1

    return change


def threat_key(name: str) -> Change:
    def change(totals: pb.Totals) -> None:
        totals.threats[name] = 1

    return change


@pytest.mark.parametrize(
    ("change", "reason", "where"),
    [
        (more_keys("threats"), "too_many_items", "totals.threats: 66 entries, at most 65"),
        (more_keys("outages"), "too_many_items", "totals.outages: 67 entries, at most 65"),
        (more_keys("outage_seconds"), "too_many_items", "totals.outage_seconds: 67 entries, at most 65"),
        (threat_key("a\nb"), "invalid_label", "totals.threats['a\\nb']: control character"),
        (threat_key("é" * 129), "invalid_label", "totals.threats["),
        (outage_key("Gateway 1"), "invalid_label", "totals.outages['Gateway 1']: not a target name"),
        (seconds(-1.0), "invalid_value", "totals.outage_seconds['gateway']: -1.0 is not a count"),
        (seconds(math.nan), "invalid_value", "totals.outage_seconds['gateway']: nan"),
        (seconds(math.inf), "invalid_value", "totals.outage_seconds['gateway']: inf"),
    ],
    ids=["threats", "outages", "seconds", "control", "long", "target", "negative", "nan", "inf"],
)
def test_bad_totals_are_refused(change: Change, reason: str, where: str) -> None:
    r = numbered(2, totals=pb.Totals(outages={"gateway": 1}, outage_seconds={"gateway": 1.0}))
    change(r.totals)
    rejection = refused(r)
    assert rejection.reason == reason
    assert str(rejection).startswith(f"reports[1].{where}"), str(rejection)
