"""The `antivirus` kind: the host's protection state, its products, and threats detected (events)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fleetwatch_collector.checks import (
    Limits,
    Rejection,
    check_count,
    check_counts,
    check_text,
    check_texts,
)
from fleetwatch_collector.kinds.base import Kind, bounded, counted_by_events, newest_section, newest_totals
from fleetwatch_collector.metricspec import host_metric
from fleetwatch_collector.textformat import distinct
from fleetwatch_proto.names import ANTIVIRUS_STATE
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

if TYPE_CHECKING:
    from fleetwatch_collector.agentstate import AgentEntry
    from fleetwatch_collector.exposition import Chunks

PRODUCT_TEXTS = ("name", "vendor", "product_version", "engine_version", "signature_version", "detail")
PRODUCT_TIMES = ("signature_updated_unix", "last_quick_scan_unix", "last_full_scan_unix")
THREAT_TEXTS = ("product", "threat", "path", "action")
STATES = ANTIVIRUS_STATE.names()
# A signature version that is a plain number (ClamAV's daily.cvd version), exactly a float64.
NUMERIC_VERSION = re.compile(r"[0-9]{1,15}")

METRICS = (
    host_metric(
        "fleetwatch_antivirus_protected",
        "gauge",
        "1 if the host's best antivirus product is protecting with fresh signatures (state protected).",
    ),
    host_metric(
        "fleetwatch_antivirus_state",
        "gauge",
        f"Host antivirus state: 1 for the current state, 0 for the others ({', '.join(STATES)}).",
        "state",
    ),
    # No label here changes more often than the product is upgraded: the signature version and
    # the state, which change daily or flip, have series of their own below.
    host_metric(
        "fleetwatch_antivirus_product_info",
        "info",
        "An antivirus product found on the host, with its versions; value is always 1. Its state and "
        "signatures have series of their own (fleetwatch_antivirus_product_state, _signature_*).",
        "product",
        "vendor",
        "product_version",
        "engine_version",
    ),
    host_metric(
        "fleetwatch_antivirus_product_state",
        "gauge",
        f"State of the product: 1 for the current state, 0 for the others ({', '.join(STATES)}).",
        "product",
        "state",
    ),
    host_metric(
        "fleetwatch_antivirus_realtime_protection",
        "gauge",
        "1 if the product's real-time protection is on.",
        "product",
    ),
    host_metric(
        "fleetwatch_antivirus_on_access_scanning",
        "gauge",
        "1 if on-access scanning runs (Linux: clamonacc or the product's equivalent).",
        "product",
    ),
    host_metric(
        "fleetwatch_antivirus_signature_updated_timestamp_seconds",
        "gauge",
        "When the product's signatures were built or updated, in Unix seconds (absent when unknown). "
        "Their age: time() - this.",
        "product",
    ),
    host_metric(
        "fleetwatch_antivirus_signature_version",
        "gauge",
        "Version of the product's signatures when it is a plain number, as ClamAV's daily database "
        "(absent otherwise).",
        "product",
    ),
    host_metric(
        "fleetwatch_antivirus_last_scan_timestamp_seconds",
        "gauge",
        "When the product last completed a scan of this kind (quick, full), in Unix seconds (absent "
        "when never or unknown). Time since: time() - this.",
        "product",
        "kind",
    ),
    host_metric(
        "fleetwatch_antivirus_threats_detected_total",
        "counter",
        "Threats the product detected, each counted exactly once.",
        "product",
    ),
)


@dataclass
class AntivirusState:
    """The newest Antivirus section; threats detected by product, from the agent's totals, else
    from ThreatDetected events."""

    section: pb.Antivirus | None = None
    threats: dict[str, int] = field(default_factory=dict)
    # Collection time of the report whose totals ``threats`` holds; 0: counted from events.
    threats_as_of_ms: int = 0


def validate(where: str, report: pb.Report, limits: Limits) -> None:
    """Bounded product list; product and threat texts label-safe; times not before 1970."""
    products = report.antivirus.products
    check_count(where, ".antivirus.products", len(products), limits.max_products)
    check_text(f"{where}.antivirus", "error", report.antivirus.error)
    for i, product in enumerate(products):
        check_texts(f"{where}.antivirus.products[{i}]", product, PRODUCT_TEXTS)
        for name in PRODUCT_TIMES:
            if getattr(product, name) < 0:
                raise Rejection("invalid_value", f"{where}.antivirus.products[{i}].{name}: negative time")
    for i, event in enumerate(report.events):
        if event.HasField("threat"):
            check_texts(f"{where}.events[{i}].threat", event.threat, THREAT_TEXTS)
    if report.HasField("totals"):
        check_counts(f"{where}.totals", "threats", report.totals.threats)


def take(state: AntivirusState, newer: Sequence[pb.Report]) -> None:
    state.section = newest_section(newer, "antivirus", state.section)
    newest, later = newest_totals(newer)
    if newest is not None:  # the agent's own counts: set, never added (a resend changes nothing)
        state.threats = dict(newest.totals.threats)
        state.threats_as_of_ms = newest.collected_unix_ms
        for report in later:
            _add_threats(state, report)


def count_events(state: AntivirusState, report: pb.Report) -> None:
    if counted_by_events(report, state.threats_as_of_ms):
        _add_threats(state, report)


def _add_threats(state: AntivirusState, report: pb.Report) -> None:
    for event in report.events:
        if event.HasField("threat"):
            product = bounded(state.threats, event.threat.product)
            state.threats[product] = state.threats.get(product, 0) + 1


def numeric_version(version: str) -> int | None:
    """``version`` as a number when it is one (ClamAV: "27450"); None for "1.421.1187.0" and the like."""
    return int(version) if NUMERIC_VERSION.fullmatch(version) else None


def render(c: Chunks, agent: AgentEntry, state: AntivirusState) -> None:
    # Times as the agent reported them, never ages: an age taken at collection would stop
    # growing while the agent is silent; time() - timestamp in PromQL keeps moving.
    av = state.section
    if av is not None:
        host_state = ANTIVIRUS_STATE.name(av.host_state)
        c.add("fleetwatch_antivirus_protected", int(host_state == "protected"))
        for name in STATES:
            c.add("fleetwatch_antivirus_state", int(name == host_state), (("state", name),))
        for p in distinct(av.products, lambda p: p.name):
            product = (("product", p.name),)
            info = (
                ("vendor", p.vendor),
                ("product_version", p.product_version),
                ("engine_version", p.engine_version),
            )
            c.add("fleetwatch_antivirus_product_info", 1, product + info)
            product_state = ANTIVIRUS_STATE.name(p.state)
            for name in STATES:
                c.add(
                    "fleetwatch_antivirus_product_state",
                    int(name == product_state),
                    (*product, ("state", name)),
                )
            samples: list[tuple[str, float]] = [
                ("fleetwatch_antivirus_realtime_protection", int(p.realtime_protection)),
                ("fleetwatch_antivirus_on_access_scanning", int(p.on_access_scanning)),
            ]
            if p.signature_updated_unix > 0:
                samples.append(
                    ("fleetwatch_antivirus_signature_updated_timestamp_seconds", p.signature_updated_unix)
                )
            version = numeric_version(p.signature_version)
            if version is not None:
                samples.append(("fleetwatch_antivirus_signature_version", version))
            c.add_all(product, samples)
            for kind, when in (("quick", p.last_quick_scan_unix), ("full", p.last_full_scan_unix)):
                if when > 0:
                    c.add(
                        "fleetwatch_antivirus_last_scan_timestamp_seconds", when, (*product, ("kind", kind))
                    )
    for name, count in state.threats.items():
        c.add("fleetwatch_antivirus_threats_detected_total", count, (("product", name),))


def render_key(agent: AgentEntry, state: AntivirusState) -> object:
    return state.section, tuple(state.threats.items())


KIND = Kind(
    name="antivirus",
    section="antivirus",
    summary="The host's antivirus protection state, its products, and the threats they detected.",
    metrics=METRICS,
    new_state=AntivirusState,
    validate=validate,
    take=take,
    render=render,
    count_events=count_events,
    counters=("threats", "threats_as_of_ms"),
    render_key=render_key,
)
