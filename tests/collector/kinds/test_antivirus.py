"""The antivirus kind: states named by the contract, product times, stable series, texts validated,
threats bounded."""

from __future__ import annotations

import pytest

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.kinds.antivirus import numeric_version
from fleetwatch_collector.kinds.base import MAX_COUNTED_KEYS
from fleetwatch_collector.metricspec import HOST_LABELS
from fleetwatch_proto.names import ANTIVIRUS_STATE
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import (
    NOW_MS,
    add_antivirus,
    full_report,
    parsed_samples,
    refused,
    valid_report,
    value_of,
)


def text_of(fleet: FleetState) -> str:
    return fleet.render()[0].decode()


def test_every_contract_state_has_a_series_and_one_is_set() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    r = add_antivirus(full_report(1))
    r.antivirus.host_state = pb.ANTIVIRUS_STATE_OUTDATED
    fleet.apply("a1", [r])
    text = text_of(fleet)
    states = {lab["state"]: v for n, lab, v in parsed_samples(text) if n == "fleetwatch_antivirus_state"}
    assert states == {name: int(name == "outdated") for name in ANTIVIRUS_STATE.names()}
    assert value_of(text, "fleetwatch_antivirus_protected") == 0


@pytest.mark.parametrize("number", [pb.ANTIVIRUS_STATE_UNSPECIFIED, 99], ids=["unspecified", "not-known"])
def test_a_state_the_collector_does_not_know_is_unknown(number: int) -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    r = add_antivirus(full_report(1))
    r.antivirus.host_state = number  # type: ignore[assignment]
    r.antivirus.products[0].state = number  # type: ignore[assignment]
    fleet.apply("a1", [r])
    text = text_of(fleet)
    assert value_of(text, "fleetwatch_antivirus_state", state="unknown") == 1
    assert value_of(text, "fleetwatch_antivirus_product_state", product="ClamAV", state="unknown") == 1


def test_every_contract_state_has_a_series_per_product_and_one_is_set() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    r = add_antivirus(full_report(1))
    r.antivirus.products[0].state = pb.ANTIVIRUS_STATE_DISABLED
    fleet.apply("a1", [r])
    states = {
        lab["state"]: v
        for n, lab, v in parsed_samples(text_of(fleet))
        if n == "fleetwatch_antivirus_product_state" and lab["product"] == "ClamAV"
    }
    assert states == {name: int(name == "disabled") for name in ANTIVIRUS_STATE.names()}


def antivirus_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [sample for sample in parsed_samples(text) if sample[0].startswith("fleetwatch_antivirus_")]


def test_times_are_exported_as_reported_not_as_ages() -> None:
    """An age computed at collection would stop growing while the agent is silent: the times are
    exported, and time() - them in PromQL keeps moving."""
    clock = [NOW_MS / 1000]
    fleet = FleetState(clock=lambda: clock[0])
    r = add_antivirus(full_report(1))
    r.antivirus.products[0].last_full_scan_unix = 0  # never
    fleet.apply("a1", [r])
    collected = NOW_MS // 1000
    text = text_of(fleet)
    updated = value_of(text, "fleetwatch_antivirus_signature_updated_timestamp_seconds", product="ClamAV")
    assert updated == collected - 3600
    assert f"{collected - 3600}\n" in text  # the integer as is, no exponent
    assert value_of(text, "fleetwatch_antivirus_last_scan_timestamp_seconds", kind="quick") == collected - 600
    kinds = {lab["kind"] for n, lab, _ in parsed_samples(text) if n.endswith("_last_scan_timestamp_seconds")}
    assert kinds == {"quick"}  # never scanned in full: absent
    clock[0] += 7 * 86400  # a week of silence: the agent is down, its times stay, ages in PromQL grow
    later = text_of(fleet)
    assert value_of(later, "fleetwatch_agent_up") == 0
    assert antivirus_samples(later) == antivirus_samples(text)


def test_unknown_signature_time_is_absent() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    r = add_antivirus(full_report(1))
    r.antivirus.products[0].signature_updated_unix = 0
    fleet.apply("a1", [r])
    names = {n for n, _, _ in parsed_samples(text_of(fleet))}
    assert "fleetwatch_antivirus_signature_updated_timestamp_seconds" not in names


def series_identities(text: str) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    return {(n, frozenset(lab.items())) for n, lab, _ in antivirus_samples(text)}


def test_a_signature_update_and_a_state_change_keep_every_series_identity() -> None:
    """Labels that change daily (signature version) or flip (state) would start new series:
    only values change."""
    clock = [NOW_MS / 1000]
    fleet = FleetState(clock=lambda: clock[0])
    first = add_antivirus(full_report(1))
    first.antivirus.host_state = pb.ANTIVIRUS_STATE_OUTDATED
    first.antivirus.products[0].state = pb.ANTIVIRUS_STATE_OUTDATED
    del first.events[:]
    fleet.apply("a1", [first])
    before = text_of(fleet)
    clock[0] += 86400  # a day later: new signatures, protected again
    second = add_antivirus(full_report(2, NOW_MS + 86_400_000))
    second.antivirus.products[0].signature_version = "27451"
    del second.events[:]
    fleet.apply("a1", [second])
    after = text_of(fleet)
    assert series_identities(after) == series_identities(before)
    assert value_of(before, "fleetwatch_antivirus_signature_version", product="ClamAV") == 27450
    assert value_of(after, "fleetwatch_antivirus_signature_version", product="ClamAV") == 27451
    assert value_of(after, "fleetwatch_antivirus_product_state", product="ClamAV", state="protected") == 1
    assert value_of(after, "fleetwatch_antivirus_product_state", product="ClamAV", state="outdated") == 0
    info = [lab for n, lab, _ in parsed_samples(after) if n == "fleetwatch_antivirus_product_info"]
    assert [set(lab) for lab in info] == [
        {*HOST_LABELS, "product", "vendor", "product_version", "engine_version"}
    ]


@pytest.mark.parametrize(
    ("version", "number"),
    [
        ("27450", 27450),  # ClamAV's daily.cvd
        ("0027", 27),
        ("999999999999999", 999_999_999_999_999),  # still exact as a float64
        ("1.421.1187.0", None),  # Windows Defender: no single number
        ("", None),
        ("simulated", None),
        ("-1", None),
        ("1e5", None),
        ("٣", None),  # a digit, but not an ASCII one
        ("1234567890123456", None),  # beyond 15 digits a float64 may round it
    ],
)
def test_only_plain_numbers_become_a_signature_version(version: str, number: int | None) -> None:
    assert numeric_version(version) == number


def test_a_signature_version_that_is_no_number_is_absent() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    r = add_antivirus(full_report(1))
    r.antivirus.products[0].signature_version = "1.421.1187.0"
    fleet.apply("a1", [r])
    text = text_of(fleet)
    assert "fleetwatch_antivirus_signature_version{" not in text
    assert "1.421.1187.0" not in text  # nor a label anywhere


PRODUCT_TEXTS = ["name", "vendor", "product_version", "engine_version", "signature_version"]


@pytest.mark.parametrize("field", PRODUCT_TEXTS)
def test_product_texts_are_validated(field: str) -> None:
    r = valid_report(2)
    setattr(r.antivirus.products[0], field, "x\ty")
    rejection = refused(r)
    assert rejection.reason == "invalid_label"
    assert str(rejection) == f"reports[1].antivirus.products[0].{field}: control character '\\t' at 1"


@pytest.mark.parametrize("field", ["product", "threat", "path", "action"])
def test_threat_texts_are_validated(field: str) -> None:
    r = valid_report(2)
    del r.events[:]
    r.events.add(time_unix_ms=NOW_MS, threat=pb.ThreatDetected(**{field: "é" * 129}))
    rejection = refused(r)
    assert str(rejection) == f"reports[1].events[0].threat.{field}: longer than 256 bytes"


def test_threats_of_too_many_products_count_as_other() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    r = full_report(1)
    for i in range(MAX_COUNTED_KEYS + 3):
        r.events.add(time_unix_ms=NOW_MS, threat=pb.ThreatDetected(product=f"av{i}", threat="Eicar"))
    fleet.apply("a1", [r])
    text = text_of(fleet)
    counted = [lab["product"] for n, lab, _ in parsed_samples(text) if n.endswith("_threats_detected_total")]
    assert len(counted) == MAX_COUNTED_KEYS + 1
    assert value_of(text, "fleetwatch_antivirus_threats_detected_total", product="other") == 3
