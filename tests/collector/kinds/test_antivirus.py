"""The antivirus kind: states named by the contract, product ages, texts validated, threats bounded."""

from __future__ import annotations

import pytest

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.kinds.base import MAX_COUNTED_KEYS
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
    assert value_of(text, "fleetwatch_antivirus_product_info", product="ClamAV", state="unknown") == 1


def test_ages_are_taken_at_collection_time_and_absent_when_unknown() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    r = add_antivirus(full_report(1))
    r.antivirus.products[0].last_full_scan_unix = 0  # never
    fleet.apply("a1", [r])
    text = text_of(fleet)
    assert value_of(text, "fleetwatch_antivirus_signature_age_seconds", product="ClamAV") == 3600
    assert value_of(text, "fleetwatch_antivirus_last_scan_age_seconds", kind="quick") == 600
    kinds = {lab["kind"] for n, lab, _ in parsed_samples(text) if n.endswith("_last_scan_age_seconds")}
    assert kinds == {"quick"}


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
